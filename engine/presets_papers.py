"""Presets of the three other papers: DISC, SSL-guided LDM and REACT-KD.

Same sizes as :mod:`engine.presets`: ``tiny`` (tests, seconds), ``default`` (a laptop, minutes on
2 CPU cores) and ``paper`` (the papers' sizes, GPU). Derive variants with
:func:`get_paper_preset` overrides, e.g. ``get_paper_preset("disc", "default", ldm_steps=3000)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

__all__ = ["DISCPreset", "SSLPreset", "ReactPreset", "PAPER_PRESETS", "get_paper_preset"]

_MICRO_VAE = dict(latent_channels=4, block_out_channels=(16, 32, 32), layers_per_block=1,
                  norm_num_groups=16, mid_block_add_attention=False)
_XATTN_TINY = dict(block_out_channels=(32, 64), down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                   up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), layers_per_block=1,
                   norm_num_groups=32, attention_head_dim=8)
_XATTN_PAPER = dict(block_out_channels=(128, 256, 512),
                    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
                    up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
                    layers_per_block=2, norm_num_groups=32, attention_head_dim=8)
_PAPER_VAE = dict(latent_channels=4, block_out_channels=(64, 128, 256), layers_per_block=2,
                  norm_num_groups=32, mid_block_add_attention=True)


@dataclass(frozen=True)
class DISCPreset:
    """DISC: phantom slices with K = 5 labels, VAE, SD (LDM), SC sampling, SD-DISC(-CoTrain),
    fidelity and the lambda-balanced downstream classifier. Steps are optimiser steps."""

    name: str
    image_size: int
    n_train: int = 256
    n_test: int = 64
    vae: dict = field(default_factory=lambda: dict(_MICRO_VAE))
    vae_steps: int = 300
    vae_batch: int = 8
    vae_lr: float = 1e-3
    unet: dict = field(default_factory=lambda: dict(_XATTN_TINY))
    token_grid: int = 8
    token_dim: int = 128
    tokenizer_channels: tuple[int, ...] = (16, 32, 64)
    ldm_steps: int = 1200
    ldm_batch: int = 8
    ldm_lr: float = 1e-3
    sample_steps: int = 50          # DDIM; the paper uses 200
    sample_batch: int = 64          # images x copies per U-Net call
    n_distill: int = 128            # SC-fused latents for self-distillation (paper: 20,000)
    distill_steps: int = 300
    distill_lr: float = 3e-4
    n_eval: int = 48                # tile masks per generator for fidelity and the classifier
    segmenter_steps: int = 300
    segmenter_batch: int = 16
    clf_steps: int = 200
    clf_batch: int = 16
    clf_lr: float = 3e-4
    balance_lambda: float = 0.3     # eq. 4, for every generator
    lambda_sweep: tuple[float, ...] = (0.1, 0.5)  # extra lambdas for SD-DISC
    grid_rows: int = 6
    num_threads: int | None = None


@dataclass(frozen=True)
class SSLPreset:
    """SSL-guided LDM on BUSI-style images cut into patches: DINO ViT, VAE, cross-attention LDM
    (CFG, 10 % dropout), DDIM, patch classifier, mean-probability aggregation, FID."""

    name: str
    image_size: int                 # images are resized to this side before patching
    patch_size: int
    patch_stride: int
    limit_per_class: int | None = None
    test_fraction: float = 0.25
    vit: dict = field(default_factory=lambda: dict(patch_size=4, dim=96, depth=4, heads=4, mlp_ratio=2.0,
                                                   out_dim=256, head_hidden=256, bottleneck=64))
    local_crop: int = 16
    n_local: int = 4
    dino_steps: int = 400
    dino_batch: int = 32
    dino_lr: float = 5e-4
    teacher_temp: float = 0.04
    student_temp: float = 0.1
    center_momentum: float = 0.9
    ema_momentum: float = 0.996
    vae: dict = field(default_factory=lambda: dict(_MICRO_VAE))
    vae_steps: int = 300
    vae_batch: int = 16
    vae_lr: float = 1e-3
    unet: dict = field(default_factory=lambda: dict(_XATTN_TINY))
    ldm_steps: int = 1200
    ldm_batch: int = 16
    ldm_lr: float = 1e-3
    p_uncond: float = 0.1           # paper: 10 % condition dropout
    sample_steps: int = 50          # paper: 50 DDIM steps
    guidance_scale: float = 2.0
    sample_batch: int = 32
    synth_fraction: float = 0.2     # synthetic patches / real training patches (paper: 5 % of all)
    clf_steps: int = 300
    clf_batch: int = 32
    clf_lr: float = 3e-4
    threshold: float = 0.2          # paper: mean patch probability > 0.2 -> positive image
    sweep: tuple[float, ...] = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7)
    n_fid: int = 256
    grid_rows: int = 6
    num_threads: int | None = None


@dataclass(frozen=True)
class ReactPreset:
    """REACT-KD on the 3D phantom: preprocessing, dual teachers, students, robustness."""

    name: str
    volume_size: int                # cube side after liver crop + resampling
    n_per_grade: int = 30
    test_fraction: float = 1 / 3
    phantom_shape: tuple[int, int, int] = (48, 96, 96)
    hu_window: tuple[float, float] = (-100.0, 240.0)
    teacher_channels: tuple[int, ...] = (16, 32, 64)
    student_channels: tuple[int, ...] = (8, 16, 32)
    teacher_steps: int = 300
    teacher_batch: int = 4
    teacher_lr: float = 1e-3
    student_steps: int = 400
    student_batch: int = 4
    student_lr: float = 1e-3
    modality_dropout: float = 0.3   # P(one of CT / PET is zeroed) per sample
    focal_gamma: float = 2.0
    class_weights: tuple[float, float, float] = (1.5, 1.0, 2.0)  # paper III-C
    temperature: float = 4.0
    w_kd: float = 1.0
    w_rgd: float = 1.0
    w_node: float = 1.0
    w_edge: float = 1.0
    w_gw: float = 1.0
    gw_backend: str = "auto"
    train_dose: float = 0.1         # dose fraction of the low-dose CT teacher's inputs
    eval_doses: tuple[float, ...] = (1.0, 0.25, 0.1, 0.05)
    sinogram_angles: int = 90
    ablations: tuple[str, ...] = ("student_focal", "student_logits_kd", "student_react_kd")
    num_threads: int | None = None


PAPER_PRESETS: dict[str, dict[str, object]] = {
    "disc": {
        "tiny": DISCPreset(name="tiny", image_size=16, n_train=8, n_test=3, vae_steps=2, vae_batch=4,
                           token_grid=4, token_dim=32, tokenizer_channels=(8, 16), ldm_steps=2, ldm_batch=4,
                           sample_steps=2, sample_batch=32, n_distill=3, distill_steps=2, n_eval=3,
                           segmenter_steps=2, segmenter_batch=4, clf_steps=1, clf_batch=4, lambda_sweep=(),
                           grid_rows=2),
        "default": DISCPreset(name="default", image_size=64),
        # Paper: DDIM 200, 20,000 distillation samples, K copies batched; 256 px tiles.
        "paper": DISCPreset(name="paper", image_size=256, n_train=4000, n_test=500, vae=dict(_PAPER_VAE),
                            vae_steps=50_000, vae_batch=8, vae_lr=2e-4, unet=dict(_XATTN_PAPER), token_grid=8,
                            token_dim=256, tokenizer_channels=(32, 64, 128, 256), ldm_steps=200_000,
                            ldm_batch=8, ldm_lr=1e-4, sample_steps=200, sample_batch=64, n_distill=20_000,
                            distill_steps=50_000, distill_lr=5e-5, n_eval=1000, segmenter_steps=5000,
                            clf_steps=20_000, clf_batch=32, lambda_sweep=(0.05, 0.1, 0.25, 0.5, 0.9)),
    },
    "ssl": {
        "tiny": SSLPreset(name="tiny", image_size=32, patch_size=16, patch_stride=16, limit_per_class=6,
                          test_fraction=0.5, vit=dict(patch_size=4, dim=32, depth=1, heads=2, mlp_ratio=2.0,
                                                      out_dim=32, head_hidden=32, bottleneck=16),
                          local_crop=8, n_local=2, dino_steps=2, dino_batch=8, vae_steps=2, vae_batch=4,
                          ldm_steps=2, ldm_batch=4, sample_steps=2, sample_batch=8, clf_steps=2,
                          clf_batch=8, n_fid=16, grid_rows=2),
        # Reduced to fit ~15 min on a loaded 2-core machine (see engine/PAPERS.md).
        "default": SSLPreset(name="default", image_size=96, patch_size=32, patch_stride=16,
                             vit=dict(patch_size=4, dim=96, depth=3, heads=4, mlp_ratio=2.0, out_dim=256,
                                      head_hidden=256, bottleneck=64),
                             n_local=2, dino_steps=200, vae_steps=200, ldm_steps=800, synth_fraction=0.1),
        # Paper: 400 px patches resized to 256 for the LDM; ViT-S/16 DINO (384-d); 50 DDIM steps.
        "paper": SSLPreset(name="paper", image_size=1024, patch_size=256, patch_stride=256,
                           vit=dict(patch_size=16, dim=384, depth=12, heads=6, mlp_ratio=4.0, out_dim=65536,
                                    head_hidden=2048, bottleneck=256),
                           local_crop=96, n_local=8, dino_steps=100_000, dino_batch=64, vae=dict(_PAPER_VAE),
                           vae_steps=50_000, vae_batch=8, vae_lr=2e-4, unet=dict(_XATTN_PAPER),
                           ldm_steps=200_000, ldm_batch=8, ldm_lr=1e-4, sample_batch=32, synth_fraction=0.05,
                           clf_steps=20_000, n_fid=10_000),
    },
    "reactkd": {
        "tiny": ReactPreset(name="tiny", volume_size=16, n_per_grade=4, test_fraction=0.5,
                            phantom_shape=(24, 48, 48), teacher_channels=(4, 8), student_channels=(4, 8),
                            teacher_steps=2, teacher_batch=2, student_steps=2, student_batch=2,
                            eval_doses=(1.0, 0.1), sinogram_angles=24),
        "default": ReactPreset(name="default", volume_size=32),
        # Paper: 96^3-128^3 inputs, teacher 150 epochs (batch 2), student 50 epochs (batch 8).
        "paper": ReactPreset(name="paper", volume_size=96, n_per_grade=65, phantom_shape=(96, 192, 192),
                             teacher_channels=(32, 64, 128, 256), student_channels=(16, 32, 64, 128),
                             teacher_steps=8_000, teacher_batch=2, teacher_lr=1e-4, student_steps=3_000,
                             student_batch=8, student_lr=1e-4, sinogram_angles=360),
    },
}


def get_paper_preset(method: str, name, **overrides):
    """The ``method`` (``disc``, ``ssl``, ``reactkd``) preset ``name`` with ``overrides`` applied.

    ``name`` may already be a preset object (then only the overrides apply). Unknown methods,
    names or fields raise ``ValueError``.
    """
    if method not in PAPER_PRESETS:
        raise ValueError(f"unknown method {method!r}; choose one of {sorted(PAPER_PRESETS)}")
    base = name if not isinstance(name, str) else PAPER_PRESETS[method].get(name)
    if base is None:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PAPER_PRESETS[method])}")
    known = {f.name for f in fields(base)}
    bad = sorted(set(overrides) - known)
    if bad:
        raise ValueError(f"unknown preset fields {bad}")
    return replace(base, **overrides)
