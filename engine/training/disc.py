"""DISC training: the mask-conditioned LDM (eq. 1) and self-distillation from separated conditions (eq. 3).

* SD: ``train_disc_ldm(unet, opt, real=..., synthetic=None)`` minimises
  ``||eps - eps_theta(z_t, t, tau(m))||^2`` on VAE latents of real images and their masks.
* SD-DISC: ``real=None, synthetic=...``: the same loss on SC-fused latents ``z0_mixed`` of random
  masks, ``z_t_mixed = sqrt(abar_t) z0_mixed + sqrt(1 - abar_t) eps`` (eq. 3).
* SD-DISC-CoTrain: both given; each step averages the loss of a real batch and of a synthetic batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from diffusers import DDPMScheduler

from engine.models.disc_unet import one_hot_masks
from engine.progress import CancelToken, ProgressCallback, check_cancel
from engine.training.ema import run_loop_ema
from engine.training.ldm import make_train_scheduler
from engine.training.loop import LoopConfig, TrainResult, sample_indices

__all__ = ["MaskLatents", "encode_mask_latents", "train_disc_ldm"]


@dataclass
class MaskLatents:
    """Scaled latents ``z`` (N, C, h, w), optional posterior ``std`` (scaled, same shape; ``None``
    for fused synthetic latents) and the integer label masks ``labels`` (N, H, W), on CPU."""

    z: torch.Tensor
    labels: torch.Tensor
    std: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.labels)

    def sample(self, idx: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        z = self.z[idx]
        if self.std is not None:
            z = z + self.std[idx] * torch.randn(z.shape, generator=gen)
        return z


@torch.no_grad()
def encode_mask_latents(vae, images: torch.Tensor, labels: torch.Tensor, device, batch_size: int = 32,
                        flip: bool = True, cancel: CancelToken | None = None) -> MaskLatents:
    """Encode ``images`` (N, 1, H, W) in [0, 1] with their ``labels`` (N, H, W) once; ``flip`` adds
    horizontally flipped copies. Latents are scaled by the VAE's ``scaling_factor``."""
    if flip:
        images, labels = torch.cat([images, images.flip(-1)]), torch.cat([labels, labels.flip(-1)])
    s = float(vae.config.scaling_factor)
    means, stds = [], []
    vae.eval()
    for i in range(0, len(images), batch_size):
        check_cancel(cancel, "encode latents")
        d = vae.posterior(images[i:i + batch_size].to(device))
        means.append(d.mean.float().cpu() * s)
        stds.append(d.std.float().cpu() * s)
    return MaskLatents(torch.cat(means), labels.long(), torch.cat(stds))


def _eps_loss(net, data: MaskLatents, scheduler: DDPMScheduler, num_labels: int, batch: int,
              gen: torch.Generator, device) -> torch.Tensor:
    idx = sample_indices(len(data), batch, gen)
    z0 = data.sample(idx, gen).to(device)
    noise = torch.randn(z0.shape, generator=gen).to(device)
    t = torch.randint(0, scheduler.config.num_train_timesteps, (len(idx),), generator=gen).to(device)
    onehot = one_hot_masks(data.labels[idx], num_labels).to(device)
    return F.mse_loss(net(scheduler.add_noise(z0, noise, t), t, onehot), noise)


def train_disc_ldm(unet, optimizer: torch.optim.Optimizer, *, real: MaskLatents | None = None,
                   synthetic: MaskLatents | None = None, loop: LoopConfig, device: torch.device | str,
                   scheduler: DDPMScheduler | None = None, ema_decay: float | None = 0.999,
                   progress: ProgressCallback | None = None, cancel: CancelToken | None = None,
                   name: str = "disc_ldm") -> TrainResult:
    """Train a :class:`engine.models.DISCLatentUNet` in place (SD, SD-DISC or SD-DISC-CoTrain).

    Parameters
    ----------
    real, synthetic
        Real latents (L_LDM, eq. 1) and/or SC-fused latents (L_DISC, eq. 3); at least one.
        With both, each step's loss is ``(L_LDM + L_DISC) / 2`` on one batch of each.
    loop, device, scheduler
        Loop settings, device, training DDPM (default :func:`make_train_scheduler`).
    ema_decay
        Keep an EMA of the weights (diffusers ``EMAModel`` with warm-up) and copy it into
        ``unet`` at the end; ``None`` disables it.
    """
    if real is None and synthetic is None:
        raise ValueError("give real and/or synthetic latents")
    device = torch.device(device)
    scheduler = scheduler or make_train_scheduler()
    core = unet.module if hasattr(unet, "module") else unet
    k = int(core.config.num_labels)

    def step(net, gen, _s):
        losses = [_eps_loss(net, d, scheduler, k, loop.batch_size, gen, device) for d in (real, synthetic)
                  if d is not None]
        return {"loss": sum(losses) / len(losses)}

    return run_loop_ema(name, unet, optimizer, step, loop, device, progress, cancel, ema_decay)
