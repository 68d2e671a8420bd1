"""Qt tests run offscreen; the reading builders live next to the service tests; QSettings are private."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "services"))


@pytest.fixture(autouse=True)
def _private_qsettings(tmp_path_factory):
    """Per-user preferences (QSettings) go to a temporary folder, never to the tester's home."""
    from PySide6.QtCore import QSettings, QStandardPaths

    folder = tmp_path_factory.mktemp("qsettings")
    home = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.GenericConfigLocation)
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(folder))
    # QSettings("readerstudy", "readerstudy") is NativeFormat, whatever the default: its own path
    # (the Exports tab built by the coordinator window wrote the tester's remembered folders)
    QSettings.setPath(QSettings.Format.NativeFormat, QSettings.Scope.UserScope, str(folder))
    yield folder
    QSettings.setPath(QSettings.Format.NativeFormat, QSettings.Scope.UserScope, home)


class Answers(list):
    """Answers a test queues for ``QMessageBox.question`` and the questions asked, as (title, text)."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[tuple[str, str]] = []


@pytest.fixture(autouse=True)
def unsaved_answers(monkeypatch):
    """``QMessageBox.question`` never blocks a test: it answers Discard (or the first answer a test
    appends to this list) and records each question."""
    from PySide6.QtWidgets import QMessageBox

    answers = Answers()

    def question(parent, title, text, buttons=None, default=None):  # noqa: ANN001, ANN202
        answers.asked.append((title, text))
        return answers.pop(0) if answers else QMessageBox.StandardButton.Discard

    monkeypatch.setattr(QMessageBox, "question", staticmethod(question))
    return answers
