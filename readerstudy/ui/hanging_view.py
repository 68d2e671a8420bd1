"""Hanging protocols on the reading screen: secondary images fused over the primary or side by side.

:class:`HangingPanel` wraps the window's primary :class:`~readerstudy.ui.image_view.ImageView`
(which keeps its own windowing, zoom, pan and slice keys) and adds what the protocol's
``[hanging]`` asks for (:mod:`readerstudy.core.hanging`):

* ``fused``: each secondary image (PET) drawn over the primary (CT) in the same view, through a
  colour map (``colormap``, e.g. "hot") with an opacity the reader changes with the slider or
  keys (``,`` / ``.`` by 10 %, ``F`` hides/shows the fusion); a colour bar gives the secondary's
  units (SUV). The secondary follows the primary's slice (``SecondaryView.slice_of``), zoom and pan.
* ``side_by_side``: one more view per secondary image, in grey with its own window, whose slice
  follows the primary's and whose zoom/pan are linked to it when the pixel grids match.

Single-image cases (or the ``single`` layout) show the primary view alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QTransform
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSlider, QVBoxLayout, QWidget

from readerstudy.core.hanging import COLORMAPS, HangingSpec
from readerstudy.services.hanging import SecondaryView
from readerstudy.ui.actions import ActionSpec
from readerstudy.ui.image_view import ImageView
from readerstudy.ui.shortcuts import HANGING_KEYS, action_specs

MIN_OPACITY = 0.0


def colormap_lut(name: str) -> np.ndarray:
    """The 256 x 3 (or x 4) uint8 lookup table of a protocol colour map name (see ``COLORMAPS``)."""
    return pg.colormap.get(COLORMAPS[name]).getLookupTable(nPts=256)


def _levels(window: tuple[float, float]) -> tuple[float, float]:
    c, w = window
    return c - w / 2, c + w / 2


class HangingPanel(QWidget):
    """The primary view plus the secondary images of the case, hung as ``spec`` says."""

    def __init__(self, view: ImageView, spec: HangingSpec, parent: Any = None) -> None:
        super().__init__(parent)
        self.view, self.spec = view, spec
        self.secondaries: tuple[SecondaryView, ...] = ()
        self.fused_items: list[pg.ImageItem] = []
        self.side_views: list[ImageView] = []
        self.fusion_visible = True
        self.opacity = float(spec.opacity)
        self._shown_index = -1
        self.views_row = QHBoxLayout()
        self.views_row.setContentsMargins(0, 0, 0, 0)
        self.views_row.addWidget(view, 1)
        self.colorbar = pg.ColorBarItem(values=(0.0, 1.0), width=16, colorMap=pg.colormap.get(COLORMAPS[spec.colormap]),
                                        interactive=False, colorMapMenu=False)
        self.colorbar.axis.setWidth(52)
        view.addItem(self.colorbar, row=0, col=2)
        self.colorbar.hide()
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, 100)
        self.slider.setPageStep(10)
        self.slider.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.slider.setValue(round(self.opacity * 100))
        self.slider.valueChanged.connect(lambda v: self.set_opacity(v / 100))
        self.label = QLabel("")
        self.label.setObjectName("fusion_label")
        self.controls = QWidget()
        row = QHBoxLayout(self.controls)
        row.setContentsMargins(6, 0, 6, 0)
        self.slider.setFixedWidth(260)
        row.addWidget(self.label, 1)
        row.addWidget(self.slider)
        self.controls.hide()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        lay.addLayout(self.views_row, 1)
        lay.addWidget(self.controls)
        view.view_changed.connect(self._on_view_changed)

    # --- content --------------------------------------------------------------------------------
    def set_secondaries(self, secondaries: Sequence[SecondaryView]) -> None:
        """Hang the current case's secondary images (call after ``view.set_pixels``); () for none."""
        self._clear()
        self.secondaries = tuple(secondaries) if self.spec.multi else ()
        if not self.secondaries:
            return
        if self.spec.layout == "fused":
            self._hang_fused()
        else:
            self._hang_side_by_side()
        self._shown_index = -1
        self._on_view_changed()

    def toggle_info(self) -> bool:
        """The I key: the primary view's information overlay on/off, the side views following it."""
        on = self.view.toggle_info()
        for v in self.side_views:
            v.set_info_shown(on)
        return on

    def _probe(self, col: int, row: int, index: int) -> str | None:
        """The fused secondary's value under the primary's pixel (col, row) of slice ``index``."""
        if not self.fused_items or not self.fusion_visible:
            return None
        s = self.secondaries[0]
        links = s.slice_of
        j = links[index] if 0 <= index < len(links) else -1
        if j < 0:
            return None
        ph, pw = self.view.pixels.shape[-2:]
        sh, sw = s.pixels.shape[-2:]
        r, c = min(int(row * sh / ph), sh - 1), min(int(col * sw / pw), sw - 1)
        unit = "SUV" if s.kind == "pet" else s.kind.upper()
        return f"{unit} {float(s.pixels[j, r, c]):.2f}"

    def _clear(self) -> None:
        for item in self.fused_items:
            self.view.vb.removeItem(item)
        for v in self.side_views:
            self.views_row.removeWidget(v)
            v.deleteLater()
        self.fused_items, self.side_views, self.secondaries = [], [], ()
        if self._probe in self.view.value_probes:
            self.view.value_probes.remove(self._probe)
        self.colorbar.hide()
        self.controls.hide()

    def _hang_fused(self) -> None:
        lut = colormap_lut(self.spec.colormap)
        ph, pw = self.view.pixels.shape[-2:]
        for s in self.secondaries:
            item = pg.ImageItem()
            item.setLookupTable(lut)
            item.setZValue(5)  # over the grey, under the AI's saliency map (z 10)
            sh, sw = s.pixels.shape[-2:]
            item.setTransform(QTransform.fromScale(pw / sw, ph / sh))  # same field of view, other matrix
            self.view.vb.addItem(item)
            self.fused_items.append(item)
        first = self.secondaries[0]
        self.colorbar.setLevels(_levels(first.window))
        self.colorbar.axis.setLabel(f"{first.kind.upper()}" + (" SUV" if first.kind == "pet" else ""))
        self.colorbar.show()
        self.controls.show()
        self.view.value_probes.append(self._probe)
        self._apply_opacity()

    def _hang_side_by_side(self) -> None:
        for s in self.secondaries:
            v = ImageView()
            v.set_pixels(s.pixels, window=s.window, modality=s.kind.upper())
            v.set_info_shown(self.view.info.shown)
            if s.pixels.shape[-2:] == self.view.pixels.shape[-2:]:
                v.vb.setXLink(self.view.vb)
                v.vb.setYLink(self.view.vb)
            self.views_row.addWidget(v, 1)
            self.side_views.append(v)

    # --- linked slices --------------------------------------------------------------------------
    def secondary_index(self, i: int = 0) -> int:
        """The slice of secondary ``i`` shown with the primary's current slice (-1: none)."""
        links = self.secondaries[i].slice_of
        k = self.view.index
        return links[k] if 0 <= k < len(links) else -1

    def _on_view_changed(self) -> None:
        if not self.secondaries or self.view.index == self._shown_index:
            return
        self._shown_index = self.view.index
        for i, s in enumerate(self.secondaries):
            j = self.secondary_index(i)
            if self.spec.layout == "fused":
                item = self.fused_items[i]
                if j < 0:
                    item.clear()
                else:
                    item.setImage(s.pixels[j], autoLevels=False, levels=_levels(s.window))
            elif j >= 0:
                v = self.side_views[i]
                v.step_slice(j - v.index)

    # --- opacity --------------------------------------------------------------------------------
    def set_opacity(self, opacity: float) -> float:
        """Opacity of the fused image(s), clipped to 0-1; returns the value set."""
        self.opacity = round(min(max(float(opacity), MIN_OPACITY), 1.0), 2)
        if self.slider.value() != round(self.opacity * 100):
            self.slider.setValue(round(self.opacity * 100))
        self._apply_opacity()
        return self.opacity

    def step_opacity(self, step_pct: int) -> None:
        self.set_opacity(self.opacity + step_pct / 100)

    def toggle_fusion(self) -> None:
        self.fusion_visible = not self.fusion_visible
        self._apply_opacity()

    def _apply_opacity(self) -> None:
        for item in self.fused_items:
            item.setOpacity(self.opacity)
            item.setVisible(self.fusion_visible)
        self.colorbar.setVisible(bool(self.fused_items) and self.fusion_visible)  # no scale for a hidden PET
        kinds = "/".join(s.kind.upper() for s in self.secondaries) or "Fusion"
        state = f"{self.opacity * 100:.0f} %" if self.fusion_visible else "hidden (F)"
        self.label.setText(f"{kinds} over {self.view.modality}: {state}   ( , / . opacity, F on/off)")

    # --- the window's keys and the read's view state --------------------------------------------
    def action_specs(self) -> list[ActionSpec]:
        """Keys of the fused view (the window installs them with its own)."""
        return action_specs(HANGING_KEYS, {"fusion_opacity_down": lambda: self.step_opacity(-10),
                                           "fusion_opacity_up": lambda: self.step_opacity(10),
                                           "fusion_toggle": self.toggle_fusion})

    def view_state(self) -> dict[str, Any]:
        """How the secondary images were hung when the read was submitted (empty for single-image cases)."""
        if not self.secondaries:
            return {}
        out: dict[str, Any] = {"layout": self.spec.layout, "images": [s.kind for s in self.secondaries],
                               "secondary_slice": self.secondary_index(0)}
        if self.spec.layout == "fused":
            out.update(colormap=self.spec.colormap, opacity=self.opacity, visible=self.fusion_visible)
        return {"hanging": out}
