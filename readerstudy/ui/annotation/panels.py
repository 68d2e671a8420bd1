"""Side panels of the annotation window: plane and brush options, threshold brush, labels, volume tools.

Each panel holds its host (``owner``, an :class:`~readerstudy.ui.annotation.host.AnnotationHost`) and
reads ``owner.layer`` at the time of use, because the window swaps its layer on reload. Panels only
call model or service functions; requests to the window go out as signals. They never import the
window.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGraphicsEllipseItem,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QVBoxLayout,
)

from readerstudy.core.errors import ReaderStudyError
from readerstudy.services import annotation as service

if TYPE_CHECKING:
    from readerstudy.core.annotation import AnnotationLayer
    from readerstudy.ui.annotation.host import AnnotationHost

PLANES = ("axial", "coronal", "sagittal")  # index = the axis normal to the plane (z, y, x)


class PlanePanel(QGroupBox):
    """Plane selector (axial / coronal / sagittal; volumes only) and the brush unit (px or mm).

    Emits ``plane_requested(axis)`` and ``mm_toggled(on)``; the window decides. A 2D image has no
    planes: the selector is hidden, not merely disabled. Without a known pixel spacing the mm box is
    disabled and says why.
    """

    plane_requested = Signal(int)
    mm_toggled = Signal(bool)

    def __init__(self, owner: AnnotationHost) -> None:
        super().__init__("View")
        self._owner = owner
        form = QFormLayout(self)
        self.plane_combo = QComboBox()
        self.plane_combo.addItems([f"{name.title()} ({i + 1})" for i, name in enumerate(PLANES)])
        self.plane_combo.currentIndexChanged.connect(self.plane_requested)
        self.plane_label = QLabel("Plane")
        form.addRow(self.plane_label, self.plane_combo)
        self.mm_check = QCheckBox("Brush radius in mm")
        self.mm_check.toggled.connect(self.mm_toggled)
        form.addRow(self.mm_check)

    def bind(self, volume: bool, has_spacing: bool) -> None:
        self.plane_combo.setVisible(volume)
        self.plane_label.setVisible(volume)
        self.mm_check.setEnabled(has_spacing)
        self.mm_check.setToolTip("" if has_spacing else "This image has no pixel spacing: sizes are in pixels.")
        if not has_spacing:
            self.mm_check.setChecked(False)

    def show_axis(self, axis: int) -> None:
        if self.plane_combo.currentIndex() != axis:
            self.plane_combo.blockSignals(True)
            self.plane_combo.setCurrentIndex(axis)
            self.plane_combo.blockSignals(False)


class ThresholdPanel(QGroupBox):
    """Threshold brush (paint only where lo <= intensity <= hi) and 'preserve other labels'."""

    def __init__(self, owner: AnnotationHost) -> None:
        super().__init__("Brush rules")
        self._owner = owner
        lay = QVBoxLayout(self)
        self.enabled_check = QCheckBox("Threshold brush")
        self.lo_spin, self.hi_spin = QDoubleSpinBox(), QDoubleSpinBox()
        row = QHBoxLayout()
        row.addWidget(self.enabled_check)
        for text, spin in (("lo", self.lo_spin), ("hi", self.hi_spin)):
            spin.setDecimals(1)
            spin.setKeyboardTracking(False)
            row.addWidget(QLabel(text))
            row.addWidget(spin, 1)
        lay.addLayout(row)
        self.preserve_check = QCheckBox("Preserve other labels")
        lay.addWidget(self.preserve_check)
        self.enabled_check.toggled.connect(self.apply)
        self.lo_spin.valueChanged.connect(self.apply)
        self.hi_spin.valueChanged.connect(self.apply)
        self.preserve_check.toggled.connect(self.apply)

    def bind(self, image: np.ndarray, levels: tuple[float, float]) -> None:
        """Set the spin-box limits to the image's intensity range and defaults to the display window."""
        lo, hi = float(np.min(image)), float(np.max(image))
        for spin in (self.lo_spin, self.hi_spin):
            spin.blockSignals(True)
            spin.setRange(math.floor(lo) - 1, math.ceil(hi) + 1)
            spin.setSingleStep(max((hi - lo) / 100.0, 0.1))
        self.lo_spin.setValue(max(levels[0], lo))
        self.hi_spin.setValue(min(levels[1], hi))
        for spin in (self.lo_spin, self.hi_spin):
            spin.blockSignals(False)
        self.apply()

    def set_range(self, lo: float, hi: float, enabled: bool = True) -> None:
        self.lo_spin.setValue(lo)
        self.hi_spin.setValue(hi)
        self.enabled_check.setChecked(enabled)
        self.apply()

    def apply(self, *_: object) -> None:
        layer = self._owner.layer
        layer.preserve_other_labels = self.preserve_check.isChecked()
        on = self.enabled_check.isChecked() and layer.image is not None
        lo, hi = self.lo_spin.value(), self.hi_spin.value()
        try:
            layer.intensity_range = (min(lo, hi), max(lo, hi)) if on else None
        except ReaderStudyError as exc:
            self._owner.show_message(str(exc))


