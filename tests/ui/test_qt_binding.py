"""Guard against PySide6 releases that leak references to None (6.12.0 on Python 3.11).

In 6.12.0 every Qt call returning void dropped one reference to ``None``; a reading session of a
few thousand UI updates then aborted the interpreter ("deallocating None"). pyproject pins a
release without the bug; this test fails if an upgrade brings it back.
"""

from __future__ import annotations

import sys


def test_void_qt_calls_do_not_leak_none(qtbot) -> None:  # noqa: ANN001
    from PySide6.QtWidgets import QApplication, QLabel

    label = QLabel()
    qtbot.addWidget(label)
    before = sys.getrefcount(None)
    for _ in range(3000):
        label.setText("x")
        label.update()
        QApplication.processEvents()
    assert before - sys.getrefcount(None) < 500
