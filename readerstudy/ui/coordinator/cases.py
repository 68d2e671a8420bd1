"""The coordinator's main window: studies on the left, the selected study's cases, a preview.

The coordinator dashboard (progress, reports) and the annotation workspace plug in here.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
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

from readerstudy.imaging.windowing import default_window
from readerstudy.services import browse
from readerstudy.services.auth import UserSession
from readerstudy.services.context import AppContext

GREY = pg.ColorMap([0.0, 1.0], [(0, 0, 0), (255, 255, 255)])
INVERTED = pg.ColorMap([0.0, 1.0], [(255, 255, 255), (0, 0, 0)])
COLUMNS = ("Pseudonym", "Modality", "Burned-in", "Truth", "Site", "Split", "Masks", "Reads", "Source")
BURNED_IN_TIP = ("Burned In Annotation as the source DICOM states it (blank: the file does not say, as for "
                 "PNG/NIfTI); 'masked': rectangles were overwritten at import (Clean Pixel Data).")


class MainWindow(QMainWindow):
    """Study list, case table and a preview of the selected case's middle frame/slice."""

    def __init__(self, ctx: AppContext, session: UserSession) -> None:
        super().__init__()
        self._ctx, self._session = ctx, session
        study_name = session.study_name
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
        self.caption.setWordWrap(True)
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
        for s in browse.list_studies(ctx, session):
            self.studies.addItem(s.name)
        matches = self.studies.findItems(study_name or "", Qt.MatchFlag.MatchExactly)
        self.studies.setCurrentItem(matches[0] if matches else self.studies.item(0))
        self.statusBar().showMessage(f"Database: {ctx.url}")

    def showEvent(self, event) -> None:  # noqa: ANN001, N802 - Qt override: an import may have added cases
        super().showEvent(event)
        item = self.studies.currentItem()
        known = {self.studies.item(i).text() for i in range(self.studies.count())}
        for s in browse.list_studies(self._ctx, self._session):
            if s.name not in known:
                self.studies.addItem(s.name)
        if item is not None and len(self._rows) != len(browse.study_cases(self._ctx, self._session, item.text())):
            self._on_study_selected(item.text())

    def _on_study_selected(self, name: str) -> None:
        if not name:
            return
        self._rows = browse.study_cases(self._ctx, self._session, name)
        self.cases.setRowCount(len(self._rows))
        for i, row in enumerate(self._rows):
            c = row.case
            truth = {None: "?", 0: "negative", 1: "positive"}[c.truth]
            values = (c.pseudonym, c.modality, row.burned_in, truth, c.site or "", c.split, row.masks, row.reads,
                      c.source_ref)
            for j, v in enumerate(values):
                self.cases.setItem(i, j, QTableWidgetItem(str(v)))
            flag = self.cases.item(i, COLUMNS.index("Burned-in"))
            flag.setToolTip(BURNED_IN_TIP)
            if row.burned_in_warning:
                flag.setBackground(QColor("#ffb347"))
                flag.setToolTip("Burned-in annotation flagged and not masked: check the pixels for identifiers "
                                "before readers see this case.")
        self.cases.resizeColumnsToContents()
        if self._rows:
            self.cases.setCurrentCell(0, 0)

    def _on_case_selected(self, row: int, *_: int) -> None:
        if not 0 <= row < len(self._rows):
            return
        asset, pixels = browse.case_image(self._ctx, self._session, self._rows[row].case.id)
        frame = np.asarray(pixels[pixels.shape[0] // 2], dtype=np.float32)
        c, w = default_window(frame, asset.window)
        self.preview.setImage(frame, autoLevels=False, levels=(c - w / 2, c + w / 2))
        self.preview.setColorMap(INVERTED if asset.invert else GREY)  # MONOCHROME1: inverted after the window
        kind = "volume" if asset.is_volume else "cine" if asset.is_cine else "image"
        notes = f"\n{len(asset.notes)} import note(s): " + "; ".join(asset.notes) if asset.notes else ""
        self.caption.setText(f"{self._rows[row].case.pseudonym}: {kind} {tuple(asset.shape)}, "
                             f"spacing {tuple(round(s, 2) for s in asset.spacing)} mm{notes}")


def cases_tab(ctx: AppContext, session: UserSession) -> MainWindow:
    """The "Cases" tab of the coordinator home: the case browser on the signed-in study."""
    return MainWindow(ctx, session)
