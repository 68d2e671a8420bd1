"""DISC inference: vanilla and separated-conditions (SC) sampling from a multi-label mask.

* Vanilla (SD, SD-DISC): one DDIM run per image, conditioned on the tokens of its multi-label mask.
* SC (paper eq. 2): one ``z_T`` shared by K copies, copy k conditioned on the single-label *full*
  mask ``sm_k``; at the end ``z0 = sum_k z0^k * m_k`` with ``m_k`` the mask downsampled to the
  latent grid by nearest neighbour. The copies run **as rows of one batch** (the paper pays K
  sequential runs), and only the labels present in a mask are run (``present_only``): an absent
  label has ``m_k = 0`` and cannot change ``z0``, so the result is the same as with all K.

DDIM (eta = 0) from the training DDPM's schedule (:func:`engine.pipelines.generation.make_sampler`),
so a row's result does not depend on the other rows of its batch; each image has its own seed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import DDPMScheduler

from engine.models.disc_unet import DISCLatentUNet, one_hot_masks
from engine.models.us_vae import USVAE
from engine.pipelines.generation import make_sampler
from engine.progress import CancelToken, ProgressCallback, check_cancel, null_progress

__all__ = ["DISCPipeline", "fuse_latents"]


def fuse_latents(copies: torch.Tensor, copy_labels: list[int], labels: torch.Tensor, num_labels: int) -> torch.Tensor:
    """Eq. 2 for one image: ``sum_k copies[j] * m_{copy_labels[j]}``.

    ``copies`` (J, C, h, w) latents, ``copy_labels`` the label of each copy, ``labels`` (H, W)
    integer mask; ``m_k`` = one-hot of ``labels`` downsampled to (h, w) by nearest neighbour.
    Latent cells whose label has no copy raise ``ValueError``.
    """
    onehot = one_hot_masks(labels[None].to(copies.device), num_labels)
    m = F.interpolate(onehot, size=copies.shape[-2:], mode="nearest")[0]  # (K, h, w)
    missing = [k for k in range(num_labels) if k not in copy_labels and bool(m[k].any())]
    if missing:
        raise ValueError(f"labels {missing} occur in the mask but have no copy")
    return sum(copies[j] * m[k][None] for j, k in enumerate(copy_labels))


class DISCPipeline:
    """VAE + :class:`~engine.models.DISCLatentUNet` + DDIM; ``pipe(labels, seeds=..., mode=...)``.

    Parameters
    ----------
    vae, unet
        Trained :class:`~engine.models.USVAE` and :class:`~engine.models.DISCLatentUNet`.
    scheduler
        The training :class:`~diffusers.DDPMScheduler` (its schedule builds the DDIM sampler).
    device
        Torch device.
    """

    def __init__(self, vae: USVAE, unet: DISCLatentUNet, scheduler: DDPMScheduler, device="cpu") -> None:
        self.device = torch.device(device)
        self.vae = vae.to(self.device).eval()
        self.unet = unet.to(self.device).eval()
        self.scheduler = scheduler

    def save_pretrained(self, directory: str | Path) -> None:
        """Write ``vae/``, ``unet/`` and ``scheduler/``."""
        d = Path(directory)
        self.vae.save_pretrained(d / "vae")
        self.unet.save_pretrained(d / "unet")
        self.scheduler.save_pretrained(d / "scheduler")

    @classmethod
    def from_pretrained(cls, directory: str | Path, device="cpu", unet_dir: str | Path | None = None) -> DISCPipeline:
        """Load what :meth:`save_pretrained` wrote (local files only); ``unet_dir`` swaps in
        another U-Net (e.g. SD-DISC) with the same VAE."""
        d = Path(directory)
        vae = USVAE.from_pretrained(d / "vae", low_cpu_mem_usage=False)
        unet = DISCLatentUNet.from_pretrained(unet_dir or d / "unet", low_cpu_mem_usage=False)
        return cls(vae, unet, DDPMScheduler.from_pretrained(d / "scheduler"), device)

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        return (int(self.unet.config.latent_channels), self.vae.latent_size, self.vae.latent_size)

    def _noise(self, seeds: list[int]) -> torch.Tensor:
        return torch.stack([torch.randn(self.latent_shape, generator=torch.Generator().manual_seed(int(s)))
                            for s in seeds])

    def denoise(self, z: torch.Tensor, tokens: torch.Tensor, steps: int) -> torch.Tensor:
        """DDIM from noise ``z`` (B, C, h, w) with condition ``tokens`` (B, T, D); returns z0."""
        sched = make_sampler(self.scheduler.config, "ddim")
        sched.set_timesteps(steps, device=self.device)
        z = z.to(self.device) * sched.init_noise_sigma
        tokens = tokens.to(self.device)
        for t in sched.timesteps:
            eps = self.unet.forward_tokens(sched.scale_model_input(z, t), t.expand(len(z)), tokens)
            z = sched.step(eps, t, z).prev_sample
        return z

    def _jobs(self, labels: torch.Tensor, mode: str, present_only: bool) -> list[tuple[int, int]]:
        k = int(self.unet.config.num_labels)
        if mode == "vanilla":
            return [(i, -1) for i in range(len(labels))]
        jobs = []
        for i, lab in enumerate(labels):
            present = torch.unique(lab).tolist() if present_only else range(k)
            jobs += [(i, int(c)) for c in present]
        return jobs

    @torch.no_grad()
    def latents(self, labels, *, seeds: list[int], mode: str = "vanilla", num_inference_steps: int = 50,
                batch_size: int = 64, present_only: bool = True, return_copies: bool = False,
                progress: ProgressCallback | None = None, cancel: CancelToken | None = None):
        """Final latents z0 (N, C, h, w) on CPU for integer masks ``labels`` (N, S, S).

        ``mode``: ``"vanilla"`` or ``"sc"``. ``batch_size`` counts U-Net rows (copies) per call.
        With ``return_copies`` also returns ``{(i, k): z0^k}`` of the SC copies.
        """
        if mode not in ("vanilla", "sc"):
            raise ValueError(f"mode must be 'vanilla' or 'sc', got {mode!r}")
        progress = progress or null_progress
        lab = torch.as_tensor(np.asarray(labels)).long()
        if lab.ndim != 3 or lab.shape[1:] != (self.unet.config.image_size,) * 2:
            raise ValueError(f"labels must be (N, {self.unet.config.image_size}, {self.unet.config.image_size}), "
                             f"got {tuple(lab.shape)}")
        if len(seeds) != len(lab):
            raise ValueError(f"need one seed per mask, got {len(seeds)} for {len(lab)}")
        k = int(self.unet.config.num_labels)
        noise = self._noise(seeds)
        single = self.unet.tokens(self.unet.single_label_onehots(list(range(k)), self.device)) if mode == "sc" else None
        jobs = self._jobs(lab, mode, present_only)
        rows: dict[tuple[int, int], torch.Tensor] = {}
        for b0 in range(0, len(jobs), batch_size):
            check_cancel(cancel, f"DISC {mode} sampling")
            chunk = jobs[b0:b0 + batch_size]
            idx = [i for i, _ in chunk]
            if mode == "sc":
                tokens = single[torch.as_tensor([c for _, c in chunk], device=self.device)]
            else:
                tokens = self.unet.tokens(one_hot_masks(lab[idx], k).to(self.device))
            z0 = self.denoise(noise[idx], tokens, num_inference_steps).float().cpu()
            rows.update({job: z0[j] for j, job in enumerate(chunk)})
            progress(min(b0 + batch_size, len(jobs)), len(jobs), f"{mode}: {min(b0 + batch_size, len(jobs))}/{len(jobs)} rows")
        if mode == "vanilla":
            out = torch.stack([rows[(i, -1)] for i in range(len(lab))])
        else:
            out = torch.stack([fuse_latents(torch.stack([rows[j] for j in jobs if j[0] == i]),
                                            [c for n, c in jobs if n == i], lab[i], k) for i in range(len(lab))])
        return (out, rows) if return_copies else out

    @torch.no_grad()
    def decode(self, z: torch.Tensor, batch_size: int = 32) -> np.ndarray:
        """Images (N, S, S) float32 in [0, 1] from scaled latents."""
        return np.concatenate([self.vae.decode(z[i:i + batch_size].to(self.device))[:, 0].float().cpu().numpy()
                               for i in range(0, len(z), batch_size)]) if len(z) else np.zeros((0,) * 3, np.float32)

    def __call__(self, labels, *, seeds: list[int], mode: str = "vanilla", num_inference_steps: int = 50,
                 batch_size: int = 64, progress: ProgressCallback | None = None,
                 cancel: CancelToken | None = None) -> np.ndarray:
        """Images (N, S, S) in [0, 1] for masks ``labels`` (N, S, S); see :meth:`latents`."""
        z = self.latents(labels, seeds=seeds, mode=mode, num_inference_steps=num_inference_steps,
                         batch_size=batch_size, progress=progress, cancel=cancel)
        return self.decode(z)
