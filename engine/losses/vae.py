"""US-VAE training loss (paper eq. 9): L1 reconstruction + beta * KL + lambda * perceptual.

diffusers ships no VAE training loss. The perceptual term uses the intermediate feature maps of a
*trained teacher CNN* (as the paper says), not VGG/LPIPS, whose weights cannot be had offline.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["vae_loss", "perceptual_loss"]


def perceptual_loss(teacher: nn.Module, real: torch.Tensor, recon: torch.Tensor,
                    n_blocks: int = 2) -> torch.Tensor:
    """Mean L1 distance of the first ``n_blocks`` teacher feature maps, images in [0, 1].

    The teacher must expose ``feature_maps(x) -> list[Tensor]`` and is not updated (its
    parameters should have ``requires_grad=False``); gradients flow to ``recon`` only.
    """
    with torch.no_grad():
        f_real = teacher.feature_maps(real, n_blocks)
    f_rec = teacher.feature_maps(recon, n_blocks)
    return sum(F.l1_loss(a, b) for a, b in zip(f_rec, f_real, strict=True)) / n_blocks


def vae_loss(vae, images: torch.Tensor, generator: torch.Generator | None = None, *, beta: float = 1e-6,
             teacher: nn.Module | None = None, perceptual_weight: float = 0.1,
             perceptual_blocks: int = 2) -> dict[str, torch.Tensor]:
    """Loss terms for one batch of ``images`` (B, 1, H, W) in [0, 1].

    Returns a dict with ``loss`` (to minimise), ``l1``, ``kl`` (mean per sample, summed over latent
    elements) and ``perceptual`` (zero without a teacher). ``vae`` is a
    :class:`engine.models.USVAE` or a DDP wrapper of one (called through ``forward``).
    """
    recon, dist = vae(images, generator)
    target = images * 2.0 - 1.0
    l1 = F.l1_loss(recon, target)
    kl = dist.kl().mean()
    loss = l1 + beta * kl
    perc = torch.zeros((), device=images.device)
    if teacher is not None and perceptual_weight > 0:
        perc = perceptual_loss(teacher, images, ((recon + 1.0) / 2.0).clamp(0, 1), perceptual_blocks)
        loss = loss + perceptual_weight * perc
    return {"loss": loss, "l1": l1.detach(), "kl": kl.detach(), "perceptual": perc.detach()}
