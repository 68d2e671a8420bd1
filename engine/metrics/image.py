"""Generation-quality metrics (paper section 3.6): PSNR, MSE, SSIM and the feature matching score.

PSNR/MSE/SSIM come from scikit-image (maintained implementations) with ``data_range=1`` on images
in [0, 1]. FMS is the cosine similarity of a trained teacher's features between a real image and
each of its synthetic variants (the paper's section 3.6 uses an ImageNet ResNet-50 and its Table 2
note says "inverse L2 distance of teacher features"; no ImageNet weights can be had offline, so we
follow the task's definition: cosine of the teacher's pooled last-block features).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from skimage.metrics import mean_squared_error, peak_signal_noise_ratio, structural_similarity

__all__ = ["psnr", "mse", "ssim", "feature_matching_score", "MetricSummary", "summarize", "pair_metrics"]


def _check(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"need two 2-D images of the same shape, got {a.shape} and {b.shape}")
    return a, b


def psnr(real: np.ndarray, fake: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB of two (H, W) images in [0, 1] (inf when identical)."""
    a, b = _check(real, fake)
    if np.array_equal(a, b):
        return float("inf")
    return float(peak_signal_noise_ratio(a, b, data_range=1.0))


def mse(real: np.ndarray, fake: np.ndarray) -> float:
    """Mean squared error of two (H, W) images in [0, 1]."""
    a, b = _check(real, fake)
    return float(mean_squared_error(a, b))


def ssim(real: np.ndarray, fake: np.ndarray) -> float:
    """Structural similarity (Wang et al. 2004, 7x7 window, scikit-image defaults), range [-1, 1]."""
    a, b = _check(real, fake)
    win = min(7, min(a.shape) // 2 * 2 - 1)
    return float(structural_similarity(a, b, data_range=1.0, win_size=win))


@torch.no_grad()
def feature_matching_score(model, real: np.ndarray, fakes: np.ndarray, device="cpu") -> np.ndarray:
    """Cosine similarity of ``model.embed`` features: real (H, W) vs each of fakes (K, H, W)."""
    model.eval()
    x = torch.as_tensor(np.concatenate([real[None], fakes]), dtype=torch.float32)[:, None].to(device)
    f = torch.nn.functional.normalize(model.embed(x).float(), dim=1)
    return (f[1:] @ f[0]).cpu().numpy()


@dataclass(frozen=True)
class MetricSummary:
    """Mean, standard deviation and count of one metric."""

    mean: float
    std: float
    n: int

    def as_dict(self) -> dict:
        return asdict(self)


def summarize(values) -> MetricSummary:
    v = np.asarray([x for x in values if np.isfinite(x)], dtype=np.float64)
    if v.size == 0:
        return MetricSummary(float("nan"), float("nan"), 0)
    return MetricSummary(float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0, int(v.size))


def pair_metrics(real: np.ndarray, fakes: np.ndarray) -> dict[str, list[float]]:
    """PSNR, SSIM and MSE of one real image against each of its variants."""
    return {"psnr": [psnr(real, f) for f in fakes], "ssim": [ssim(real, f) for f in fakes],
            "mse": [mse(real, f) for f in fakes]}
