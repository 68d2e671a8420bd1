"""A reusable radiology image view on pyqtgraph: window/level, presets, zoom, pan, slices, cine.

Mouse: right-drag changes window (horizontal) and level (vertical); left-drag pans; the wheel
zooms; Ctrl+wheel scrolls slices/frames. Keyboard (bound by the owning window): PageUp/PageDown
slices, presets, reset, Space for cine. Arrays are (frames/slices, rows, cols), row-major
(``pg.setConfigOptions(imageAxisOrder="row-major")`` is set at start-up by ``readerstudy.ui.app``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal

CT_PRESETS: dict[str, tuple[float, float]] = {
    "soft tissue": (40.0, 400.0), "lung": (-600.0, 1500.0), "bone": (400.0, 1800.0), "brain": (40.0, 80.0)}


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
        self.overlay_item.setOpacity(0.45)
        self.overlay_item.setLookupTable(pg.colormap.get("inferno").getLookupTable(nPts=256))
        self.overlay_item.setZValue(10)
        self.vb.addItem(self.image_item)
        self.vb.addItem(self.overlay_item)
        self.pixels: np.ndarray = np.zeros((1, 2, 2), np.float32)
        self.modality = "OT"
        self.index = 0
        self.window: tuple[float, float] = (0.5, 1.0)
        self.default_window: tuple[float, float] = (0.5, 1.0)
        self.preset = "default"
        self._range = (0.0, 1.0)
        self._overlay: np.ndarray | None = None
        self.cine = QTimer(self)
        self.cine.timeout.connect(lambda: self.step_slice(1, wrap=True))

    # --- content --------------------------------------------------------------------------------
    def set_pixels(self, pixels: np.ndarray, *, window: tuple[float, float] | None = None, modality: str = "OT",
                   frame_time_ms: float | None = None) -> None:
        """Show a new case: middle slice for volumes, frame 0 otherwise; default window; view reset."""
        self.cine.stop()
        arr = pixels if pixels.ndim == 3 else pixels[None]
        self.pixels, self.modality = arr, modality
        sample = arr.reshape(-1)[:: max(1, arr.size // 100_000)]
        self._range = (float(sample.min()), float(sample.max()))
        self.default_window = window or ((self._range[0] + self._range[1]) / 2,
                                         max(self._range[1] - self._range[0], 1.0))
        self.window, self.preset = self.default_window, "default"
        self.index = arr.shape[0] // 2 if arr.shape[0] > 1 and frame_time_ms is None else 0
        self.cine.setInterval(int(frame_time_ms or 33))
        self._overlay = None
        self.overlay_item.clear()
        self._render(levels_only=False)
        self.reset_view()

    def set_overlay(self, saliency: np.ndarray | None, visible: bool = True) -> None:
        """A heat map (rows, cols) in [0, 1] over the image (the AI's saliency), or None to remove."""
        self._overlay = saliency
        if saliency is None or not visible:
            self.overlay_item.clear()
            return
        s = np.asarray(saliency, np.float32)
        s = s[self.index] if s.ndim == 3 else s
        self.overlay_item.setImage(s, autoLevels=False, levels=(0.0, max(float(s.max()), 1e-6)))

    def clear(self) -> None:
        self.cine.stop()
        self.image_item.clear()
        self.overlay_item.clear()

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
        """Named windows for this modality: CT gets soft tissue/lung/bone/brain; everything full range."""
        lo, hi = self._range
        out = {"default": self.default_window}
        if self.modality.upper() == "CT":
            out.update(CT_PRESETS)
        out["full range"] = ((lo + hi) / 2, max(hi - lo, 1.0))
        return out

    def apply_preset(self, name: str) -> None:
        c, w = self.presets()[name]
        self.set_window(c, w, name)

    def apply_preset_index(self, i: int) -> None:
        names = list(self.presets())
        if 0 <= i < len(names):
            self.apply_preset(names[i])

    def step_slice(self, step: int, wrap: bool = False) -> None:
        n = self.pixels.shape[0]
        if n <= 1:
            return
        i = self.index + step
        self.index = i % n if wrap else min(max(i, 0), n - 1)
        self._render(levels_only=False)
        if self._overlay is not None and self._overlay.ndim == 3:
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
        w = self.pixels.shape[-1]
        return {"window": [round(self.window[0], 3), round(self.window[1], 3)], "preset": self.preset,
                "zoom": round(w / max(x1 - x0, 1e-9), 4),
                "center": [round((x0 + x1) / 2, 2), round((y0 + y1) / 2, 2)],
                "slice": self.index, "slices": int(self.pixels.shape[0])}
