"""Progress reporting and cooperative cancellation for long engine loops.

The app maps :class:`Cancelled` to its own error type; the engine never imports the app.
"""

from __future__ import annotations

import threading
from typing import Protocol

__all__ = ["Cancelled", "CancelToken", "ProgressCallback", "null_progress", "check_cancel"]


class Cancelled(Exception):  # noqa: N818 - the name the app maps, on purpose not "...Error"
    """Raised inside an engine loop when its :class:`CancelToken` was cancelled."""


class ProgressCallback(Protocol):
    """``progress(step, total, message)``: ``step`` of ``total`` done, with a short message."""

    def __call__(self, step: int, total: int, message: str) -> None: ...


def null_progress(step: int, total: int, message: str) -> None:
    """A progress callback that does nothing."""


class CancelToken:
    """Thread-safe cancellation flag checked by engine loops between steps."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        """Ask the loop holding this token to stop at its next check."""
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self, where: str = "") -> None:
        """Raise :class:`Cancelled` if :meth:`cancel` was called."""
        if self._event.is_set():
            raise Cancelled(f"cancelled{': ' + where if where else ''}")


def check_cancel(cancel: CancelToken | None, where: str = "") -> None:
    """Raise :class:`Cancelled` if ``cancel`` is set; ``None`` never cancels."""
    if cancel is not None:
        cancel.raise_if_cancelled(where)
