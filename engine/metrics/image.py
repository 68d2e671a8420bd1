"""Generation-quality metrics (paper section 3.6): PSNR, MSE, SSIM and the feature matching score.

PSNR/MSE/SSIM come from scikit-image (maintained implementations) with ``data_range=1`` on images
in [0, 1]. FMS is the cosine similarity of a trained teacher's features between a real image and
each of its synthetic variants (the paper's section 3.6 uses an ImageNet ResNet-50 and its Table 2
note says "inverse L2 distance of teacher features"; no ImageNet weights can be had offline, so we
follow the task's definition: cosine of the teacher's pooled last-block features).

That raw FMS is uninformative: the pooled features follow ReLUs, so every feature vector lies in
the positive orthant and any two images score close to 1 (0.998 for the blurry samples of a
default-preset run, see ``engine/README.md``). :func:`feature_matching_score` therefore also
takes ``center`` (the mean feature of the real training images): the *centred* FMS is the cosine
of the deviations from that mean, near 0 for unrelated images and 1 for the same image; the
pipeline reports it next to the same score between a real image and another real image of the
same label (the baseline a good variant should reach), and :func:`label_agreement` (how often the
real-only teacher calls a synthetic image by the label it was generated for).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from skimage.metrics import mean_squared_error, peak_signal_noise_ratio, structural_similarity

__all__ = ["psnr", "mse", "ssim", "feature_matching_score", "mean_feature", "label_agreement", "MetricSummary",
           "summarize", "pair_metrics"]


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
def feature_matching_score(model, real: np.ndarray, fakes: np.ndarray, device="cpu",
                           center: np.ndarray | None = None) -> np.ndarray:
    """Cosine similarity of ``model.embed`` features: real (H, W) vs each of fakes (K, H, W).

    ``center``: a feature vector (D,) subtracted from every feature first (the centred FMS; use
    :func:`mean_feature` of the real training images). Returns (K,) float32 in [-1, 1].
    """
    model.eval()
    x = torch.as_tensor(np.concatenate([real[None], fakes]), dtype=torch.float32)[:, None].to(device)
    f = model.embed(x).float()
    if center is not None:
        f = f - torch.as_tensor(center, dtype=torch.float32, device=f.device)
    f = torch.nn.functional.normalize(f, dim=1)
    return (f[1:] @ f[0]).cpu().numpy()


@torch.no_grad()
def mean_feature(model, images: np.ndarray, device="cpu", batch_size: int = 64) -> np.ndarray:
    """Mean ``model.embed`` feature (D,) of images (N, H, W) in [0, 1]: the centre of the centred FMS."""
    model.eval()
    feats = [model.embed(torch.as_tensor(images[i:i + batch_size], dtype=torch.float32)[:, None].to(device))
             .float().cpu() for i in range(0, len(images), batch_size)]
    return torch.cat(feats).mean(dim=0).numpy()


@torch.no_grad()
def label_agreement(model, images: np.ndarray, labels: np.ndarray, device="cpu", batch_size: int = 64) -> dict:
    """How often a classifier calls each image (N, H, W) by its label (N,) at P >= 0.5.

    Returns ``{"all": fraction, "label0": ..., "label1": ..., "n": N}`` (NaN for an absent label).
    """
    model.eval()
    probs = torch.cat([torch.softmax(model(torch.as_tensor(images[i:i + batch_size], dtype=torch.float32)[:, None]
                                           .to(device)).float(), dim=1)[:, 1].cpu()
                       for i in range(0, len(images), batch_size)]).numpy()
    hit = (probs >= 0.5).astype(int) == np.asarray(labels)
    out = {"all": float(hit.mean()) if len(hit) else float("nan"), "n": int(len(hit))}
    for k in (0, 1):
        sel = np.asarray(labels) == k
        out[f"label{k}"] = float(hit[sel].mean()) if sel.any() else float("nan")
    return out


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
