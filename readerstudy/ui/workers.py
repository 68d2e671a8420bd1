"""Run a pure function off the GUI thread with progress and cancel, reporting through Qt signals.

``Worker(fn, *args)`` calls ``fn(*args, progress=callback)`` in a :class:`QThreadPool` thread.
The callback emits :attr:`WorkerSignals.progressed` and raises
:class:`~readerstudy.core.errors.Cancelled` once :meth:`Worker.cancel` was called, so a long
use case stops at its next progress step. Exactly one of ``finished(result)``, ``failed(message)``
or ``cancelled()`` is emitted at the end. Pass IDs and plain values in and out, never widgets,
ORM rows or sessions: the signals are queued to the GUI thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, Signal

from readerstudy.core.errors import Cancelled, ReaderStudyError

log = logging.getLogger(__name__)

ProgressFn = Callable[[int, int, str], None]


class WorkerSignals(QObject):
    """Signals of a :class:`Worker` (a QRunnable is no QObject). Created in the GUI thread."""

    progressed = Signal(int, int, str)  # step, total, message
    finished = Signal(object)  # the function's return value
    failed = Signal(str)  # a message for the user (ReaderStudyError text, or the exception's type + text)
    cancelled = Signal()


class Worker(QRunnable):
    """One call of ``fn(*args, progress=..., **kwargs)`` on a pool thread. Start with ``pool.start(worker)``."""

    def __init__(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        super().__init__()
        self.setAutoDelete(False)  # the owner keeps a reference until a final signal arrives
        self._fn, self._args, self._kwargs = fn, args, kwargs
        self._cancel = threading.Event()
        self.signals = WorkerSignals()

    def cancel(self) -> None:
        """Ask the function to stop: its next progress call raises :class:`Cancelled`."""
        self._cancel.set()

    @property
    def cancel_requested(self) -> bool:
        return self._cancel.is_set()

    def _progress(self, step: int, total: int, message: str) -> None:
        if self._cancel.is_set():
            raise Cancelled(f"Cancelled at step {step} of {total} ({message}).")
        self.signals.progressed.emit(int(step), int(total), str(message))

    def run(self) -> None:
        try:
            if self._cancel.is_set():
                raise Cancelled("Cancelled before it started.")
            result = self._fn(*self._args, progress=self._progress, **self._kwargs)
        except Cancelled:
            self.signals.cancelled.emit()
        except ReaderStudyError as exc:
            self.signals.failed.emit(str(exc))
        except Exception as exc:  # never let a worker thread die silently: log it and tell the GUI
            log.exception("background task %s failed", getattr(self._fn, "__name__", self._fn))
            self.signals.failed.emit(f"{type(exc).__name__}: {exc}")
        else:
            self.signals.finished.emit(result)


__all__ = ["ProgressFn", "Worker", "WorkerSignals"]
