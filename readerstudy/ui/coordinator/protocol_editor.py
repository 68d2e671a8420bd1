"""The coordinator's "Protocol" tab: write, open, save and apply the reading protocol; assignments.

The form (:class:`~readerstudy.ui.coordinator.protocol_form.ProtocolForm`) is checked on every
edit by the TOML validator (:func:`readerstudy.core.protocol.validate_protocol`), and once orders
exist also by :func:`readerstudy.core.protocol.locked_changes`; each message appears under its
field. Apply shows what will be created (:func:`readerstudy.services.assignments.preview_apply`)
and applies exactly that plan. "Update assignments" gives readers and cases added since the apply
their assignments by extending orders (never redrawing them). Every query is a few rows: on the
GUI thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from readerstudy.core.errors import ReaderStudyError
from readerstudy.core.protocol import (
    Protocol,
    ProtocolError,
    ProtocolIssue,
    locked_changes,
    validate_protocol,
)
from readerstudy.services.ai_status import ai_readiness
from readerstudy.services.assignment_overview import ProtocolState, protocol_state
from readerstudy.services.assignments import apply_with_plan, preview_apply
from readerstudy.services.auth import UserSession
from readerstudy.services.context import AppContext
from readerstudy.services.order_plan import ApplyPlan, ProtocolLocked
from readerstudy.services.protocol_toml import protocol_to_toml, read_protocol_toml
from readerstudy.ui.coordinator.assignments_table import AssignmentsPanel
from readerstudy.ui.coordinator.protocol_form import ProtocolForm

log = logging.getLogger(__name__)

Confirm = Callable[[QWidget, str, str], bool]
ChoosePath = Callable[[QWidget], str | None]


def _confirm(parent: QWidget, title: str, text: str) -> bool:
    box = QMessageBox(QMessageBox.Icon.Question, title, text,
                      QMessageBox.StandardButton.Ok | QMessageBox.StandardButton.Cancel, parent)
    box.setTextFormat(Qt.TextFormat.RichText)
    return box.exec() == QMessageBox.StandardButton.Ok


def _ask_open(parent: QWidget) -> str | None:
    return QFileDialog.getOpenFileName(parent, "Open a protocol", "", "Protocol TOML (*.toml)")[0] or None


def _ask_save(parent: QWidget) -> str | None:
    return QFileDialog.getSaveFileName(parent, "Save the protocol", "protocol.toml", "Protocol TOML (*.toml)")[0] \
        or None


def plan_html(plan: ApplyPlan, ai_notes: list[str]) -> str:
    """The confirm dialog's text: every effect of the plan, then the AI arms' problems."""
    items = "".join(f"<li>{line}</li>" for line in plan.describe())
    notes = "".join(f"<li>{n}</li>" for n in ai_notes)
    return (f"<p>Applying the protocol to <b>{plan.study}</b> will:</p><ul>{items}</ul>"
            + (f"<p>Before readers reach an AI arm:</p><ul>{notes}</ul>" if notes else ""))


def applied_message(created: int, extended: int, appended: int) -> str:
    """What an apply did, naming only what happened ("0 order(s) extended by 0 case(s)" said nothing)."""
    done = ([f"{created} assignment(s) created"] if created else []) + (
        [f"{extended} order(s) extended by {appended} case(s)"] if extended else [])
    return f"Applied: {', '.join(done)}." if done else "Applied: the protocol is saved; no order changed."


class ProtocolEditorWidget(QWidget):
    """Protocol form, Open/Save TOML, Apply, Update assignments, and the assignments table.

    ``confirm(parent, title, html) -> bool``, ``choose_open(parent)`` and ``choose_save(parent)``
    are injectable so tests need no modal dialog.
    """

    def __init__(self, ctx: AppContext, session: UserSession, *, confirm: Confirm = _confirm,
                 choose_open: ChoosePath = _ask_open, choose_save: ChoosePath = _ask_save) -> None:
        super().__init__()
        self._ctx, self._session = ctx, session
        self._confirm, self._choose_open, self._choose_save = confirm, choose_open, choose_save
        self._base_text: str | None = None  # the opened/saved file's text: Save edits it in place
        self.path: Path | None = None
        self.protocol: Protocol | None = None  # the form's protocol when valid
        self.issues: tuple[ProtocolIssue, ...] = ()
        self.state: ProtocolState = protocol_state(ctx, session)
        self.banner = QLabel()
        self.banner.setWordWrap(True)
        self.banner.setTextFormat(Qt.TextFormat.RichText)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.file_issues = QLabel()
        self.file_issues.setWordWrap(True)
        self.file_issues.setStyleSheet("color: #b00020;")
        self.form = ProtocolForm(self.state.models)
        self.open_button = QPushButton("Open TOML…")
        self.save_button = QPushButton("Save TOML…")
        self.revert_button = QPushButton("Show applied protocol")
        self.apply_button = QPushButton("Apply…")
        self.assignments = AssignmentsPanel(ctx, session)
        self.update_button = self.assignments.update_button
        self._build()
        self.open_button.clicked.connect(self._on_open_requested)
        self.save_button.clicked.connect(self._on_save_requested)
        self.revert_button.clicked.connect(self.show_applied)
        self.apply_button.clicked.connect(self._on_apply_requested)
        self.update_button.clicked.connect(self._on_update_requested)
        self.form.edited.connect(self.validate)
        if self.state.applied is not None:
            self.show_applied()
        else:
            self.form.set_values({"seed": self.form.random_seed(), "arms": [{"name": "unaided"}]})
        self.refresh()

    def _build(self) -> None:
        buttons = QHBoxLayout()
        for b in (self.open_button, self.save_button, self.revert_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(self.apply_button)
        scroll = QScrollArea()
        scroll.setWidget(self.form)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)  # messages wrap instead
        left = QGroupBox("Protocol")
        lay = QVBoxLayout(left)
        lay.addLayout(buttons)
        lay.addWidget(self.file_issues)
        lay.addWidget(scroll, 1)
        split = QSplitter()
        split.addWidget(left)
        split.addWidget(self.assignments)
        split.setSizes([640, 940])
        root = QVBoxLayout(self)
        root.addWidget(self.banner)
        root.addWidget(self.message)
        root.addWidget(split, 1)

    # --- state ---------------------------------------------------------------------------------
    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt override
        self.refresh()  # cases imported and readers added in the other tabs since it was built
        super().showEvent(event)

    def refresh(self) -> None:
        """Reload what the study holds (applied protocol, orders, models) and the assignments table."""
        try:
            self.state = protocol_state(self._ctx, self._session)
        except ReaderStudyError as exc:
            self.message.setText(str(exc))
            return
        self.form.set_models(self.state.models)
        self.form.set_editable(self.state.editable)
        self.revert_button.setEnabled(self.state.applied is not None)
        self.banner.setText(self._banner_html())
        self.assignments.refresh(self.state)
        self.validate()

    def _banner_html(self) -> str:
        s = self.state
        if s.applied is None:
            return (f"<b>{s.study}</b>: no protocol applied yet ({s.cases} case(s), {s.readers} reader(s)). Write it "
                    "below or open a TOML file, then Apply.")
        if not s.has_orders:
            return (f"<b>{s.study}</b>: protocol applied, no reader has an order yet: everything can still be "
                    "changed (Apply again).")
        read_ai = [a.name for a in s.applied.arms if a.shows_ai and a.name in s.arms_with_reads]
        read = f" (no longer for {', '.join(read_ai)}: it has reads)" if read_ai else ""
        return (f"<b>{s.study}</b>: protocol applied; readers have their orders. <b>Fixed now</b>: arms, sessions, "
                "washout, design and seed (a new study changes them). <b>Still changeable</b>: black screen, "
                f"contradiction margin, idle timeout, and the model an AI arm shows until it is read{read}.")

    def show_applied(self) -> None:
        """Put the applied protocol in the form (forgetting an opened file)."""
        if self.state.applied is None:
            return
        self._base_text, self.path = None, None
        self.file_issues.setText("")
        self.form.set_values(self.state.applied.to_dict())
        self.message.setText("Showing the applied protocol.")

    def validate(self) -> tuple[ProtocolIssue, ...]:
        """Check the form with the TOML validator (and the locks once orders exist); show each message."""
        issues: list[ProtocolIssue] = []
        self.protocol = None
        try:
            self.protocol = validate_protocol(self.form.values(), "form")
        except ProtocolError as exc:
            issues = list(exc.issues)
        s = self.state
        if self.protocol is not None and s.applied is not None and s.has_orders:
            issues = locked_changes(s.applied, self.protocol, s.arms_with_reads)
            if issues:
                self.protocol = None
        self.issues = tuple(issues)
        orphans = self.form.show_issues(self.issues)
        self.save_button.setEnabled(self.protocol is not None)
        self.apply_button.setEnabled(self.protocol is not None)
        self.apply_button.setText("Apply changes…" if s.applied is not None else "Apply…")
        if orphans:
            self.file_issues.setText("\n".join(str(i) for i in orphans))
        return self.issues

    # --- files ---------------------------------------------------------------------------------
    def _on_open_requested(self) -> None:
        path = self._choose_open(self)
        if path:
            self.open_file(path)

    def open_file(self, path: str | Path) -> bool:
        """Load a protocol TOML into the form; its problems are shown next to their fields."""
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
            raw, issues = read_protocol_toml(text, p.name)
        except (OSError, UnicodeDecodeError, ProtocolError) as exc:
            self.message.setText(f"{p.name} was not opened: {exc}")
            return False
        self._base_text, self.path = text, p
        self.form.set_values(raw)
        unknown = [i for i in issues if self.form.widget_for(i.field) is None and i.field not in self.form.errors]
        self.file_issues.setText("\n".join(f"{i} (this field is dropped when the file is saved)" for i in unknown))
        self.message.setText(f"Opened {p}." + (" Fix the fields marked in red." if self.issues else ""))
        return True

    def _on_save_requested(self) -> None:
        path = self._choose_save(self)
        if path:
            self.save_file(path)

    def save_file(self, path: str | Path) -> bool:
        """Write the form's (valid) protocol as TOML; the opened file keeps its comments and layout."""
        if self.protocol is None:
            self.message.setText("Not saved: fix the fields marked in red first.")
            return False
        text = protocol_to_toml(self.protocol, self._base_text)
        try:
            Path(path).write_text(text, encoding="utf-8")
        except OSError as exc:
            self.message.setText(f"Not saved: {exc}")
            return False
        self._base_text, self.path = text, Path(path)
        self.file_issues.setText("")
        self.message.setText(f"Saved {path}.")
        return True

    # --- apply ---------------------------------------------------------------------------------
    def _ai_notes(self, protocol: Protocol | None) -> list[str]:
        try:
            status = ai_readiness(self._ctx, self._session, protocol)
        except ReaderStudyError:
            return []
        return [f"{a.problem} {a.action}" for a in status.alerts]

    def _run_plan(self, protocol: Protocol | None, title: str) -> bool:
        try:
            plan = preview_apply(self._ctx, self._session, protocol)
        except ProtocolLocked as exc:
            self.form.show_issues(exc.issues)
            self.message.setText(str(exc))
            return False
        except ReaderStudyError as exc:
            self.message.setText(str(exc))
            return False
        if plan.nothing_to_do:
            self.message.setText("Nothing to do: every reader has an order holding every case.")
            return False
        if not self._confirm(self, title, plan_html(plan, self._ai_notes(protocol))):
            self.message.setText("Not applied.")
            return False
        try:
            outcome = apply_with_plan(self._ctx, self._session, protocol, expected=plan)
        except ReaderStudyError as exc:
            log.warning("protocol apply failed: %s", exc)
            self.message.setText(str(exc))
            return False
        self.message.setText(applied_message(len(outcome.created), len(outcome.extended), plan.appended_cases))
        self.refresh()
        return True

    def _on_apply_requested(self) -> None:
        if self.validate() or self.protocol is None:
            self.message.setText("Not applied: fix the fields marked in red first.")
            return
        self.apply()

    def apply(self) -> bool:
        """Preview, confirm and apply the form's protocol (the Apply button)."""
        return self.protocol is not None and self._run_plan(self.protocol, "Apply the protocol?")

    def update_assignments(self) -> bool:
        """Give readers and cases added since the apply their assignments (orders extended, never redrawn)."""
        return self._run_plan(None, "Update assignments?")

    def _on_update_requested(self) -> None:
        self.update_assignments()


def protocol_tab(ctx: AppContext, session: UserSession) -> ProtocolEditorWidget:
    """Factory for the coordinator home window's "Protocol" tab."""
    return ProtocolEditorWidget(ctx, session)


__all__ = ["ProtocolEditorWidget", "applied_message", "plan_html", "protocol_tab"]
