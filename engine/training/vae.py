"""US-VAE training (paper eq. 9) and the latent scaling factor."""

from __future__ import annotations

import torch
from torch import nn

from engine.losses.vae import vae_loss
from engine.progress import CancelToken, ProgressCallback
from engine.training.loop import LoopConfig, TrainResult, run_loop, sample_indices

__all__ = ["train_vae", "fit_scaling_factor"]


def train_vae(vae, optimizer: torch.optim.Optimizer, images: torch.Tensor, *, loop: LoopConfig,
              device: torch.device | str, beta: float = 1e-6, teacher: nn.Module | None = None,
              perceptual_weight: float = 0.1, perceptual_blocks: int = 2, progress: ProgressCallback | None = None,
              cancel: CancelToken | None = None, name: str = "vae") -> TrainResult:
    """Train a :class:`engine.models.USVAE` on ``images`` (N, 1, H, W) in [0, 1] (kept on CPU).

    Loss: L1 reconstruction + ``beta`` * KL + ``perceptual_weight`` * teacher-feature L1 when a
    trained ``teacher`` is given (frozen here; its first ``perceptual_blocks`` conv blocks).
    Random horizontal flips are applied.
    """
    device = torch.device(device)
    if teacher is not None:
        teacher.eval().requires_grad_(False).to(device, memory_format=torch.contiguous_format)

    def step(net, gen, _s):
        idx = sample_indices(len(images), loop.batch_size, gen)
        x = images[idx]
        flip = torch.rand(len(idx), generator=gen) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(-1), x).to(device)
        return vae_loss(net, x, generator=None, beta=beta, teacher=teacher,
                        perceptual_weight=perceptual_weight, perceptual_blocks=perceptual_blocks)

    return run_loop(name, vae, optimizer, step, loop, device, progress, cancel)


@torch.no_grad()
def fit_scaling_factor(vae, images: torch.Tensor, device: torch.device | str, batch_size: int = 16) -> float:
    """Set ``vae.config.scaling_factor`` to 1/std of the posterior means of ``images``; return it."""
    vae.eval()
    zs = [vae.posterior(images[i:i + batch_size].to(device)).mean.float().cpu()
          for i in range(0, len(images), batch_size)]
    std = float(torch.cat(zs).std())
    factor = 1.0 / max(std, 1e-6)
    vae.register_to_config(scaling_factor=factor)
    return factor
