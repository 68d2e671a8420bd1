"""The image view's information overlay: window/level and preset, zoom, slice/frame, pixel value.

Corner labels as on a PACS screen, drawn over the image (they never take the mouse): top left
window and level with the preset name, bottom left zoom and slice (volumes) or frame (cine),
bottom right the stored value under the cursor (HU for CT) with its column and row, and what the
view's ``value_probes`` add (the fused PET's SUV at that point).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import shiboken6
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QWidget

if TYPE_CHECKING:
    from readerstudy.ui.image_view import ImageView

STYLE = ("color: #d2d2c0; background: rgba(0, 0, 0, 150); padding: 3px 6px; border-radius: 3px;"
         "font-family: monospace; font-size: 13px;")
UNITS = {"CT": "HU"}
MARGIN = 8


def _fmt(value: float) -> str:
    return f"{value:.0f}" if abs(value) >= 100 or float(value).is_integer() else f"{value:.2f}"


class ImageOverlay:
    """Three corner labels on ``host``; :attr:`wanted` is the reader's choice kept across cases."""

    def __init__(self, host: QWidget) -> None:
        self.host = host
        self.window_label, self.view_label, self.pixel_label = (QLabel(host) for _ in range(3))
        for label in self.labels:
            label.setStyleSheet(STYLE)
            label.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
            label.hide()
        self.wanted = True
        self.shown = False

    @property
    def labels(self) -> tuple[QLabel, QLabel, QLabel]:
        return self.window_label, self.view_label, self.pixel_label

    def set_shown(self, on: bool, *, remember: bool = True) -> None:
        """Show or hide the labels; ``remember`` keeps the choice for the next image."""
        if remember:
            self.wanted = on
        self.shown = on
        for label in self.labels:
            label.setVisible(on and bool(label.text()))

    def text(self) -> str:
        """What the overlay says now, one corner a line (empty when hidden)."""
        return "\n".join(lb.text() for lb in self.labels if lb.text()) if self.shown else ""

    def update_text(self, view: ImageView) -> None:
        """Rewrite the corners from ``view``'s window, preset, zoom, slice and cursor value."""
        if not all(shiboken6.isValid(w) for w in self.labels):
            return
        c, w = view.window
        self.window_label.setText(f"W {_fmt(w)}  L {_fmt(c)}  ·  {view.preset}")
        n = int(view.pixels.shape[0])
        where = f"   {'Frame' if view.is_cine else 'Slice'} {view.index + 1}/{n}" if n > 1 else ""
        self.view_label.setText(f"Zoom {view.zoom_factor():.2f}×{where}")
        if view.cursor_value is None:
            self.pixel_label.setText("")
        else:
            col, row, value = view.cursor_value
            unit = UNITS.get(view.modality.upper()[:2], "")
            extra = [t for probe in view.value_probes if (t := probe(col, row, view.index))]
            self.pixel_label.setText("   ".join([f"x {col}  y {row}:  {_fmt(value)}{(' ' + unit) if unit else ''}",
                                                *extra]))
        self.set_shown(self.shown, remember=False)
        self.place()

    def place(self) -> None:
        """Keep the labels in their corners (called on resize and after each text change)."""
        if not all(shiboken6.isValid(w) for w in (self.host, *self.labels)):
            return  # the view is being torn down
        for label in self.labels:
            label.adjustSize()
        box = self._image_rect()
        left, top, right, bottom = box
        self.window_label.move(left + MARGIN, top + MARGIN)
        self.view_label.move(left + MARGIN, bottom - self.view_label.height() - MARGIN)
        self.pixel_label.move(max(left + MARGIN, right - self.pixel_label.width() - MARGIN),
                              bottom - self.pixel_label.height() - MARGIN)

    def _image_rect(self) -> tuple[int, int, int, int]:
        """(left, top, right, bottom) of the image's view box in host pixels: colour bars beside it
        (saliency, PET) keep their own space."""
        vb = getattr(self.host, "vb", None)
        if vb is None:
            return 0, 0, self.host.width(), self.host.height()
        r = self.host.mapFromScene(vb.sceneBoundingRect()).boundingRect()
        if r.width() < 50 or r.height() < 50:
            return 0, 0, self.host.width(), self.host.height()
        return r.left(), r.top(), r.right(), r.bottom()
