"""Qt application start-up (the one place that configures pyqtgraph)."""

from __future__ import annotations

import sys

from PySide6.QtWidgets import QApplication


def configure_pyqtgraph() -> None:
    """Row-major image arrays (numpy (rows, cols)), as every view in the app assumes.

    Imports pyqtgraph (about 0.5 s), so the app shell calls it after the sign-in screen is up and
    again before it builds a signed-in window; calling it twice changes nothing.
    """
    import pyqtgraph as pg

    pg.setConfigOptions(imageAxisOrder="row-major", antialias=True)


def ensure_app(*, configure: bool = True) -> QApplication:
    """The QApplication (created once); ``configure`` also sets pyqtgraph's options at once."""
    app = QApplication.instance()
    if app is None:
        app = QApplication(sys.argv[:1])
        app.setApplicationName("readerstudy")
    if configure:
        configure_pyqtgraph()
    return app  # type: ignore[return-value]


def release_window(window) -> None:  # noqa: ANN001 - a QWidget
    """Delete ``window`` while the QApplication still exists: pyqtgraph views garbage-collected
    during interpreter shutdown abort the process."""
    window.close()
    window.deleteLater()
    QApplication.processEvents()
