"""Sign-in: pick the study and your name, type your PIN. Errors (wrong PIN, lock) show inline.

The same screen starts a study: on an empty database it offers only "New study…" (the study and
its first coordinator); with studies it still offers "New study…", "Change my PIN…", and, for a
study imported on the command line that has no coordinator yet, "Create its first coordinator…".
After a coordinator's PIN reset the participant chooses a new PIN before going on. Sub-dialogs
open window-modal without blocking (``subdialog`` is the one showing).

Escape clears the PIN and the message instead of closing the screen: after a sign-out this is the
screen the next person sees (a reader's Escape for a break, pressed once more, ended the app).
**Quit** (or closing the screen) ends the app.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
)

from readerstudy.core.errors import ReaderStudyError
from readerstudy.services import auth, studies
from readerstudy.services.context import AppContext
from readerstudy.ui.account_dialogs import (
    first_coordinator_dialog,
    forced_pin_change_dialog,
    new_study_dialog,
    sign_in_pin_change_dialog,
)
from readerstudy.ui.forms import ERROR_STYLE, FormDialog


class SignInDialog(QDialog):
    """On success ``session`` holds the :class:`~readerstudy.services.auth.UserSession`."""

    def __init__(self, ctx: AppContext, study_name: str | None = None, parent: Any = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.session: auth.UserSession | None = None
        self.subdialog: FormDialog | None = None
        self.setWindowTitle("readerstudy — sign in")
        self.setMinimumWidth(460)
        title = QLabel("<h2>Reader study sign-in</h2>")
        self.notice = QLabel("")
        self.notice.setWordWrap(True)
        self.notice.setTextFormat(Qt.TextFormat.RichText)
        self.first_coordinator_button = QPushButton("Create its first coordinator…")
        self.study = QComboBox()
        self.study.addItems(auth.studies(ctx))
        if study_name:
            self.study.setCurrentText(study_name)
        self.person = QComboBox()
        self.pin = QLineEdit()
        self.pin.setEchoMode(QLineEdit.EchoMode.Password)
        self.pin.setPlaceholderText("PIN")
        self.error = QLabel("")
        self.error.setWordWrap(True)
        self.error.setStyleSheet(ERROR_STYLE)
        self.button = QPushButton("Sign in")
        self.new_study_button = QPushButton("New study…")
        self.change_pin_button = QPushButton("Change my PIN…")
        self.quit_button = QPushButton("Quit")
        self.quit_button.setToolTip("End readerstudy (nobody can sign in until it is started again)")
        for b in (self.button, self.new_study_button, self.change_pin_button, self.first_coordinator_button,
                  self.quit_button):
            b.setAutoDefault(False)
        self.form = QFormLayout()
        self.form.addRow("Study", self.study)
        self.form.addRow("Name", self.person)
        self.form.addRow("PIN", self.pin)
        row = QHBoxLayout()
        row.addWidget(self.new_study_button)
        row.addWidget(self.change_pin_button)
        row.addStretch(1)
        row.addWidget(self.quit_button)
        row.addWidget(self.button)
        lay = QVBoxLayout(self)
        lay.addWidget(title)
        lay.addWidget(self.notice)
        lay.addWidget(self.first_coordinator_button, alignment=Qt.AlignmentFlag.AlignLeft)
        lay.addLayout(self.form)
        lay.addWidget(self.error)
        lay.addLayout(row)
        self.study.currentTextChanged.connect(self._on_study_changed)
        # Enter in the PIN field signs in once: "Sign in" is not also the dialog's default button
        # (both fired on one Enter, and a wrong PIN counted as two attempts towards the lock-out)
        self.button.clicked.connect(self._on_sign_in)
        self.pin.returnPressed.connect(self._on_sign_in)
        self.new_study_button.clicked.connect(self._on_new_study)
        self.change_pin_button.clicked.connect(self._on_change_pin)
        self.first_coordinator_button.clicked.connect(self._on_first_coordinator)
        self.quit_button.clicked.connect(self.reject)
        self._on_study_changed(self.study.currentText())

    def keyPressEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and not self.first_run:
            # the PIN field's returnPressed has signed in; QDialog would also press the default
            # button of any child dialog it just opened (e.g. "Save PIN" with empty fields)
            event.accept()
            return
        if event.key() == Qt.Key.Key_Escape and event.modifiers() == Qt.KeyboardModifier.NoModifier:
            self.pin.clear()  # QDialog would reject: the app would end for the next person
            self.error.clear()
            self.pin.setFocus()
            event.accept()
            return
        super().keyPressEvent(event)

    @property
    def first_run(self) -> bool:
        """True on an empty database: the only thing to do is to create a study."""
        return self.study.count() == 0

    def _on_study_changed(self, name: str) -> None:
        self.person.clear()
        self.error.clear()
        empty = self.first_run
        for w in (self.study, self.person, self.pin, self.button, self.change_pin_button):
            w.setEnabled(not empty)
        self.new_study_button.setDefault(empty)
        self.new_study_button.setAutoDefault(empty)
        if empty:
            self.notice.setText("<b>Welcome to readerstudy.</b> This database has no study yet. Create the first "
                                "study and its coordinator with <b>New study…</b>.")
            self.first_coordinator_button.hide()
            self.new_study_button.setFocus()
            return
        needs = studies.needs_first_coordinator(self.ctx, name)
        self.first_coordinator_button.setVisible(needs)
        self.notice.setText(f"Study <b>{name}</b> has no coordinator yet: create one to manage it." if needs else "")
        self.notice.setVisible(needs)
        for p in auth.participants(self.ctx, name):
            if not p.has_pin:  # cannot sign in yet (e.g. "import", the author of imported masks)
                continue
            label = p.name if p.role == "reader" else f"{p.name}  ({p.role})"
            self.person.addItem(label, p.name)
        self.pin.setFocus()

    def _on_sign_in(self) -> None:
        name = self.person.currentData()
        if not name:
            self.error.setText("Pick your name first.")
            return
        pin = self.pin.text()
        self.pin.clear()
        if not pin:
            self.error.setText("Type your PIN.")  # not a wrong PIN: nothing is counted
            return
        try:
            session = auth.sign_in(self.ctx, self.study.currentText(), name, pin)
        except ReaderStudyError as exc:
            self.error.setText(str(exc))
            return
        if session.must_change_pin:
            self._open(forced_pin_change_dialog(self.ctx, session, pin, self), on_rejected=lambda: self._pin_not_changed(
                session))
            return
        self._finish(session)

    def _pin_not_changed(self, session: auth.UserSession) -> None:
        auth.sign_out(self.ctx, session)
        self.error.setText("Your PIN was reset: choose a new PIN to sign in.")

    def _on_new_study(self) -> None:
        self._open(new_study_dialog(self.ctx, self, first_run=self.first_run))

    def _on_first_coordinator(self) -> None:
        self._open(first_coordinator_dialog(self.ctx, self.study.currentText(), self))

    def _on_change_pin(self) -> None:
        name = self.person.currentData()
        if not name:
            self.error.setText("Pick your name first, then change your PIN.")
            return
        dialog = sign_in_pin_change_dialog(self.ctx, self.study.currentText(), name, self)
        dialog.accepted.connect(lambda: self.error.setText(""))
        dialog.accepted.connect(lambda: self.notice.setText("Your PIN was changed; sign in with the new PIN."))
        dialog.accepted.connect(lambda: self.notice.setVisible(True))
        self._open(dialog, finish=False)

    def _open(self, dialog: FormDialog, *, finish: bool = True, on_rejected: Any = None) -> None:
        self.subdialog = dialog
        if finish:
            dialog.accepted.connect(lambda: self._finish(dialog.result_value))
        if on_rejected is not None:
            dialog.rejected.connect(on_rejected)
        dialog.open()

    def _finish(self, session: auth.UserSession | None) -> None:
        if session is None:
            return
        self.session = session
        self.accept()
