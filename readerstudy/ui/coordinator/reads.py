"""The coordinator's Reads tab: one reader's sessions and reads, corrections, reopening, unlock.

Pick a reader; see their sessions (progress; open, waiting for the washout, complete) and every
read they submitted, all revisions, with the case's ground truth (coordinators may see it).
*Correct read…* stores a new revision with a required reason (the original stays, greyed);
*Reopen session…* opens a session waiting for its washout now, with a reason (see
:mod:`readerstudy.services.reading_admin`); *Unlock reader* lifts a lock-out after wrong PINs.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from readerstudy.core.errors import ReaderStudyError
from readerstudy.core.models import Role
from readerstudy.services import participants as people
from readerstudy.services import reading_admin as admin
from readerstudy.services.auth import UserSession
from readerstudy.services.context import AppContext
from readerstudy.ui.forms import ERROR_STYLE, Field, FormDialog

SESSION_COLUMNS = ("Session", "Arm", "Done", "State", "Note")
READ_COLUMNS = ("Case", "Truth", "Arm", "Session", "Phase", "Probability", "Call", "Confidence", "Time (s)",
                "Active (s)", "Revision", "Submitted (UTC)", "Corrected by", "Reason")
CONFIDENCE_CHOICES = (("1 - very low", 1), ("2 - low", 2), ("3 - moderate", 3), ("4 - high", 4),
                      ("5 - very high", 5))
CALL_CHOICES = (("positive (1)", 1), ("negative (0)", 0))
SUPERSEDED = QColor("#8a8a8a")


def _truth(value: int | None) -> str:
    return "—" if value is None else ("positive" if value else "negative")


def _session_note(s: admin.SessionStatus) -> str:
    if s.state == "waiting" and s.opens_at is not None:
        return f"washout: opens {s.opens_at:%Y-%m-%d %H:%M} UTC"
    if s.reopened:
        return f"reopened by {s.reopened.get('by')} ({s.reopened.get('reason')})"
    if s.state == "later":
        return "after the earlier session"
    return ""


def _read_values(r: admin.ReadRecord) -> tuple[str, ...]:
    return (r.pseudonym, _truth(r.truth), r.arm, str(r.session), str(r.phase), f"{r.probability:g}",
            "positive" if r.binary else "negative", str(r.confidence), f"{r.time_ms / 1000:.1f}",
            f"{r.active_ms / 1000:.1f}", str(r.revision) + ("" if r.current else " (superseded)"),
            f"{r.submitted_at:%Y-%m-%d %H:%M:%S}", r.corrected_by or "", r.reason or "")


def _table(columns: tuple[str, ...]) -> QTableWidget:
    t = QTableWidget(0, len(columns))
    t.setHorizontalHeaderLabels(columns)
    t.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    t.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    t.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    t.verticalHeader().hide()
    t.horizontalHeader().setStretchLastSection(True)
    return t


class ReadsWidget(QWidget):
    """The Reads tab. ``dialog`` is the correction or reopen dialog showing (for tests)."""

    def __init__(self, ctx: AppContext, session: UserSession) -> None:
        super().__init__()
        self.ctx, self.session = ctx, session
        self.dialog: FormDialog | None = None
        self.reads: list[admin.ReadRecord] = []
        self.shown: list[admin.ReadRecord] = []
        self.sessions: list[admin.SessionStatus] = []
        self._info: people.ParticipantInfo | None = None
        self.reader = QComboBox()
        self.reader.setMinimumWidth(260)
        self.refresh_button = QPushButton("Refresh")
        self.account = QLabel("")
        self.unlock_button = QPushButton("Unlock reader")
        self.session_table = _table(SESSION_COLUMNS)
        self.reopen_button = QPushButton("Reopen session…")
        self.read_table = _table(READ_COLUMNS)
        self.history = QCheckBox("Show superseded revisions")
        self.history.setChecked(True)
        self.correct_button = QPushButton("Correct read…")
        self.error = QLabel("")
        self.error.setWordWrap(True)
        self.error.setStyleSheet(ERROR_STYLE)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        top = QHBoxLayout()
        for w in (QLabel("Reader"), self.reader, self.refresh_button, self.account, self.unlock_button):
            top.addWidget(w)
        top.addStretch(1)
        sessions = QWidget()
        s_lay = QVBoxLayout(sessions)
        s_lay.setContentsMargins(0, 0, 0, 0)
        s_lay.addWidget(QLabel("<b>Sessions</b>"))
        s_lay.addWidget(self.session_table)
        s_lay.addWidget(self.reopen_button, alignment=Qt.AlignmentFlag.AlignLeft)
        reads = QWidget()
        r_lay = QVBoxLayout(reads)
        r_lay.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        row.addWidget(QLabel("<b>Reads</b> (ground truth shown to coordinators only)"))
        row.addStretch(1)
        row.addWidget(self.history)
        row.addWidget(self.correct_button)
        r_lay.addLayout(row)
        r_lay.addWidget(self.read_table)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(sessions)
        split.addWidget(reads)
        split.setSizes([150, 600])
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(split, 1)
        lay.addWidget(self.error)
        lay.addWidget(self.status)
        self.reader.currentIndexChanged.connect(lambda _i: self.show_reader())
        self.refresh_button.clicked.connect(self.refresh)
        self.unlock_button.clicked.connect(self.unlock_reader)
        self.reopen_button.clicked.connect(self.reopen_selected)
        self.correct_button.clicked.connect(self.correct_selected)
        self.history.toggled.connect(lambda _on: self._fill_reads())
        self.read_table.doubleClicked.connect(lambda _i: self.correct_selected())
        self.session_table.itemSelectionChanged.connect(self._update_buttons)
        self.read_table.itemSelectionChanged.connect(self._update_buttons)
        self.refresh()

    def showEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        self.refresh()  # participants or reads may have changed in another tab or window
        super().showEvent(event)

    # --- data -----------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Reload the reader list (keeping the selection) and the selected reader's data."""
        keep = self.reader.currentData()
        try:
            readers = [p for p in people.list_participants(self.ctx, self.session) if p.role == Role.READER]
        except ReaderStudyError as exc:
            self.error.setText(str(exc))
            return
        self.reader.blockSignals(True)
        self.reader.clear()
        for p in readers:
            self.reader.addItem(p.name + ("" if p.active else "  (deactivated)"), p.name)
        if keep is not None and self.reader.findData(keep) >= 0:
            self.reader.setCurrentIndex(self.reader.findData(keep))
        self.reader.blockSignals(False)
        if not readers:
            self.status.setText("No readers yet: add them in the Participants tab.")
        self.show_reader()

    def select_reader(self, name: str) -> None:
        self.reader.setCurrentIndex(self.reader.findData(name))

    def show_reader(self) -> None:
        name = self.reader.currentData()
        self.error.clear()
        if name is None:
            self.reads, self.sessions, self._info = [], [], None
            self.account.setText("")
        else:
            try:
                info = people.get_participant(self.ctx, self.session, name)
                self.sessions = admin.reader_sessions(self.ctx, self.session, name)
                self.reads = admin.reader_reads(self.ctx, self.session, name)
            except ReaderStudyError as exc:
                self.error.setText(str(exc))
                return
            self._info = info
            lock = f"locked until {info.locked_until:%H:%M:%S} UTC" if info.locked_until else "not locked"
            self.account.setText(f"{info.seniority or 'no seniority'} · {'active' if info.active else 'deactivated'}"
                                 f" · {lock}")
        self._fill_sessions()
        self._fill_reads()

    def _fill_sessions(self) -> None:
        t = self.session_table
        t.setRowCount(len(self.sessions))
        for i, s in enumerate(self.sessions):
            for j, v in enumerate((str(s.session), s.arm, f"{s.done} / {s.total}", s.state, _session_note(s))):
                t.setItem(i, j, QTableWidgetItem(v))
        t.resizeColumnsToContents()
        self._update_buttons()

    def _fill_reads(self) -> None:
        self.shown = [r for r in self.reads if r.current or self.history.isChecked()]
        t = self.read_table
        t.setRowCount(len(self.shown))
        for i, r in enumerate(self.shown):
            for j, v in enumerate(_read_values(r)):
                item = QTableWidgetItem(v)
                if not r.current:
                    item.setForeground(SUPERSEDED)
                    font = QFont(item.font())
                    font.setItalic(True)
                    item.setFont(font)
                t.setItem(i, j, item)
        t.resizeColumnsToContents()
        self._update_buttons()

    def _selected(self, table: QTableWidget, rows: list[Any]) -> Any:
        picked = {i.row() for i in table.selectedIndexes()}
        return rows[min(picked)] if picked and min(picked) < len(rows) else None

    @property
    def selected_read(self) -> admin.ReadRecord | None:
        return self._selected(self.read_table, self.shown)

    @property
    def selected_session(self) -> admin.SessionStatus | None:
        return self._selected(self.session_table, self.sessions)

    def select_read(self, read_id: str) -> None:
        for i, r in enumerate(self.shown):
            if r.read_id == read_id:
                self.read_table.selectRow(i)

    def _update_buttons(self) -> None:
        s = self.selected_session
        self.reopen_button.setEnabled(s is not None and s.state == "waiting")
        self.correct_button.setEnabled(self.selected_read is not None)
        self.unlock_button.setEnabled(self._info is not None and self._info.locked)

    # --- actions ----------------------------------------------------------------------------------
    def correct_selected(self) -> None:
        r = self.selected_read
        if r is None:
            return
        current = next(x for x in self.reads if x.original_id == r.original_id and x.current)
        fields = [Field("probability", "Probability (0-100)", "number", value=current.probability, decimals=1),
                  Field("binary", "Call", "choice", value=current.binary, choices=CALL_CHOICES),
                  Field("confidence", "Confidence", "choice", value=current.confidence, choices=CONFIDENCE_CHOICES),
                  Field("reason", "Reason (required)", "multiline",
                        placeholder="e.g. reader phoned: pressed Y instead of N")]

        def submit(v: dict[str, Any]) -> str:
            return admin.correct_read(self.ctx, self.session, current.read_id, probability=v["probability"],
                                      binary=v["binary"], confidence=v["confidence"], reason=v["reason"])

        intro = (f"Case <b>{current.pseudonym}</b> (truth: {_truth(current.truth)}) · {current.arm} · session "
                 f"{current.session} · {current.phase} read, revision {current.revision}: {current.probability:g} %, "
                 f"{'positive' if current.binary else 'negative'}, confidence {current.confidence}.<br>"
                 "The correction is stored as a new revision; the reader's original read is kept.")
        d = FormDialog("Correct a read", fields, submit, intro=intro, ok_text="Store correction", parent=self)
        d.accepted.connect(lambda: self._after(f"Correction of {current.pseudonym} stored as revision "
                                               f"{current.revision + 1}.", d.result_value))
        self.dialog = d
        d.open()

    def reopen_selected(self) -> None:
        s = self.selected_session
        name = self.reader.currentData()
        if s is None or name is None:
            return
        fields = [Field("reason", "Reason (required)", "multiline",
                        placeholder="e.g. reader leaves the site before the washout ends")]
        when = f" (washout until {s.opens_at:%Y-%m-%d %H:%M} UTC)" if s.opens_at else ""
        d = FormDialog(f"Reopen session {s.session}", fields, lambda v: admin.reopen_session(
            self.ctx, self.session, name, s.session, v["reason"]), ok_text="Open the session now", parent=self,
            intro=f"<b>{name}</b> may read session {s.session} at the next sign-in{when}. Opening a session "
                  "before its washout is a deviation from the protocol: the reason is recorded.")
        d.accepted.connect(lambda: self._after(f"Session {s.session} of {name} is open now.", None))
        self.dialog = d
        d.open()

    def unlock_reader(self) -> None:
        name = self.reader.currentData()
        if name is None:
            return
        try:
            was_locked = people.unlock_participant(self.ctx, self.session, name)
        except ReaderStudyError as exc:
            self.error.setText(str(exc))
            return
        self._after(f"{name} is unlocked." if was_locked else f"{name} was not locked.", None)

    def _after(self, message: str, read_id: str | None) -> None:
        self.show_reader()
        self.status.setText(message)
        if read_id:
            self.select_read(read_id)


def reads_tab(ctx: AppContext, session: UserSession) -> ReadsWidget:
    return ReadsWidget(ctx, session)


__all__ = ["ReadsWidget", "reads_tab"]
