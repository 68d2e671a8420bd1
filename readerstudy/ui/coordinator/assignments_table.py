"""Every reader's assignments (reader x arm x session): order seed, cases, progress, opens on, status.

Rows come from :func:`readerstudy.services.assignment_overview.assignment_overview`; the panel
also says what "Update assignments" would do (readers and cases added since the apply).
"""

from __future__ import annotations

import logging

from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from readerstudy.core.errors import ReaderStudyError
from readerstudy.services.assignment_overview import AssignmentRow, ProtocolState, assignment_overview
from readerstudy.services.auth import UserSession
from readerstudy.services.context import AppContext

log = logging.getLogger(__name__)

COLUMNS = ("Reader", "Seniority", "Session", "Arm", "Order seed", "Cases", "Read", "Opens on", "Status")
_STATUS_COLOURS = {"complete": "#2e7d32", "washout": "#b26a00", "reading": "#1565c0"}


def cells(row: AssignmentRow) -> tuple[str, ...]:
    """The table's text for one row (the progress column shows ``done / total`` on a bar)."""
    cases = f"{row.cases} ({row.cases - row.appended} + {row.appended} appended)" if row.appended else str(row.cases)
    return (row.reader, row.seniority or "—", str(row.session), row.arm, str(row.seed), cases,
            f"{row.done} / {row.cases}", row.opens_text, row.status_text)


class AssignmentsPanel(QGroupBox):
    """The assignments table with its "Update assignments…" button (the editor connects it)."""

    def __init__(self, ctx: AppContext, session: UserSession) -> None:
        super().__init__("Assignments (reader × arm × session)")
        self._ctx, self._session = ctx, session
        self.rows: tuple[AssignmentRow, ...] = ()
        self.pending = QLabel()
        self.pending.setWordWrap(True)
        self.update_button = QPushButton("Update assignments…")
        self.update_button.setToolTip("Give readers and cases added since the apply their assignments: new "
                                      "readers get full orders, new cases are appended to every order.")
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setStretchLastSection(True)
        top = QHBoxLayout()
        top.addWidget(self.pending, 1)
        top.addWidget(self.update_button)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.table, 1)

    def refresh(self, state: ProtocolState) -> None:
        """Reload the rows; say what an update would do (from ``state.pending``)."""
        try:
            overview = assignment_overview(self._ctx, self._session)
        except ReaderStudyError as exc:
            log.warning("assignments refresh failed: %s", exc)
            self.pending.setText(str(exc))
            return
        self.rows = overview.rows
        plan = state.pending
        if state.applied is None:
            self.pending.setText("No protocol applied yet: the assignments appear here after Apply.")
        elif plan is None or plan.nothing_to_do:
            self.pending.setText("Every reader has an order holding every case.")
        else:
            readers = len({o.reader for o in plan.new_orders})
            self.pending.setText(f"<b>Waiting for assignments:</b> {readers} new reader(s), "
                                 f"{plan.appended_cases} new case(s). Update assignments gives them their "
                                 "places without changing any existing order.")
        self.update_button.setEnabled(plan is not None and not plan.nothing_to_do)
        self._fill()

    def _fill(self) -> None:
        t = self.table
        t.setRowCount(len(self.rows))
        for i, row in enumerate(self.rows):
            for j, text in enumerate(cells(row)):
                item = QTableWidgetItem(text)
                if COLUMNS[j] == "Cases" and row.appended:
                    item.setToolTip("Appended blocks, each shuffled by its own recorded seed: "
                                    + ", ".join(map(str, row.extension_seeds)))
                t.setItem(i, j, item)
            bar = QProgressBar()
            bar.setRange(0, max(row.cases, 1))
            bar.setValue(row.done)
            bar.setFormat(f"{row.done} / {row.cases}")
            t.setCellWidget(i, COLUMNS.index("Read"), bar)
            colour = _STATUS_COLOURS.get(row.status)
            if colour:
                t.item(i, COLUMNS.index("Status")).setForeground(QBrush(QColor(colour)))
        t.resizeColumnsToContents()
