"""Per-frame DICOM attributes (classic and enhanced multi-frame) and the geometry of a stack of frames.

A frame's position, orientation, pixel spacing, rescale and window come from, in this order: the
frame's item of the Per-frame Functional Groups Sequence, the Shared Functional Groups Sequence
(PS3.3 C.7.6.16), then the top-level attributes of a classic image. The same code orders the
slices of a series (one frame per file) and the frames of an enhanced multi-frame object, and
checks that they form a regular grid: one orientation, no duplicated position, no in-plane shift,
evenly spaced along the slice normal. Geometry follows :mod:`readerstudy.imaging.geometry`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from readerstudy.core.errors import UnsupportedFileError
from readerstudy.imaging.geometry import IDENTITY

POSITION_TOL_MM = 0.01  # positions closer than this along the normal are the same position
SPACING_TOL_MM = 0.01  # slice gaps may differ by this much (or 0.5 % of the gap) and still be "even"
ORIENTATION_TOL = 1e-3

# functional group macro -> the attributes it carries (PS3.3 C.7.6.16.2)
_MACROS: dict[str, tuple[str, ...]] = {
    "PlanePositionSequence": ("ImagePositionPatient",),
    "PlaneOrientationSequence": ("ImageOrientationPatient",),
    "PixelMeasuresSequence": ("PixelSpacing", "SliceThickness", "SpacingBetweenSlices"),
    "PixelValueTransformationSequence": ("RescaleSlope", "RescaleIntercept"),
    "FrameVOILUTSequence": ("WindowCenter", "WindowWidth"),
}
_MACRO_OF = {kw: macro for macro, kws in _MACROS.items() for kw in kws}


@dataclass(frozen=True)
class FrameInfo:
    """What one frame says about itself; ``None`` where the object does not say."""

    position: tuple[float, float, float] | None = None  # ImagePositionPatient (x, y, z) mm
    orientation: tuple[float, ...] | None = None  # ImageOrientationPatient: row cosine, column cosine
    pixel_spacing: tuple[float, float] | None = None  # (between rows, between columns) mm
    thickness: float | None = None
    spacing_between: float | None = None
    slope: float = 1.0
    intercept: float = 0.0
    window: tuple[float, float] | None = None  # (centre, width) in modality-LUT output units
    instance: int = 0  # InstanceNumber (tie-breaker only)


@dataclass(frozen=True)
class StackGeometry:
    """Where the frames of a stack lie, in slice order (``order`` lists frame indices)."""

    order: list[int]
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    direction: tuple[float, ...]
    placed: bool  # True when every frame has a position and the stack is a regular grid (or one slice)
    same_position: bool = False  # every frame at one position (a time series, not a volume)
    notes: list[str] = field(default_factory=list)


def _floats(value: Any, n: int, what: str, where: str) -> tuple[float, ...] | None:
    if value is None or value == "":
        return None
    try:
        seq = list(value) if hasattr(value, "__iter__") and not isinstance(value, (str, bytes)) else [value]
        out = tuple(float(v) for v in seq)
    except (TypeError, ValueError) as exc:
        raise UnsupportedFileError(f"{where}: {what} is malformed ({value!r}).") from exc
    if len(out) != n or not all(np.isfinite(out)):
        raise UnsupportedFileError(f"{where}: {what} must hold {n} finite numbers, got {value!r}.")
    return out


def _first_number(value: Any, what: str, where: str) -> float | None:
    if value is None or value == "":
        return None
    if hasattr(value, "__iter__") and not isinstance(value, (str, bytes)):
        value = list(value)[0] if len(value) else None
        if value is None:
            return None
    out = _floats(value, 1, what, where)
    return out[0] if out else None


def _lookup(ds: Any, groups: list[Any], keyword: str) -> Any:
    """The attribute from the first functional group item that has its macro, else the top level."""
    macro = _MACRO_OF[keyword]
    for g in groups:
        seq = g.get(macro) if g is not None else None
        if seq:
            item = seq[0]
            if keyword in item:
                return item.get(keyword)
    return ds.get(keyword)


def frame_infos(ds: Any, where: str) -> list[FrameInfo]:
    """One :class:`FrameInfo` per frame of ``ds`` (functional groups first, then top-level attributes).

    Raises
    ------
    UnsupportedFileError
        When a geometry or rescale attribute is malformed, or the per-frame sequence does not
        hold one item per frame.
    """
    n = _frame_count(ds, where)
    shared = ds.get("SharedFunctionalGroupsSequence")
    shared_item = shared[0] if shared else None
    per = ds.get("PerFrameFunctionalGroupsSequence")
    if per is not None and len(per) < n:
        raise UnsupportedFileError(f"{where}: the per-frame functional groups hold {len(per)} item(s) for "
                                   f"{n} frame(s).")
    instance = _first_number(ds.get("InstanceNumber"), "InstanceNumber", where)
    out = []
    for f in range(n):
        groups = [per[f] if per is not None else None, shared_item]

        def get(kw: str, groups: list[Any] = groups) -> Any:
            return _lookup(ds, groups, kw)

        slope = _first_number(get("RescaleSlope"), "RescaleSlope", where)
        intercept = _first_number(get("RescaleIntercept"), "RescaleIntercept", where)
        centre = _first_number(get("WindowCenter"), "WindowCenter", where)
        width = _first_number(get("WindowWidth"), "WindowWidth", where)
        ps = _floats(get("PixelSpacing"), 2, "PixelSpacing", where)
        if ps is not None and min(ps) <= 0:
            raise UnsupportedFileError(f"{where}: PixelSpacing must be positive, got {ps}.")
        out.append(FrameInfo(
            position=_floats(get("ImagePositionPatient"), 3, "ImagePositionPatient", where),  # type: ignore[arg-type]
            orientation=_floats(get("ImageOrientationPatient"), 6, "ImageOrientationPatient", where),
            pixel_spacing=ps,  # type: ignore[arg-type]
            thickness=_positive(_first_number(get("SliceThickness"), "SliceThickness", where)),
            spacing_between=_positive(_first_number(get("SpacingBetweenSlices"), "SpacingBetweenSlices", where)),
            slope=1.0 if slope is None or slope == 0 else slope,
            intercept=0.0 if intercept is None else intercept,
            window=(centre, width) if centre is not None and width is not None and width > 0 else None,
            instance=int(instance or 0)))
    return out


def _positive(v: float | None) -> float | None:
    return v if v is not None and v > 0 else None


def _frame_count(ds: Any, where: str) -> int:
    try:
        n = int(ds.get("NumberOfFrames", 1) or 1)
    except (TypeError, ValueError) as exc:
        raise UnsupportedFileError(f"{where}: NumberOfFrames is malformed.") from exc
    if n < 1:
        raise UnsupportedFileError(f"{where}: NumberOfFrames is {n}.")
    return n


def _axes(orientation: tuple[float, ...] | None, where: str) -> np.ndarray:
    """(3, 3) matrix with columns row cosine, column cosine, normal (identity without orientation)."""
    if orientation is None:
        return np.asarray(IDENTITY, dtype=np.float64).reshape(3, 3)
    row, col = np.asarray(orientation[:3]), np.asarray(orientation[3:])
    if abs(np.linalg.norm(row) - 1) > 0.01 or abs(np.linalg.norm(col) - 1) > 0.01 or abs(row @ col) > 0.01:
        raise UnsupportedFileError(f"{where}: ImageOrientationPatient {orientation} is not two orthogonal "
                                   "unit vectors.")
    row, col = row / np.linalg.norm(row), col / np.linalg.norm(col)
    return np.stack([row, col, np.cross(row, col)], axis=1)


def _slice_spacing(info: FrameInfo) -> float:
    return info.spacing_between or info.thickness or 1.0


def _same(values: list[Any], tol: float) -> bool:
    arr = np.asarray(values, dtype=np.float64)
    return bool(np.all(np.abs(arr - arr[0]) <= tol))


def stack_geometry(frames: list[FrameInfo], where: str) -> StackGeometry:
    """Order ``frames`` along the slice normal and check that they form one regular grid.

    Raises
    ------
    UnsupportedFileError
        One line, when the frames have different pixel spacings or orientations, share positions
        (but not all of them), are shifted in-plane from slice to slice, or are unevenly spaced
        (a missing slice): a grid that contradicts ImagePositionPatient is never built.
    """
    first = frames[0]
    spacings = [f.pixel_spacing for f in frames if f.pixel_spacing is not None]
    if spacings and (len(spacings) != len(frames) or not _same(spacings, 1e-4 * max(max(spacings)))):
        raise UnsupportedFileError(f"{where}: the slices have different pixel spacings "
                                   f"({sorted({tuple(s) for s in spacings})[:3]} mm); import one grid per case.")
    sy, sx = first.pixel_spacing or (1.0, 1.0)
    orients = [f.orientation for f in frames if f.orientation is not None]
    if orients and (len(orients) != len(frames) or not _same(orients, ORIENTATION_TOL)):
        n_orient = len({tuple(np.round(o, 3)) for o in orients}) + (len(orients) != len(frames))
        raise UnsupportedFileError(f"{where}: the slices have {n_orient} different orientations "
                                   "(ImageOrientationPatient); import one orientation per case.")
    axes = _axes(first.orientation, where)
    direction = tuple(float(v) for v in axes.ravel())
    positions = [f.position for f in frames]
    n = len(frames)
    by_instance = sorted(range(n), key=lambda i: frames[i].instance)  # stable: frame order within one object
    if all(p is None for p in positions) or n == 1:
        origin = positions[by_instance[0]] or (0.0, 0.0, 0.0)
        return StackGeometry(by_instance, (_slice_spacing(first), sy, sx), tuple(origin),  # type: ignore[arg-type]
                             direction, placed=n == 1 and positions[0] is not None)
    if any(p is None for p in positions):
        raise UnsupportedFileError(f"{where}: {sum(p is None for p in positions)} of {n} slices have no "
                                   "ImagePositionPatient; the volume cannot be placed.")
    pos = np.asarray(positions, dtype=np.float64)
    if np.all(np.linalg.norm(pos - pos[0], axis=1) <= POSITION_TOL_MM):
        return StackGeometry(by_instance, (_slice_spacing(first), sy, sx), tuple(pos[0]), direction,
                             placed=True, same_position=True)
    return _regular_grid(frames, pos, axes, direction, (sy, sx), where)


def _regular_grid(frames: list[FrameInfo], pos: np.ndarray, axes: np.ndarray, direction: tuple[float, ...],
                  pixel: tuple[float, float], where: str) -> StackGeometry:
    normal = axes[:, 2]
    along = pos @ normal
    order = sorted(range(len(frames)), key=lambda i: (along[i], frames[i].instance))
    d = along[order]
    gaps = np.diff(d)
    dup = np.flatnonzero(gaps <= POSITION_TOL_MM)
    if dup.size:
        z = d[dup[0]]
        raise UnsupportedFileError(f"{where}: {dup.size + 1} slices share a position ({z:.4g} mm along the slice "
                                   "normal): duplicated files or several acquisitions in one series; "
                                   "import one acquisition per case.")
    steps = np.diff(pos[order], axis=0)
    shift = np.linalg.norm(steps - np.outer(gaps, normal), axis=1)
    if shift.max() > POSITION_TOL_MM + 0.01 * gaps.min():
        raise UnsupportedFileError(f"{where}: consecutive slices are shifted in-plane by up to {shift.max():.3g} mm "
                                   "(gantry tilt or a sheared grid); resample the series to an orthogonal grid "
                                   "before importing.")
    step = float(np.median(gaps))
    bad = np.flatnonzero(np.abs(gaps - step) > max(SPACING_TOL_MM, 0.005 * step))
    if bad.size:
        i = int(bad[0])
        distinct = sorted({round(float(g), 4) for g in gaps})
        raise UnsupportedFileError(
            f"{where}: slices are not evenly spaced (gaps of {', '.join(f'{g:g}' for g in distinct[:4])} mm "
            f"along the slice normal; between {d[i]:.4g} and {d[i + 1]:.4g} mm a slice is missing or the spacing "
            "changes); add the missing slice, or import each evenly spaced part as its own case.")
    notes = []
    declared = frames[order[0]].spacing_between
    if declared is not None and abs(declared - step) > max(SPACING_TOL_MM, 0.005 * step):
        notes.append(f"{where}: SpacingBetweenSlices says {declared:g} mm, the slice positions {step:.4g} mm; "
                     "the positions were used")
    return StackGeometry(order, (float(np.mean(gaps)), pixel[0], pixel[1]), tuple(float(v) for v in pos[order[0]]),
                         direction, placed=True, notes=notes)


def rescale(raw: np.ndarray, slopes: list[float], intercepts: list[float]) -> np.ndarray:
    """Modality LUT by rescale, frame by frame: ``raw[f] * slopes[f] + intercepts[f]`` (PS3.3 C.11.1.1.2).

    ``raw`` is (frames, rows, cols). Integral slopes and intercepts give the smallest signed integer
    type holding the result (int16 or int32); otherwise float32. Identity rescale returns ``raw``.
    """
    s, b = np.asarray(slopes, np.float64), np.asarray(intercepts, np.float64)
    if np.all(s == 1) and np.all(b == 0):
        return raw
    flat = raw.reshape(len(s), -1)
    a, c = flat.min(axis=1) * s + b, flat.max(axis=1) * s + b
    lo, hi = np.minimum(a, c), np.maximum(a, c)
    dtype: Any = np.float32
    if np.all(s == np.round(s)) and np.all(b == np.round(b)):
        for cand in (np.int16, np.int32):
            info = np.iinfo(cand)
            if lo.min() >= info.min and hi.max() <= info.max:
                dtype = cand
                break
    out = np.empty(raw.shape, dtype=dtype)
    for f in range(raw.shape[0]):
        v = raw[f].astype(np.float64) * s[f] + b[f]
        out[f] = np.rint(v) if dtype is not np.float32 else v
    return out


__all__ = ["FrameInfo", "StackGeometry", "frame_infos", "rescale", "stack_geometry"]
