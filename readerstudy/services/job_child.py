"""What an engine command does as a job: report progress, listen for cancel, keep its run row.

* :class:`JobReporter`: ``--progress jsonl`` (the GUI's protocol, :mod:`readerstudy.services.jobs`),
  ``bar`` (one tqdm bar per stage, so its rate and ETA are that stage's own) or ``none``.
* :func:`cancel_token`: SIGTERM, and with ``--stdin-cancel`` a ``cancel`` line on stdin or stdin
  closing (the GUI died), set an :class:`engine.progress.CancelToken`; the engine stops at its next
  step after writing a checkpoint.
* :func:`supervised`: marks the run row running, then done / cancelled / failed by how the block
  ended, and says so on the reporter.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from readerstudy.core.errors import Cancelled, ReaderStudyError
from readerstudy.core.jobs import JobKind, JobStatus
from readerstudy.services.context import AppContext
from readerstudy.services.engine_jobs import begin_run, end_run

__all__ = ["JobReporter", "cancel_token", "supervised", "JobHandle", "lower_priority"]

Progress = Callable[[int, int, str], None]


class JobReporter:
    """Progress of one engine command on stdout (``jsonl``), stderr (``bar``) or nowhere (``none``)."""

    def __init__(self, mode: str, out: TextIO | None = None) -> None:
        from engine.progress import StageClock

        self.mode = mode
        self._out = out or sys.stdout
        self._bar: Any = None
        self._bar_stage: str | None = None
        self._clock = StageClock(self._on_event)

    def progress(self, step: int, total: int, message: str) -> None:
        """An engine progress callback (``[stage]`` prefixes name the stage)."""
        if self.mode != "none":
            self._clock(step, total, message)

    def stage(self, name: str) -> Progress:
        """A callback whose messages belong to stage ``name``."""
        return lambda step, total, message: self.progress(step, total, f"[{name}] {message}")

    def event(self, kind: str, **data: Any) -> None:
        """A protocol event (``plan``, ``done``, ``cancelled``, ``error``); jsonl mode only."""
        if self.mode == "jsonl":
            self._print({"event": kind, **data})

    def _print(self, obj: dict[str, Any]) -> None:
        print(json.dumps(obj, default=str), file=self._out, flush=True)

    def _on_event(self, ev: Any) -> None:
        if self.mode == "jsonl":
            self._print(ev.to_json())
            return
        from tqdm import tqdm

        if ev.stage != self._bar_stage or self._bar is None or ev.step < self._bar.n:
            self.close()
            self._bar = tqdm(total=max(ev.total, 1), initial=ev.step, unit="step", file=sys.stderr,
                             desc=ev.stage or "engine")
            self._bar_stage = ev.stage
        self._bar.total = max(ev.total, 1)
        self._bar.n = ev.step
        self._bar.set_postfix_str(ev.message[:40], refresh=False)
        self._bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def lower_priority() -> None:
    """Run this process at a lower CPU priority (nice 10; below normal on Windows), so that the GUI
    and its reading window get the cores first while a job trains."""
    import psutil

    try:
        psutil.Process().nice(psutil.BELOW_NORMAL_PRIORITY_CLASS if sys.platform == "win32" else 10)
    except (psutil.Error, OSError):  # e.g. already nicer than 10: keep it
        pass


def cancel_token(stdin: bool = False) -> Any:
    """An :class:`engine.progress.CancelToken` set by SIGTERM and, with ``stdin``, by a ``cancel``
    line on stdin or its end (the parent closed the pipe or died). A second SIGTERM kills as usual."""
    from engine.progress import CancelToken

    token = CancelToken()

    def on_term(signum: int, frame: Any) -> None:
        token.cancel()
        signal.signal(signal.SIGTERM, signal.SIG_DFL)

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_term)
    if stdin:
        def watch() -> None:
            for line in sys.stdin:
                if line.strip().lower() == "cancel":
                    break
            token.cancel()

        threading.Thread(target=watch, name="stdin-cancel", daemon=True).start()
    return token


class JobHandle:
    """What the body of :func:`supervised` gets: the run id, the reporter; ``metrics``/``data`` to store."""

    def __init__(self, run_id: str, reporter: JobReporter) -> None:
        self.run_id, self.reporter = run_id, reporter
        self.metrics: dict[str, Any] | None = None
        self.data: dict[str, Any] | None = None


@contextmanager
def supervised(ctx: AppContext, reporter: JobReporter, run_id: str | None, *, kind: JobKind, study: str,
               preset: str | None, device: str, out_dir: str = "",
               params: dict[str, Any] | None = None) -> Iterator[JobHandle]:
    """Run the block as job ``run_id`` (a new row when None) and record how it ended.

    ``Cancelled`` (or Ctrl-C) -> ``cancelled`` (re-raised); a :class:`ReaderStudyError` or any other exception
    -> ``failed`` with its message (re-raised; the CLI exits 3 or 1); else ``done`` with
    ``handle.metrics``. The reporter gets the matching ``done``/``cancelled``/``error`` event.
    """
    run = begin_run(ctx, run_id, kind=kind, study_name=study, preset=preset, device=device, out_dir=out_dir,
                    params=params)
    handle = JobHandle(run.id, reporter)
    try:
        yield handle
    except (Cancelled, KeyboardInterrupt) as exc:
        end_run(ctx, run.id, JobStatus.CANCELLED, error=str(exc) or "interrupted", data=handle.data)
        reporter.event("cancelled", message=str(exc), run_id=run.id)
        raise
    except BaseException as exc:
        msg = str(exc) if isinstance(exc, ReaderStudyError) else f"{type(exc).__name__}: {exc}"
        end_run(ctx, run.id, JobStatus.FAILED, error=msg, data=handle.data)
        reporter.event("error", message=msg, run_id=run.id)
        raise
    end_run(ctx, run.id, JobStatus.DONE, metrics=handle.metrics or {}, data=handle.data)
    reporter.event("done", metrics=handle.metrics or {}, run_id=run.id)
