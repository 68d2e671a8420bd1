"""Self-supervised encoder (DINO) and the SSL-guided LDM (SSL paper; Caron et al. 2021).

* :func:`train_dino`: student/teacher ViTs, the teacher an EMA of the student (momentum on a
  cosine schedule from ``ema_momentum`` to 1), multi-crop (2 global crops at the patch size,
  ``n_local`` local crops), teacher outputs centred (EMA of their mean) and sharpened
  (``teacher_temp``), cross-entropy between the teacher's global views and the student's other
  views.
* :func:`train_ssl_ldm`: ``||eps - eps_theta(z_t, t, y)||^2`` with ``y`` the teacher's embedding of
  the patch, replaced by the learned null token in ``p_uncond`` of the samples (CFG, paper 10 %).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from engine.progress import CancelToken, ProgressCallback, check_cancel
from engine.training.ema import run_loop_ema
from engine.training.ldm import make_train_scheduler
from engine.training.loop import LoopConfig, TrainResult, run_loop, sample_indices

__all__ = ["multi_crop", "DINOLoss", "train_dino", "SSLLatents", "encode_ssl_latents", "embed_patches",
           "train_ssl_ldm"]


def _crops(x: torch.Tensor, gen: torch.Generator, size: int, scale: tuple[float, float]) -> torch.Tensor:
    b = x.shape[0]
    r = torch.sqrt(torch.empty(b).uniform_(*scale, generator=gen))
    cx = (torch.rand(b, generator=gen) * 2 - 1) * (1 - r)
    cy = (torch.rand(b, generator=gen) * 2 - 1) * (1 - r)
    flip = torch.where(torch.rand(b, generator=gen) < 0.5, -1.0, 1.0)
    zero = torch.zeros(b)
    theta = torch.stack([torch.stack([r * flip, zero, cx], 1), torch.stack([zero, r, cy], 1)], 1).to(x)
    grid = F.affine_grid(theta, [b, x.shape[1], size, size], align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    gain = (1 + (torch.rand(b, generator=gen) * 2 - 1) * 0.3).to(x)[:, None, None, None]
    shift = ((torch.rand(b, generator=gen) * 2 - 1) * 0.15).to(x)[:, None, None, None]
    mean = out.mean(dim=(1, 2, 3), keepdim=True)
    return ((out - mean) * gain + mean + shift).clamp(0, 1)


def multi_crop(x: torch.Tensor, gen: torch.Generator, global_size: int, local_size: int,
               n_local: int) -> list[torch.Tensor]:
    """DINO views of ``x`` (B, 1, S, S): 2 global crops (area 40-100 %) at ``global_size`` and
    ``n_local`` local crops (area 5-40 %) at ``local_size``, each flipped and jittered
    (brightness/contrast) at random. All randomness from ``gen``."""
    views = [_crops(x, gen, global_size, (0.4, 1.0)) for _ in range(2)]
    return views + [_crops(x, gen, local_size, (0.05, 0.4)) for _ in range(n_local)]


class DINOLoss(nn.Module):
    """DINO cross-entropy with a centred, sharpened teacher; ``center`` and ``step`` are buffers
    (saved with the loop checkpoint)."""

    def __init__(self, out_dim: int, teacher_temp: float = 0.04, student_temp: float = 0.1,
                 center_momentum: float = 0.9) -> None:
        super().__init__()
        self.teacher_temp, self.student_temp, self.center_momentum = teacher_temp, student_temp, center_momentum
        self.register_buffer("center", torch.zeros(1, out_dim))
        self.register_buffer("step", torch.zeros((), dtype=torch.long))

    def forward(self, student_out: list[torch.Tensor], teacher_out: list[torch.Tensor]) -> torch.Tensor:
        t = [F.softmax((o - self.center) / self.teacher_temp, dim=-1).detach() for o in teacher_out]
        s = [F.log_softmax(o / self.student_temp, dim=-1) for o in student_out]
        total, n = 0.0, 0
        for i, ti in enumerate(t):
            for j, sj in enumerate(s):
                if i == j:
                    continue
                total = total + (-ti * sj).sum(-1).mean()
                n += 1
        with torch.no_grad():
            batch_center = torch.cat(teacher_out).mean(0, keepdim=True)
            self.center.mul_(self.center_momentum).add_(batch_center * (1 - self.center_momentum))
        return total / n


def train_dino(student, optimizer: torch.optim.Optimizer, patches: torch.Tensor, loss_fn: DINOLoss, *,
               loop: LoopConfig, device: torch.device | str, local_size: int, n_local: int,
               ema_momentum: float = 0.996, progress: ProgressCallback | None = None,
               cancel: CancelToken | None = None, name: str = "dino"):
    """Train ``student`` (an :class:`engine.models.SSLViT`) by DINO on ``patches`` (N, 1, S, S).

    Returns ``(teacher, TrainResult)``: the EMA teacher (eval mode, frozen) is the encoder to use.
    """
    device = torch.device(device)
    teacher = copy.deepcopy(student).to(device).eval().requires_grad_(False)
    loss_fn = loss_fn.to(device)
    size = patches.shape[-1]

    def step(net, gen, _s):
        idx = sample_indices(len(patches), loop.batch_size, gen)
        views = [v.to(device) for v in multi_crop(patches[idx], gen, size, local_size, n_local)]
        with torch.no_grad():
            t_out = [teacher(v) for v in views[:2]]
        s_out = [net(v) for v in views]
        return {"loss": loss_fn(s_out, t_out)}

    def ema_update() -> None:
        k = int(loss_fn.step)
        m = 1 - (1 - ema_momentum) * (math.cos(math.pi * k / max(1, loop.steps)) + 1) / 2
        with torch.no_grad():
            for pt, ps in zip(teacher.parameters(), student.parameters(), strict=True):
                pt.mul_(m).add_(ps.detach(), alpha=1 - m)
        loss_fn.step += 1

    result = run_loop(name, student, optimizer, step, loop, device, progress, cancel, after_step=ema_update,
                      extra_state={"teacher": teacher, "dino": loss_fn})
    return teacher.eval(), result


@torch.no_grad()
def embed_patches(encoder, patches: torch.Tensor, device, batch_size: int = 128, tokens: bool = False,
                  cancel: CancelToken | None = None) -> torch.Tensor:
    """SSL context (N, 1, dim) (class token) or (N, 1 + n, dim) (all tokens) of ``patches``, on CPU."""
    encoder.eval()
    out = []
    for i in range(0, len(patches), batch_size):
        check_cancel(cancel, "embed patches")
        x = patches[i:i + batch_size].to(device)
        out.append((encoder.tokens(x) if tokens else encoder.embed(x)[:, None]).float().cpu())
    return torch.cat(out)


@dataclass
class SSLLatents:
    """Scaled posterior means/stds (N, C, h, w) and SSL contexts (N, n_tokens, dim), on CPU."""

    z: torch.Tensor
    std: torch.Tensor
    context: torch.Tensor

    def __len__(self) -> int:
        return len(self.z)


@torch.no_grad()
def encode_ssl_latents(vae, patches: torch.Tensor, context: torch.Tensor, device, batch_size: int = 64) -> SSLLatents:
    """VAE latents of ``patches`` (N, 1, S, S) paired with their contexts."""
    s = float(vae.config.scaling_factor)
    vae.eval()
    means, stds = [], []
    for i in range(0, len(patches), batch_size):
        d = vae.posterior(patches[i:i + batch_size].to(device))
        means.append(d.mean.float().cpu() * s)
        stds.append(d.std.float().cpu() * s)
    return SSLLatents(torch.cat(means), torch.cat(stds), context)


def train_ssl_ldm(unet, optimizer: torch.optim.Optimizer, data: SSLLatents, *, loop: LoopConfig,
                  device: torch.device | str, scheduler=None, p_uncond: float = 0.1,
                  ema_decay: float | None = 0.999, progress: ProgressCallback | None = None,
                  cancel: CancelToken | None = None, name: str = "ssl_ldm") -> TrainResult:
    """Train an :class:`engine.models.SSLGuidedUNet` with condition dropout ``p_uncond``."""
    device = torch.device(device)
    scheduler = scheduler or make_train_scheduler()
    T = scheduler.config.num_train_timesteps

    def step(net, gen, _s):
        idx = sample_indices(len(data), loop.batch_size, gen)
        z0 = (data.z[idx] + data.std[idx] * torch.randn(data.z[idx].shape, generator=gen)).to(device)
        noise = torch.randn(z0.shape, generator=gen).to(device)
        t = torch.randint(0, T, (len(idx),), generator=gen).to(device)
        drop = (torch.rand(len(idx), generator=gen) < p_uncond).to(device)
        pred = net(scheduler.add_noise(z0, noise, t), t, data.context[idx].to(device), is_null=drop)
        return {"loss": F.mse_loss(pred, noise)}

    return run_loop_ema(name, unet, optimizer, step, loop, device, progress, cancel, ema_decay)
