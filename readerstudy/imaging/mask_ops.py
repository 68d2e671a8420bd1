"""Whole-volume mask operations: slice interpolation, clean-up, label volumes.

Label volumes are integer arrays in (z, y, x) order (2D masks: depth 1); spacing is
(z, y, x) in mm. Every function returns a new array and leaves its input alone, so a
service can apply the result to an :class:`~readerstudy.core.annotation.AnnotationLayer`
as one undo step::

    layer.transform(lambda lab: interpolate_between_slices(lab, 2, spacing=layer.spacing),
                    description="interpolate tumour")
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage

from readerstudy.core.errors import ValidationError

__all__ = [
    "LabelVolume",
    "interpolate_between_slices",
    "signed_distance",
    "connected_components",
    "largest_connected_component",
    "remove_small_components",
    "binary_closing",
    "clean_label",
    "clean_labels",
    "label_volumes",
]


def _as_volume(labels: np.ndarray) -> np.ndarray:
    arr = np.asarray(labels)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3 or not (np.issubdtype(arr.dtype, np.integer) or arr.dtype == bool):
        raise ValidationError(f"expected an integer (z, y, x) label volume, got {arr.dtype} of shape {arr.shape}")
    return arr


def spacing_zyx(spacing: Sequence[float] | None) -> tuple[float, float, float]:
    if spacing is None:
        return (1.0, 1.0, 1.0)
    sp = tuple(float(s) for s in spacing)
    if len(sp) == 2:
        sp = (1.0, *sp)
    if len(sp) != 3 or min(sp) <= 0:
        raise ValidationError(f"spacing must be 3 positive values in mm (z, y, x), got {spacing!r}")
    return sp  # type: ignore[return-value]


def signed_distance(mask: np.ndarray, sampling: Sequence[float] | None = None) -> np.ndarray:
    """Signed distance to the boundary of a bool mask: negative inside, positive outside.

    Distances (in the units of ``sampling``, mm when given the spacing) are taken to
    the boundary half-way between an inside and an outside voxel centre.
    """
    m = np.asarray(mask, dtype=bool)
    if not m.any():
        return np.full(m.shape, np.inf)
    if m.all():
        return np.full(m.shape, -np.inf)
    inside = ndimage.distance_transform_edt(m, sampling=sampling)
    outside = ndimage.distance_transform_edt(~m, sampling=sampling)
    half = 0.5 * (min(sampling) if sampling is not None else 1.0)
    return np.where(m, half - inside, outside - half)


def interpolate_between_slices(
    labels: np.ndarray,
    label: int,
    *,
    axis: int = 0,
    spacing: Sequence[float] | None = None,
    overwrite: bool = False,
) -> np.ndarray:
    """Fill the slices between annotated slices of ``label`` by shape-based interpolation.

    For each pair of consecutive slices (normal to ``axis``) that contain ``label`` with
    unannotated slices between them, the in-plane signed distance maps of the two
    cross-sections are blended linearly along ``axis`` and the zero level set is taken
    (Raya & Udupa 1990). Only background voxels are written unless ``overwrite``.

    Returns a new label volume of the same shape and dtype (2D input: depth-1 volume).
    """
    vol = _as_volume(labels)
    if axis not in (0, 1, 2):
        raise ValidationError(f"axis must be 0, 1 or 2, got {axis!r}")
    sp = spacing_zyx(spacing)
    in_plane = tuple(sp[a] for a in range(3) if a != axis)
    moved = np.moveaxis(vol, axis, 0)  # view; slices along axis 0
    out = vol.copy()
    out_moved = np.moveaxis(out, axis, 0)
    present = (moved == label).reshape(moved.shape[0], -1).any(axis=1)
    annotated = np.flatnonzero(present)
    for k0, k1 in zip(annotated[:-1], annotated[1:], strict=True):
        if k1 - k0 < 2:
            continue
        d0 = signed_distance(moved[k0] == label, in_plane)
        d1 = signed_distance(moved[k1] == label, in_plane)
        for k in range(k0 + 1, k1):
            t = (k - k0) / (k1 - k0)
            inside = (1.0 - t) * d0 + t * d1 < 0
            target = out_moved[k]
            if not overwrite:
                inside &= target == 0
            target[inside] = label
    return out


def connected_components(mask: np.ndarray, *, full_connectivity: bool = False) -> tuple[np.ndarray, int]:
    """Label the connected components of a bool mask: (int32 component ids 1..n, n).

    Face connectivity by default (6 in 3D); ``full_connectivity`` uses 26 (8 in 2D).
    """
    m = np.asarray(mask, dtype=bool)
    structure = ndimage.generate_binary_structure(m.ndim, m.ndim if full_connectivity else 1)
    comp, n = ndimage.label(m, structure=structure)
    return comp.astype(np.int32, copy=False), int(n)


def largest_connected_component(mask: np.ndarray, *, full_connectivity: bool = False) -> np.ndarray:
    """Keep only the largest connected component of a bool mask (ties: the lowest id)."""
    comp, n = connected_components(mask, full_connectivity=full_connectivity)
    if n <= 1:
        return comp > 0
    sizes = np.bincount(comp.ravel())
    sizes[0] = 0
    return comp == int(np.argmax(sizes))


def remove_small_components(mask: np.ndarray, min_voxels: int, *, full_connectivity: bool = False) -> np.ndarray:
    """Drop connected components with fewer than ``min_voxels`` voxels."""
    comp, n = connected_components(mask, full_connectivity=full_connectivity)
    if n == 0:
        return comp > 0
    sizes = np.bincount(comp.ravel())
    keep = sizes >= int(min_voxels)
    keep[0] = False
    return keep[comp]


def binary_closing(mask: np.ndarray, iterations: int = 2, *, full_connectivity: bool = False) -> np.ndarray:
    """Morphological closing (dilate then erode, ``iterations`` times each) of a bool mask.

    The mask is padded first so that objects touching the border are not eroded away.
    A depth-1 (2D) mask is closed in-plane.
    """
    m = np.asarray(mask, dtype=bool)
    if iterations < 1:
        return m.copy()
    squeeze = m.ndim == 3 and m.shape[0] == 1
    work = m[0] if squeeze else m
    structure = ndimage.generate_binary_structure(work.ndim, work.ndim if full_connectivity else 1)
    padded = np.pad(work, iterations)
    closed = ndimage.binary_closing(padded, structure=structure, iterations=iterations)
    closed = closed[tuple(slice(iterations, -iterations) for _ in range(work.ndim))]
    return closed[None] if squeeze else closed


def clean_label(
    labels: np.ndarray, label: int, *, keep_largest: bool = True, closing_iterations: int = 2
) -> np.ndarray:
    """REACT-KD mask refinement for one label: largest connected component, then closing.

    Closing only claims background voxels (other labels are kept). Returns a new volume.
    """
    vol = _as_volume(labels)
    out = vol.copy()
    m = vol == label
    if not m.any():
        return out
    if keep_largest:
        m = largest_connected_component(m)
    m = binary_closing(m, closing_iterations)
    out[(vol == label) & ~m] = 0
    out[m & ((vol == 0) | (vol == label))] = label
    return out


def clean_labels(
    labels: np.ndarray, label_ids: Iterable[int] | None = None, *, keep_largest: bool = True,
    closing_iterations: int = 2,
) -> np.ndarray:
    """:func:`clean_label` for several labels (default: every non-zero value present)."""
    out = _as_volume(labels)
    ids = [int(v) for v in np.unique(out) if v != 0] if label_ids is None else list(label_ids)
    for lab in ids:
        out = clean_label(out, lab, keep_largest=keep_largest, closing_iterations=closing_iterations)
    return out


@dataclass(frozen=True)
class LabelVolume:
    """Size of one label: voxel count, volume in mL, number of face-connected components."""

    label: int
    voxels: int
    volume_ml: float
    components: int

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def label_volumes(labels: np.ndarray, spacing: Sequence[float] | None) -> dict[int, LabelVolume]:
    """Volume (mL = voxels x voxel volume in mm^3 / 1000) of every non-zero label present.

    ``spacing`` (z, y, x) in mm is required: a volume without it would be meaningless.
    """
    if spacing is None:
        raise ValidationError("label volumes need the voxel spacing in mm")
    vol = _as_volume(labels)
    sp = spacing_zyx(spacing)
    voxel_ml = sp[0] * sp[1] * sp[2] / 1000.0
    counts = np.bincount(vol.ravel().astype(np.int64))
    out = {}
    for lab in np.flatnonzero(counts):
        if lab == 0:
            continue
        _, n = connected_components(vol == lab)
        out[int(lab)] = LabelVolume(int(lab), int(counts[lab]), float(counts[lab] * voxel_ml), n)
    return out
