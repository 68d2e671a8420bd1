"""The annotator's window: paint a case's mask with brush, eraser, polygon and fill.

Volumes can be edited on any of the three orthogonal planes (axial / coronal / sagittal,
keys 1/2/3); the view scales each plane by the voxel spacing so that millimetres are square.
Side panels (``ui/annotation/panels.py``) add the threshold brush, 'preserve other labels',
per-label visibility and opacity, interpolation between slices, clean-up and sizes (mL / mm², or
px³ / px² when the image has no pixel spacing); ``ui/annotation/compare.py`` shows another
annotator's mask and the agreement with it. The panels see the window only through
:class:`~readerstudy.ui.annotation.host.AnnotationHost`.

The window only maps mouse positions to voxel indices and calls :class:`AnnotationLayer`
methods; painting, undo/redo and colours are model code. Loading and saving go through
``readerstudy.services.annotation`` (each save is a new version).

Mouse (``ui/annotation/paint_view.py``; F1 lists it all): left-drag paints (brush/eraser); polygon:
left-click adds vertices, double-click or Enter closes, Escape cancels; fill: left-click floods the
region. Right-drag is window/level as in the reading viewer (readout at the top left, R resets);
middle-drag or Shift+left-drag pans; the wheel zooms; Ctrl+wheel or the slider changes slice.

Volumes: T shows the two other planes beside the editor with a linked crosshair
(``ui/annotation/three_planes.py``). "Edit labels…" adds, renames and recolours labels (stored with
the next save; a coordinator may make them the study's label set). "Mark reviewed" records that
the saved version is checked (``services.annotation_review``).

Leaving a case with unsaved strokes (another case, closing, signing out) asks Save / Discard /
Cancel (:meth:`AnnotationWindow.confirm_leave`). The brush radius and its unit are the signed-in
person's preference (QSettings), kept across cases and restarts.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, QSettings, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (
    QButtonGroup,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QSlider,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from readerstudy.core.annotation import PLANE_AXES, AnnotationLayer
from readerstudy.core.errors import ReaderStudyError
from readerstudy.core.models import Role
from readerstudy.services import annotation as service
from readerstudy.services import annotation_labels as study_labels
from readerstudy.services import annotation_review
from readerstudy.services.auth import UserSession
from readerstudy.services.context import AppContext
from readerstudy.ui.actions import ActionSpec, install_actions
from readerstudy.ui.annotation.compare import ComparePanel
from readerstudy.ui.annotation.help import HelpOverlay
from readerstudy.ui.annotation.label_editor import LabelEditorDialog
from readerstudy.ui.annotation.paint_view import PaintViewBox
from readerstudy.ui.annotation.panels import (
    PLANES,
    BrushCursor,
    LabelOpacityPanel,
    PlanePanel,
    ThresholdPanel,
    VolumePanel,
)
from readerstudy.ui.annotation.three_planes import CROSSHAIR_PEN, ThreePlaneWidget
from readerstudy.ui.annotation.variants_panel import VariantsPanel
from readerstudy.ui.image_view import grey_lut
from readerstudy.ui.shortcuts import ANNOTATION_KEYS, action_specs
from readerstudy.ui.theme import apply_reading_theme

TOOLS = ("brush", "eraser", "polygon", "fill")
SOFT_TISSUE = (40.0, 400.0)  # CT window (centre, width) in HU when the image suggests none
WL_PIXELS = 500.0  # a right-drag across this many screen pixels changes W or L by the image's range
Choice = QMessageBox.StandardButton


def ask_unsaved(parent: QWidget, text: str) -> QMessageBox.StandardButton:
    """Save / Discard / Cancel for unsaved strokes (tests patch ``QMessageBox.question``)."""
    return QMessageBox.question(parent, "Unsaved changes", text, Choice.Save | Choice.Discard | Choice.Cancel,
                                Choice.Save)


def preferences() -> QSettings:
    """The per-user settings store: an INI file in the user's config folder (``QSettings.setPath``
    for IniFormat moves it; the tests point it at a temporary folder)."""
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, "readerstudy", "readerstudy")


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
    """Annotate one case as the signed-in ``session``; ``Save`` stores a new version of the mask.

    Raises :class:`~readerstudy.core.errors.PermissionDenied` for a reader's session.
    Emits ``saved(case_id, version)`` after each save and ``modified_changed(case_id, modified)``
    when the mask gains or loses unsaved strokes.
    """

    saved = Signal(str, int)
    reviewed = Signal(str, int)
    modified_changed = Signal(str, bool)

    def __init__(self, ctx: AppContext, session: UserSession, case_id: str, parent: QWidget | None = None,
                 saved_version: int | None = None) -> None:
        super().__init__(parent)
        self.ctx, self.session, self.case_id, self.annotator = ctx, session, case_id, session.name
        layer, pixels, asset = service.open_annotation(ctx, session, case_id)
        self.asset = asset
        self.modality = service.case_modality(ctx, session, case_id)
        arr = np.asarray(pixels)
        if arr.ndim == 3 and arr.shape[-1] in (3, 4) and not asset.is_volume:
            arr = arr[..., :3].mean(axis=-1)
        self.pixels = arr.reshape(layer.shape).astype(np.float32, copy=False)
        self.tool = "brush"
        self._prefs_key = f"annotation/{session.participant_id}"
        prefs = preferences()
        self.brush_radius = float(min(max(int(prefs.value(f"{self._prefs_key}/brush_radius", 5)), 1), 100))
        self._brush_mm_pref = str(prefs.value(f"{self._prefs_key}/brush_mm", "false")).lower() == "true"
        self.brush_unit = "px"
        self.window_cw: tuple[float, float] = (0.5, 1.0)  # display window (centre, width), pixel units
        self._default_window = self.window_cw
        self._span = 1.0
        self._leave_ok = False  # the person chose Discard for the current unsaved strokes
        self._was_modified = False
        self.axis = 0
        self.indices = [n // 2 for n in layer.shape]
        self._polygon: list[tuple[float, float]] = []
        self._painting = False
        self._cursor_at: QPointF | None = None  # last mouse position in view coordinates
        self.last_record = None
        self.saved_version = saved_version  # the latest stored version when opened (the workspace knows it)
        self.setWindowTitle(f"Annotate - {session.name}")
        apply_reading_theme(self)
        self._build_ui()
        self.set_layer(_with_image(layer, self.pixels))
        self.variants = VariantsPanel(self)  # "Generate variants" tab and "Suggest mask"
        self.tabs.addTab(self.variants, "Generate variants")
        self.specs = self.action_specs()
        install_actions(self, self.specs)
        self.help = HelpOverlay(self.specs, self)

    # ----------------------------------------------------------------- construction
    def action_specs(self) -> list[ActionSpec]:
        """The window's keys (:data:`readerstudy.ui.shortcuts.ANNOTATION_KEYS`) with their callbacks."""
        callbacks = {
            "tool.brush": lambda: self.set_tool("brush"), "tool.eraser": lambda: self.set_tool("eraser"),
            "tool.polygon": lambda: self.set_tool("polygon"), "tool.fill": lambda: self.set_tool("fill"),
            "edit.undo": self.undo, "edit.redo": self.redo, "file.save": self.save,
            "file.reviewed": self.mark_reviewed,
            "polygon.close": self.close_polygon, "polygon.cancel": self.cancel_polygon,
            "slice.next": lambda: self.step_slice(1), "slice.prev": lambda: self.step_slice(-1),
            **{f"plane.{name}": (lambda a=i: self.set_axis(a)) for i, name in enumerate(PLANES)},
            "volume.interpolate": lambda: self.volume.interpolate(), "volume.clean": lambda: self.volume.clean_up(),
            "view.reset_window": self.reset_window,
            "view.three_planes": lambda: self.show_three_planes(not self.three_planes.isVisible()),
            "help.keys": lambda: self.help.toggle(),
        }
        return action_specs(ANNOTATION_KEYS, callbacks)

    def _build_ui(self) -> None:
        self.view = pg.GraphicsLayoutWidget()
        self.view.setBackground("k")
        self.vb = PaintViewBox(self)
        self.view.addItem(self.vb)
        self.image_item = pg.ImageItem()
        self.overlay_item = pg.ImageItem()
        self.overlay_item.setZValue(10)
        self.polygon_item = pg.PlotDataItem(pen=pg.mkPen("y", width=1.5), symbol="o", symbolSize=4)
        self.polygon_item.setZValue(20)
        self.cursor_item = BrushCursor()
        pen = pg.mkPen(CROSSHAIR_PEN, width=1, cosmetic=True)
        self.cross_h = pg.InfiniteLine(angle=0, movable=False, pen=pen)
        self.cross_v = pg.InfiniteLine(angle=90, movable=False, pen=pen)
        for item in (self.image_item, self.overlay_item, self.polygon_item, self.cursor_item, self.cross_h,
                     self.cross_v):
            self.vb.addItem(item)
        self.cross_h.setVisible(False)
        self.cross_v.setVisible(False)
        self.vb.scene().sigMouseMoved.connect(self._hover)
        self.wl_label = QLabel(self.view)
        self.wl_label.setStyleSheet("color: #e8e8e8; background: rgba(0,0,0,140); padding: 2px 6px;")
        self.wl_label.move(6, 6)

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
        head = QHBoxLayout()
        head.addWidget(QLabel("Labels (tick = visible)"), 1)
        self.edit_labels_button = QPushButton("Edit labels…")
        self.edit_labels_button.setToolTip("Add, rename or recolour labels; stored with the next save")
        self.edit_labels_button.clicked.connect(lambda: self.open_label_editor())
        head.addWidget(self.edit_labels_button)
        side.addLayout(head)
        side.addWidget(self.label_list)
        self.planes = PlanePanel(self)
        self.planes.plane_requested.connect(self.set_axis)
        self.planes.mm_toggled.connect(self.set_brush_unit_mm)
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
        self.suggest_button = QPushButton("Suggest mask (AI draft)")
        self.suggest_button.setToolTip("The lesion segmenter's mask as a draft to edit; recorded as AI-suggested")
        self.suggest_button.clicked.connect(lambda: self.variants.suggest())
        side.addWidget(self.suggest_button)
        self.save_button = QPushButton("Save (Ctrl+S)")
        self.save_button.clicked.connect(self.save)
        self.review_button = QPushButton("Mark reviewed (Ctrl+Shift+R)")
        self.review_button.setToolTip("You have checked the saved mask and it is final (a later save undoes it)")
        self.review_button.clicked.connect(self.mark_reviewed)
        row = QHBoxLayout()
        row.addWidget(self.save_button)
        row.addWidget(self.review_button)
        side.addLayout(row)
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
        self.three_planes = ThreePlaneWidget(self)
        self.three_planes.crosshair_moved.connect(self.set_crosshair)
        self.three_planes.setVisible(False)
        lay.addWidget(self.three_planes, 0)
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
        self._fill_labels()
        sample = self.pixels.reshape(-1)[:: max(1, self.pixels.size // 200_000)]
        lo, hi = np.percentile(sample, [0.5, 99.5]) if sample.size else (0.0, 1.0)
        if self.asset.window is not None:
            c, w = self.asset.window
            lo, hi = c - w / 2, c + w / 2
        elif self.modality.upper() == "CT":
            lo, hi = SOFT_TISSUE[0] - SOFT_TISSUE[1] / 2, SOFT_TISSUE[0] + SOFT_TISSUE[1] / 2
        self.levels = (float(lo), float(max(hi, lo + 1e-3)))
        self._default_window = ((self.levels[0] + self.levels[1]) / 2, self.levels[1] - self.levels[0])
        full = (float(sample.min()), float(sample.max())) if sample.size else (0.0, 1.0)
        self._span = max(full[1] - full[0], self._default_window[1], 1e-3)
        self._show_window(*self._default_window)
        volume = layer.shape[0] > 1
        self.slice_slider.setVisible(volume)
        self.slice_label.setVisible(volume)
        self.planes.bind(volume, layer.spacing is not None)
        self.threshold.bind(self.pixels, self.levels)
        self.volume.bind(volume)
        self.planes.mm_check.setChecked(self._brush_mm_pref and layer.spacing is not None)
        self._leave_ok = False
        self.set_axis(self.axis if volume else 0, force=True)
        if self.tabs.currentIndex() == 1:
            self.compare.load()

    def _fill_labels(self) -> None:
        layer = self.layer
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

    def open_label_editor(self) -> LabelEditorDialog:
        """Show the label editor (window-modal, not blocking); OK applies it to the layer."""
        dialog = LabelEditorDialog(self.layer.label_set, self, can_set_study=self.session.role == Role.COORDINATOR)
        dialog.accepted.connect(lambda: self.apply_label_set(dialog.result_set, dialog.study_check.isChecked()))
        self.label_dialog = dialog
        dialog.open()
        return dialog

    def apply_label_set(self, label_set: Any, for_study: bool = False) -> bool:
        """Use the edited label set (stored with the next save); ``for_study`` (coordinators) also
        makes it the study's label set at once. False with a message when refused."""
        try:
            self.layer.set_label_set(label_set)
            if for_study:
                study_labels.set_study_label_set(self.ctx, self.session, self.session.study_name, label_set)
        except ReaderStudyError as exc:
            self.show_message(f"Labels not changed: {exc}")
            return False
        self._fill_labels()
        self._render_overlay()
        self.volume.refresh()
        self._update_state()
        return True

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
        self.three_planes.bind(axis)
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

    def show_three_planes(self, on: bool) -> None:
        """Show (volumes only) the two other planes beside the editing view, with a linked crosshair."""
        on = bool(on) and self.layer.shape[0] > 1
        self.three_planes.setVisible(on)
        self.cross_h.setVisible(on)
        self.cross_v.setVisible(on)
        if on:
            self.three_planes.bind(self.axis)
        self._place_crosshair()

    def set_crosshair(self, z: int, y: int, x: int) -> None:
        """Move the crosshair to voxel (z, y, x): every plane shows the slice through it."""
        new = [int(min(max(v, 0), n - 1)) for v, n in zip((z, y, x), self.layer.shape, strict=True)]
        if new[self.axis] != self.index:
            self.cancel_polygon()
        self.indices = new
        self.slice_slider.blockSignals(True)
        self.slice_slider.setValue(self.index)
        self.slice_slider.blockSignals(False)
        self._slice_text()
        self._render()

    def _place_crosshair(self) -> None:
        ra, ca = PLANE_AXES[self.axis]
        sr, sc = self.pixel_scale()
        self.cross_v.setPos((self.indices[ca] + 0.5) * sc)
        self.cross_h.setPos((self.indices[ra] + 0.5) * sr)

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
        preferences().setValue(f"{self._prefs_key}/brush_radius", int(value))
        self._place_cursor()

    def set_brush_unit_mm(self, on: bool) -> None:
        """Brush radius in mm (needs a pixel spacing) or px; a choice made on an image with a spacing
        is kept as the person's preference (an image without one shows px but keeps the preference)."""
        if self.layer.spacing is not None:
            self._brush_mm_pref = bool(on)
            preferences().setValue(f"{self._prefs_key}/brush_mm", "true" if on else "false")
        self.brush_unit = "mm" if on and self.layer.spacing is not None else "px"
        self.brush_label.setText(f"Brush radius ({self.brush_unit})")
        self._place_cursor()

    # ----------------------------------------------------------------- window / level
    def drag_window(self, dx: float, dy: float) -> None:
        """Right-drag by (dx, dy) screen pixels: right widens the window, up raises the level
        (as :meth:`readerstudy.ui.image_view.ImageView.drag_window`); WL_PIXELS px = the image's range."""
        c, w = self.window_cw
        self.set_window(c - dy * self._span / WL_PIXELS, w + dx * self._span / WL_PIXELS)

    def set_window(self, center: float, width: float) -> None:
        """Show the image with window ``(center, width)`` in pixel units (width at least 1e-3)."""
        self._show_window(float(center), max(float(width), 1e-3))
        self.image_item.setLevels(self.levels)

    def reset_window(self) -> None:
        """Back to the window the case opened with (the source's, CT soft tissue, or 0.5-99.5 %)."""
        self.set_window(*self._default_window)

    def _show_window(self, center: float, width: float) -> None:
        self.window_cw = (center, width)
        self.levels = (center - width / 2, center + width / 2)
        self.wl_label.setText(f"W {width:.4g}  L {center:.4g}")
        self.wl_label.adjustSize()

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
            self.last_record = service.save_annotation(self.ctx, self.session, self.case_id, self.layer,
                                                       provenance=self.variants.save_provenance())
        except ReaderStudyError as exc:
            self.status.setText(f"Not saved: {exc}")
            return False
        self.variants.saved()
        self._update_state()
        self.saved.emit(self.case_id, self.last_record.version)
        return True

    def mark_reviewed(self) -> bool:
        """Mark the latest saved version reviewed (unsaved strokes must be saved first)."""
        if self.layer.is_modified:
            self.status.setText("Save the mask first (Ctrl+S): a review is of a saved version.")
            return False
        try:
            version = annotation_review.mark_reviewed(self.ctx, self.session, self.case_id)
        except ReaderStudyError as exc:
            self.status.setText(f"Not marked: {exc}")
            return False
        self.status.setText(f"Version {version} marked reviewed.")
        self.reviewed.emit(self.case_id, version)
        return True

    # ----------------------------------------------------------------- leaving with unsaved work
    @property
    def has_unsaved(self) -> bool:
        """True while the mask has strokes that are neither saved nor knowingly discarded."""
        return self.layer.is_modified and not self._leave_ok

    def confirm_leave(self, doing: str = "leaving this case") -> bool:
        """Ask Save / Discard / Cancel when there are unsaved strokes; True when it is fine to go on.

        Save stores a new version (False if saving fails: the message says why); Discard lets the
        strokes go (later calls do not ask again until the next stroke); Cancel stays.
        """
        if not self.has_unsaved:
            return True
        answer = ask_unsaved(self, f"The mask has unsaved changes. Save them before {doing}?\n\n"
                                   "Save stores a new version; Discard loses the strokes since the last save.")
        if answer == Choice.Save:
            return self.save()
        if answer == Choice.Discard:
            self._leave_ok = True
            return True
        return False

    def discard_unsaved(self) -> None:
        """The person chose to lose the unsaved strokes (e.g. when signing out): do not ask again."""
        self._leave_ok = True

    def closeEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        if self.isWindow() and not self.confirm_leave("closing the window"):
            event.ignore()
            return
        super().closeEvent(event)

    def reload(self) -> None:
        """Re-open the latest saved version (unsaved edits are discarded)."""
        layer, _, _ = service.open_annotation(self.ctx, self.session, self.case_id)
        self.set_layer(_with_image(layer, self.pixels))

    # ----------------------------------------------------------------- drawing
    def _on_data_changed(self, box: Any) -> None:
        if box is None or box.start[self.axis] <= self.index < box.stop[self.axis]:
            self._render_overlay()

    def _after_edit(self) -> None:
        """After each stroke, undo or redo: volumes and (if comparing) the agreement table."""
        if self.layer.in_stroke:
            return
        self._leave_ok = False  # a new stroke after Discard is new unsaved work
        self.volume.refresh()
        self.three_planes.render_overlay()
        if self.compare.other is not None:
            self.compare.update_metrics()
        if self.compare.consensus is not None:
            self.compare.update_consensus()

    def _render(self) -> None:
        img = self.pixels[(slice(None),) * self.axis + (self.index,)]
        self.image_item.setImage(img, autoLevels=False, levels=self.levels, lut=grey_lut(self.asset.invert))
        self.image_item.setRect(self.view_rect())
        self._render_overlay()
        self.compare.render()
        self._place_crosshair()
        self.three_planes.render()

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
        version = self.last_record.version if self.last_record else self.saved_version
        saved = f"saved v{version}" if version else "not saved yet"
        modified = self.layer.is_modified
        self.status.setText(f"Tool: {self.tool} | label: {lab.name} | {'modified' if modified else saved}")
        if modified != self._was_modified:
            self._was_modified = modified
            self.modified_changed.emit(self.case_id, modified)
