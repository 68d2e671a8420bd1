"""``readerstudy gui`` (the default command): open the desktop app."""

from __future__ import annotations

import argparse

from readerstudy.cli.app import add_db_argument


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gui", help="open the desktop app (default)")
    add_db_argument(p)
    p.add_argument("--study", default=None, help="study to open")
    p.set_defaults(func=_run)


def launch(ctx, study: str | None = None) -> int:  # noqa: ANN001 - AppContext, imported lazily
    """Open the main window on ``study`` and run the Qt event loop until it closes."""
    from readerstudy.ui.app import ensure_app
    from readerstudy.ui.main_window import MainWindow

    app = ensure_app()
    window = MainWindow(ctx, study)
    window.resize(1500, 900)
    window.show()
    code = app.exec()
    release_window(window)
    return code


def release_window(window) -> None:  # noqa: ANN001 - a QWidget
    """Delete the window while the QApplication still exists: pyqtgraph views garbage-collected
    during interpreter shutdown abort the process."""
    from PySide6.QtWidgets import QApplication

    window.close()
    window.deleteLater()
    QApplication.processEvents()


def _run(args: argparse.Namespace) -> int:
    from readerstudy.services.context import open_context

    ctx = open_context(args.db)
    try:
        return launch(ctx, args.study)
    finally:
        ctx.close()
