"""The coordinator's Participants tab: who takes part in the study, their PINs and lock-outs.

A table of every participant (active or not; the AI's model reader is not one), an "Add
participant" form with its error shown next to it, and actions on the selected participant:
edit (name, seniority), deactivate / reactivate (never delete: reads reference them), set PIN,
reset PIN (a temporary PIN shown once, to be changed at the next sign-in) and unlock. Every
action goes through :mod:`readerstudy.services.participants`, which enforces the rules.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from readerstudy.core.errors import ReaderStudyError
from readerstudy.core.models import Role
from readerstudy.services import participants as people
from readerstudy.services.auth import UserSession
from readerstudy.services.context import AppContext
from readerstudy.ui.forms import ERROR_STYLE, Field, FormDialog

COLUMNS = ("Name", "Role", "Seniority", "Active", "PIN", "Reads", "Sign-in")
SENIORITY_CHOICES = (("—", ""), ("senior", "senior"), ("mid", "mid"), ("junior", "junior"))
PIN_HINT = f"{people.PIN_MIN_DIGITS}-{people.PIN_MAX_DIGITS} digits"
INACTIVE = QColor("#8a8a8a")


def _sign_in_state(p: people.ParticipantInfo) -> str:
    if not p.active:
        return "deactivated"
    if p.locked_until is not None:
        return f"locked until {p.locked_until:%H:%M:%S} UTC"
    if p.failed_attempts:
        return f"{p.failed_attempts} wrong PIN(s)"
    return "ok"


def _pin_state(p: people.ParticipantInfo) -> str:
    if not p.has_pin:
        return "not set"
    return "temporary (to change)" if p.must_change_pin else "set"


class ParticipantsWidget(QWidget):
    """The Participants tab. ``dialog`` is the action dialog showing (for tests)."""

    def __init__(self, ctx: AppContext, session: UserSession) -> None:
        super().__init__()
        self.ctx, self.session = ctx, session
        self.rows: list[people.ParticipantInfo] = []
        self.dialog: FormDialog | None = None
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setStretchLastSection(True)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error = QLabel("")
        self.error.setWordWrap(True)
        self.error.setStyleSheet(ERROR_STYLE)
        self.buttons: dict[str, QPushButton] = {}
        actions = QHBoxLayout()
        for key, title, slot in (("edit", "Edit…", self.edit_selected),
                                 ("deactivate", "Deactivate…", self.deactivate_selected),
                                 ("reactivate", "Reactivate", self.reactivate_selected),
                                 ("set_pin", "Set PIN…", self.set_pin_selected),
                                 ("reset_pin", "Reset PIN…", self.reset_pin_selected),
                                 ("unlock", "Unlock", self.unlock_selected)):
            b = QPushButton(title)
            b.clicked.connect(lambda _=False, s=slot: s())
            self.buttons[key] = b
            actions.addWidget(b)
        actions.addStretch(1)
        lay = QVBoxLayout(self)
        lay.addWidget(self._add_form())
        lay.addWidget(QLabel("<b>Participants</b> — deactivated people keep their reads and masks but cannot "
                             "sign in; nobody is ever deleted."))
        lay.addWidget(self.table, 1)
        lay.addLayout(actions)
        lay.addWidget(self.error)
        lay.addWidget(self.status)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.table.doubleClicked.connect(lambda _index: self.edit_selected())
        self.refresh()

    # --- the add form -------------------------------------------------------------------------
    def _add_form(self) -> QGroupBox:
        box = QGroupBox("Add a participant")
        self.add_name = QLineEdit()
        self.add_name.setPlaceholderText("e.g. Dr B. Smith")
        self.add_role = QComboBox()
        for role in (Role.READER, Role.ANNOTATOR, Role.COORDINATOR):
            self.add_role.addItem(str(role), role)
        self.add_seniority = QComboBox()
        for label, value in SENIORITY_CHOICES:
            self.add_seniority.addItem(label, value)
        self.add_pin = QLineEdit()
        self.add_pin2 = QLineEdit()
        for w, hint in ((self.add_pin, PIN_HINT), (self.add_pin2, "PIN again")):
            w.setEchoMode(QLineEdit.EchoMode.Password)
            w.setPlaceholderText(hint)
        self.add_button = QPushButton("Add")
        self.add_error = QLabel("")
        self.add_error.setWordWrap(True)
        self.add_error.setStyleSheet(ERROR_STYLE)
        grid = QGridLayout(box)
        for col, (label, widget) in enumerate((("Name", self.add_name), ("Role", self.add_role),
                                               ("Seniority", self.add_seniority), ("PIN", self.add_pin),
                                               ("PIN again", self.add_pin2))):
            grid.addWidget(QLabel(label), 0, col)
            grid.addWidget(widget, 1, col)
        grid.addWidget(self.add_button, 1, 5)
        grid.addWidget(self.add_error, 2, 0, 1, 6)
        grid.setColumnStretch(0, 3)
        self.add_role.currentIndexChanged.connect(self._on_role_changed)
        self.add_button.clicked.connect(self.add_from_form)
        for w in (self.add_name, self.add_pin, self.add_pin2):
            w.textEdited.connect(lambda _t: self.add_error.clear())  # the error is about what was typed
        self.add_pin2.returnPressed.connect(self.add_from_form)
        return box

    def _on_role_changed(self) -> None:
        reader = self.add_role.currentData() == Role.READER
        self.add_seniority.setEnabled(reader)
        if not reader:
            self.add_seniority.setCurrentIndex(0)

    def add_from_form(self) -> None:
        """Add the participant typed in the form; the form's error line says what to fix."""
        pin, pin2 = self.add_pin.text(), self.add_pin2.text()
        try:
            role = self.add_role.currentData()
            people.validate_name(self.add_name.text())
            checked = people.validate_new_pin(pin, pin2) if (pin or pin2) else None
            info = people.add_participant(self.ctx, self.session, self.add_name.text(), role, pin=checked,
                                          seniority=self.add_seniority.currentData())
        except ReaderStudyError as exc:
            self.add_error.setText(str(exc))
            if "PIN" in str(exc):
                self.add_pin.clear()
                self.add_pin2.clear()
                self.add_pin.setFocus()
            return
        self.add_error.clear()
        for w in (self.add_name, self.add_pin, self.add_pin2):
            w.clear()
        self.add_name.setFocus()
        note = "" if info.has_pin else " No PIN yet: select them and use Set PIN… before they sign in."
        self._done(f"Added {info.name} ({info.role}).{note}", select=info.name)

    def showEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        self.refresh()  # lock-outs change while the tab is hidden
        super().showEvent(event)

    # --- the table ------------------------------------------------------------------------------
    def refresh(self) -> None:
        keep = self.selected.name if self.selected else None
        try:
            self.rows = people.list_participants(self.ctx, self.session)
        except ReaderStudyError as exc:
            self.error.setText(str(exc))
            return
        self.table.setRowCount(len(self.rows))
        for i, p in enumerate(self.rows):
            values = (p.name, str(p.role), p.seniority or "—", "yes" if p.active else "no", _pin_state(p),
                      str(p.reads), _sign_in_state(p))
            for j, value in enumerate(values):
                item = QTableWidgetItem(value)
                if not p.active:
                    item.setForeground(INACTIVE)
                self.table.setItem(i, j, item)
        self.table.resizeColumnsToContents()
        self.table.setColumnWidth(0, max(self.table.columnWidth(0), 240))
        if keep:
            self.select(keep)
        self._update_buttons()

    def select(self, name: str) -> None:
        for i, p in enumerate(self.rows):
            if p.name == name:
                self.table.selectRow(i)
                return

    @property
    def selected(self) -> people.ParticipantInfo | None:
        rows = {i.row() for i in self.table.selectedIndexes()}
        return self.rows[min(rows)] if rows and min(rows) < len(self.rows) else None

    def _update_buttons(self) -> None:
        p = self.selected
        me = p is not None and p.id == self.session.participant_id
        enabled = {"edit": p is not None, "set_pin": p is not None and p.active,
                   "reset_pin": p is not None and p.active and not me,
                   "deactivate": p is not None and p.active and not me,
                   "reactivate": p is not None and not p.active, "unlock": p is not None and p.locked}
        for key, on in enabled.items():
            self.buttons[key].setEnabled(on)

    def _done(self, message: str, *, select: str | None = None) -> None:
        self.error.clear()
        self.status.setText(message)
        self.refresh()
        if select:
            self.select(select)

    # --- actions on the selected participant ------------------------------------------------------------
    def _dialog(self, title: str, fields: list[Field], submit: Any, *, intro: str, ok: str) -> FormDialog:
        dialog = FormDialog(title, fields, submit, intro=intro, ok_text=ok, parent=self)
        self.dialog = dialog
        dialog.open()
        return dialog

    def edit_selected(self) -> None:
        p = self.selected
        if p is None:
            return
        fields = [Field("name", "Name", value=p.name)]
        if p.role == Role.READER:
            fields.append(Field("seniority", "Seniority", "choice", value=p.seniority, choices=SENIORITY_CHOICES))

        def submit(v: dict[str, Any]) -> str:
            name = p.name
            if v["name"].strip() != p.name:
                name = people.rename_participant(self.ctx, self.session, p.name, v["name"]).name
            if "seniority" in v and v["seniority"] != p.seniority:
                people.set_seniority(self.ctx, self.session, name, v["seniority"])
            return name

        d = self._dialog(f"Edit {p.name}", fields, submit, ok="Save",
                         intro="Reads, masks and assignments follow a renamed participant.")
        d.accepted.connect(lambda: self._done(f"Saved {d.result_value}.", select=d.result_value))

    def deactivate_selected(self) -> None:
        p = self.selected
        if p is None:
            return
        d = self._dialog(f"Deactivate {p.name}", [], lambda _v: people.deactivate_participant(
            self.ctx, self.session, p.name), ok="Deactivate",
            intro=f"<b>{p.name}</b> will no longer be able to sign in. Their {p.reads} read(s), masks and "
                  "assignments are kept; you can reactivate them later.")
        d.accepted.connect(lambda: self._done(f"{p.name} is deactivated.", select=p.name))

    def reactivate_selected(self) -> None:
        p = self.selected
        if p is not None:
            self._run(lambda: people.reactivate_participant(self.ctx, self.session, p.name),
                      f"{p.name} is active again and can sign in.", p.name)

    def unlock_selected(self) -> None:
        p = self.selected
        if p is not None:
            self._run(lambda: people.unlock_participant(self.ctx, self.session, p.name),
                      lambda was_locked: f"{p.name} is unlocked and can sign in now." if was_locked
                      else f"{p.name} was not locked.", p.name)

    def set_pin_selected(self) -> None:
        p = self.selected
        if p is None:
            return
        fields = [Field("pin", "New PIN", "pin", placeholder=PIN_HINT), Field("pin_again", "New PIN again", "pin")]
        d = self._dialog(f"Set the PIN of {p.name}", fields, lambda v: people.set_pin(
            self.ctx, self.session, p.name, people.validate_new_pin(v["pin"], v["pin_again"])), ok="Set PIN",
            intro="Let the participant type it, or tell it to them in person. A lock-out is cleared.")
        d.accepted.connect(lambda: self._done(f"PIN of {p.name} set.", select=p.name))

    def reset_pin_selected(self) -> None:
        p = self.selected
        if p is None:
            return
        d = self._dialog(f"Reset the PIN of {p.name}", [], lambda _v: people.reset_pin(
            self.ctx, self.session, p.name), ok="Reset PIN",
            intro=f"A temporary {people.TEMPORARY_PIN_DIGITS}-digit PIN replaces <b>{p.name}</b>'s PIN; they "
                  "must choose their own PIN when they next sign in. It is shown here once.")
        d.accepted.connect(lambda: self._done(
            f"Temporary PIN of {p.name}: <b style='font-size:16px'>{d.result_value}</b> — tell it to them in "
            "person; it is not shown again.", select=p.name))

    def _run(self, call: Any, message: Any, name: str) -> None:
        """``message`` is a string or a function of what ``call()`` returned."""
        try:
            result = call()
        except ReaderStudyError as exc:
            self.error.setText(str(exc))
            return
        self._done(message(result) if callable(message) else message, select=name)


def participants_tab(ctx: AppContext, session: UserSession) -> ParticipantsWidget:
    return ParticipantsWidget(ctx, session)


__all__ = ["ParticipantsWidget", "participants_tab"]
