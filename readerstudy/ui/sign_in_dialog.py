"""Sign-in: pick the study and your name, type your PIN. Errors (wrong PIN, lock) show inline."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
)

from readerstudy.core.errors import ReaderStudyError
from readerstudy.services import auth
from readerstudy.services.context import AppContext


class SignInDialog(QDialog):
    """On success ``session`` holds the :class:`~readerstudy.services.auth.UserSession`."""

    def __init__(self, ctx: AppContext, study_name: str | None = None, parent: Any = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.session: auth.UserSession | None = None
        self.setWindowTitle("readerstudy — sign in")
        self.setMinimumWidth(420)
        title = QLabel("<h2>Reader study sign-in</h2>")
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
        self.error.setStyleSheet("color: #e04040;")
        self.button = QPushButton("Sign in")
        self.button.setDefault(True)
        form = QFormLayout()
        form.addRow("Study", self.study)
        form.addRow("Name", self.person)
        form.addRow("PIN", self.pin)
        lay = QVBoxLayout(self)
        lay.addWidget(title)
        lay.addLayout(form)
        lay.addWidget(self.error)
        lay.addWidget(self.button, alignment=Qt.AlignmentFlag.AlignRight)
        self.study.currentTextChanged.connect(self._on_study_changed)
        self.button.clicked.connect(self._on_sign_in)
        self.pin.returnPressed.connect(self._on_sign_in)
        self._on_study_changed(self.study.currentText())
        self.pin.setFocus()

    def _on_study_changed(self, name: str) -> None:
        self.person.clear()
        if not name:
            self.error.setText("No study in this database yet; a coordinator must create one.")
            return
        for p in auth.participants(self.ctx, name):
            label = p.name if p.role == "reader" else f"{p.name}  ({p.role})"
            self.person.addItem(label, p.name)

    def _on_sign_in(self) -> None:
        name = self.person.currentData()
        if not name:
            self.error.setText("Pick your name first.")
            return
        try:
            self.session = auth.sign_in(self.ctx, self.study.currentText(), name, self.pin.text())
        except ReaderStudyError as exc:
            self.error.setText(str(exc))
            self.pin.clear()
            return
        finally:
            self.pin.clear()
        self.accept()
