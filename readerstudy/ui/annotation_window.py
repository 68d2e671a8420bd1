"""The annotator's window: paint a case's mask with brush, eraser, polygon and fill.

The window only maps mouse positions to voxel indices and calls :class:`AnnotationLayer`
methods; painting, undo/redo and colours are model code. Loading and saving go through
``readerstudy.services.annotation`` (each save is a new version).

Mouse: left-drag paints (brush/eraser); polygon: left-click adds vertices, double-click or
Enter closes, Escape cancels; fill: left-click floods the region. Right-drag pans, the wheel
zooms, Ctrl+wheel or the slider changes slice.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (
    QButtonGroup,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QPushButton,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from readerstudy.core.annotation import AnnotationLayer
from readerstudy.core.errors import ReaderStudyError
from readerstudy.services import annotation as service
from readerstudy.services.context import AppContext
from readerstudy.ui.actions import ActionSpec, install_actions

TOOLS = ("brush", "eraser", "polygon", "fill")
SOFT_TISSUE = (40.0, 400.0)  # CT window (centre, width) in HU when the image suggests none


class _PaintViewBox(pg.ViewBox):
    """Left button goes to the active tool; right-drag pans; Ctrl+wheel changes slice."""

    def __init__(self, owner: AnnotationWindow) -> None:
        super().__init__(lockAspect=True, invertY=True, enableMenu=False)
        self._owner = owner

    def mouseDragEvent(self, ev: Any, axis: Any = None) -> None:  # noqa: N802 - Qt override
        if ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            if ev.isStart():
                self._owner.press(ev.buttonDownScenePos())
            self._owner.move(ev.scenePos())
            if ev.isFinish():
                self._owner.release()
            return
        if ev.button() == Qt.MouseButton.RightButton:
            ev.accept()
            d = self.mapToView(ev.pos()) - self.mapToView(ev.lastPos())
            self.translateBy(x=-d.x(), y=-d.y())
            return
        super().mouseDragEvent(ev, axis)

    def mouseClickEvent(self, ev: Any) -> None:  # noqa: N802 - Qt override
        if ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            if ev.double():
                self._owner.close_polygon()
            else:
                self._owner.click(ev.scenePos())
            return
        super().mouseClickEvent(ev)

    def mouseDoubleClickEvent(self, ev: Any) -> None:  # noqa: N802 - Qt override
        self._owner.close_polygon()

    def wheelEvent(self, ev: Any, axis: Any = None) -> None:  # noqa: N802 - Qt override
        if ev.modifiers() & Qt.KeyboardModifier.ControlModifier:
            ev.accept()
            self._owner.step_slice(1 if ev.delta() < 0 else -1)
            return
        super().wheelEvent(ev, axis)


def _swatch(rgb: tuple[int, int, int]) -> QIcon:
    pix = QPixmap(14, 14)
    pix.fill(QColor(*rgb))
    return QIcon(pix)


class AnnotationWindow(QMainWindow):
    """Annotate one case as ``annotator``; ``Save`` stores a new version of the mask."""

    def __init__(self, ctx: AppContext, case_id: str, annotator: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx, self.case_id, self.annotator = ctx, case_id, annotator
        layer, pixels, asset = service.open_annotation(ctx, case_id, annotator)
        self.asset = asset
        self.modality = service.case_modality(ctx, case_id)
        arr = np.asarray(pixels)
        if arr.ndim == 3 and arr.shape[-1] in (3, 4) and not asset.is_volume:
            arr = arr[..., :3].mean(axis=-1)
        self.pixels = arr.reshape(layer.shape).astype(np.float32, copy=False)
        self.tool = "brush"
        self.brush_radius = 5
        self.index = layer.shape[0] // 2
        self._polygon: list[tuple[float, float]] = []
        self._painting = False
        self.last_record = None
        self.setWindowTitle(f"Annotate - {annotator}")
        self._build_ui()
        self.set_layer(layer)
        install_actions(self, self.action_specs())

    # ----------------------------------------------------------------- construction
    def action_specs(self) -> list[ActionSpec]:
        return [
            ActionSpec("tool.brush", "Brush", ("B",), lambda: self.set_tool("brush")),
            ActionSpec("tool.eraser", "Eraser", ("E",), lambda: self.set_tool("eraser")),
            ActionSpec("tool.polygon", "Polygon", ("P",), lambda: self.set_tool("polygon")),
            ActionSpec("tool.fill", "Fill", ("F",), lambda: self.set_tool("fill")),
            ActionSpec("edit.undo", "Undo", ("Ctrl+Z",), self.undo),
            ActionSpec("edit.redo", "Redo", ("Ctrl+Y", "Ctrl+Shift+Z"), self.redo),
            ActionSpec("file.save", "Save", ("Ctrl+S",), self.save),
            ActionSpec("polygon.close", "Close polygon", ("Return", "Enter"), self.close_polygon),
            ActionSpec("polygon.cancel", "Cancel polygon", ("Escape",), self.cancel_polygon),
            ActionSpec("slice.next", "Next slice", ("PgDown",), lambda: self.step_slice(1)),
            ActionSpec("slice.prev", "Previous slice", ("PgUp",), lambda: self.step_slice(-1)),
        ]

    def _build_ui(self) -> None:
        self.view = pg.GraphicsLayoutWidget()
        self.view.setBackground("k")
        self.vb = _PaintViewBox(self)
        self.view.addItem(self.vb)
        self.image_item = pg.ImageItem()
        self.overlay_item = pg.ImageItem()
        self.overlay_item.setZValue(10)
        self.polygon_item = pg.PlotDataItem(pen=pg.mkPen("y", width=1.5), symbol="o", symbolSize=4)
        self.polygon_item.setZValue(20)
        for item in (self.image_item, self.overlay_item, self.polygon_item):
            self.vb.addItem(item)

        panel = QWidget()
        side = QVBoxLayout(panel)
        tools = QHBoxLayout()
        self.tool_buttons: dict[str, QPushButton] = {}
        self._tool_group = QButtonGroup(self)
        for name, key in zip(TOOLS, "BEPF", strict=True):
            b = QPushButton(f"{name.title()} ({key})")
            b.setCheckable(True)
            b.clicked.connect(lambda _=False, n=name: self.set_tool(n))
            self._tool_group.addButton(b)
            self.tool_buttons[name] = b
            tools.addWidget(b)
        side.addLayout(tools)
        self.label_list = QListWidget()
        self.label_list.currentRowChanged.connect(self._label_row_changed)
        side.addWidget(QLabel("Labels"))
        side.addWidget(self.label_list)
        form = QFormLayout()
        self.brush_spin = QSpinBox()
        self.brush_spin.setRange(1, 100)
        self.brush_spin.setValue(self.brush_radius)
        self.brush_spin.valueChanged.connect(self._set_brush)
        form.addRow("Brush radius (px)", self.brush_spin)
        self.opacity_slider = QSlider(Qt.Orientation.Horizontal)
        self.opacity_slider.setRange(0, 100)
        self.opacity_slider.setValue(50)
        self.opacity_slider.valueChanged.connect(self._set_opacity)
        form.addRow("Opacity", self.opacity_slider)
        self.slice_slider = QSlider(Qt.Orientation.Horizontal)
        self.slice_slider.valueChanged.connect(self.set_slice)
        self.slice_label = QLabel()
        form.addRow(self.slice_label, self.slice_slider)
        side.addLayout(form)
        self.undo_button = QPushButton("Undo (Ctrl+Z)")
        self.undo_button.clicked.connect(self.undo)
        self.redo_button = QPushButton("Redo (Ctrl+Y)")
        self.redo_button.clicked.connect(self.redo)
        row = QHBoxLayout()
        row.addWidget(self.undo_button)
        row.addWidget(self.redo_button)
        side.addLayout(row)
        self.save_button = QPushButton("Save (Ctrl+S)")
        self.save_button.clicked.connect(self.save)
        side.addWidget(self.save_button)
        self.status = QLabel()
        self.status.setWordWrap(True)
        side.addWidget(self.status)
        side.addStretch(1)
        panel.setFixedWidth(320)

        central = QWidget()
        lay = QHBoxLayout(central)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.view, 1)
        lay.addWidget(panel)
        self.setCentralWidget(central)
        self.tool_buttons[self.tool].setChecked(True)

    def set_layer(self, layer: AnnotationLayer) -> None:
        """Show ``layer`` (after load or reload) over the image."""
        self.layer = layer
        layer.data_changed.connect(self._on_data_changed)
        layer.history_changed.connect(self._update_state)
        layer.display.opacity = self.opacity_slider.value() / 100.0
        self.label_list.blockSignals(True)
        self.label_list.clear()
        for lab in layer.label_set:
            item = QListWidgetItem(_swatch(lab.color), f"{lab.id}  {lab.name}")
            item.setData(Qt.ItemDataRole.UserRole, lab.id)
            self.label_list.addItem(item)
        self.label_list.setCurrentRow([lab.id for lab in layer.label_set].index(layer.active_label))
        self.label_list.blockSignals(False)
        sample = self.pixels.reshape(-1)[:: max(1, self.pixels.size // 200_000)]
        lo, hi = np.percentile(sample, [0.5, 99.5]) if sample.size else (0.0, 1.0)
        if self.asset.window is not None:
            c, w = self.asset.window
            lo, hi = c - w / 2, c + w / 2
        elif self.modality.upper() == "CT":
            lo, hi = SOFT_TISSUE[0] - SOFT_TISSUE[1] / 2, SOFT_TISSUE[0] + SOFT_TISSUE[1] / 2
        self.levels = (float(lo), float(max(hi, lo + 1e-3)))
        n = layer.shape[0]
        self.slice_slider.blockSignals(True)
        self.slice_slider.setRange(0, n - 1)
        self.slice_slider.setVisible(n > 1)
        self.slice_label.setVisible(n > 1)
        self.index = min(self.index, n - 1)
        self.slice_slider.setValue(self.index)
        self.slice_slider.blockSignals(False)
        self.slice_label.setText(f"Slice {self.index + 1}/{n}")
        self._render()
        h, w = layer.shape[1:]
        self.vb.setRange(xRange=(0, w), yRange=(0, h), padding=0.0)
        self._update_state()

    # ----------------------------------------------------------------- state changes
    def set_tool(self, name: str) -> None:
        if name not in TOOLS:
            raise ValueError(f"unknown tool {name!r}; choose one of {TOOLS}")
        if self.tool == "polygon" and name != "polygon":
            self.cancel_polygon()
        self.tool = name
        self.tool_buttons[name].setChecked(True)
        self._update_state()

    def set_label(self, label_id: int) -> None:
        self.layer.active_label = label_id
        row = [lab.id for lab in self.layer.label_set].index(label_id)
        if self.label_list.currentRow() != row:
            self.label_list.setCurrentRow(row)
        self._update_state()

    def _label_row_changed(self, row: int) -> None:
        if row >= 0:
            self.set_label(self.layer.label_set.labels[row].id)

    def _set_brush(self, value: int) -> None:
        self.brush_radius = int(value)

    def _set_opacity(self, value: int) -> None:
        self.layer.display.opacity = value / 100.0
        self._render_overlay()

    def set_slice(self, index: int) -> None:
        index = int(min(max(index, 0), self.layer.shape[0] - 1))
        if index != self.index:
            self.cancel_polygon()
        self.index = index
        if self.slice_slider.value() != index:
            self.slice_slider.setValue(index)
        self.slice_label.setText(f"Slice {index + 1}/{self.layer.shape[0]}")
        self._render()

    def step_slice(self, step: int) -> None:
        self.set_slice(self.index + step)

    # ----------------------------------------------------------------- mouse -> voxel
    def voxel_at(self, scene_pos: QPointF) -> tuple[float, float, float]:
        """(z, y, x) voxel coordinates of a scene position on the current slice (pixel centres at +0.5)."""
        p = self.vb.mapSceneToView(scene_pos)
        return (float(self.index), float(p.y()) - 0.5, float(p.x()) - 0.5)

    def _inside(self, v: tuple[float, float, float]) -> bool:
        _, h, w = self.layer.shape
        return -0.5 <= v[1] < h - 0.5 and -0.5 <= v[2] < w - 0.5

    def press(self, scene_pos: QPointF) -> None:
        if self.tool in ("brush", "eraser"):
            self.layer.begin_stroke(self.tool)
            self._painting = True
            self.move(scene_pos)  # the press point itself (drags start past a threshold)

    def move(self, scene_pos: QPointF) -> None:
        if not self._painting:
            return
        v = self.voxel_at(scene_pos)
        if self.tool == "brush":
            self.layer.paint(v, self.brush_radius)
        else:
            self.layer.erase(v, self.brush_radius)

    def release(self) -> None:
        if self._painting:
            self._painting = False
            self.layer.end_stroke()

    def click(self, scene_pos: QPointF) -> None:
        v = self.voxel_at(scene_pos)
        if self.tool == "polygon":
            self._polygon.append((v[1], v[2]))
            self._render_polygon()
        elif self.tool == "fill":
            if self._inside(v):
                self.layer.flood_fill((round(v[0]), round(v[1]), round(v[2])))
        else:  # a click without drag paints one dab
            self.press(scene_pos)
            self.release()

    def close_polygon(self) -> None:
        pts, self._polygon = self._polygon, []
        self._render_polygon()
        if self.tool == "polygon" and len(pts) >= 3:
            try:
                self.layer.fill_polygon(pts, axis=0, index=self.index)
            except ReaderStudyError as exc:
                self.status.setText(str(exc))

    def cancel_polygon(self) -> None:
        self._polygon = []
        self._render_polygon()

    # ----------------------------------------------------------------- commands
    def undo(self) -> None:
        if self.layer.can_undo:
            self.layer.undo()

    def redo(self) -> None:
        if self.layer.can_redo:
            self.layer.redo()

    def save(self) -> bool:
        try:
            self.last_record = service.save_annotation(self.ctx, self.case_id, self.annotator, self.layer)
        except ReaderStudyError as exc:
            self.status.setText(f"Not saved: {exc}")
            return False
        self._update_state()
        return True

    def reload(self) -> None:
        """Re-open the latest saved version (unsaved edits are discarded)."""
        layer, _, _ = service.open_annotation(self.ctx, self.case_id, self.annotator)
        self.set_layer(layer)

    # ----------------------------------------------------------------- drawing
    def _on_data_changed(self, box: Any) -> None:
        if box is None or box.start[0] <= self.index < box.stop[0]:
            self._render_overlay()

    def _render(self) -> None:
        self.image_item.setImage(self.pixels[self.index], autoLevels=False, levels=self.levels)
        self._render_overlay()

    def overlay_rgba(self) -> np.ndarray:
        """The (rows, cols, 4) colours of the current slice's labels, as drawn."""
        return self.layer.display.colorize(self.layer.get_slice(0, self.index))

    def _render_overlay(self) -> None:
        self.overlay_item.setImage(self.overlay_rgba(), autoLevels=False, levels=(0, 255))

    def _render_polygon(self) -> None:
        if not self._polygon:
            self.polygon_item.setData([], [])
            return
        ys, xs = zip(*self._polygon, strict=True)
        self.polygon_item.setData(np.asarray(xs) + 0.5, np.asarray(ys) + 0.5)

    def _update_state(self) -> None:
        self.undo_button.setEnabled(self.layer.can_undo)
        self.redo_button.setEnabled(self.layer.can_redo)
        lab = self.layer.label_set.get(self.layer.active_label)
        saved = f"saved v{self.last_record.version}" if self.last_record else "not saved yet"
        self.status.setText(f"Tool: {self.tool} | label: {lab.name} | "
                            f"{'modified' if self.layer.is_modified else saved}")