class LabelOpacityPanel(QGroupBox):
    """Opacity of the whole layer and of the active label (visibility: the label list checkboxes)."""

    def __init__(self, owner: AnnotationHost) -> None:
        super().__init__("Display")
        self._owner = owner
        form = QFormLayout(self)
        self.layer_slider = self._slider(50, self._layer_opacity)
        form.addRow("Layer opacity", self.layer_slider)
        self.label_slider = self._slider(50, self._label_opacity)
        form.addRow("Active label", self.label_slider)

    @staticmethod
    def _slider(value: int, slot: object) -> QSlider:
        s = QSlider(Qt.Orientation.Horizontal)
        s.setRange(0, 100)
        s.setValue(value)
        s.valueChanged.connect(slot)
        return s

    def bind(self) -> None:
        layer = self._owner.layer
        layer.display.opacity = self.layer_slider.value() / 100.0
        self.show_label(layer.active_label)

    def show_label(self, label_id: int) -> None:
        self.label_slider.blockSignals(True)
        self.label_slider.setValue(round(self._owner.layer.display[label_id].opacity * 100))
        self.label_slider.blockSignals(False)

    def _layer_opacity(self, value: int) -> None:
        self._owner.layer.display.opacity = value / 100.0

    def _label_opacity(self, value: int) -> None:
        layer = self._owner.layer
        layer.display.set_opacity(layer.active_label, value / 100.0)


class VolumePanel(QGroupBox):
    """Interpolate between slices and clean up the active label (each one undo step); volumes in mL."""

    def __init__(self, owner: AnnotationHost) -> None:
        super().__init__("Volume tools")
        self._owner = owner
        lay = QVBoxLayout(self)
        row = QHBoxLayout()
        self.interpolate_button = QPushButton("Interpolate between slices")
        self.interpolate_button.setToolTip("Fill the slices between annotated slices of the active label "
                                           "along the current plane")
        self.interpolate_button.clicked.connect(self.interpolate)
        self.clean_button = QPushButton("Clean up")
        self.clean_button.setToolTip("Keep the largest connected part of the active label and close small holes")
        self.clean_button.clicked.connect(self.clean_up)
        row.addWidget(self.interpolate_button)
        row.addWidget(self.clean_button)
        lay.addLayout(row)
        self.volume_label = QLabel()
        self.volume_label.setWordWrap(True)
        lay.addWidget(self.volume_label)

    def bind(self, volume: bool) -> None:
        self.interpolate_button.setEnabled(volume)
        self.refresh()

    def interpolate(self) -> None:
        o = self._owner
        label = o.layer.active_label
        if service.interpolate_label(o.layer, label, o.axis) is None:
            o.show_message("Nothing to interpolate: paint the label on two slices with a gap between them.")

    def clean_up(self) -> None:
        o = self._owner
        if service.clean_up_label(o.layer, o.layer.active_label) is None:
            o.show_message("Clean up changed nothing.")

    def refresh(self) -> None:
        self.volume_label.setText("Volumes: " + size_text(self._owner.layer))


def size_text(layer: AnnotationLayer) -> str:
    """Per-label sizes in honest units: mL (volumes) or mm² (2D) with a spacing, px³ / px² without.

    A 2D image is a (1, rows, cols) layer; its area in mm² is ``voxels * spacing_y * spacing_x``.
    Without a spacing (PNG/JPEG, DICOM without PixelSpacing) there are no millimetres to give.
    """
    volume = layer.shape[0] > 1
    counts = {k: v for k, v in sorted(layer.voxel_counts().items()) if k and v}
    if not counts:
        return "nothing painted"
    if layer.spacing is None:
        unit = "px³" if volume else "px²"
        return ", ".join(f"{layer.label_set.get(k).name} {v} {unit}" for k, v in counts.items())
    parts = []
    for k, v in sorted(service.layer_volumes(layer).items()):
        size = v.volume_ml if volume else v.voxels * layer.spacing[1] * layer.spacing[2]
        pieces = f" ({v.components} parts)" if v.components > 1 else ""
        parts.append(f"{layer.label_set.get(k).name} {size:.2f} {'mL' if volume else 'mm²'}{pieces}")
    return ", ".join(parts)


class BrushCursor(QGraphicsEllipseItem):
    """An ellipse in view coordinates that shows the brush footprint on the current plane."""

    def __init__(self) -> None:
        super().__init__()
        self.setPen(pg.mkPen((255, 255, 0, 200), width=1.2, cosmetic=True))
        self.setZValue(30)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.setVisible(False)

    def place(self, cx: float, cy: float, rx: float, ry: float) -> None:
        self.setRect(QRectF(cx - rx, cy - ry, 2 * rx, 2 * ry))
        self.setVisible(True)
