"""Training of the binary lesion segmenter (:class:`engine.models.segmenter.LesionSegmenter`; the
multi-label DISC segmenter trains in :mod:`engine.training.segmenter`).

Loss: Dice + binary cross-entropy (MONAI ``DiceCELoss`` with a sigmoid, batch Dice so that images
without a lesion do not blow up the Dice term). Joint augmentation of image and mask: horizontal
flip, rotation up to 15 degrees, scale 0.85-1.15, translation up to 10 % (one affine grid for both,
bilinear for the image, nearest for the mask), and brightness/contrast jitter of the image only.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from engine.progress import CancelToken, ProgressCallback
from engine.training.loop import LoopConfig, TrainResult, run_loop, sample_indices

__all__ = ["joint_augment", "train_lesion_segmenter"]


def joint_augment(images: torch.Tensor, masks: torch.Tensor, generator: torch.Generator,
                  max_degrees: float = 15.0, scale: float = 0.15, shift: float = 0.1,
                  jitter: float = 0.1) -> tuple[torch.Tensor, torch.Tensor]:
    """Random flip + affine of (B, 1, H, W) images and masks together; intensity jitter of the images.

    All randomness comes from ``generator`` (CPU). Masks stay binary (nearest sampling).
    """
    b = images.shape[0]

    def rand(*shape):
        return torch.rand(*shape, generator=generator)

    flip = torch.where(rand(b) < 0.5, -1.0, 1.0)
    ang = (rand(b) * 2 - 1) * math.radians(max_degrees)
    s = 1 + (rand(b) * 2 - 1) * scale
    tx, ty = (rand(b) * 2 - 1) * 2 * shift, (rand(b) * 2 - 1) * 2 * shift
    cos, sin = torch.cos(ang) / s, torch.sin(ang) / s
    theta = torch.stack([torch.stack([cos * flip, -sin, tx], 1), torch.stack([sin * flip, cos, ty], 1)], 1)
    grid = F.affine_grid(theta.to(images.device), list(images.shape), align_corners=False)
    x = F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)
    m = F.grid_sample(masks, grid, mode="nearest", padding_mode="zeros", align_corners=False)
    gain = (1 + (rand(b) * 2 - 1) * jitter).to(images.device)[:, None, None, None]
    off = ((rand(b) * 2 - 1) * jitter).to(images.device)[:, None, None, None]
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return ((x - mean) * gain + mean + off).clamp(0.0, 1.0), m


def train_lesion_segmenter(model, optimizer: torch.optim.Optimizer, images: torch.Tensor, masks: torch.Tensor, *,
                    loop: LoopConfig, device: torch.device | str, augment: bool = True,
                    progress: ProgressCallback | None = None, cancel: CancelToken | None = None,
                    name: str = "segmenter") -> TrainResult:
    """Train ``model`` on ``images`` (N, 1, S, S) in [0, 1] and ``masks`` (N, 1, S, S) in {0, 1} (CPU tensors).

    Seeded, resumable and cancellable through :func:`engine.training.loop.run_loop`.
    """
    from monai.losses import DiceCELoss

    if images.shape != masks.shape:
        raise ValueError(f"images {tuple(images.shape)} and masks {tuple(masks.shape)} must have the same shape")
    device = torch.device(device)
    loss_fn = DiceCELoss(sigmoid=True, batch=True)

    def step(net, gen, _s):
        idx = sample_indices(len(images), loop.batch_size, gen)
        x, m = images[idx], masks[idx].float()
        if augment:
            x, m = joint_augment(x, m, gen)
        return {"loss": loss_fn(net(x.to(device)), m.to(device))}

    return run_loop(name, model, optimizer, step, loop, device, progress, cancel)
