"""Conditional latent diffusion training (paper eq. 3 and 5) with CFG condition dropout."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from diffusers import DDPMScheduler

from engine.progress import CancelToken, ProgressCallback, check_cancel
from engine.training.loop import LoopConfig, TrainResult, run_loop, sample_indices

__all__ = ["LatentDataset", "encode_latents", "make_train_scheduler", "train_ldm"]


def make_train_scheduler(num_train_timesteps: int = 1000) -> DDPMScheduler:
    """The paper's DDPM: T = 1000, cosine (``squaredcos_cap_v2``) schedule, epsilon prediction.

    ``clip_sample=False``: the latents are scaled to unit std, clipping x0 to [-1, 1] would cut them.
    """
    return DDPMScheduler(num_train_timesteps=num_train_timesteps, beta_schedule="squaredcos_cap_v2",
                         prediction_type="epsilon", clip_sample=False)


@dataclass
class LatentDataset:
    """Everything the LDM trains on, on CPU: posterior ``mean``/``std`` (unscaled, (N, C, h, w)),
    ``masks`` (N, 1, H, W), ``labels`` (N,), ``text`` (N, text_dim) and the VAE ``scaling_factor``."""

    mean: torch.Tensor
    std: torch.Tensor
    masks: torch.Tensor
    labels: torch.Tensor
    text: torch.Tensor
    scaling_factor: float

    def __len__(self) -> int:
        return len(self.labels)


@torch.no_grad()
def encode_latents(vae, images: torch.Tensor, masks: torch.Tensor, labels: torch.Tensor,
                   text: torch.Tensor, device: torch.device | str, batch_size: int = 16,
                   cancel: CancelToken | None = None, flip: bool = True) -> LatentDataset:
    """Encode ``images`` once with a trained VAE. ``flip`` adds horizontally flipped copies."""
    if flip:
        images, masks = torch.cat([images, images.flip(-1)]), torch.cat([masks, masks.flip(-1)])
        labels, text = torch.cat([labels, labels]), torch.cat([text, text])
    means, stds = [], []
    vae.eval()
    for i in range(0, len(images), batch_size):
        check_cancel(cancel, "encode latents")
        d = vae.posterior(images[i:i + batch_size].to(device))
        means.append(d.mean.float().cpu())
        stds.append(d.std.float().cpu())
    return LatentDataset(torch.cat(means), torch.cat(stds), masks, labels, text,
                         float(vae.config.scaling_factor))


def train_ldm(unet, optimizer: torch.optim.Optimizer, data: LatentDataset, *, loop: LoopConfig,
              device: torch.device | str, scheduler: DDPMScheduler | None = None, p_uncond: float = 0.1,
              ema_decay: float | None = 0.999, progress: ProgressCallback | None = None, cancel: CancelToken | None = None,
              name: str = "ldm") -> TrainResult:
    """Train a :class:`engine.models.ConditionalLatentUNet` with ``||eps - eps_theta(z_t, t, c)||^2``.

    Each step samples ``z0 = (mean + std * e) * scaling_factor`` from the stored posteriors, a
    uniform ``t`` and noise, and replaces the whole condition by the null condition with
    probability ``p_uncond`` (classifier-free guidance training). With ``ema_decay`` an exponential
    moving average of the weights (diffusers ``EMAModel`` with warm-up) is kept, checkpointed, and
    copied into ``unet`` at the end: short CPU runs sample much better from the average.
    """
    device = torch.device(device)
    scheduler = scheduler or make_train_scheduler()
    core = unet.module if hasattr(unet, "module") else unet
    T = scheduler.config.num_train_timesteps

    def step(net, gen, _s):
        idx = sample_indices(len(data), loop.batch_size, gen)
        b = len(idx)
        z0 = (data.mean[idx] + data.std[idx] * torch.randn(data.mean[idx].shape, generator=gen))
        z0 = (z0 * data.scaling_factor).to(device)
        noise = torch.randn(z0.shape, generator=gen).to(device)
        t = torch.randint(0, T, (b,), generator=gen).to(device)
        zt = scheduler.add_noise(z0, noise, t)
        labels, masks, text = data.labels[idx].to(device), data.masks[idx].to(device), data.text[idx].to(device)
        drop = (torch.rand(b, generator=gen) < p_uncond).to(device)
        nl, nm, nt = core.null_condition(labels, masks, text)
        labels = torch.where(drop, nl, labels)
        masks = torch.where(drop[:, None, None, None], nm, masks)
        text = torch.where(drop[:, None], nt, text)
        pred = net(zt, t, labels, masks, text)
        return {"loss": F.mse_loss(pred, noise)}

    if ema_decay is None:
        return run_loop(name, unet, optimizer, step, loop, device, progress, cancel)
    from diffusers.training_utils import EMAModel

    ema = EMAModel(core.parameters(), decay=ema_decay, use_ema_warmup=True, power=2 / 3)
    result = run_loop(name, unet, optimizer, step, loop, device, progress, cancel,
                      after_step=lambda: ema.step(core.parameters()), extra_state={"ema": ema})
    ema.copy_to(core.parameters())
    return result
