"""Progress reporting (stages, per-stage ETA) and cooperative cancellation for long engine loops.

The app maps :class:`Cancelled` to its own error type; the engine never imports the app.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Protocol

__all__ = ["Cancelled", "CancelToken", "ProgressCallback", "null_progress", "check_cancel", "ProgressEvent",
           "StageClock", "staged", "split_stage", "RESUMED"]


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


# --- stages, ETA and the JSON-lines protocol ------------------------------------------------------
#
# Engine loops call ``progress(step, total, message)``. A pipeline names the stage of a message by
# prefixing it with ``"[stage] "`` (see :func:`staged`). :class:`StageClock` turns these calls into
# :class:`ProgressEvent` records whose ETA is measured per stage, from the first report of that
# stage (a loop reports its start, step 0 or the step it resumed at, before doing any work), so
# time spent in earlier stages never inflates the estimate of the current one.

RESUMED = "resumed at step"  #: a loop's first message when it continued from a checkpoint


def staged(stage: str, progress: ProgressCallback) -> ProgressCallback:
    """``progress`` with every message prefixed ``"[stage] "``."""

    def cb(step: int, total: int, message: str) -> None:
        progress(step, total, f"[{stage}] {message}")

    return cb


def split_stage(message: str) -> tuple[str, str]:
    """``"[vae] vae: loss 0.1"`` -> ``("vae", "vae: loss 0.1")``; no prefix -> ``("", message)``."""
    if message.startswith("[") and "]" in message:
        stage, _, rest = message[1:].partition("]")
        return stage.strip(), rest.strip()
    return "", message


@dataclass(frozen=True)
class ProgressEvent:
    """One progress report with its stage timing.

    Attributes
    ----------
    stage
        Stage name (``""`` when the message named none).
    step, total
        Steps done and steps of the stage in all (a resumed stage counts the steps done before).
    message
        The message without its ``[stage]`` prefix.
    stage_elapsed_s
        Seconds since this stage's first report.
    elapsed_s
        Seconds since the first report of any stage.
    eta_s
        Seconds left in this stage: ``(total - step) * stage_elapsed_s / (step - first_step)``,
        where ``first_step`` is the step of the stage's first report; ``None`` until one step was
        measured.
    resumed_from
        The step this stage resumed at from a checkpoint (its first message said so), else ``None``.
    """

    stage: str
    step: int
    total: int
    message: str
    stage_elapsed_s: float
    elapsed_s: float
    eta_s: float | None
    resumed_from: int | None = None

    def to_json(self) -> dict:
        d = {"event": "progress", **asdict(self)}
        d["stage_elapsed_s"] = round(self.stage_elapsed_s, 3)
        d["elapsed_s"] = round(self.elapsed_s, 3)
        d["eta_s"] = None if self.eta_s is None else round(self.eta_s, 1)
        return d


class StageClock:
    """A progress callback that hands :class:`ProgressEvent` records to ``sink``.

    A new stage starts when the stage name changes, or when the same name reports a step below
    its last one (the stage ran again). ``clock`` (seconds, monotonic) is injectable for tests.
    """

    def __init__(self, sink: Callable[[ProgressEvent], None], clock: Callable[[], float] = time.monotonic) -> None:
        self._sink, self._clock = sink, clock
        self._t0: float | None = None
        self._stage: str | None = None
        self._stage_t0 = 0.0
        self._first_step = 0
        self._last_step = 0
        self._resumed: int | None = None

    def __call__(self, step: int, total: int, message: str) -> None:
        now = self._clock()
        if self._t0 is None:
            self._t0 = now
        stage, text = split_stage(message)
        if stage != self._stage or step < self._last_step:
            self._stage, self._stage_t0, self._first_step, self._resumed = stage, now, int(step), None
        if RESUMED in text and step > 0 and self._resumed is None:  # measure from the resumed step
            self._stage_t0, self._first_step, self._resumed = now, int(step), int(step)
        self._last_step = int(step)
        elapsed = now - self._stage_t0
        done = int(step) - self._first_step
        if int(step) >= int(total):
            eta: float | None = 0.0  # the stage is complete (also when it resumed complete)
        else:
            eta = ((int(total) - int(step)) * elapsed / done) if done > 0 else None
        self._sink(ProgressEvent(stage, int(step), int(total), text, elapsed, now - self._t0, eta, self._resumed))
