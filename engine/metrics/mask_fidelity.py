"""Mask fidelity: does a generated image put the lesion where the conditioning mask says?

BUSI lesions are hypoechoic: a real image is darker inside the tumour mask than in a thin ring just
outside it. Two intensity figures per case, on a (H, W) image in [0, 1] and its binary mask at the
same size (the generator's resolution):

* **contrast** = mean(ring) - mean(inside), where the ring is every pixel outside the mask within
  ``ring_px`` (Euclidean, default 4 px) of it. Real images with their own mask: clearly > 0; any
  image read with an unrelated mask: about 0.
* **pAUC** = P(a ring pixel is brighter than an inside pixel), ties counted half: the
  Mann-Whitney U of ring vs inside divided by n_ring * n_inside (scipy). Chance is 0.5.

And a segmentation figure: the Dice between a trained lesion segmenter's mask of the image and the
mask it was read with (:func:`dice`); the segmenter's Dice on real held-out images is its ceiling.

Each figure is summarised over cases by its mean with a seeded percentile bootstrap 95 % CI over
cases (:func:`bootstrap_mean`, scipy.stats.bootstrap). Cases whose mask or ring is empty are left
out (``n`` says how many were used).

The *controls* that make these figures mean something: :func:`shuffled_pairs` (read every image
with another case's mask: chance) and :func:`move_mask` (shift a mask by a quarter of the image
and generate with it: a model that follows the mask keeps its figures when read at the new place).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage, stats

__all__ = ["ring_mask", "case_fidelity", "fidelity_per_case", "dice", "bootstrap_mean", "BootstrapSummary",
           "move_mask", "shuffled_pairs", "summarize_fidelity", "RING_PX"]

#: Width of the ring around the mask, in pixels of the image the figures are computed on.
RING_PX = 4


def _binary(mask: np.ndarray) -> np.ndarray:
    m = np.asarray(mask)
    if m.ndim != 2:
        raise ValueError(f"mask must be 2-D, got shape {m.shape}")
    return m > 0


def ring_mask(mask: np.ndarray, ring_px: float = RING_PX) -> np.ndarray:
    """Pixels outside ``mask`` within ``ring_px`` (Euclidean distance, pixels) of it; bool (H, W)."""
    m = _binary(mask)
    if not m.any():
        return np.zeros_like(m)
    dist = ndimage.distance_transform_edt(~m)
    return (dist > 0) & (dist <= ring_px)


def case_fidelity(image: np.ndarray, mask: np.ndarray, ring_px: float = RING_PX) -> tuple[float, float]:
    """(contrast, pAUC) of one (H, W) image read with one (H, W) mask; NaNs if mask or ring is empty.

    Raises
    ------
    ValueError
        If the image and the mask are not 2-D arrays of the same shape.
    """
    img = np.asarray(image, dtype=np.float64)
    m = _binary(mask)
    if img.shape != m.shape:
        raise ValueError(f"image {img.shape} and mask {m.shape} must have the same shape")
    ring = ring_mask(m, ring_px)
    inside, outside = img[m], img[ring]
    if inside.size == 0 or outside.size == 0:
        return float("nan"), float("nan")
    contrast = float(outside.mean() - inside.mean())
    if np.ptp(np.concatenate([inside, outside])) == 0:
        return contrast, 0.5
    u = stats.mannwhitneyu(outside, inside, alternative="two-sided", method="asymptotic").statistic
    return contrast, float(u / (outside.size * inside.size))


def fidelity_per_case(images, masks, ring_px: float = RING_PX) -> dict[str, np.ndarray]:
    """``{"contrast": (N,), "pauc": (N,)}`` for N images (N, H, W) each read with its mask (N, H, W)."""
    images, masks = np.asarray(images), np.asarray(masks)
    if images.shape != masks.shape or images.ndim != 3:
        raise ValueError(f"need images and masks of the same (N, H, W) shape, got {images.shape} and {masks.shape}")
    pairs = [case_fidelity(i, m, ring_px) for i, m in zip(images, masks, strict=True)]
    arr = np.asarray(pairs, dtype=np.float64).reshape(-1, 2)
    return {"contrast": arr[:, 0], "pauc": arr[:, 1]}


def dice(pred: np.ndarray, target: np.ndarray) -> float:
    """Dice 2|A and B| / (|A| + |B|) of two binary (H, W) masks; 1.0 when both are empty."""
    a, b = _binary(pred), _binary(target)
    if a.shape != b.shape:
        raise ValueError(f"masks {a.shape} and {b.shape} must have the same shape")
    s = int(a.sum()) + int(b.sum())
    return 1.0 if s == 0 else 2.0 * int((a & b).sum()) / s


@dataclass(frozen=True)
class BootstrapSummary:
    """Mean over cases with a percentile bootstrap CI (``level``), and the number of cases used."""

    mean: float
    ci_low: float
    ci_high: float
    n: int
    level: float = 0.95

    def as_dict(self) -> dict:
        return asdict(self)


def bootstrap_mean(values, *, level: float = 0.95, n_resamples: int = 2000, seed: int = 0) -> BootstrapSummary:
    """Mean of the finite ``values`` and its percentile bootstrap CI over cases (seeded, scipy).

    With fewer than 2 finite values the CI is (mean, mean); with none everything is NaN and n = 0.
    """
    v = np.asarray([x for x in np.asarray(values, dtype=np.float64).ravel() if np.isfinite(x)])
    if v.size == 0:
        return BootstrapSummary(float("nan"), float("nan"), float("nan"), 0, level)
    mean = float(v.mean())
    if v.size < 2 or np.ptp(v) == 0:
        return BootstrapSummary(mean, mean, mean, int(v.size), level)
    res = stats.bootstrap((v,), np.mean, confidence_level=level, n_resamples=n_resamples, method="percentile",
                          rng=np.random.default_rng(seed))
    return BootstrapSummary(mean, float(res.confidence_interval.low), float(res.confidence_interval.high),
                            int(v.size), level)


def move_mask(mask: np.ndarray, fraction: float = 0.25) -> np.ndarray:
    """The mask shifted horizontally by ``fraction`` of the image width, towards the side with more room.

    The shift goes right when the mask's centre is left of the image centre (or on it), else left;
    what would fall off the image is cut. Returns uint8 (H, W) in {0, 1}.
    """
    m = _binary(mask)
    h, w = m.shape
    out = np.zeros_like(m)
    if not m.any():
        return out.astype(np.uint8)
    shift = int(round(fraction * w))
    cx = np.nonzero(m)[1].mean()
    if cx > (w - 1) / 2:
        shift = -shift
    if shift >= 0:
        out[:, shift:] = m[:, : w - shift]
    else:
        out[:, :shift] = m[:, -shift:]
    return out.astype(np.uint8)


def shuffled_pairs(n: int, seed: int = 0) -> np.ndarray:
    """A seeded permutation of ``range(n)`` with no fixed point (a derangement), n >= 2.

    ``perm[i]`` is the case whose mask image ``i`` is read with in the shuffled-mask control.
    """
    if n < 2:
        raise ValueError("the shuffled-mask control needs at least 2 cases")
    order = np.random.default_rng(seed).permutation(n)
    perm = np.empty(n, dtype=np.int64)
    perm[order] = np.roll(order, -1)  # a single cycle through a random order: never i -> i
    return perm


def summarize_fidelity(per_case: dict[str, np.ndarray], *, seed: int = 0) -> dict[str, dict]:
    """Bootstrap summary (mean, 95 % CI, n) of each per-case figure (``contrast``, ``pauc``, ``dice``...)."""
    return {k: bootstrap_mean(v, seed=seed).as_dict() for k, v in per_case.items()}
