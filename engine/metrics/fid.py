"""FID between two image sets with torchmetrics' maintained implementation, on features of *our own*
locally trained encoder.

Inception-v3 weights cannot be downloaded here, so the features are not Inception's: the numbers
are **not comparable** with published FIDs (e.g. the SSL paper's 45.72). They compare sets with
each other within one run (real-train vs real-test gives the floor). The feature extractor is any
module with ``embed(x) -> (B, d)`` (e.g. a trained :class:`engine.models.ConvClassifier`).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

__all__ = ["EmbedFeatures", "fid"]


class EmbedFeatures(nn.Module):
    """Wrap ``model.embed`` as a torchmetrics feature extractor (float images (B, 1, H, W) in [0, 1])."""

    def __init__(self, model: nn.Module, num_features: int) -> None:
        super().__init__()
        self.model = model.eval()
        self.num_features = int(num_features)

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.embed(x.float()).double()


def fid(model: nn.Module, num_features: int, real: np.ndarray, fake: np.ndarray, device="cpu",
        batch_size: int = 64) -> float:
    """Frechet distance of ``model.embed`` features of ``real`` and ``fake`` (N, H, W) in [0, 1]."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    if len(real) < 2 or len(fake) < 2:
        raise ValueError("FID needs at least 2 images per set")
    metric = FrechetInceptionDistance(feature=EmbedFeatures(model, num_features), normalize=True).to(device)
    for arr, is_real in ((real, True), (fake, False)):
        x = torch.as_tensor(np.asarray(arr, dtype=np.float32))[:, None]
        for i in range(0, len(x), batch_size):
            metric.update(x[i:i + batch_size].to(device), real=is_real)
    return float(metric.compute())
