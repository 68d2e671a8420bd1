"""Training functions: they take model, optimizer, data and callbacks; seeded; resumable; DDP-ready."""

from __future__ import annotations

from engine.training.classifier import ImagePool, distill_student, predict_proba, train_classifier
from engine.training.ldm import LatentDataset, encode_latents, make_train_scheduler, train_ldm
from engine.training.loop import LoopConfig, TrainResult, run_loop
from engine.training.vae import fit_scaling_factor, train_vae

__all__ = ["LoopConfig", "TrainResult", "run_loop", "train_vae", "fit_scaling_factor", "LatentDataset",
           "encode_latents", "make_train_scheduler", "train_ldm", "ImagePool", "train_classifier",
           "distill_student", "predict_proba"]
