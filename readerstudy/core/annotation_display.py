"""Display state of an annotation layer: per-label visibility and opacity, colour LUT.

Kept apart from the label data so that a view can change how labels look without
touching the undo history.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from psygnal import Signal

from readerstudy.core.annotation_labels import LabelSet
from readerstudy.core.errors import ValidationError

__all__ = ["LabelDisplay", "LayerDisplay"]


@dataclass(frozen=True)
class LabelDisplay:
    """How one label is drawn: visible or not, and its opacity in [0, 1]."""

    visible: bool = True
    opacity: float = 0.5


def _check_opacity(opacity: float) -> float:
    value = float(opacity)
    if not 0.0 <= value <= 1.0:
        raise ValidationError(f"opacity must be within [0, 1], got {opacity!r}")
    return value


class LayerDisplay:
    """Visibility and opacity of each label, plus a layer-wide opacity.

    Events
    ------
    changed(int)
        The look of this label id changed (0: the whole layer).
    """

    changed = Signal(int)

    def __init__(self, label_set: LabelSet, opacity: float = 1.0) -> None:
        self._label_set = label_set
        self._opacity = _check_opacity(opacity)
        self._labels = {lab.id: LabelDisplay() for lab in label_set}

    def set_label_set(self, label_set: LabelSet) -> None:
        """Follow a new label set: kept ids keep their visibility and opacity, new ids start visible."""
        self._label_set = label_set
        self._labels = {lab.id: self._labels.get(lab.id, LabelDisplay()) for lab in label_set}
        self.changed.emit(0)

    @property
    def opacity(self) -> float:
        """Layer opacity in [0, 1], multiplied with each label's opacity."""
        return self._opacity

    @opacity.setter
    def opacity(self, value: float) -> None:
        self._opacity = _check_opacity(value)
        self.changed.emit(0)

    def __getitem__(self, label_id: int) -> LabelDisplay:
        self._label_set.get(label_id)
        return self._labels[label_id]

    def set_visible(self, label_id: int, visible: bool) -> None:
        d = self[label_id]
        self._labels[label_id] = LabelDisplay(bool(visible), d.opacity)
        self.changed.emit(label_id)

    def set_opacity(self, label_id: int, opacity: float) -> None:
        d = self[label_id]
        self._labels[label_id] = LabelDisplay(d.visible, _check_opacity(opacity))
        self.changed.emit(label_id)

    def rgba_lut(self) -> np.ndarray:
        """Colour lookup table, uint8 of shape (max_id + 1, 4): row v is the RGBA of value v.

        Background and hidden labels are fully transparent. Use :meth:`colorize` (or
        ``np.take(lut, labels, axis=0)``; plain ``lut[labels]`` is ~20x slower) to make
        the (rows, cols, 4) overlay image.
        """
        lut = np.zeros((self._label_set.max_id + 1, 4), dtype=np.uint8)
        for lab in self._label_set:
            d = self._labels[lab.id]
            alpha = round(255 * d.opacity * self._opacity) if d.visible else 0
            lut[lab.id] = (*lab.color, alpha)
        return lut

    def colorize(self, labels: np.ndarray, lut: np.ndarray | None = None) -> np.ndarray:
        """RGBA uint8 overlay (``labels.shape + (4,)``) of a label array, e.g. a dirty box.

        Pass a cached ``lut`` from :meth:`rgba_lut` when colouring many boxes.
        """
        table = self.rgba_lut() if lut is None else lut
        return np.take(table, labels, axis=0, mode="clip")
