"""Compare with another annotator: their latest mask as an outline next to yours, per-label agreement.

The other annotator's saved mask is drawn as a cyan outline over the editor's own (filled) labels;
with at least two other annotators, the consensus (majority vote or STAPLE) of everyone's masks --
theirs as saved plus yours as currently painted -- is a third, magenta outline. The table gives,
per label, Dice, the 95th-percentile Hausdorff distance (mm; px without a pixel spacing) and the
size difference (theirs - yours: mL for volumes, mm² for 2D; px³/px² without a spacing) against
your current, possibly unsaved, mask.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from readerstudy.core.errors import ReaderStudyError
from readerstudy.services import annotation as service

if TYPE_CHECKING:
    from readerstudy.imaging.mask_agreement import MaskAgreement
    from readerstudy.ui.annotation.host import AnnotationHost

OTHER_RGBA = (0, 255, 255, 255)
CONSENSUS_RGBA = (255, 0, 255, 230)
NONE = "(nobody)"


def outline(labels: np.ndarray) -> np.ndarray:
    """Bool 2D array: labelled pixels with a 4-neighbour of a different value (label boundaries)."""
    s = np.asarray(labels)
    edge = np.zeros(s.shape, dtype=bool)
    edge[1:, :] |= s[1:, :] != s[:-1, :]
    edge[:-1, :] |= s[:-1, :] != s[1:, :]
    edge[:, 1:] |= s[:, 1:] != s[:, :-1]
    edge[:, :-1] |= s[:, :-1] != s[:, 1:]
    return edge & (s != 0)


def _fmt(v: float | None, digits: int = 2) -> str:
    if v is None:
        return "-"
    return "inf" if math.isinf(v) else ("nan" if math.isnan(v) else f"{v:.{digits}f}")


class ComparePanel(QWidget):
    """"Compare with..." side panel of the annotation window."""

    def __init__(self, owner: AnnotationHost) -> None:
        super().__init__()
        self._owner = owner
        self.masks: dict[str, tuple[int, np.ndarray]] = {}
        self.other: str | None = None
        self.results: dict[int, MaskAgreement] = {}
        self.consensus: np.ndarray | None = None
        lay = QVBoxLayout(self)
        form = QFormLayout()
        self.annotator_combo = QComboBox()
        self.annotator_combo.currentTextChanged.connect(self._combo_changed)
        form.addRow("Compare with", self.annotator_combo)
        self.consensus_combo = QComboBox()
        self.consensus_combo.addItems(["off", "majority", "staple"])
        self.consensus_combo.currentTextChanged.connect(lambda _t: self.update_consensus())
        form.addRow("Consensus", self.consensus_combo)
        lay.addLayout(form)
        self.refresh_button = QPushButton("Reload saved masks")
        self.refresh_button.clicked.connect(self.load)
        lay.addWidget(self.refresh_button)
        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(["Label", "Dice", "HD95 mm", "ΔV mL"])
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setVisible(False)
        lay.addWidget(self.table)
        self.legend = QLabel()
        self.legend.setWordWrap(True)
        lay.addWidget(self.legend)
        lay.addStretch(1)
        self.other_item, self.consensus_item = pg.ImageItem(), pg.ImageItem()
        self.other_item.setZValue(15)
        self.consensus_item.setZValue(16)
        for item in (self.other_item, self.consensus_item):
            owner.vb.addItem(item)

    # ----------------------------------------------------------------- data
    def load(self) -> None:
        """Read the latest saved mask of every other annotator of the case."""
        o = self._owner
        try:
            masks = service.case_masks(o.ctx, o.session, o.case_id)
        except ReaderStudyError as exc:
            o.show_message(str(exc))
            masks = {}
        self.masks = {n: (v, m.reshape(o.layer.shape)) for n, (v, m) in masks.items()
                      if n != o.annotator and m.size == o.layer.data.size}
        keep = self.other if self.other in self.masks else None
        self.annotator_combo.blockSignals(True)
        self.annotator_combo.clear()
        self.annotator_combo.addItems([NONE, *self.masks])
        self.annotator_combo.setCurrentText(keep or NONE)
        self.annotator_combo.blockSignals(False)
        self.consensus_combo.setEnabled(len(self.masks) >= 2)
        self.select(keep)

    def _combo_changed(self, text: str) -> None:
        self.select(None if text in ("", NONE) else text)

    def select(self, name: str | None) -> None:
        """Show ``name``'s mask (None: nobody) and compute the agreement table."""
        if name is not None and name not in self.masks:
            raise ValueError(f"no saved mask of {name!r} for this case; choose one of {sorted(self.masks)}")
        self.other = name
        if self.annotator_combo.currentText() != (name or NONE):
            self.annotator_combo.blockSignals(True)
            self.annotator_combo.setCurrentText(name or NONE)
            self.annotator_combo.blockSignals(False)
        self.update_metrics()
        self.update_consensus()

    def update_metrics(self) -> None:
        """Recompute the per-label agreement of the selected annotator with the current layer."""
        layer = self._owner.layer
        self.results = {}
        if self.other is not None:
            ids = list(layer.label_set.ids)
            self.results = service.compare_labels(np.asarray(layer.data), self.masks[self.other][1], ids,
                                                  layer.spacing)
        mm = layer.spacing is not None
        size = "ΔV mL" if layer.shape[0] > 1 else "ΔA mm²"
        self.table.setHorizontalHeaderLabels(["Label", "Dice", "HD95 mm" if mm else "HD95 px",
                                              size if mm else ("ΔV px³" if layer.shape[0] > 1 else "ΔA px²")])
        self.table.setRowCount(len(self.results))
        for row, (lab, ag) in enumerate(self.results.items()):
            if not mm:
                delta = _fmt(float(ag.voxels_b - ag.voxels_a), 0)
            elif layer.shape[0] > 1:
                delta = _fmt(ag.volume_difference_ml, 2)
            else:
                delta = _fmt((ag.voxels_b - ag.voxels_a) * layer.spacing[1] * layer.spacing[2], 1)
            cells = (layer.label_set.get(lab).name, _fmt(ag.dice, 3), _fmt(ag.hd95_mm, 1), delta)
            for col, text in enumerate(cells):
                self.table.setItem(row, col, QTableWidgetItem(text))
        self._legend()
        self.render()

    def update_consensus(self) -> None:
        method = self.consensus_combo.currentText()
        self.consensus = None
        if method != "off" and len(self.masks) >= 2:
            everyone = [np.asarray(self._owner.layer.data), *(m for _, m in self.masks.values())]
            try:
                self.consensus = service.consensus_of(everyone, method).labels.reshape(self._owner.layer.shape)
            except ReaderStudyError as exc:
                self._owner.show_message(str(exc))
        self._legend()
        self.render()

    def _legend(self) -> None:
        parts = ["Filled: your mask (as painted now)."]
        if self.other is not None:
            parts.append(f"Cyan outline: {self.other} v{self.masks[self.other][0]}.")
        if self.consensus is not None:
            parts.append(f"Magenta outline: {self.consensus_combo.currentText()} consensus of "
                         f"{len(self.masks) + 1} annotators.")
        elif len(self.masks) < 2:
            parts.append("A consensus needs saved masks of at least two other annotators.")
        self.legend.setText(" ".join(parts))

    # ----------------------------------------------------------------- drawing
    def slice_rgba(self, which: str) -> np.ndarray | None:
        """(rows, cols, 4) outline image of the other annotator ('other') or the consensus on the current plane."""
        o = self._owner
        vol = self.masks[self.other][1] if which == "other" and self.other else (
            self.consensus if which == "consensus" else None)
        if vol is None:
            return None
        s = vol[(slice(None),) * o.axis + (o.index,)]
        rgba = np.zeros((*s.shape, 4), dtype=np.uint8)
        rgba[outline(s)] = OTHER_RGBA if which == "other" else CONSENSUS_RGBA
        return rgba

    def render(self) -> None:
        for which, item in (("other", self.other_item), ("consensus", self.consensus_item)):
            rgba = self.slice_rgba(which)
            item.setVisible(rgba is not None)
            if rgba is not None:
                item.setImage(rgba, autoLevels=False, levels=(0, 255))
                item.setRect(self._owner.view_rect())
