"""Three-plane view for volumes: the two planes the editor does not show, with a linked crosshair.

The crosshair is the voxel ``host.indices`` (z, y, x): each pane shows the slice through it normal
to its axis, with a horizontal and a vertical line through the crosshair's in-plane position; the
editing view draws the same crosshair. A left click (or drag) in a pane moves the crosshair to that
voxel, so the editing view's slice follows (as in ITK-SNAP and 3D Slicer). Panes show the mask
read-only; editing happens in the main view (keys 1/2/3 choose its plane). Rows are scaled by the
spacing like the editor, so millimetres are square in every pane.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from readerstudy.core.annotation import PLANE_AXES
from readerstudy.ui.image_view import grey_lut

if TYPE_CHECKING:
    from readerstudy.ui.annotation.host import AnnotationHost

PLANE_NAMES = ("axial", "coronal", "sagittal")
CROSSHAIR_PEN = (255, 200, 0, 170)


def plane_scale(spacing: tuple[float, float, float] | None, axis: int) -> float:
    """View units per row of the plane normal to ``axis`` (columns are 1): spacing[row] / spacing[col]."""
    if spacing is None:
        return 1.0
    ra, ca = PLANE_AXES[axis]
    return spacing[ra] / spacing[ca]


class _PaneBox(pg.ViewBox):
    def __init__(self, pane: PlanePane) -> None:
        super().__init__(lockAspect=True, invertY=True, enableMenu=False)
        self._pane = pane

    def mouseClickEvent(self, ev: Any) -> None:  # noqa: N802 - Qt override
        if ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            self._pane.point_at(ev.scenePos())
            return
        super().mouseClickEvent(ev)

    def mouseDragEvent(self, ev: Any, axis: Any = None) -> None:  # noqa: N802 - Qt override
        if ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            self._pane.point_at(ev.scenePos())
            return
        super().mouseDragEvent(ev, axis)


class PlanePane(QWidget):
    """One read-only plane through the crosshair; ``pointed(axis, row, col)`` on a click."""

    pointed = Signal(int, int, int)

    def __init__(self, host: AnnotationHost, axis: int) -> None:
        super().__init__()
        self._host, self.axis = host, axis
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        self.title = QLabel()
        self.title.setStyleSheet("color: #ddd; background: #111; padding: 1px 4px;")
        lay.addWidget(self.title)
        self.view = pg.GraphicsLayoutWidget()
        self.view.setBackground("k")
        self.vb = _PaneBox(self)
        self.view.addItem(self.vb)
        self.image_item, self.overlay_item = pg.ImageItem(), pg.ImageItem()
        self.overlay_item.setZValue(10)
        pen = pg.mkPen(CROSSHAIR_PEN, width=1, cosmetic=True)
        self.h_line = pg.InfiniteLine(angle=0, movable=False, pen=pen)
        self.v_line = pg.InfiniteLine(angle=90, movable=False, pen=pen)
        for item in (self.image_item, self.overlay_item, self.h_line, self.v_line):
            self.vb.addItem(item)
        lay.addWidget(self.view, 1)


    def rect(self) -> QRectF:  # noqa: D102 - the plane in view coordinates
        layer = self._host.layer
        ra, ca = PLANE_AXES[self.axis]
        return QRectF(0.0, 0.0, layer.shape[ca], layer.shape[ra] * plane_scale(layer.spacing, self.axis))

    def crosshair(self) -> tuple[float, float]:
        """(x, y) of the crosshair in this pane's view coordinates (voxel centres)."""
        ra, ca = PLANE_AXES[self.axis]
        idx = self._host.indices
        return idx[ca] + 0.5, (idx[ra] + 0.5) * plane_scale(self._host.layer.spacing, self.axis)

    def point_at(self, scene_pos: QPointF) -> None:
        p = self.vb.mapSceneToView(scene_pos)
        layer = self._host.layer
        ra, ca = PLANE_AXES[self.axis]
        row = int(np.clip(np.floor(p.y() / plane_scale(layer.spacing, self.axis)), 0, layer.shape[ra] - 1))
        col = int(np.clip(np.floor(p.x()), 0, layer.shape[ca] - 1))
        self.pointed.emit(self.axis, row, col)

    def render(self, reset: bool = False) -> None:
        host, layer = self._host, self._host.layer
        index = host.indices[self.axis]
        img = host.pixels[(slice(None),) * self.axis + (index,)]
        self.image_item.setImage(img, autoLevels=False, levels=host.levels, lut=grey_lut(host.asset.invert))
        self.image_item.setRect(self.rect())
        self.render_overlay()
        x, y = self.crosshair()
        self.v_line.setPos(x)
        self.h_line.setPos(y)
        self.title.setText(f"{PLANE_NAMES[self.axis].title()} {index + 1}/{layer.shape[self.axis]}")
        if reset:
            r = self.rect()
            self.vb.setRange(xRange=(0, r.width()), yRange=(0, r.height()), padding=0.0)

    def render_overlay(self) -> None:
        layer = self._host.layer
        self.overlay_item.setImage(layer.display.colorize(layer.get_slice(self.axis, self._host.indices[self.axis])),
                                   autoLevels=False, levels=(0, 255))
        self.overlay_item.setRect(self.rect())


class ThreePlaneWidget(QWidget):
    """The two panes beside the editing view; ``crosshair_moved(z, y, x)`` when one is clicked."""

    crosshair_moved = Signal(int, int, int)

    def __init__(self, host: AnnotationHost) -> None:
        super().__init__()
        self._host = host
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.panes = [PlanePane(host, 1), PlanePane(host, 2)]
        for pane in self.panes:
            pane.pointed.connect(self._on_pointed)
            lay.addWidget(pane, 1)
        self.setFixedWidth(320)  # the editing view keeps the room; panes are for orientation

    def bind(self, main_axis: int) -> None:
        """Show the two planes other than the editor's ``main_axis``."""
        for pane, axis in zip(self.panes, [a for a in (0, 1, 2) if a != main_axis], strict=True):
            pane.axis = axis
            if not self.isHidden():
                pane.render(reset=True)

    def render(self) -> None:
        if not self.isHidden():  # hidden panes cost nothing
            for pane in self.panes:
                pane.render()

    def render_overlay(self) -> None:
        if not self.isHidden():
            for pane in self.panes:
                pane.render_overlay()

    def _on_pointed(self, axis: int, row: int, col: int) -> None:
        idx = list(self._host.indices)
        ra, ca = PLANE_AXES[axis]
        idx[ra], idx[ca] = row, col
        self.crosshair_moved.emit(idx[0], idx[1], idx[2])
