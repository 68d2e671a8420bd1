"""The app's background care while it runs: scheduled backups and the start-up audit check.

:class:`Maintenance` owns a :class:`QTimer` that calls
:func:`readerstudy.services.backup.scheduled_backup` every ``interval_min`` minutes of the backup
settings, on a pool thread, and (for a coordinator) runs
:func:`readerstudy.services.integrity.startup_check` once and shows its result. Both results are
kept (``last_backup``, ``last_report``) so tests and the status bar read domain state.
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import QObject, QThreadPool, QTimer
from PySide6.QtWidgets import QMainWindow, QMessageBox, QWidget

from readerstudy.services.auth import UserSession
from readerstudy.services.backup import BackupSettings, load_settings, scheduled_backup
from readerstudy.services.context import AppContext
from readerstudy.services.integrity import startup_check
from readerstudy.ui.workers import Worker

log = logging.getLogger(__name__)


class Maintenance(QObject):
    """Scheduled backups and the start-up check for one signed-in ``session`` shown in ``window``."""

    def __init__(self, ctx: AppContext, session: UserSession, window: QWidget,
                 settings: BackupSettings | None = None, *, ask: bool = True) -> None:
        super().__init__(window)
        self.ctx, self.session, self.window = ctx, session, window
        self.settings = settings or load_settings()
        self.ask = ask  # False in tests: no modal box
        self.last_backup: Any = None
        self.last_report: Any = None
        self.errors: list[str] = []
        self._workers: set[Worker] = set()
        self._backing_up = False
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.backup_now)
        if self.settings.interval_min > 0 and ctx.db_path is not None:
            self.timer.start(int(self.settings.interval_min * 60_000))

    def _run(self, fn: Any, done: Any, on_failure: Any = None) -> None:
        worker = Worker(fn)
        self._workers.add(worker)
        worker.signals.finished.connect(done)
        worker.signals.failed.connect(self._failed)
        if on_failure is not None:
            worker.signals.failed.connect(lambda *_a: on_failure())
            worker.signals.cancelled.connect(lambda *_a: on_failure())
        for sig in (worker.signals.finished, worker.signals.failed, worker.signals.cancelled):
            sig.connect(lambda *_a, w=worker: self._workers.discard(w))
        QThreadPool.globalInstance().start(worker)

    @property
    def busy(self) -> bool:
        """A backup or a check is still running in the background."""
        return bool(self._workers)

    def backup_now(self) -> None:
        """Start one backup in the background; a tick that comes while one still runs is skipped."""
        if self._backing_up:
            return
        self._backing_up = True

        def done(result: Any) -> None:
            self._backing_up = False
            self._backed_up(result)

        self._run(lambda progress: scheduled_backup(self.ctx, self.session, self.settings, progress=progress),
                  done, on_failure=lambda: setattr(self, "_backing_up", False))

    def check_now(self) -> None:
        self._run(lambda progress: startup_check(self.ctx, self.session), self._checked)

    def _backed_up(self, result: Any) -> None:
        self.last_backup = result
        if result is not None:
            self._status(f"Backed up to {result.archive.name}")

    def _checked(self, report: Any) -> None:
        self.last_report = report
        if report is None:
            return
        if report.ok:
            self._status(report.summary())
            return
        text = (f"The audit check found {len(report.problems)} problem(s). First: {report.first}.\n\n"
                "Reads, masks or files may have been changed outside readerstudy. Run `readerstudy audit "
                "verify` for the full list, and restore from a backup if needed.")
        log.warning("start-up audit check failed: %s", report.first)
        if self.ask:
            QMessageBox.warning(self.window, "Audit check failed", text)

    def _failed(self, message: str) -> None:
        self.errors.append(message)
        log.warning("background maintenance failed: %s", message)
        self._status(message)

    def _status(self, text: str) -> None:
        if isinstance(self.window, QMainWindow):
            self.window.statusBar().showMessage(text, 15_000)


def start_maintenance(ctx: AppContext, session: UserSession, window: QWidget) -> Maintenance:
    """Attach :class:`Maintenance` to ``window`` and run the start-up check (coordinators)."""
    m = Maintenance(ctx, session, window)
    m.check_now()
    return m
