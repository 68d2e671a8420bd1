"""Agreement between annotators' masks, and consensus masks.

Masks are (z, y, x) arrays (2D: (y, x) or depth 1); spacing is (z, y, x) in mm.
Overlap: Dice, Jaccard. Distance: 95th-percentile Hausdorff distance between the two
mask surfaces, in mm (the larger of the two directed 95th percentiles, as in MONAI's
``compute_hausdorff_distance(percentile=95)``), and the average symmetric surface
distance. Size: volume difference in mL. Consensus: per-voxel majority vote and
STAPLE (Warfield et al. 2004) through SimpleITK.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np
from scipy import ndimage

from readerstudy.core.errors import ValidationError
from readerstudy.imaging.mask_ops import spacing_zyx

__all__ = [
    "MaskAgreement",
    "PairAgreement",
    "Consensus",
    "dice",
    "jaccard",
    "surface_distances",
    "hausdorff95",
    "compare_masks",
    "pairwise_agreement",
    "majority_vote",
    "staple",
]


def _pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(a), np.asarray(b)
    if x.ndim == 2:
        x = x[None]
    if y.ndim == 2:
        y = y[None]
    if x.shape != y.shape or x.ndim != 3:
        raise ValidationError(f"masks must have the same 2D/3D shape, got {np.shape(a)} and {np.shape(b)}")
    return x.astype(bool, copy=False), y.astype(bool, copy=False)


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice coefficient 2|A and B| / (|A| + |B|); 1.0 when both masks are empty."""
    x, y = _pair(a, b)
    total = int(x.sum()) + int(y.sum())
    return 1.0 if total == 0 else 2.0 * int(np.count_nonzero(x & y)) / total


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Jaccard index |A and B| / |A or B|; 1.0 when both masks are empty."""
    x, y = _pair(a, b)
    union = int(np.count_nonzero(x | y))
    return 1.0 if union == 0 else int(np.count_nonzero(x & y)) / union


def _surface(m: np.ndarray) -> np.ndarray:
    structure = ndimage.generate_binary_structure(m.ndim, 1)
    return m & ~ndimage.binary_erosion(m, structure=structure, border_value=0)


def surface_distances(
    a: np.ndarray, b: np.ndarray, spacing: Sequence[float] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Distances in mm from each surface voxel of ``a`` to the surface of ``b``, and back.

    A surface voxel is a mask voxel with a face neighbour outside the mask. Depth-1
    masks are treated as 2D. Both masks must be non-empty.
    """
    x, y = _pair(a, b)
    if not x.any() or not y.any():
        raise ValidationError("surface distances need two non-empty masks")
    sp = spacing_zyx(spacing)
    if x.shape[0] == 1:
        x, y, sp = x[0], y[0], sp[1:]
    sx, sy = _surface(x), _surface(y)
    to_y = ndimage.distance_transform_edt(~sy, sampling=sp)
    to_x = ndimage.distance_transform_edt(~sx, sampling=sp)
    return to_y[sx], to_x[sy]


def hausdorff95(a: np.ndarray, b: np.ndarray, spacing: Sequence[float] | None = None) -> float:
    """95th-percentile symmetric Hausdorff distance in mm.

    0.0 when both masks are empty, ``inf`` when exactly one is.
    """
    x, y = _pair(a, b)
    if not x.any() and not y.any():
        return 0.0
    if not x.any() or not y.any():
        return math.inf
    dab, dba = surface_distances(x, y, spacing)
    return float(max(np.percentile(dab, 95), np.percentile(dba, 95)))


@dataclass(frozen=True)
class MaskAgreement:
    """Agreement of two masks of one label. Distances in mm, volumes in mL.

    ``volume_difference_ml`` is B - A; ``relative_volume_difference`` is (B - A) / A
    (nan when A is empty). Volumes are None when the spacing was unknown.
    """

    dice: float
    jaccard: float
    hd95_mm: float
    assd_mm: float
    voxels_a: int
    voxels_b: int
    volume_a_ml: float | None
    volume_b_ml: float | None
    volume_difference_ml: float | None
    relative_volume_difference: float

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def compare_masks(a: np.ndarray, b: np.ndarray, spacing: Sequence[float] | None = None) -> MaskAgreement:
    """All agreement measures between bool masks ``a`` (reference) and ``b``."""
    x, y = _pair(a, b)
    na, nb = int(x.sum()), int(y.sum())
    if na and nb:
        dab, dba = surface_distances(x, y, spacing)
        hd95 = float(max(np.percentile(dab, 95), np.percentile(dba, 95)))
        assd = float((dab.sum() + dba.sum()) / (dab.size + dba.size))
    else:
        hd95 = assd = 0.0 if na == nb == 0 else math.inf
    vox_ml = None if spacing is None else float(np.prod(spacing_zyx(spacing))) / 1000.0
    va = None if vox_ml is None else na * vox_ml
    vb = None if vox_ml is None else nb * vox_ml
    return MaskAgreement(
        dice=dice(x, y),
        jaccard=jaccard(x, y),
        hd95_mm=hd95,
        assd_mm=assd,
        voxels_a=na,
        voxels_b=nb,
        volume_a_ml=va,
        volume_b_ml=vb,
        volume_difference_ml=None if va is None or vb is None else vb - va,
        relative_volume_difference=(nb - na) / na if na else math.nan,
    )


