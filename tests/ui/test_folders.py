"""The export folder chooser takes a folder that does not exist yet (the exports create it).

Driven as a user does: the real dialog opens (modal), a name is typed in its name field and
Enter pressed. Qt's own folder dialog answered "Directory not found" and stayed open.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QDialogButtonBox, QFileDialog, QLineEdit, QMessageBox, QWidget

from readerstudy.ui.coordinator.folders import ask_dir


class User:
    """Types ``text`` in the open folder dialog and presses Enter; closes any message box it gets
    (recording its text) and, if the dialog is still open after that, cancels it."""

    def __init__(self, text: str, click: bool = False) -> None:
        self.text, self.click, self.messages, self.cancelled = text, click, [], False
        self.enabled: list[bool] = []  # was "Choose" clickable for the name typed
        self.timer = QTimer()
        self.timer.setInterval(50)
        self.timer.timeout.connect(self._tick)
        self.typed = False

    def _tick(self) -> None:
        modal = QApplication.activeModalWidget()
        if isinstance(modal, QMessageBox):
            self.messages.append(modal.text())
            modal.done(0)
        elif isinstance(modal, QFileDialog):
            if self.typed:  # it stayed open after Enter (and its message): give up, as a user would
                self.cancelled = True
                modal.reject()
                return
            edit = modal.findChild(QLineEdit, "fileNameEdit")
            QTest.keyClicks(edit, self.text)
            self.typed = True  # Enter from its own timer: Qt fires no timer again while its slot runs, and
            QTimer.singleShot(20, lambda: self._choose(modal, edit))  # a message box would block it

    def _choose(self, dialog: QFileDialog, edit: QLineEdit) -> None:
        button = dialog.findChild(QDialogButtonBox, "buttonBox").button(QDialogButtonBox.StandardButton.Open)
        self.enabled.append(button.isEnabled())
        if self.click:
            button.click()
        else:
            QTest.keyClick(edit, Qt.Key.Key_Return)


@pytest.mark.parametrize(("typed", "click"), [("new report", False), ("{tmp}/deeper/new report", False),
                                              ("new report", True)], ids=["name + Enter", "full path + Enter",
                                                                          "name + Choose"])
def test_a_new_folder_name_is_accepted(qtbot, tmp_path: Path, typed: str, click: bool) -> None:
    parent = QWidget()
    qtbot.addWidget(parent)
    (tmp_path / "existing").mkdir()
    user = User(typed.format(tmp=tmp_path), click=click)
    user.timer.start()
    try:
        chosen = ask_dir(parent, "Export the report into folder", str(tmp_path))
    finally:
        user.timer.stop()
    want = tmp_path / "new report" if typed == "new report" else tmp_path / "deeper" / "new report"
    assert user.messages == [] and not user.cancelled and user.enabled == [True]  # no "Directory not found"
    assert chosen == str(want) and not want.exists()  # chosen; the export creates it


def test_an_existing_folder_is_still_chosen_and_a_file_is_not_a_folder(qtbot, tmp_path: Path) -> None:
    parent = QWidget()
    qtbot.addWidget(parent)
    (tmp_path / "existing").mkdir()
    (tmp_path / "a file").write_text("x")
    user = User("existing")
    user.timer.start()
    try:
        assert ask_dir(parent, "Folder", str(tmp_path)) == str(tmp_path / "existing")
        user.typed, user.text = False, str(tmp_path / "a file" / "sub")  # below a file: no folder possible
        assert ask_dir(parent, "Folder", str(tmp_path)) is None
    finally:
        user.timer.stop()
    assert user.cancelled
