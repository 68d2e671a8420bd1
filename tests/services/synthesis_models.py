"""Tiny (32 px, untrained) generator and segmenter saved like the shipped ones, for synthesis tests."""

from __future__ import annotations

from pathlib import Path

import torch


def save_tiny_models(root: Path) -> Path:
    """Write ``root/generator`` (concat-mask U-Net, hashed text with the class templates cached) and
    ``root/segmenter``; returns ``root``."""
    from engine.models import USVAE, ConditionalLatentUNet, TextEmbedder
    from engine.models.segmenter import LesionSegmenter
    from engine.pipelines.generation import GenerationPipeline
    from engine.presets import get_preset, unet_kwargs
    from engine.training import make_train_scheduler
    from readerstudy.services.synthesis import prompt_templates

    p = get_preset("tiny")
    torch.manual_seed(0)
    vae = USVAE(image_size=p.image_size, **p.vae)
    unet = ConditionalLatentUNet(latent_size=vae.latent_size, latent_channels=4, **unet_kwargs(p))
    text = TextEmbedder("hashed")
    text(list(prompt_templates().values()))
    GenerationPipeline(vae, unet, make_train_scheduler(), text).save_pretrained(root / "generator")
    LesionSegmenter(image_size=32, channels=(8, 16, 32), num_res_units=1).save_pretrained(root / "segmenter")
    return root
