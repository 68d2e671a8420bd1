"""Image-generation metrics. Classification metrics (AUC, ...) live in the app's stats package;
the engine returns probabilities."""

from __future__ import annotations

from engine.metrics.image import (
    MetricSummary,
    feature_matching_score,
    mse,
    pair_metrics,
    psnr,
    ssim,
    summarize,
)

__all__ = ["psnr", "mse", "ssim", "feature_matching_score", "MetricSummary", "summarize", "pair_metrics"]
