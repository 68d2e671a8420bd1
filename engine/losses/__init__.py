"""Losses written for the papers: KD (eq. 13-15) and the US-VAE loss (eq. 9)."""

from __future__ import annotations

from engine.losses.kd import distillation_loss
from engine.losses.vae import perceptual_loss, vae_loss

__all__ = ["distillation_loss", "vae_loss", "perceptual_loss"]
