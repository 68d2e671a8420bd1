"""The coordinator's main window: studies on the left, the selected study's cases, a preview.

The coordinator dashboard (progress, reports) and the annotation workspace plug in here.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QLabel,
    QListWidget,
    QMainWindow,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from readerstudy.services import browse
from readerstudy.services.context import AppContext

COLUMNS = ("Pseudonym", "Modality", "Truth", "Site", "Split", "Masks", "Reads", "Source")


class MainWindow(QMainWindow):
    """Study list, case table and a preview of the selected case's middle frame/slice."""

    def __init__(self, ctx: AppContext, study_name: str | None = None) -> None:
        super().__init__()
        self._ctx = ctx
        self._rows: list[browse.CaseRow] = []
        self.setWindowTitle("readerstudy")
        self.studies = QListWidget()
        self.cases = QTableWidget(0, len(COLUMNS))
        self.cases.setHorizontalHeaderLabels(COLUMNS)
        self.cases.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.cases.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.preview = pg.ImageView()
        self.preview.ui.roiBtn.hide()
        self.preview.ui.menuBtn.hide()
        self.caption = QLabel("")
        right = QWidget()
        lay = QVBoxLayout(right)
        lay.addWidget(self.preview, 1)
        lay.addWidget(self.caption)
        split = QSplitter(Qt.Orientation.Horizontal)
        for w in (self.studies, self.cases, right):
            split.addWidget(w)
        split.setSizes([220, 640, 620])
        self.setCentralWidget(split)
        self.studies.currentTextChanged.connect(self._on_study_selected)
        self.cases.currentCellChanged.connect(self._on_case_selected)
        for s in browse.list_studies(ctx):
            self.studies.addItem(s.name)
        matches = self.studies.findItems(study_name or "", Qt.MatchFlag.MatchExactly)
        self.studies.setCurrentItem(matches[0] if matches else self.studies.item(0))
        self.statusBar().showMessage(f"Database: {ctx.url}")

    def _on_study_selected(self, name: str) -> None:
        if not name:
            return
        self._rows = browse.study_cases(self._ctx, name)
        self.cases.setRowCount(len(self._rows))
        for i, row in enumerate(self._rows):
            c = row.case
            truth = {None: "?", 0: "negative", 1: "positive"}[c.truth]
            values = (c.pseudonym, c.modality, truth, c.site or "", c.split, row.masks, row.reads, c.source_ref)
            for j, v in enumerate(values):
                self.cases.setItem(i, j, QTableWidgetItem(str(v)))
        self.cases.resizeColumnsToContents()
        if self._rows:
            self.cases.setCurrentCell(0, 0)

    def _on_case_selected(self, row: int, *_: int) -> None:
        if not 0 <= row < len(self._rows):
            return
        asset, pixels = browse.case_image(self._ctx, self._rows[row].case.id)
        frame = np.asarray(pixels[pixels.shape[0] // 2], dtype=np.float32)
        self.preview.setImage(frame, autoLevels=True)
        kind = "volume" if asset.is_volume else "cine" if asset.is_cine else "image"
        self.caption.setText(f"{self._rows[row].case.pseudonym}: {kind} {tuple(asset.shape)}, "
                             f"spacing {tuple(round(s, 2) for s in asset.spacing)} mm")
