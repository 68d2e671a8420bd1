"""Qt application start-up (the one place that configures pyqtgraph)."""

from __future__ import annotations

import sys

import pyqtgraph as pg
from PySide6.QtWidgets import QApplication


def configure_pyqtgraph() -> None:
    """Row-major image arrays (numpy (rows, cols)), as every view in the app assumes."""
    pg.setConfigOptions(imageAxisOrder="row-major", antialias=True)


def ensure_app() -> QApplication:
    app = QApplication.instance()
    if app is None:
        app = QApplication(sys.argv[:1])
        app.setApplicationName("readerstudy")
    configure_pyqtgraph()
    return app  # type: ignore[return-value]


def release_window(window) -> None:  # noqa: ANN001 - a QWidget
    """Delete ``window`` while the QApplication still exists: pyqtgraph views garbage-collected
    during interpreter shutdown abort the process."""
    window.close()
    window.deleteLater()
    QApplication.processEvents()
