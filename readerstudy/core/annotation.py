"""The annotation model: a label volume that annotators paint, with undo/redo and events.

Qt-free (numpy + psygnal). A view maps mouse positions to voxel indices and calls
:class:`AnnotationLayer` methods; it listens to :attr:`AnnotationLayer.data_changed`
to redraw only the dirty box.

Coordinate frames
-----------------
- The label volume is 3D with axis order (z, y, x); a 2D image is depth 1.
- Points are voxel indices ``(z, y, x)`` (floats allowed; a voxel is hit when its
  centre is inside the shape). A 2D layer also accepts ``(y, x)``.
- A *plane* is given by ``axis`` (0, 1 or 2: the axis normal to the slice) and
  ``index`` along that axis. In-plane 2D coordinates ``(row, col)`` are the two
  remaining axes in order: axis 0 -> (y, x), axis 1 -> (z, x), axis 2 -> (z, y).
- ``spacing`` is the voxel size (z, y, x) in mm, or None when unknown.

Editing rules honoured by every painting tool (brush, polygon, flood fill):
``preserve_other_labels`` (paint only over background or the same label; erase
only the active label) and ``intensity_range`` (paint only where ``lo <= image <= hi``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
from psygnal import Signal

from readerstudy.core.annotation_display import LabelDisplay, LayerDisplay
from readerstudy.core.annotation_history import Box, Diff, History, HistoryEntry
from readerstudy.core.annotation_labels import (
    LABEL_SET_PRESETS,
    Code,
    Label,
    LabelSet,
)
from readerstudy.core.annotation_raster import brush_footprint, connected_region, polygon_mask
from readerstudy.core.errors import ValidationError

__all__ = [
    "AnnotationLayer",
    "Box",
    "Code",
    "Diff",
    "Label",
    "LabelDisplay",
    "LabelSet",
    "LayerDisplay",
    "LABEL_SET_PRESETS",
]

PLANE_AXES = {0: (1, 2), 1: (0, 2), 2: (0, 1)}


class AnnotationLayer:
    """A paintable label volume with stroke-level undo/redo.

    Parameters
    ----------
    data
        Label volume, (z, y, x) or 2D (y, x). Copied; values must be 0 or label ids.
    label_set
        The labels that may be painted.
    spacing
        Voxel size in mm, (z, y, x) or (y, x) for 2D; None if unknown (mm brushes,
        volumes and areas then raise :class:`ValidationError`).
    image
        Optional intensity image of the same shape, used by the threshold brush.
    max_history_bytes
        Optional memory bound for undo diffs (oldest steps dropped past it).

    Events
    ------
    data_changed(Box)
        Voxels changed inside this box (tight); redraw that region only.
    history_changed()
        can_undo / can_redo / descriptions may have changed.
    active_label_changed(int)

    Per-label visibility and opacity live in :attr:`display` (a :class:`LayerDisplay`
    with its own ``changed`` event and ``rgba_lut()``).
    """

    data_changed = Signal(object)
    history_changed = Signal()
    active_label_changed = Signal(int)

    def __init__(
        self,
        data: np.ndarray,
        label_set: LabelSet,
        *,
        spacing: Sequence[float] | None = None,
        image: np.ndarray | None = None,
        max_history_bytes: int | None = None,
    ) -> None:
        arr = np.asarray(data)
        if arr.ndim not in (2, 3) or min(arr.shape) < 1:
            raise ValidationError(f"label data must be a non-empty 2D (y, x) or 3D (z, y, x) array, got shape {arr.shape}")
        if not (np.issubdtype(arr.dtype, np.integer) or arr.dtype == bool):
            raise ValidationError(f"label data must be integer, got dtype {arr.dtype}")
        self.source_ndim = arr.ndim
        if arr.ndim == 2:
            arr = arr[None]
        label_set.check_values(np.unique(arr).tolist())
        dtype = np.uint8 if label_set.max_id <= 255 else np.uint16
        self._data = np.array(arr, dtype=dtype, copy=True, order="C")
        self.label_set = label_set
        self.spacing = self._check_spacing(spacing)
        self._image = self._check_image(image)
        self._history = History(max_history_bytes)
        self._stroke: list[Diff] | None = None
        self._stroke_description = ""
        self._last_point: tuple[int, tuple[float, float, float]] | None = None
        self._saved_token = self._history.state_token
        self._saved_label_set = label_set
        self._active_label = label_set.labels[0].id
        self.preserve_other_labels = False
        self._intensity_range: tuple[float, float] | None = None
        self.display = LayerDisplay(label_set)

    @classmethod
    def empty(cls, shape: Sequence[int], label_set: LabelSet, **kwargs: object) -> AnnotationLayer:
        """An all-background layer of ``shape`` ((z, y, x) or (y, x))."""
        return cls(np.zeros(tuple(int(s) for s in shape), dtype=np.uint8), label_set, **kwargs)  # type: ignore[arg-type]

    # ----------------------------------------------------------------- properties
    @property
    def data(self) -> np.ndarray:
        """Read-only (z, y, x) view of the label volume (do not keep it across edits)."""
        view = self._data.view()
        view.flags.writeable = False
        return view

    @property
    def shape(self) -> tuple[int, int, int]:
        return self._data.shape  # type: ignore[return-value]

    @property
    def image(self) -> np.ndarray | None:
        return self._image

    @property
    def active_label(self) -> int:
        return self._active_label

    @active_label.setter
    def active_label(self, label_id: int) -> None:
        self.label_set.get(label_id)
        if label_id != self._active_label:
            self._active_label = label_id
            self.active_label_changed.emit(label_id)

    @property
    def intensity_range(self) -> tuple[float, float] | None:
        """Threshold brush range ``(lo, hi)`` in image units, inclusive; None = off."""
        return self._intensity_range

    @intensity_range.setter
    def intensity_range(self, rng: tuple[float, float] | None) -> None:
        if rng is not None:
            if self._image is None:
                raise ValidationError("a threshold range needs an image; create the layer with image=...")
            lo, hi = float(rng[0]), float(rng[1])
            if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
                raise ValidationError(f"threshold range must be finite with lo <= hi, got {rng!r}")
            rng = (lo, hi)
        self._intensity_range = rng

    @property
    def can_undo(self) -> bool:
        return self._history.can_undo or bool(self._stroke)

    @property
    def can_redo(self) -> bool:
        return self._history.can_redo and self._stroke is None

    @property
    def undo_description(self) -> str | None:
        return self._history.undo_description

    @property
    def redo_description(self) -> str | None:
        return self._history.redo_description

    @property
    def history_nbytes(self) -> int:
        """Memory held by undo/redo diffs, in bytes."""
        return self._history.nbytes

    @property
    def is_modified(self) -> bool:
        """True if the labels (by edit history) or the label set differ from the last :meth:`mark_saved`."""
        return (bool(self._stroke) or self._history.state_token != self._saved_token
                or self.label_set != self._saved_label_set)

    @property
    def in_stroke(self) -> bool:
        return self._stroke is not None

    def mark_saved(self) -> None:
        """Record the current state as saved (after the service wrote the mask)."""
        self._saved_token = self._history.state_token
        self._saved_label_set = self.label_set

    def set_label_set(self, label_set: LabelSet) -> None:
        """Use ``label_set`` from now on (labels added, renamed or recoloured; saved with the next version).

        A label that still has voxels cannot be dropped, and ids must fit the layer's integer type
        (1-255 for a uint8 layer). Raises :class:`ValidationError` and changes nothing otherwise.
        Emits ``history_changed`` (the layer becomes modified).
        """
        if self.in_stroke:
            raise ValidationError("a stroke is in progress; finish it before changing the labels")
        present = [v for v in np.unique(self._data).tolist() if v]
        missing = sorted(set(present) - set(label_set.ids))
        if missing:
            names = ", ".join(self.label_set.get(v).name if v in self.label_set else str(v) for v in missing)
            raise ValidationError(f"label(s) {names} still have painted voxels; erase them before removing the label")
        if label_set.max_id > np.iinfo(self._data.dtype).max:
            raise ValidationError(f"label id {label_set.max_id} does not fit this layer "
                                  f"(at most {np.iinfo(self._data.dtype).max}); choose a smaller id")
        self.label_set = label_set
        self.display.set_label_set(label_set)
        if self._active_label not in label_set:
            self._active_label = label_set.labels[0].id
        self.history_changed.emit()

    # ----------------------------------------------------------------- strokes
    def begin_stroke(self, description: str = "paint") -> None:
        """Start grouping edits: everything until :meth:`end_stroke` is one undo step."""
        if self._stroke is not None:
            self.end_stroke()
        self._stroke = []
        self._stroke_description = description
        self._last_point = None

    def end_stroke(self) -> Box | None:
        """Close the stroke; returns the box it changed (None if nothing changed)."""
        diffs, self._stroke, self._last_point = self._stroke, None, None
        if not diffs:
            return None
        if len(diffs) == 1:
            merged: Diff | None = diffs[0]
        else:
            union = diffs[0].box
            for d in diffs[1:]:
                union = union.union(d.box)
            old = self._data[union.slices].copy()
            for d in reversed(diffs):
                d.write(old, "old", offset=union)
            merged = Diff.from_arrays(union, old, self._data[union.slices])
        if merged is not None:
            self._history.push(HistoryEntry(self._stroke_description, merged))
        self.history_changed.emit()
        return merged.box if merged is not None else None

    def cancel_stroke(self) -> None:
        """Abandon the current stroke and restore the labels as they were before it."""
        diffs, self._stroke, self._last_point = self._stroke, None, None
        for d in reversed(diffs or []):
            d.write(self._data, "old")
            self.data_changed.emit(d.box)
        self.history_changed.emit()

    # ----------------------------------------------------------------- tools
    def paint(
        self,
        center: Sequence[float],
        radius: float,
        *,
        label: int | None = None,
        axis: int = 0,
        unit: str = "px",
        sphere: bool = False,
    ) -> Box | None:
        """Paint a round brush at ``center`` (z, y, x) on the plane normal to ``axis``.

        A voxel is painted when its centre is within ``radius`` of ``center`` (in
        voxels for ``unit="px"``, in mm using :attr:`spacing` for ``unit="mm"``). Within
        a stroke, successive calls on the same plane paint the whole segment between
        the previous and this centre, so fast mouse moves leave no gaps. ``sphere=True``
        paints a ball instead of a disk. Returns the changed box, or None.
        """
        return self._brush(center, radius, self._label_id(label), axis, unit, sphere, "paint")

    def erase(
        self, center: Sequence[float], radius: float, *, axis: int = 0, unit: str = "px", sphere: bool = False
    ) -> Box | None:
        """Erase (set to background) with a round brush; same geometry as :meth:`paint`."""
        return self._brush(center, radius, 0, axis, unit, sphere, "erase")

    def fill_polygon(
        self, vertices: Sequence[Sequence[float]], *, axis: int = 0, index: int = 0, label: int | None = None
    ) -> Box | None:
        """Fill a closed polygon of in-plane ``(row, col)`` vertices on slice ``index`` of ``axis``.

        Pixels whose centre is inside or on the boundary are filled; ``label=0`` erases.
        """
        value = self._label_id(label, allow_background=True)
        axis, index = self._check_plane(axis, index)
        v = np.asarray(vertices, dtype=float)
        if v.ndim != 2 or v.shape[1] != 2 or v.shape[0] < 3 or not np.isfinite(v).all():
            raise ValidationError("a polygon needs at least 3 finite (row, col) vertices")
        ra, ca = PLANE_AXES[axis]
        hit = polygon_mask(v, (self.shape[ra], self.shape[ca]))
        if hit is None:
            return None
        (r0, r1, c0, c1), mask2d = hit
        start, stop = [0, 0, 0], [0, 0, 0]
        start[axis], stop[axis] = index, index + 1
        start[ra], stop[ra], start[ca], stop[ca] = r0, r1, c0, c1
        box = Box(tuple(start), tuple(stop))  # type: ignore[arg-type]
        return self._edit(box, np.expand_dims(mask2d, axis), value, "polygon")

    def flood_fill(
        self, seed: Sequence[int], *, label: int | None = None, axis: int = 0, three_d: bool = False
    ) -> Box | None:
        """Fill the contiguous region of voxels that share the seed's value.

        Face connectivity (4 in a slice, 6 in 3D). With ``three_d=False`` the region
        is limited to the slice through ``seed`` normal to ``axis``. With a threshold
        range set, only voxels within the range belong to the region. ``label=0``
        erases the region.
        """
        value = self._label_id(label, allow_background=True)
        p = self._point(seed)
        s = tuple(int(round(c)) for c in p)
        if not all(0 <= c < n for c, n in zip(s, self.shape, strict=True)):
            raise ValidationError(f"seed {tuple(seed)} is outside the volume {self.shape}")
        if three_d:
            box = Box.full(self.shape)
        else:
            axis, _ = self._check_plane(axis, s[axis])
            start, stop = [0, 0, 0], list(self.shape)
            start[axis], stop[axis] = s[axis], s[axis] + 1
            box = Box(tuple(start), tuple(stop))  # type: ignore[arg-type]
        view = self._data[box.slices]
        region = view == self._data[s]
        if self._intensity_range is not None and self._image is not None:
            region &= self._in_range(box)
        local_seed = tuple(c - b for c, b in zip(s, box.start, strict=True))
        region = connected_region(region, local_seed)
        return self._edit(box, region, value, "fill", use_threshold=False)

    def apply_patch(
        self, start: Sequence[int], values: np.ndarray, *, where: np.ndarray | None = None,
        description: str = "edit",
    ) -> Box | None:
        """Write a computed patch (interpolation, clean-up, AI mask...) as one undo step.

        ``values`` is a (z, y, x) array placed at voxel ``start``; with ``where`` (bool, same
        shape) only those voxels are written. Editing rules are not applied: the caller
        computed exactly what it wants.
        """
        vals = np.asarray(values)
        if vals.ndim == 2 and self.source_ndim == 2:
            vals = vals[None]
        st = tuple(int(v) for v in start) if len(start) == 3 else (0, *(int(v) for v in start))
        if vals.ndim != 3 or any(a < 0 or a + n > m for a, n, m in zip(st, vals.shape, self.shape, strict=True)):
            raise ValidationError(f"patch of shape {vals.shape} at {tuple(start)} does not fit the volume {self.shape}")
        self.label_set.check_values(np.unique(vals).tolist())
        box = Box(st, tuple(a + n for a, n in zip(st, vals.shape, strict=True)))  # type: ignore[arg-type]
        mask = np.ones(vals.shape, bool) if where is None else np.asarray(where, dtype=bool).reshape(vals.shape)
        own = self._stroke is None
        if own:
            self.begin_stroke(description)
        view = self._data[box.slices]
        old = view.copy()
        view[mask] = vals[mask]
        result = self._record(box, old)
        if own:
            self.end_stroke()
        return result

    def replace_data(self, new: np.ndarray, *, description: str = "edit") -> Box | None:
        """Replace the whole label volume (same shape) as one undo step."""
        arr = np.asarray(new)
        if arr.shape not in (self.shape, self.shape[1:]):
            raise ValidationError(f"new labels have shape {arr.shape}, the layer has {self.shape}")
        return self.apply_patch((0, 0, 0), arr.reshape(self.shape), description=description)

    def transform(self, fn: Callable[[np.ndarray], np.ndarray], *, description: str) -> Box | None:
        """Apply ``fn(labels) -> new labels`` (e.g. a mask_ops function) as one undo step."""
        return self.replace_data(fn(self.data), description=description)

    # ----------------------------------------------------------------- history
    def undo(self) -> Box | None:
        """Undo the last stroke/edit (ends an open stroke first). Returns the changed box."""
        if self._stroke is not None:
            self.end_stroke()
        if not self._history.can_undo:
            return None
        entry = self._history.step_back()
        entry.diff.write(self._data, "old")
        self.data_changed.emit(entry.diff.box)
        self.history_changed.emit()
        return entry.diff.box

    def redo(self) -> Box | None:
        """Redo the last undone step. Returns the changed box."""
        if self._stroke is not None or not self._history.can_redo:
            return None
        entry = self._history.step_forward()
        entry.diff.write(self._data, "new")
        self.data_changed.emit(entry.diff.box)
        self.history_changed.emit()
        return entry.diff.box

    # ----------------------------------------------------------------- queries
    def get_slice(self, axis: int, index: int) -> np.ndarray:
        """Read-only 2D view of slice ``index`` normal to ``axis`` (rows, cols as in the module doc)."""
        axis, index = self._check_plane(axis, index)
        return self.data[(slice(None),) * axis + (index,)]

    def voxel_counts(self) -> dict[int, int]:
        """Number of voxels of each label id (every label of the set, zeros included)."""
        counts = np.bincount(self._data.reshape(-1), minlength=self.label_set.max_id + 1)
        return {lab.id: int(counts[lab.id]) for lab in self.label_set}

    def volume_ml(self, label_id: int) -> float:
        """Volume of a label in mL (voxel count x voxel volume in mm^3 / 1000)."""
        self.label_set.get(label_id)
        sp = self._require_spacing("volume")
        return int(np.count_nonzero(self._data == label_id)) * sp[0] * sp[1] * sp[2] / 1000.0

    def area_mm2(self, label_id: int, *, axis: int = 0, index: int = 0) -> float:
        """Area in mm^2 of a label on one slice (pixel count x in-plane pixel area)."""
        self.label_set.get(label_id)
        sp = self._require_spacing("area")
        ra, ca = PLANE_AXES[axis]
        return int(np.count_nonzero(self.get_slice(axis, index) == label_id)) * sp[ra] * sp[ca]

    def annotated_slices(self, label_id: int, *, axis: int = 0) -> list[int]:
        """Indices of the slices normal to ``axis`` that contain ``label_id``."""
        others = tuple(a for a in range(3) if a != axis)
        return [int(i) for i in np.flatnonzero((self._data == label_id).any(axis=others))]

    # ----------------------------------------------------------------- internals
    def _brush(
        self, center: Sequence[float], radius: float, value: int, axis: int, unit: str, sphere: bool, what: str
    ) -> Box | None:
        p = self._point(center)
        if not (isinstance(radius, (int, float)) and math.isfinite(radius) and radius >= 0):
            raise ValidationError(f"brush radius must be a finite number >= 0, got {radius!r}")
        if unit not in ("px", "mm"):
            raise ValidationError(f"brush unit must be 'px' or 'mm', got {unit!r}")
        weights = self._require_spacing("a brush in mm") if unit == "mm" else (1.0, 1.0, 1.0)
        axis, _ = self._check_plane(axis, int(round(p[axis])))
        plane_key = -1 if sphere else axis
        prev = None
        if self._stroke is not None and self._last_point is not None and self._last_point[0] == plane_key:
            if sphere or round(self._last_point[1][axis]) == round(p[axis]):
                prev = self._last_point[1]
        if self._stroke is not None:
            self._last_point = (plane_key, p)
        active = (True, True, True) if sphere else tuple(a != axis for a in range(3))
        hit = brush_footprint(self.shape, prev if prev is not None else p, p if prev is not None else None,
                              float(radius), weights, active)
        if hit is None:
            return None
        box, mask = hit
        return self._edit(box, mask, value, what)

    def _edit(self, box: Box, mask: np.ndarray, value: int, what: str, use_threshold: bool = True) -> Box | None:
        """Write ``value`` where ``mask`` and the editing rules allow, inside ``box``."""
        view = self._data[box.slices]
        allowed = mask & (view != value)
        if self.preserve_other_labels:
            allowed &= (view == 0) if value != 0 else (view == self._active_label)
        if use_threshold and value != 0 and self._intensity_range is not None:
            allowed &= self._in_range(box)
        if not allowed.any():
            return None
        own = self._stroke is None
        if own:
            self.begin_stroke(what)
        old = view.copy()
        view[allowed] = value
        result = self._record(box, old)
        if own:
            self.end_stroke()
        return result

    def _record(self, box: Box, old: np.ndarray) -> Box | None:
        diff = Diff.from_arrays(box, old, self._data[box.slices])
        if diff is None:
            return None
        assert self._stroke is not None
        self._stroke.append(diff)
        self.data_changed.emit(diff.box)
        return diff.box

    def _in_range(self, box: Box) -> np.ndarray:
        assert self._image is not None and self._intensity_range is not None
        img = self._image[box.slices]
        lo, hi = self._intensity_range
        return (img >= lo) & (img <= hi)

    def _label_id(self, label: int | None, allow_background: bool = False) -> int:
        if label is None:
            return self._active_label
        if allow_background and label == 0:
            return 0
        return self.label_set.get(int(label)).id

    def _point(self, p: Sequence[float]) -> tuple[float, float, float]:
        vals = tuple(float(c) for c in p)
        if len(vals) == 2 and self.shape[0] == 1:
            vals = (0.0, *vals)
        if len(vals) != 3 or not all(math.isfinite(c) for c in vals):
            raise ValidationError(f"a point must be finite (z, y, x) voxel indices, got {tuple(p)!r}")
        return vals  # type: ignore[return-value]

    def _check_plane(self, axis: int, index: int) -> tuple[int, int]:
        if axis not in (0, 1, 2):
            raise ValidationError(f"axis must be 0 (z), 1 (y) or 2 (x), got {axis!r}")
        if not 0 <= int(index) < self.shape[axis]:
            raise ValidationError(f"slice {index} is outside 0..{self.shape[axis] - 1} along axis {axis}")
        return axis, int(index)

    def _require_spacing(self, what: str) -> tuple[float, float, float]:
        if self.spacing is None:
            raise ValidationError(f"{what} needs the voxel spacing in mm; this layer has none")
        return self.spacing

    def _check_spacing(self, spacing: Sequence[float] | None) -> tuple[float, float, float] | None:
        if spacing is None:
            return None
        sp = tuple(float(s) for s in spacing)
        if len(sp) == 2 and self.source_ndim == 2:
            sp = (1.0, *sp)
        if len(sp) != 3 or not all(math.isfinite(s) and s > 0 for s in sp):
            raise ValidationError(f"spacing must be 3 positive mm values (z, y, x), got {tuple(spacing)!r}")
        return sp  # type: ignore[return-value]

    def _check_image(self, image: np.ndarray | None) -> np.ndarray | None:
        if image is None:
            return None
        img = np.asarray(image)
        if img.ndim == 2:
            img = img[None]
        if img.shape != self.shape:
            raise ValidationError(f"image shape {img.shape} does not match the labels {self.shape}")
        view = img.view()
        view.flags.writeable = False
        return view
