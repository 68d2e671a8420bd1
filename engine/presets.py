"""Model sizes and schedules: ``tiny`` (tests, seconds), ``default`` (64 px laptop, < 10 min on
2 CPU cores) and ``paper`` (256 px, GPU).

A :class:`Preset` is a frozen dataclass; derive variants with :func:`get_preset` overrides, e.g.
``get_preset("default", ldm_steps=3000)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

__all__ = ["Preset", "get_preset", "unet_kwargs", "PRESETS", "ABLATIONS", "MASK_CONDITIONING"]

#: The ablations of the paper's Tables 3/4 that ``run_pipeline`` can run.
ABLATIONS = (
    "teacher_real",       # teacher trained on real images only
    "teacher_real_syn",   # teacher trained on real + synthetic images
    "student_no_kd",      # student trained with CE on real + synthetic, no teacher
    "kd_classic_aug",     # teacher on real with classic augmentation, then KD to the student
    "full",               # teacher on real + synthetic, KD to the student (DiffKD-DCIS)
)

#: How the tumour mask reaches the U-Net (engine/README.md, "Mask conditioning"):
#: ``"concat"`` (default): the paper's global 128-d mask code in the condition vector AND the mask,
#: area-downsampled to the latent grid, concatenated to the noisy latent as an extra input channel;
#: ``"paper-literal"``: the global code only (section 3.2.3, eq. 12), kept as an ablation: it
#: cannot say where the lesion is, and the trained model ignores the mask.
MASK_CONDITIONING = ("concat", "paper-literal")


@dataclass(frozen=True)
class Preset:
    """Every size and schedule ``run_pipeline`` needs. Steps are optimiser steps."""

    name: str
    image_size: int
    # US-VAE
    vae: dict = field(default_factory=dict)
    vae_steps: int = 300
    vae_batch: int = 8
    vae_lr: float = 1e-3
    vae_beta: float = 1e-6
    perceptual_weight: float = 0.1
    perceptual_blocks: int = 2
    # conditional U-Net
    unet: dict = field(default_factory=dict)
    ldm_steps: int = 1500
    ldm_batch: int = 8
    ldm_lr: float = 1e-3
    p_uncond: float = 0.1
    mask_conditioning: str = "concat"
    text_backend: str = "auto"
    # synthesis
    sampler: str = "ddim"
    sample_steps: int = 50
    guidance_scale: float = 2.0
    synth_per_negative: int = 8
    synth_per_positive: int = 5
    synth_batch: int = 16
    strength: float = 1.0
    #: training cases whose masks measure the mask fidelity in metrics.json (0 = none)
    fidelity_cases: int = 64
    # teacher / student
    classifier_head: str = "flatten"
    teacher_steps: int = 300
    student_steps: int = 300
    clf_batch: int = 16
    clf_lr: float = 1e-4
    weight_decay: float = 1e-5
    temperature: float = 3.0
    alpha: float = 0.7
    #: augmentation of the DiffKD arms (teacher_real, teacher_real_syn, student_no_kd, student_full):
    #: "flip" (the paper: synthetic images are the augmentation) or "classic" (flip, rotation,
    #: brightness/contrast); the kd_classic_aug ablation always uses "classic" on real images only.
    augment: str = "flip"
    #: class-balanced batches for every teacher and student (engine.training.balanced_indices)
    clf_balanced: bool = False
    ablations: tuple[str, ...] = ABLATIONS
    checkpoint_every: int = 0
    grid_cases: int = 6
    num_threads: int | None = None


_TINY_VAE = dict(latent_channels=4, block_out_channels=(16, 32, 32), layers_per_block=1,
                 norm_num_groups=16, mid_block_add_attention=False)
_TINY_UNET = dict(block_out_channels=(32, 64), down_block_types=("DownBlock2D", "AttnDownBlock2D"),
                  up_block_types=("AttnUpBlock2D", "UpBlock2D"), layers_per_block=1,
                  norm_num_groups=32, mask_channels=(8, 16, 32))

PRESETS: dict[str, Preset] = {
    # Seconds on 2 CPU cores: 32 px, 8x8x4 latent, a handful of steps. Checks plumbing only.
    "tiny": Preset(
        name="tiny", image_size=32, vae=_TINY_VAE, vae_steps=3, vae_batch=4,
        unet=_TINY_UNET, ldm_steps=3, ldm_batch=4, text_backend="hashed",
        sample_steps=3, synth_per_negative=2, synth_per_positive=1, synth_batch=8, fidelity_cases=4,
        teacher_steps=3, student_steps=3, clf_batch=4, clf_lr=1e-4, grid_cases=3,
    ),
    # Laptop: 64 px, 16x16x4 latent, whole pipeline with all ablations < 10 min on 2 cores.
    "default": Preset(
        name="default", image_size=64, vae=_TINY_VAE, vae_steps=200, vae_batch=8, vae_lr=1e-3,
        perceptual_blocks=1,
        unet=_TINY_UNET, ldm_steps=1200, ldm_batch=8, ldm_lr=1e-3,
        sampler="dpm", sample_steps=20, guidance_scale=2.0, strength=1.0,
        teacher_steps=120, student_steps=150, clf_batch=16, clf_lr=2e-4,
    ),
    # The paper (sections 3.2-3.5): 256 px -> 32x32x16 latent, U-Net (128, 256, 512), Adam 2e-4,
    # batch 4, classifiers at 1e-4. "1000 epochs" of 804 images at batch 4 ~ 200k U-Net steps.
    "paper": Preset(
        name="paper", image_size=256,
        vae=dict(latent_channels=16, block_out_channels=(64, 128, 256, 256), layers_per_block=2,
                 norm_num_groups=32, mid_block_add_attention=True),
        vae_steps=50_000, vae_batch=4, vae_lr=2e-4,
        unet=dict(block_out_channels=(128, 256, 512),
                  down_block_types=("DownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D"),
                  up_block_types=("AttnUpBlock2D", "AttnUpBlock2D", "UpBlock2D"), layers_per_block=2,
                  norm_num_groups=32, mask_channels=(16, 32, 64)),
        ldm_steps=200_000, ldm_batch=4, ldm_lr=2e-4, sampler="ddim", sample_steps=50,
        synth_batch=32, teacher_steps=100_000, student_steps=100_000, clf_batch=4, clf_lr=1e-4,
        checkpoint_every=5_000,
    ),
}


def get_preset(name: str | Preset, **overrides) -> Preset:
    """The preset called ``name`` with ``overrides`` applied (unknown keys raise ``ValueError``)."""
    base = name if isinstance(name, Preset) else PRESETS.get(name)
    if base is None:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    known = {f.name for f in fields(Preset)}
    bad = sorted(set(overrides) - known)
    if bad:
        raise ValueError(f"unknown preset fields {bad}")
    if overrides.get("mask_conditioning", MASK_CONDITIONING[0]) not in MASK_CONDITIONING:
        raise ValueError(f"mask_conditioning must be one of {MASK_CONDITIONING}, "
                         f"got {overrides['mask_conditioning']!r}")
    unknown_abl = set(overrides.get("ablations", ())) - set(ABLATIONS)
    if unknown_abl:
        raise ValueError(f"unknown ablations {sorted(unknown_abl)}; choose from {ABLATIONS}")
    return replace(base, **overrides)


def unet_kwargs(preset: Preset) -> dict:
    """Keyword arguments of :class:`engine.models.ConditionalLatentUNet` for ``preset`` (sizes and mask
    conditioning; the caller adds the latent size/channels and the text encoder)."""
    return {**preset.unet, "concat_mask": preset.mask_conditioning == "concat"}
