"""Inference: mask/label/prompt-conditioned image generation with the trained US-VAE + U-Net.

Samplers are built from the training DDPM's config: ``"ddim"`` (:class:`~diffusers.DDIMScheduler`,
eta = 0, deterministic) or ``"dpm"`` (:class:`~diffusers.DPMSolverMultistepScheduler`). Every image
has its own seed, so an image does not depend on the batch it was generated in.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler

from engine.data.tensors import resize_image, resize_mask
from engine.models.cond_unet import ConditionalLatentUNet
from engine.models.text_encoder import TextEmbedder
from engine.models.us_vae import USVAE
from engine.progress import CancelToken, ProgressCallback, check_cancel, null_progress

__all__ = ["GenerationPipeline", "make_sampler"]

SAMPLERS = {"ddim": DDIMScheduler, "dpm": DPMSolverMultistepScheduler}


# Only the noise schedule is taken from the training scheduler; every sampler option is explicit.
# (``from_config`` otherwise inherits DDPM values such as ``timestep_spacing="leading"`` from a
# saved config but not from an in-memory one, so a reloaded pipeline sampled differently.)
_SCHEDULE_KEYS = ("num_train_timesteps", "beta_start", "beta_end", "beta_schedule", "prediction_type")
# "leading" spacing with offset 1 (the Stable Diffusion convention): with the cosine schedule,
# alpha_bar(999) ~ 0, and a first step from t = 999 ("trailing"/"linspace") divides the predicted
# noise by sqrt(alpha_bar) ~ 1e-4, which saturated the images of a briefly trained model. No x0
# clipping: the latents have unit std, not [-1, 1].
_SAMPLER_OPTIONS = {
    "ddim": dict(clip_sample=False, set_alpha_to_one=False, timestep_spacing="leading", steps_offset=1),
    "dpm": dict(algorithm_type="dpmsolver++", solver_order=2, timestep_spacing="leading", steps_offset=1,
                lower_order_final=True, final_sigmas_type="zero", thresholding=False),
}


def make_sampler(train_config, sampler: str):
    """A fresh sampling scheduler of kind ``sampler`` (``"ddim"`` or ``"dpm"``) with the noise
    schedule of the training DDPM config ``train_config`` and explicit sampler options."""
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {sorted(SAMPLERS)}, got {sampler!r}")
    schedule = {k: train_config[k] for k in _SCHEDULE_KEYS}
    return SAMPLERS[sampler](**schedule, **_SAMPLER_OPTIONS[sampler])


class GenerationPipeline:
    """US-VAE + conditional U-Net + sampler; call it to synthesise images.

    Parameters
    ----------
    vae, unet
        Trained :class:`~engine.models.USVAE` and :class:`~engine.models.ConditionalLatentUNet`.
    scheduler
        The training :class:`~diffusers.DDPMScheduler` (its config builds the samplers).
    text
        A :class:`~engine.models.TextEmbedder` whose backend matches ``unet.config.text_encoder``.
    device
        Torch device for inference.
    """

    def __init__(self, vae: USVAE, unet: ConditionalLatentUNet, scheduler: DDPMScheduler,
                 text: TextEmbedder, device: str | torch.device = "cpu") -> None:
        if text.backend != unet.config.text_encoder:
            raise ValueError(f"the U-Net was trained with text backend {unet.config.text_encoder!r} "
                             f"but the embedder uses {text.backend!r}")
        self.device = torch.device(device)
        self.vae = vae.to(self.device).eval()
        self.unet = unet.to(self.device).eval()
        self.scheduler = scheduler
        self.text = text

    # ------------------------------------------------------------------ persistence
    def save_pretrained(self, directory: str | Path) -> None:
        """Write ``vae/``, ``unet/``, ``scheduler/`` and the cached prompt embeddings."""
        d = Path(directory)
        self.vae.save_pretrained(d / "vae")
        self.unet.save_pretrained(d / "unet")
        self.scheduler.save_pretrained(d / "scheduler")
        cache = {k: v.tolist() for k, v in self.text.cache.items()}
        (d / "prompt_embeddings.json").write_text(json.dumps({"backend": self.text.backend,
                                                             "embeddings": cache}))

    @classmethod
    def from_pretrained(cls, directory: str | Path, device: str | torch.device = "cpu") -> GenerationPipeline:
        """Load what :meth:`save_pretrained` wrote; reads local files only."""
        d = Path(directory)
        vae = USVAE.from_pretrained(d / "vae", low_cpu_mem_usage=False)
        unet = ConditionalLatentUNet.from_pretrained(d / "unet", low_cpu_mem_usage=False)
        sched = DDPMScheduler.from_pretrained(d / "scheduler")
        stored = json.loads((d / "prompt_embeddings.json").read_text())
        text = TextEmbedder.__new__(TextEmbedder)
        # Cached prompts work without the encoder package; new prompts need the same backend.
        text.backend, text.device, text.dim = stored["backend"], str(device), 384
        text.cache = {k: np.asarray(v, dtype=np.float32) for k, v in stored["embeddings"].items()}
        text._model = text._tokenizer = None
        return cls(vae, unet, sched, text, device)

    # ------------------------------------------------------------------ sampling
    def _denoise(self, z: torch.Tensor, labels, masks, text, *, steps: int, guidance_scale: float,
                 sampler: str, strength: float, init_noise: torch.Tensor | None) -> torch.Tensor:
        sched = make_sampler(self.scheduler.config, sampler)
        sched.set_timesteps(steps, device=self.device)
        timesteps = sched.timesteps
        if strength < 1.0:
            start = steps - max(1, int(round(steps * strength)))
            timesteps = timesteps[start * sched.order:]
            if hasattr(sched, "set_begin_index"):
                sched.set_begin_index(start * sched.order)
            z = sched.add_noise(z, init_noise, timesteps[:1].repeat(len(z)))
        else:
            z = z * sched.init_noise_sigma
        cfg = guidance_scale != 1.0
        if cfg:
            nl, nm, nt = self.unet.null_condition(labels, masks, text)
            labels, masks, text = (torch.cat([labels, nl]), torch.cat([masks, nm]), torch.cat([text, nt]))
        for t in timesteps:
            zin = torch.cat([z, z]) if cfg else z
            zin = sched.scale_model_input(zin, t)
            eps = self.unet(zin, t.expand(len(zin)), labels, masks, text)
            if cfg:
                e_c, e_u = eps.chunk(2)
                eps = e_u + guidance_scale * (e_c - e_u)
            z = sched.step(eps, t, z).prev_sample
        return z

    @torch.no_grad()
    def __call__(self, masks, labels, prompts: list[str], *, seeds: list[int] | None = None, seed: int = 0,
                 num_inference_steps: int = 50, guidance_scale: float = 2.0, sampler: str = "ddim",
                 strength: float = 1.0, init_images=None, batch_size: int = 16,
                 progress: ProgressCallback | None = None, cancel: CancelToken | None = None) -> np.ndarray:
        """Generate one image per (mask, label, prompt).

        Parameters
        ----------
        masks
            Sequence of (H, W) masks (any size; resized to the VAE size), non-zero = lesion.
        labels
            Sequence of 0/1 labels.
        prompts
            One text prompt per image.
        seeds
            One seed per image; default ``seed + i``. Same seed and inputs give the same image.
        num_inference_steps, guidance_scale, sampler
            Sampler steps, classifier-free guidance scale (1 = no guidance), ``"ddim"``/``"dpm"``.
        strength, init_images
            SDEdit-style variation (a documented deviation, not in the paper): with
            ``strength < 1`` sampling starts from ``init_images`` (one (H, W) array in [0, 1] per
            image) noised to ``strength`` of the schedule; ``strength = 1`` is pure noise.

        Returns
        -------
        numpy.ndarray
            float32 (N, S, S) images in [0, 1], S = ``vae.config.image_size``.
        """
        progress = progress or null_progress
        n = len(prompts)
        if not (len(masks) == len(labels) == n):
            raise ValueError(f"masks, labels and prompts must have the same length, got "
                             f"{len(masks)}, {len(labels)}, {n}")
        if strength < 1.0 and init_images is None:
            raise ValueError("strength < 1 needs init_images")
        seeds = list(seeds) if seeds is not None else [seed + i for i in range(n)]
        size = int(self.vae.config.image_size)
        lat = (int(self.unet.config.latent_channels), self.vae.latent_size, self.vae.latent_size)
        out = np.zeros((n, size, size), dtype=np.float32)
        emb = torch.as_tensor(self.text(list(prompts)))
        for b0 in range(0, n, batch_size):
            check_cancel(cancel, "generation")
            sl = slice(b0, min(n, b0 + batch_size))
            noise = torch.stack([torch.randn(lat, generator=torch.Generator().manual_seed(int(s)))
                                 for s in seeds[sl]]).to(self.device)
            m = torch.stack([resize_mask(x, size) for x in masks[sl]]).to(self.device)
            y = torch.as_tensor([int(v) for v in labels[sl]], dtype=torch.long, device=self.device)
            txt = emb[sl].to(self.device)
            init = noise
            z0 = noise
            if strength < 1.0:
                imgs = torch.stack([resize_image(x, size) for x in init_images[sl]]).to(self.device)
                z0 = self.vae.encode(imgs)
            z = self._denoise(z0, y, m, txt, steps=num_inference_steps, guidance_scale=guidance_scale,
                              sampler=sampler, strength=strength, init_noise=init)
            out[sl] = self.vae.decode(z)[:, 0].float().cpu().numpy()
            progress(sl.stop, n, f"generated {sl.stop}/{n} images")
        return out
