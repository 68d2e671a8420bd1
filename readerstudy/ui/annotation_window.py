"""The annotator's window: paint a case's mask with brush, eraser, polygon and fill.

Volumes can be edited on any of the three orthogonal planes (axial / coronal / sagittal,
keys 1/2/3); the view scales each plane by the voxel spacing so that millimetres are square.
Side panels (``annotation_panels``) add the threshold brush, 'preserve other labels',
per-label visibility and opacity, interpolation between slices, clean-up and volumes in mL;
``annotation_compare`` shows another annotator's mask and the agreement with it.

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
from PySide6.QtCore import QPointF, QRectF, Qt
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
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from readerstudy.core.annotation import PLANE_AXES, AnnotationLayer
from readerstudy.core.errors import ReaderStudyError
from readerstudy.services import annotation as service
from readerstudy.services.context import AppContext
from readerstudy.ui.actions import ActionSpec, install_actions
from readerstudy.ui.annotation_compare import ComparePanel
from readerstudy.ui.annotation_panels import (
    PLANES,
    BrushCursor,
    LabelOpacityPanel,
    PlanePanel,
    ThresholdPanel,
    VolumePanel,
)

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


def _with_image(layer: AnnotationLayer, image: np.ndarray) -> AnnotationLayer:
    """The same labels, spacing and saved state, with ``image`` attached for the threshold brush."""
    data = layer.data[0] if layer.source_ndim == 2 else layer.data
    spacing = None if layer.spacing is None else (layer.spacing[1:] if layer.source_ndim == 2 else layer.spacing)
    out = AnnotationLayer(data, layer.label_set, spacing=spacing, image=image.reshape(data.shape))
    out.mark_saved()
    return out


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
        self.brush_radius = 5.0
        self.brush_unit = "px"
        self.axis = 0
        self.indices = [n // 2 for n in layer.shape]
        self._polygon: list[tuple[float, float]] = []
        self._painting = False
        self._cursor_at: QPointF | None = None  # last mouse position in view coordinates
        self.last_record = None
        self.setWindowTitle(f"Annotate - {annotator}")
        self._build_ui()
        self.set_layer(_with_image(layer, self.pixels))
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
            *(ActionSpec(f"plane.{name}", f"{name.title()} plane", (str(i + 1),), lambda a=i: self.set_axis(a))
              for i, name in enumerate(PLANES)),
            ActionSpec("volume.interpolate", "Interpolate between slices", ("I",), lambda: self.volume.interpolate()),
            ActionSpec("volume.clean", "Clean up label", ("C",), lambda: self.volume.clean_up()),
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
        self.cursor_item = BrushCursor()
        for item in (self.image_item, self.overlay_item, self.polygon_item, self.cursor_item):
            self.vb.addItem(item)
        self.vb.scene().sigMouseMoved.connect(self._hover)

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
        self.label_list.setMaximumHeight(110)
        self.label_list.currentRowChanged.connect(self._label_row_changed)
        self.label_list.itemChanged.connect(self._label_item_changed)
        side.addWidget(QLabel("Labels (tick = visible)"))
        side.addWidget(self.label_list)
        self.planes = PlanePanel(self)
        side.addWidget(self.planes)
        form = QFormLayout()
        self.brush_spin = QSpinBox()
        self.brush_spin.setRange(1, 100)
        self.brush_spin.setValue(round(self.brush_radius))
        self.brush_spin.valueChanged.connect(self._set_brush)
        self.brush_label = QLabel("Brush radius (px)")
        form.addRow(self.brush_label, self.brush_spin)
        self.slice_slider = QSlider(Qt.Orientation.Horizontal)
        self.slice_slider.valueChanged.connect(self.set_slice)
        self.slice_label = QLabel()
        form.addRow(self.slice_label, self.slice_slider)
        side.addLayout(form)
        self.display_panel = LabelOpacityPanel(self)
        self.opacity_slider = self.display_panel.layer_slider
        self.threshold = ThresholdPanel(self)
        self.volume = VolumePanel(self)
        for w in (self.display_panel, self.threshold, self.volume):
            side.addWidget(w)
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
        self.compare = ComparePanel(self)
        self.tabs = QTabWidget()
        self.tabs.addTab(panel, "Edit")
        self.tabs.addTab(self.compare, "Compare with…")
        self.tabs.currentChanged.connect(lambda i: self.compare.load() if i == 1 else None)
        self.tabs.setFixedWidth(380)

        central = QWidget()
        lay = QHBoxLayout(central)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.view, 1)
        lay.addWidget(self.tabs)
        self.setCentralWidget(central)
        self.tool_buttons[self.tool].setChecked(True)

    def set_layer(self, layer: AnnotationLayer) -> None:
        """Show ``layer`` (after load or reload) over the image."""
        self.layer = layer
        layer.data_changed.connect(self._on_data_changed)
        layer.history_changed.connect(self._update_state)
        layer.history_changed.connect(self._after_edit)
        layer.display.changed.connect(lambda _id: self._render_overlay())
        self.display_panel.bind()
        self.label_list.blockSignals(True)
        self.label_list.clear()
        for lab in layer.label_set:
            item = QListWidgetItem(_swatch(lab.color), f"{lab.id}  {lab.name}")
            item.setData(Qt.ItemDataRole.UserRole, lab.id)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if layer.display[lab.id].visible else Qt.CheckState.Unchecked)
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
        volume = layer.shape[0] > 1
        self.slice_slider.setVisible(volume)
        self.slice_label.setVisible(volume)
        self.planes.bind(volume, layer.spacing is not None)
        self.threshold.bind(self.pixels, self.levels)
        self.volume.bind(volume)
        self.set_axis(self.axis if volume else 0, force=True)
        if self.tabs.currentIndex() == 1:
            self.compare.load()

    # ----------------------------------------------------------------- planes and geometry
    @property
    def index(self) -> int:
        """The slice shown, along the current plane's normal ``axis``."""
        return self.indices[self.axis]

    def set_axis(self, axis: int, force: bool = False) -> None:
        """Show and edit the plane normal to ``axis`` (0 axial, 1 coronal, 2 sagittal)."""
        axis = int(axis)
        if axis not in (0, 1, 2) or (axis and self.layer.shape[0] == 1):
            return
        if axis == self.axis and not force:
            return
        self.cancel_polygon()
        self.axis = axis
        self._cursor_at = None
        self._place_cursor()
        self.planes.show_axis(axis)
        n = self.layer.shape[axis]
        self.slice_slider.blockSignals(True)
        self.slice_slider.setRange(0, n - 1)
        self.indices[axis] = min(self.indices[axis], n - 1)
        self.slice_slider.setValue(self.index)
        self.slice_slider.blockSignals(False)
        self._slice_text()
        self._render()
        r = self.view_rect()
        self.vb.setRange(xRange=(0, r.width()), yRange=(0, r.height()), padding=0.0)
        self._update_state()

    def pixel_scale(self) -> tuple[float, float]:
        """View units per in-plane (row, col) voxel: columns are 1, rows are scaled so that mm are square."""
        if self.layer.spacing is None:
            return 1.0, 1.0
        ra, ca = PLANE_AXES[self.axis]
        return self.layer.spacing[ra] / self.layer.spacing[ca], 1.0

    def view_rect(self) -> QRectF:
        """Where the current plane's image lies in view coordinates."""
        ra, ca = PLANE_AXES[self.axis]
        sr, sc = self.pixel_scale()
        return QRectF(0.0, 0.0, self.layer.shape[ca] * sc, self.layer.shape[ra] * sr)

    def scene_pos(self, row: float, col: float) -> QPointF:
        """Scene position of the centre of in-plane voxel (row, col) of the current plane."""
        sr, sc = self.pixel_scale()
        return self.vb.mapViewToScene(QPointF((col + 0.5) * sc, (row + 0.5) * sr))

    # ----------------------------------------------------------------- state changes
    def set_tool(self, name: str) -> None:
        if name not in TOOLS:
            raise ValueError(f"unknown tool {name!r}; choose one of {TOOLS}")
        if self.tool == "polygon" and name != "polygon":
            self.cancel_polygon()
        self.tool = name
        self.tool_buttons[name].setChecked(True)
        self._place_cursor()
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

    def _label_item_changed(self, item: QListWidgetItem) -> None:
        visible = item.checkState() == Qt.CheckState.Checked
        label_id = int(item.data(Qt.ItemDataRole.UserRole))
        if self.layer.display[label_id].visible != visible:
            self.layer.display.set_visible(label_id, visible)

    def set_label_visible(self, label_id: int, visible: bool) -> None:
        row = [lab.id for lab in self.layer.label_set].index(label_id)
        self.label_list.item(row).setCheckState(Qt.CheckState.Checked if visible else Qt.CheckState.Unchecked)

    def _set_brush(self, value: int) -> None:
        self.brush_radius = float(value)
        self._place_cursor()

    def set_brush_unit_mm(self, on: bool) -> None:
        self.brush_unit = "mm" if on and self.layer.spacing is not None else "px"
        self.brush_label.setText(f"Brush radius ({self.brush_unit})")
        self._place_cursor()

    def brush_extent(self) -> tuple[float, float]:
        """The brush radius in view units along (y, x) of the current plane, as the cursor draws it."""
        sr, sc = self.pixel_scale()
        if self.brush_unit == "mm":
            ra, ca = PLANE_AXES[self.axis]
            assert self.layer.spacing is not None
            r = self.brush_radius / self.layer.spacing[ca]  # one view unit = one column = spacing[ca] mm
            return r, r
        return self.brush_radius * sr, self.brush_radius * sc

    def _hover(self, scene_pos: QPointF) -> None:
        self._cursor_at = self.vb.mapSceneToView(scene_pos)
        self._place_cursor()

    def _place_cursor(self) -> None:
        at = self._cursor_at
        if at is None or self.tool not in ("brush", "eraser"):
            self.cursor_item.setVisible(False)
            return
        ry, rx = self.brush_extent()
        self.cursor_item.place(at.x(), at.y(), rx, ry)

    def show_message(self, text: str) -> None:
        self.status.setText(text)

    def set_slice(self, index: int) -> None:
        index = int(min(max(index, 0), self.layer.shape[self.axis] - 1))
        if index != self.index:
            self.cancel_polygon()
        self.indices[self.axis] = index
        if self.slice_slider.value() != index:
            self.slice_slider.setValue(index)
        self._slice_text()
        self._render()

    def _slice_text(self) -> None:
        self.slice_label.setText(f"{PLANES[self.axis].title()} {self.index + 1}/{self.layer.shape[self.axis]}")

    def step_slice(self, step: int) -> None:
        self.set_slice(self.index + step)

    # ----------------------------------------------------------------- mouse -> voxel
    def plane_at(self, scene_pos: QPointF) -> tuple[float, float]:
        """In-plane (row, col) voxel coordinates of a scene position (pixel centres are integers)."""
        p = self.vb.mapSceneToView(scene_pos)
        sr, sc = self.pixel_scale()
        return float(p.y()) / sr - 0.5, float(p.x()) / sc - 0.5

    def voxel_at(self, scene_pos: QPointF) -> tuple[float, float, float]:
        """(z, y, x) voxel coordinates of a scene position on the current slice of the current plane."""
        row, col = self.plane_at(scene_pos)
        v = [0.0, 0.0, 0.0]
        ra, ca = PLANE_AXES[self.axis]
        v[self.axis], v[ra], v[ca] = float(self.index), row, col
        return v[0], v[1], v[2]

    def _inside(self, v: tuple[float, float, float]) -> bool:
        return all(-0.5 <= c < n - 0.5 for c, n in zip(v, self.layer.shape, strict=True))

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
            self.layer.paint(v, self.brush_radius, axis=self.axis, unit=self.brush_unit)
        else:
            self.layer.erase(v, self.brush_radius, axis=self.axis, unit=self.brush_unit)

    def release(self) -> None:
        if self._painting:
            self._painting = False
            self.layer.end_stroke()

    def click(self, scene_pos: QPointF) -> None:
        v = self.voxel_at(scene_pos)
        if self.tool == "polygon":
            self._polygon.append(self.plane_at(scene_pos))
            self._render_polygon()
        elif self.tool == "fill":
            if self._inside(v):
                self.layer.flood_fill((round(v[0]), round(v[1]), round(v[2])), axis=self.axis)
        else:  # a click without drag paints one dab
            self.press(scene_pos)
            self.release()

    def close_polygon(self) -> None:
        pts, self._polygon = self._polygon, []
        self._render_polygon()
        if self.tool == "polygon" and len(pts) >= 3:
            try:
                self.layer.fill_polygon(pts, axis=self.axis, index=self.index)
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
        self.set_layer(_with_image(layer, self.pixels))

    # ----------------------------------------------------------------- drawing
    def _on_data_changed(self, box: Any) -> None:
        if box is None or box.start[self.axis] <= self.index < box.stop[self.axis]:
            self._render_overlay()

    def _after_edit(self) -> None:
        """After each stroke, undo or redo: volumes and (if comparing) the agreement table."""
        if self.layer.in_stroke:
            return
        self.volume.refresh()
        if self.compare.other is not None:
            self.compare.update_metrics()
        if self.compare.consensus is not None:
            self.compare.update_consensus()

    def _render(self) -> None:
        img = self.pixels[(slice(None),) * self.axis + (self.index,)]
        self.image_item.setImage(img, autoLevels=False, levels=self.levels)
        self.image_item.setRect(self.view_rect())
        self._render_overlay()
        self.compare.render()

    def overlay_rgba(self) -> np.ndarray:
        """The (rows, cols, 4) colours of the current slice's labels, as drawn."""
        return self.layer.display.colorize(self.layer.get_slice(self.axis, self.index))

    def _render_overlay(self) -> None:
        self.overlay_item.setImage(self.overlay_rgba(), autoLevels=False, levels=(0, 255))
        self.overlay_item.setRect(self.view_rect())

    def _render_polygon(self) -> None:
        if not self._polygon:
            self.polygon_item.setData([], [])
            return
        ys, xs = zip(*self._polygon, strict=True)
        sr, sc = self.pixel_scale()
        self.polygon_item.setData((np.asarray(xs) + 0.5) * sc, (np.asarray(ys) + 0.5) * sr)

    def _update_state(self) -> None:
        self.undo_button.setEnabled(self.layer.can_undo)
        self.redo_button.setEnabled(self.layer.can_redo)
        lab = self.layer.label_set.get(self.layer.active_label)
        self.display_panel.show_label(lab.id)
        saved = f"saved v{self.last_record.version}" if self.last_record else "not saved yet"
        self.status.setText(f"Tool: {self.tool} | label: {lab.name} | "
                            f"{'modified' if self.layer.is_modified else saved}")
