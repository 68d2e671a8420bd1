"""A reusable radiology image view on pyqtgraph: window/level, presets, zoom, pan, slices, cine.

Mouse: right-drag changes window (horizontal) and level (vertical); left-drag pans; the wheel
zooms; Ctrl+wheel scrolls slices/frames. Keyboard (bound by the owning window): PageUp/PageDown
slices, presets, reset, Space for cine. Arrays are (frames/slices, rows, cols), row-major
(``pg.setConfigOptions(imageAxisOrder="row-major")`` is set at start-up by ``readerstudy.ui.app``).

The view is the one image component of the reading and the annotation windows: it opens with the
image's own window (DICOM) or the modality's default preset, offers the modality's presets
(:func:`readerstudy.imaging.windowing.modality_presets`) and draws an information overlay
(:class:`~readerstudy.ui.image_overlay.ImageOverlay`: window/level, preset, zoom, slice/frame and
the pixel value under the cursor), which :meth:`ImageView.toggle_info` shows or hides.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, QTimer, Signal

from readerstudy.imaging.windowing import FULL_RANGE, initial_window, modality_presets
from readerstudy.ui.image_overlay import ImageOverlay

SALIENCY_CMAP = "inferno"
DEFAULT_OPACITY = 0.45
INVERTED_GREY = np.repeat(np.arange(255, -1, -1, dtype=np.uint8)[:, None], 3, axis=1)  # white at the low end


def grey_lut(invert: bool) -> np.ndarray | None:
    """The lookup table after the window: None (plain grey) or reversed grey for MONOCHROME1.

    pyqtgraph maps the levels (the window) to the table's indices first, then the table to colours,
    so the inversion comes *after* windowing (PS3.3 C.7.6.3.1.2), whatever the window.
    """
    return INVERTED_GREY if invert else None


DEFAULT = "default"  # the window the image opened with (R resets to it)


class _ReadingViewBox(pg.ViewBox):
    """Right-drag is window/level (not zoom); Ctrl+wheel is slice scroll."""

    def __init__(self, owner: ImageView) -> None:
        super().__init__(lockAspect=True, invertY=True, enableMenu=False)
        self._owner = owner

    def mouseDragEvent(self, ev: Any, axis: Any = None) -> None:  # noqa: N802 - Qt override
        self._owner.interacted.emit()
        if ev.button() == Qt.MouseButton.RightButton:
            ev.accept()
            d = ev.pos() - ev.lastPos()
            self._owner.drag_window(float(d.x()), float(d.y()))
            return
        super().mouseDragEvent(ev, axis)
        self._owner.view_changed.emit()

    def wheelEvent(self, ev: Any, axis: Any = None) -> None:  # noqa: N802 - Qt override
        self._owner.interacted.emit()
        if ev.modifiers() & Qt.KeyboardModifier.ControlModifier:
            ev.accept()
            self._owner.step_slice(1 if ev.delta() < 0 else -1)
            return
        super().wheelEvent(ev, axis)
        self._owner.view_changed.emit()


class ImageView(pg.GraphicsLayoutWidget):
    """Shows one frame/slice of a (n, rows, cols) array with window/level and an optional overlay."""

    view_changed = Signal()
    interacted = Signal()

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.setBackground("k")
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.vb = _ReadingViewBox(self)
        self.addItem(self.vb)
        self.image_item = pg.ImageItem()
        self.overlay_item = pg.ImageItem()
        self.overlay_item.setOpacity(DEFAULT_OPACITY)
        self.overlay_item.setLookupTable(pg.colormap.get(SALIENCY_CMAP).getLookupTable(nPts=256))
        self.overlay_item.setZValue(10)
        self.vb.addItem(self.image_item)
        self.vb.addItem(self.overlay_item)
        # the saliency map's colour scale: fixed 0-1 (maps are normalised so that each peaks at 1)
        self.colorbar = pg.ColorBarItem(values=(0.0, 1.0), width=16, colorMap=pg.colormap.get(SALIENCY_CMAP),
                                        interactive=False, colorMapMenu=False, rounding=0.1)
        self.colorbar.axis.setTicks([[(0.0, "0"), (0.25, ""), (0.5, "0.5"), (0.75, ""), (1.0, "1")]])
        self.colorbar.axis.setWidth(64)  # tick values and, rotated beside them, the label
        self.addItem(self.colorbar, row=0, col=1)
        self.colorbar.hide()
        self.pixels: np.ndarray = np.zeros((1, 2, 2), np.float32)
        self.modality = "OT"
        self.invert = False
        self.index = 0
        self.window: tuple[float, float] = (0.5, 1.0)
        self.default_window: tuple[float, float] = (0.5, 1.0)
        self.preset = DEFAULT
        self.default_preset = DEFAULT
        self.is_cine = False
        self._presets: dict[str, tuple[float, float]] = {}
        self._range = (0.0, 1.0)
        self._overlay: np.ndarray | None = None
        self.cursor_value: tuple[int, int, float] | None = None  # (col, row, stored value) under the mouse
        # extra readings under the cursor for the overlay: probe(col, row, index) -> text or None
        self.value_probes: list[Callable[[int, int, int], str | None]] = []
        self.info = ImageOverlay(self)
        self.cine = QTimer(self)
        self.cine.timeout.connect(lambda: self.step_slice(1, wrap=True))
        self.view_changed.connect(self._update_info)
        self.vb.sigRangeChanged.connect(lambda *_: self._update_info())
        # the corners follow the image's box (no resizeEvent override: Qt resizes during teardown)
        self.vb.sigResized.connect(lambda *_: self.info.place())
        self.scene().sigMouseMoved.connect(self._on_mouse_moved)

    # --- content --------------------------------------------------------------------------------
    def set_pixels(self, pixels: np.ndarray, *, window: tuple[float, float] | None = None, modality: str = "OT",
                   frame_time_ms: float | None = None, invert: bool = False) -> None:
        """Show a new case: middle slice for volumes, frame 0 otherwise; initial window; view reset.

        ``window`` (centre, width) in stored units is the image's own window (DICOM, or one the
        service chose); without it the modality's first preset is used (CT soft tissue, PET SUV
        0-5, others auto). The preset shown is the modality preset equal to the window, if any.
        ``invert`` (MONOCHROME1) shows low values white, after the window: the window stays in the
        stored values' units.
        """
        self.cine.stop()
        self.invert = bool(invert)
        self.image_item.setLookupTable(grey_lut(self.invert))
        arr = pixels if pixels.ndim == 3 else pixels[None]
        self.pixels, self.modality = arr, modality
        sample = arr.reshape(-1)[:: max(1, arr.size // 100_000)]
        self._range = (float(sample.min()), float(sample.max()))
        self._presets = modality_presets(sample, modality)
        name, self.default_window = initial_window(sample, window, modality)
        self.default_preset = next((n for n, w in self._presets.items()
                                    if np.allclose(w, self.default_window)), name)
        self.window, self.preset = self.default_window, self.default_preset
        self.is_cine = frame_time_ms is not None
        self.index = arr.shape[0] // 2 if arr.shape[0] > 1 and frame_time_ms is None else 0
        self.cursor_value = None
        self.cine.setInterval(int(frame_time_ms or 33))
        self._overlay = None
        self.overlay_item.clear()
        self.colorbar.hide()
        self._render(levels_only=False)
        self.info.set_shown(self.info.wanted, remember=False)
        self.reset_view()
        self._update_info()

    def set_overlay(self, saliency: np.ndarray | None, visible: bool = True, label: str = "") -> None:
        """A heat map (rows, cols) in [0, 1] over the image (the AI's saliency), or None to remove.

        Colours follow a fixed 0-1 scale shown by :attr:`colorbar` (``label`` names what the map
        shows); the map is not rescaled per slice, so colours mean the same everywhere.
        """
        self._overlay = saliency
        if saliency is None or not visible:
            self.overlay_item.clear()
            self.colorbar.hide()
            return
        s = np.asarray(saliency, np.float32)
        s = s[self.index] if s.ndim == 3 else s
        self.overlay_item.setImage(s, autoLevels=False, levels=(0.0, 1.0))
        if label:
            self.colorbar.axis.setLabel(label)
        self.colorbar.show()

    @property
    def overlay_visible(self) -> bool:
        return self._overlay is not None and self.colorbar.isVisible()

    @property
    def overlay_opacity(self) -> float:
        return float(self.overlay_item.opacity())

    def set_overlay_opacity(self, opacity: float) -> float:
        """Set the heat map's opacity (clipped to 0.1-1, so a shown map never vanishes); returns it."""
        value = round(min(max(float(opacity), 0.1), 1.0), 2)
        self.overlay_item.setOpacity(value)
        return value

    def clear(self) -> None:
        self.cine.stop()
        self.image_item.clear()
        self.overlay_item.clear()
        self.colorbar.hide()
        self.info.set_shown(False, remember=False)

    def _render(self, levels_only: bool = True) -> None:
        c, w = self.window
        levels = (c - w / 2, c + w / 2)
        if levels_only:
            self.image_item.setLevels(levels)
        else:
            self.image_item.setImage(self.pixels[self.index], autoLevels=False, levels=levels)

    # --- interaction ----------------------------------------------------------------------------
    def set_window(self, center: float, width: float, preset: str = "manual") -> None:
        self.window, self.preset = (float(center), max(float(width), 1e-3)), preset
        self._render()
        self.view_changed.emit()

    def drag_window(self, dx: float, dy: float) -> None:
        span = max(self._range[1] - self._range[0], 1.0)
        c, w = self.window
        self.set_window(c - dy * span / 500.0, w + dx * span / 500.0)

    def presets(self) -> dict[str, tuple[float, float]]:
        """The shown modality's named windows, in key order (Ctrl+1 is the first); see
        :func:`~readerstudy.imaging.windowing.modality_presets`."""
        return dict(self._presets) or {FULL_RANGE: ((self._range[0] + self._range[1]) / 2,
                                                    max(self._range[1] - self._range[0], 1.0))}

    def apply_preset(self, name: str) -> None:
        """Apply a preset by name; ``"default"`` is the window the image opened with."""
        if name == DEFAULT:
            self.set_window(*self.default_window, self.default_preset)
            return
        c, w = self.presets()[name]
        self.set_window(c, w, name)

    def apply_preset_index(self, i: int) -> None:
        """Apply the ``i``-th preset (0-based) of the shown modality; out of range does nothing."""
        names = list(self.presets())
        if 0 <= i < len(names):
            self.apply_preset(names[i])

    # --- information overlay ----------------------------------------------------------------------
    def toggle_info(self) -> bool:
        """Show or hide the information overlay (the I key); returns whether it is now shown."""
        self.set_info_shown(not self.info.shown)
        return self.info.shown

    def set_info_shown(self, on: bool) -> None:
        """Show or hide the information overlay; the choice holds for the next images."""
        self.info.set_shown(on)
        self._update_info()

    def zoom_factor(self) -> float:
        """Displayed width of the image relative to fitting it in the view (1.0 = fit)."""
        (x0, x1), _ = self.vb.viewRange()
        return float(self.pixels.shape[-1]) / max(x1 - x0, 1e-9)

    def _on_mouse_moved(self, pos: QPointF) -> None:
        p = self.vb.mapSceneToView(pos)
        col, row = int(np.floor(p.x())), int(np.floor(p.y()))
        rows, cols = self.pixels.shape[-2:]
        inside = self.vb.sceneBoundingRect().contains(pos) and 0 <= row < rows and 0 <= col < cols
        self.cursor_value = (col, row, float(self.pixels[self.index, row, col])) if inside else None
        self._update_info()

    def _update_info(self) -> None:
        if self.info.shown:
            self.info.update_text(self)

    def step_slice(self, step: int, wrap: bool = False) -> None:
        n = self.pixels.shape[0]
        if n <= 1:
            return
        i = self.index + step
        self.index = i % n if wrap else min(max(i, 0), n - 1)
        self._render(levels_only=False)
        if self._overlay is not None and self._overlay.ndim == 3 and self.colorbar.isVisible():
            self.set_overlay(self._overlay)
        self.view_changed.emit()

    def toggle_cine(self) -> None:
        if self.cine.isActive():
            self.cine.stop()
        elif self.pixels.shape[0] > 1:
            self.cine.start()

    def zoom(self, factor: float) -> None:
        self.vb.scaleBy((1 / factor, 1 / factor))
        self.view_changed.emit()

    def reset_view(self) -> None:
        h, w = self.pixels.shape[-2:]
        self.vb.setRange(xRange=(0, w), yRange=(0, h), padding=0.0)
        self.view_changed.emit()

    def view_state(self) -> dict[str, Any]:
        """What the reader was looking at (stored with the read): window, zoom, pan, slice."""
        (x0, x1), (y0, y1) = self.vb.viewRange()
        return {"window": [round(self.window[0], 3), round(self.window[1], 3)], "preset": self.preset,
                "zoom": round(self.zoom_factor(), 4),
                "center": [round((x0 + x1) / 2, 2), round((y0 + y1) / 2, 2)],
                "slice": self.index, "slices": int(self.pixels.shape[0])}
