"""Dashboard sections: the AI arms (model shown, coverage, held-out metrics, alerts) and the washout calendar.

Data from :func:`readerstudy.services.ai_status.ai_readiness` and
:func:`readerstudy.services.assignment_overview.assignment_overview`; the dashboard calls
:meth:`AiAlerts.refresh`, :meth:`AiArmsPanel.refresh` and :meth:`WashoutCalendarPanel.refresh`
from its own refresh.
"""

from __future__ import annotations

import logging

from PySide6.QtGui import QBrush, QColor, QGuiApplication
from PySide6.QtWidgets import (
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from readerstudy.core.errors import ReaderStudyError
from readerstudy.services.ai_status import AiReadiness, ArmAiStatus, ai_readiness, predict_command
from readerstudy.services.assignment_overview import CalendarRow, assignment_overview
from readerstudy.services.auth import UserSession
from readerstudy.services.context import AppContext
from readerstudy.ui.coordinator.table_fit import fit_columns, rows_follow_columns

log = logging.getLogger(__name__)

AI_COLUMNS = ("Arm", "Reading", "Model shown", "Cases with output", "Held-out metrics")
_CAL_COLOURS = {"complete": "#2e7d32", "washout": "#b26a00", "reading": "#1565c0", "open": "#1565c0"}


def _table(columns: tuple[str, ...]) -> QTableWidget:
    """A read-only table whose rows wrap their text and follow the column widths (see :mod:`.table_fit`)."""
    t = QTableWidget(0, len(columns))
    t.setHorizontalHeaderLabels(columns)
    t.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
    t.verticalHeader().setVisible(False)
    t.setWordWrap(True)
    rows_follow_columns(t)
    return t


def model_text(arm: ArmAiStatus) -> str:
    """Which model the arm shows: the protocol's choice, then the model(s) giving the outputs."""
    spec = f"protocol: {arm.model_spec!r}" if arm.model_spec else "protocol: latest of any model"
    if not arm.shown:
        return f"none yet ({spec})"
    used = "; ".join(f"{m.name} {m.version}" + (f" ({m.cases} cases)" if len(arm.shown) > 1 else "")
                     for m in arm.shown)
    return f"{used} ({spec})"


def metrics_text(arm: ArmAiStatus) -> str:
    parts = [f"{m.name}: {m.metrics.summary()}" if m.metrics else f"{m.name}: no held-out metrics stored"
             for m in arm.shown]
    return "; ".join(parts) or "—"


class AiAlerts(QWidget):
    """One red box per AI arm that cannot be read, with the action that fixes it and its command."""

    def __init__(self, ctx: AppContext, session: UserSession) -> None:
        super().__init__()
        self._ctx, self._session = ctx, session
        self.boxes: list[AiAlertBox] = []
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)

    def refresh(self, status: AiReadiness) -> None:
        for box in self.boxes:
            self._layout.removeWidget(box)
            box.deleteLater()
        self.boxes = [self._box(a) for a in status.alerts]
        for box in self.boxes:
            self._layout.addWidget(box)
        self.setVisible(bool(self.boxes))

    def _box(self, arm: ArmAiStatus) -> AiAlertBox:
        return AiAlertBox(arm, predict_command(self._ctx, self._session.study_name, arm.model_spec))


class AiAlertBox(QFrame):
    """An arm that cannot be read: the problem, what to do, and a button copying the CLI command."""

    def __init__(self, arm: ArmAiStatus, command: str) -> None:
        super().__init__()
        self.command = command
        self.setObjectName("aiAlert")
        self.setStyleSheet("#aiAlert { border: 2px solid #b00020; border-radius: 4px; background: #fdecee; }")
        self.problem = QLabel(f"<b>{arm.problem}</b>")
        self.problem.setStyleSheet("color: #b00020;")
        self.action = QLabel(f"What to do: {arm.action}")
        self.action.setWordWrap(True)
        self.copy_button = QPushButton("Copy the command")
        self.copy_button.setToolTip("Copies the `readerstudy engine predict` command for this study.")
        self.copy_button.clicked.connect(lambda: QGuiApplication.clipboard().setText(self.command))
        lay = QVBoxLayout(self)
        row = QHBoxLayout()
        row.addWidget(self.problem, 1)
        row.addWidget(self.copy_button)
        lay.addLayout(row)
        lay.addWidget(self.action)