@dataclass(frozen=True)
class PairAgreement:
    """Agreement of annotators ``a`` and ``b`` on one label."""

    a: str
    b: str
    label: int
    agreement: MaskAgreement

    def to_dict(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b, "label": self.label, **self.agreement.to_dict()}


def pairwise_agreement(
    masks: Mapping[str, np.ndarray], labels: Sequence[int], spacing: Sequence[float] | None = None
) -> list[PairAgreement]:
    """Every annotator pair x label: ``masks`` maps an annotator id to a label volume."""
    out = []
    for (na, ma), (nb, mb) in combinations(masks.items(), 2):
        for lab in labels:
            out.append(PairAgreement(na, nb, int(lab), compare_masks(np.asarray(ma) == lab,
                                                                     np.asarray(mb) == lab, spacing)))
    return out


@dataclass(frozen=True, eq=False)
class Consensus:
    """A consensus label volume.

    ``probability`` is the per-voxel fraction of votes for the winning label (majority)
    or the STAPLE posterior of foreground (binary STAPLE); ``sensitivity`` and
    ``specificity`` are STAPLE's per-rater estimates (empty for majority vote).
    """

    labels: np.ndarray
    method: str
    probability: np.ndarray | None = None
    sensitivity: tuple[float, ...] = field(default_factory=tuple)
    specificity: tuple[float, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        """Summary without the arrays (they go to a mask file)."""
        counts = np.bincount(self.labels.ravel().astype(np.int64))
        return {
            "method": self.method,
            "voxels": {int(k): int(v) for k, v in enumerate(counts) if k and v},
            "sensitivity": list(self.sensitivity),
            "specificity": list(self.specificity),
        }


def _stack(masks: Sequence[np.ndarray]) -> np.ndarray:
    if len(masks) < 2:
        raise ValidationError("a consensus needs at least two masks")
    arrs = [np.asarray(m) for m in masks]
    arrs = [m[None] if m.ndim == 2 else m for m in arrs]
    if any(m.shape != arrs[0].shape or m.ndim != 3 for m in arrs):
        raise ValidationError(f"consensus masks must share one shape, got {[np.shape(m) for m in masks]}")
    return np.stack([m.astype(np.int64) for m in arrs])


def majority_vote(masks: Sequence[np.ndarray]) -> Consensus:
    """Per voxel, the label chosen by more than half of the raters; otherwise background.

    For binary masks this is the usual "> 50 % of raters". Works for label volumes.
    """
    stack = _stack(masks)
    n = stack.shape[0]
    best = np.zeros(stack.shape[1:], dtype=np.int64)
    best_votes = (stack == 0).sum(axis=0)
    for lab in np.unique(stack):
        if lab == 0:
            continue
        votes = (stack == lab).sum(axis=0)
        win = votes * 2 > n
        best[win] = lab
        best_votes[win] = votes[win]
    return Consensus(best.astype(np.asarray(masks[0]).dtype if np.asarray(masks[0]).dtype != bool else np.uint8),
                     "majority", best_votes / n)


def staple(masks: Sequence[np.ndarray], *, threshold: float = 0.5) -> Consensus:
    """STAPLE consensus (SimpleITK).

    Binary masks (only 0/1): ``STAPLEImageFilter`` gives the posterior probability of
    foreground, thresholded at ``threshold``, and each rater's sensitivity/specificity.
    Multi-label volumes: ``MultiLabelSTAPLEImageFilter`` (undecided voxels -> background).
    """
    import SimpleITK as sitk

    stack = _stack(masks)
    values = np.unique(stack)
    if set(values.tolist()) <= {0, 1}:
        images = [sitk.GetImageFromArray(m.astype(np.uint8)) for m in stack]
        filt = sitk.STAPLEImageFilter()
        filt.SetForegroundValue(1)
        prob = sitk.GetArrayFromImage(filt.Execute(images))
        return Consensus((prob > threshold).astype(np.uint8), "staple", prob,
                         tuple(float(v) for v in filt.GetSensitivity()),
                         tuple(float(v) for v in filt.GetSpecificity()))
    undecided = int(values.max()) + 1
    images = [sitk.GetImageFromArray(m.astype(np.uint16)) for m in stack]
    filt = sitk.MultiLabelSTAPLEImageFilter()
    filt.SetLabelForUndecidedPixels(undecided)
    out = sitk.GetArrayFromImage(filt.Execute(images)).astype(np.int64)
    out[out == undecided] = 0
    return Consensus(out.astype(np.uint16 if undecided > 255 else np.uint8), "staple-multilabel")
