"""Turn cases into fixed-size tensors, and classic augmentation on batches."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["resize_image", "resize_mask", "cases_to_tensors", "classic_augment"]


def resize_image(image: np.ndarray, size: int) -> torch.Tensor:
    """(H, W) in [0, 1] -> (1, size, size) float32, antialiased bilinear, aspect not kept."""
    x = torch.as_tensor(np.asarray(image, dtype=np.float32))[None, None]
    x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return x[0].clamp(0.0, 1.0)


def resize_mask(mask: np.ndarray, size: int) -> torch.Tensor:
    """(H, W) non-zero = lesion -> (1, size, size) float32 in {0, 1} (area-average >= 0.5)."""
    m = torch.as_tensor((np.asarray(mask) > 0).astype(np.float32))[None, None]
    m = F.interpolate(m, size=(size, size), mode="area")
    return (m[0] >= 0.5).float()


def cases_to_tensors(cases, size: int) -> dict[str, torch.Tensor]:
    """Stack cases to ``images`` (N,1,S,S), ``masks`` (N,1,S,S), ``labels`` (N,) int64."""
    if not cases:
        raise ValueError("no cases given")
    return {
        "images": torch.stack([resize_image(c.image, size) for c in cases]),
        "masks": torch.stack([resize_mask(c.mask, size) for c in cases]),
        "labels": torch.tensor([int(c.label) for c in cases], dtype=torch.long),
    }


def classic_augment(x: torch.Tensor, generator: torch.Generator, max_degrees: float = 15.0,
                    brightness: float = 0.1, contrast: float = 0.1) -> torch.Tensor:
    """Random horizontal flip, rotation and brightness/contrast jitter of (B, 1, H, W) in [0, 1].

    The "traditional augmentation" of the paper's ablation (rotation, flipping, brightness jitter).
    All randomness comes from ``generator`` (on CPU), so it is reproducible.
    """
    b = x.shape[0]
    dev = x.device

    def rand(*shape):
        return torch.rand(*shape, generator=generator).to(dev)

    flip = rand(b) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    ang = (rand(b) * 2 - 1) * math.radians(max_degrees)
    cos, sin = torch.cos(ang), torch.sin(ang)
    theta = torch.stack([torch.stack([cos, -sin, torch.zeros_like(cos)], 1),
                         torch.stack([sin, cos, torch.zeros_like(cos)], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    gain = 1 + (rand(b) * 2 - 1) * contrast
    shift = (rand(b) * 2 - 1) * brightness
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * gain[:, None, None, None] + mean + shift[:, None, None, None]
    return x.clamp(0.0, 1.0)