class AiArmsPanel(QGroupBox):
    """The AI arms: model shown, coverage, held-out metrics."""

    def __init__(self) -> None:
        super().__init__("AI arms: the model each shows, its coverage and held-out metrics")
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.table = _table(AI_COLUMNS)
        lay = QVBoxLayout(self)
        lay.addWidget(self.note)
        lay.addWidget(self.table, 1)

    def refresh(self, status: AiReadiness) -> None:
        if not status.protocol_applied:
            self.note.setText("No reading protocol applied yet.")
        elif not status.arms:
            self.note.setText("The protocol has no AI arm.")
        else:
            self.note.setText("An AI arm shows, per case, the newest output of the model its protocol arm names "
                              "(or of any model). Every case needs one before readers reach the arm.")
        t = self.table
        t.setRowCount(len(status.arms))
        for i, a in enumerate(status.arms):
            values = (a.arm, "sequential" if a.sequential else "AI shown from the start",
                      model_text(a), f"{a.with_output} / {a.cases}", metrics_text(a))
            for j, v in enumerate(values):
                item = QTableWidgetItem(v)
                if j == 3:
                    item.setForeground(QBrush(QColor("#2e7d32" if a.ready else "#b00020")))
                t.setItem(i, j, item)
        fit_columns(t, (2, 4))


class WashoutCalendarPanel(QGroupBox):
    """Per reader, when each session opens (washout) and where it stands."""

    def __init__(self) -> None:
        super().__init__("Washout calendar (UTC): when each reader's sessions open")
        self.table = _table(("Reader",))
        self.calendar: tuple[CalendarRow, ...] = ()
        lay = QVBoxLayout(self)
        lay.addWidget(self.table)

    def refresh(self, calendar: tuple[CalendarRow, ...]) -> None:
        self.calendar = calendar
        sessions = sorted({e.session for row in calendar for e in row.sessions})
        t = self.table
        t.clear()
        t.setColumnCount(1 + len(sessions))
        t.setHorizontalHeaderLabels(["Reader", *(f"Session {s}" for s in sessions)])
        t.setRowCount(len(calendar))
        for i, row in enumerate(calendar):
            t.setItem(i, 0, QTableWidgetItem(f"{row.reader} ({row.seniority})" if row.seniority else row.reader))
            for e in row.sessions:
                item = QTableWidgetItem(f"{' + '.join(e.arms)}: {e.text}")
                if e.status in _CAL_COLOURS:
                    item.setForeground(QBrush(QColor(_CAL_COLOURS[e.status])))
                t.setItem(i, 1 + sessions.index(e.session), item)
        fit_columns(t, tuple(range(1, 1 + len(sessions))))


class DashboardAiSections:
    """The three sections above, refreshed together (the dashboard holds one of these)."""

    def __init__(self, ctx: AppContext, session: UserSession) -> None:
        self._ctx, self._session = ctx, session
        self.alerts = AiAlerts(ctx, session)
        self.arms = AiArmsPanel()
        self.calendar = WashoutCalendarPanel()
        self.status: AiReadiness | None = None

    def refresh(self) -> str:
        """Reload; returns an error message ('' when fine) for the dashboard's error line."""
        try:
            self.status = ai_readiness(self._ctx, self._session)
            overview = assignment_overview(self._ctx, self._session)
        except ReaderStudyError as exc:
            log.warning("dashboard AI refresh failed: %s", exc)
            return str(exc)
        self.alerts.refresh(self.status)
        self.arms.refresh(self.status)
        self.calendar.refresh(overview.calendar)
        return ""
