"""SSL-guided LDM inference: synthesis from SSL embeddings with classifier-free guidance, and the
patch -> image aggregation of the paper (mean patch probability above a threshold, paper 0.2).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from diffusers import DDPMScheduler

from engine.models.ssl_unet import SSLGuidedUNet
from engine.models.ssl_vit import SSLViT
from engine.models.us_vae import USVAE
from engine.pipelines.generation import make_sampler
from engine.progress import CancelToken, ProgressCallback, check_cancel, null_progress

__all__ = ["SSLGuidedPipeline", "aggregate_mean"]


def aggregate_mean(patch_probs: np.ndarray, owner: np.ndarray, n_images: int) -> np.ndarray:
    """Mean patch probability per image (n_images,); ``owner[i]`` is patch i's image. An image
    without patches raises ``ValueError``."""
    p = np.asarray(patch_probs, dtype=np.float64)
    o = np.asarray(owner)
    counts = np.bincount(o, minlength=n_images)
    if (counts[:n_images] == 0).any():
        raise ValueError(f"images {np.flatnonzero(counts[:n_images] == 0).tolist()} have no patch")
    return np.bincount(o, weights=p, minlength=n_images)[:n_images] / counts[:n_images]


class SSLGuidedPipeline:
    """SSL encoder + VAE + :class:`~engine.models.SSLGuidedUNet` + DDIM with CFG.

    ``pipe(context, seeds=..., guidance_scale=w)`` or ``pipe.from_patches(patches, ...)`` (the
    encoder embeds them first).
    """

    def __init__(self, encoder: SSLViT, vae: USVAE, unet: SSLGuidedUNet, scheduler: DDPMScheduler,
                 device="cpu") -> None:
        self.device = torch.device(device)
        self.encoder = encoder.to(self.device).eval()
        self.vae = vae.to(self.device).eval()
        self.unet = unet.to(self.device).eval()
        self.scheduler = scheduler

    def save_pretrained(self, directory: str | Path) -> None:
        d = Path(directory)
        for name in ("encoder", "vae", "unet", "scheduler"):
            getattr(self, name).save_pretrained(d / name)

    @classmethod
    def from_pretrained(cls, directory: str | Path, device="cpu") -> SSLGuidedPipeline:
        """Load what :meth:`save_pretrained` wrote (local files only)."""
        d = Path(directory)
        return cls(SSLViT.from_pretrained(d / "encoder", low_cpu_mem_usage=False),
                   USVAE.from_pretrained(d / "vae", low_cpu_mem_usage=False),
                   SSLGuidedUNet.from_pretrained(d / "unet", low_cpu_mem_usage=False),
                   DDPMScheduler.from_pretrained(d / "scheduler"), device)

    @torch.no_grad()
    def embed(self, patches: np.ndarray) -> torch.Tensor:
        """Contexts (N, 1, dim) of patches (N, S, S) in [0, 1]."""
        x = torch.as_tensor(np.asarray(patches, dtype=np.float32))[:, None].to(self.device)
        return self.encoder.embed(x)[:, None].cpu()

    @torch.no_grad()
    def __call__(self, context: torch.Tensor, *, seeds: list[int], num_inference_steps: int = 50,
                 guidance_scale: float = 2.0, batch_size: int = 32, progress: ProgressCallback | None = None,
                 cancel: CancelToken | None = None) -> np.ndarray:
        """Images (N, S, S) float32 in [0, 1] for contexts (N, n_tokens, dim); one seed per image.
        ``guidance_scale`` 1 = conditional only (no guidance), 0 = unconditional."""
        progress = progress or null_progress
        if len(seeds) != len(context):
            raise ValueError(f"need one seed per context, got {len(seeds)} for {len(context)}")
        shape = (int(self.unet.config.latent_channels), self.vae.latent_size, self.vae.latent_size)
        out = []
        for b0 in range(0, len(context), batch_size):
            check_cancel(cancel, "SSL-guided sampling")
            sl = slice(b0, b0 + batch_size)
            z = torch.stack([torch.randn(shape, generator=torch.Generator().manual_seed(int(s))) for s in seeds[sl]])
            sched = make_sampler(self.scheduler.config, "ddim")
            sched.set_timesteps(num_inference_steps, device=self.device)
            z = z.to(self.device) * sched.init_noise_sigma
            ctx = context[sl].to(self.device)
            for t in sched.timesteps:
                eps = self.unet.guided(sched.scale_model_input(z, t), t.expand(len(z)), ctx, guidance_scale)
                z = sched.step(eps, t, z).prev_sample
            out.append(self.vae.decode(z)[:, 0].float().cpu().numpy())
            progress(min(b0 + batch_size, len(context)), len(context), "synthetic patches")
        return np.concatenate(out) if out else np.zeros((0, self.vae.config.image_size, self.vae.config.image_size),
                                                        np.float32)
