"""Model architectures, one file each: US-VAE, conditional latent U-Net, teacher/student CNN."""

from __future__ import annotations

from engine.models.classifier_cnn import ConvClassifier, student_config, teacher_config
from engine.models.cond_unet import ConditionalLatentUNet, ConditionEncoder
from engine.models.text_encoder import TextEmbedder
from engine.models.us_vae import USVAE

__all__ = ["USVAE", "ConditionalLatentUNet", "ConditionEncoder", "ConvClassifier", "TextEmbedder",
           "teacher_config", "student_config"]
