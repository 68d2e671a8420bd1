"""Engine jobs in child processes: a :class:`QProcess` per job running the job's CLI command.

:class:`JobRunner` starts queued jobs (one at a time by default, the rest wait in ``queued``),
feeds each child's stdout/stderr to a :class:`~readerstudy.services.jobs.JobMonitor`, appends
them to the job's log file, and records the end. A crash, a CUDA fault or a kill of the child
only ends that job: the GUI process never loads torch for a job.

Cancel writes ``cancel`` to the child's stdin (the engine checkpoints and exits 130); if the child
has not ended after ``grace_s`` it gets SIGTERM, then after as long again it is killed.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, QTimer, Signal

from readerstudy.core.jobs import JobKind, JobStatus, ModelRun
from readerstudy.services import job_runs
from readerstudy.services.context import AppContext
from readerstudy.services.jobs import JobMonitor

log = logging.getLogger(__name__)

__all__ = ["JobProcess", "JobRunner"]


class JobProcess(QObject):
    """One attempt of one job: the child process, its monitor and its log file."""

    changed = Signal(str)  # run id: new output or state
    ended = Signal(str, str)  # run id, final status

    def __init__(self, ctx: AppContext, run: ModelRun, parent: QObject | None = None, grace_s: float = 30.0) -> None:
        super().__init__(parent)
        self.ctx, self.run, self.grace_ms = ctx, run, int(grace_s * 1000)
        self.monitor = JobMonitor(JobKind(run.kind))
        self._done = False
        self._waited = self._terminated = False  # cancel escalation: waited once more, sent SIGTERM
        self.proc = QProcess(self)
        self.proc.setProgram(sys.executable)
        self.proc.setArguments(list(run.command))
        env = QProcessEnvironment.systemEnvironment()
        env.insert("PYTHONUNBUFFERED", "1")
        self.proc.setProcessEnvironment(env)
        self.proc.readyReadStandardOutput.connect(lambda: self._read("out"))
        self.proc.readyReadStandardError.connect(lambda: self._read("err"))
        self.proc.started.connect(self._on_started)
        self.proc.finished.connect(self._on_finished)
        self.proc.errorOccurred.connect(self._on_error)
        self._escalate = QTimer(self)
        self._escalate.setSingleShot(True)
        self._escalate.timeout.connect(self._on_grace_over)
        Path(run.log_path).parent.mkdir(parents=True, exist_ok=True)
        self._log = open(run.log_path, "a", encoding="utf-8")  # noqa: SIM115 - open for the job's life

    # --- life --------------------------------------------------------------------------------
    def start(self) -> None:
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        self._log.write(f"=== {stamp} start: {sys.executable} {' '.join(self.run.command)}\n")
        self._log.flush()
        self.monitor.started()
        self.proc.start()

    def cancel(self) -> None:
        """Ask the child to stop at its next step (it writes a checkpoint first)."""
        if self._done:
            return
        self.monitor.cancel_requested = True
        if self.proc.state() == QProcess.ProcessState.NotRunning:
            return
        self.proc.write(b"cancel\n")
        self.proc.closeWriteChannel()
        self._escalate.start(self.grace_ms)
        self.changed.emit(self.run.id)

    @property
    def running(self) -> bool:
        return not self._done

    def wait(self, msecs: int) -> bool:
        """Block until the child ended (tests, shutdown); True when it did."""
        if self._done:
            return True
        self.proc.waitForFinished(msecs)
        return self._done

    # --- Qt slots ------------------------------------------------------------------------------
    def _read(self, stream: str) -> None:
        data = (self.proc.readAllStandardOutput() if stream == "out" else self.proc.readAllStandardError())
        text = bytes(data).decode("utf-8", errors="replace")
        if not text:
            return
        self._log.write(text)
        self._log.flush()
        self.monitor.feed(text, stream)
        self.changed.emit(self.run.id)

    def _on_started(self) -> None:
        self.run = job_runs.record_start(self.ctx, self.run.id, int(self.proc.processId()))
        self.changed.emit(self.run.id)

    def _on_grace_over(self) -> None:
        if self.proc.state() == QProcess.ProcessState.NotRunning:
            return
        if self.monitor.final_event is not None and not self._waited:
            self._waited = True  # it checkpointed and said so: it is exiting, give it as long again
            self._escalate.start(self.grace_ms)
            return
        if not self._terminated:
            self._terminated = True
            log.warning("job %s: no exit %d ms after cancel; sending SIGTERM", self.run.id, self.grace_ms)
            self.proc.terminate()
            self._escalate.start(self.grace_ms)
        else:
            log.warning("job %s: still running; killing it", self.run.id)
            self.proc.kill()

    def _on_error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart and not self._done:
            self.monitor.feed(f"could not start {sys.executable}: {self.proc.errorString()}\n", "err")
            self._end(None, crashed=True)

    def _on_finished(self, exit_code: int, exit_status: QProcess.ExitStatus) -> None:
        self._read("out")
        self._read("err")
        crashed = exit_status == QProcess.ExitStatus.CrashExit
        self._end(None if crashed else int(exit_code), crashed)

    def _end(self, exit_code: int | None, crashed: bool) -> None:
        if self._done:
            return
        self._done = True
        self._escalate.stop()
        status = self.monitor.finish(exit_code, crashed, self.run.log_path)
        self._log.write(f"=== {datetime.now(UTC).isoformat(timespec='seconds')} end: {status} "
                        f"(exit code {exit_code}{', crashed' if crashed else ''})\n")
        self._log.close()
        error = self.monitor.failure or None if status == JobStatus.FAILED else None
        self.run = job_runs.record_end(self.ctx, self.run.id, status, error)
        self.changed.emit(self.run.id)
        self.ended.emit(self.run.id, str(status))


class JobRunner(QObject):
    """Starts queued jobs (``max_parallel`` at once) and keeps their :class:`JobProcess` objects."""

    changed = Signal(str)  # run id
    ended = Signal(str, str)  # run id, status

    def __init__(self, ctx: AppContext, parent: QObject | None = None, *, max_parallel: int = 1,
                 grace_s: float = 30.0) -> None:
        super().__init__(parent)
        self.ctx, self.max_parallel, self.grace_s = ctx, max_parallel, grace_s
        self.jobs: dict[str, JobProcess] = {}  # every job started in this session (last attempt)
        self._queue: list[str] = []

    def submit(self, run: ModelRun) -> None:
        """Start ``run`` (a queued row) now, or when a running job ends."""
        self._queue.append(run.id)
        self.changed.emit(run.id)
        self._pump()

    def active(self) -> set[str]:
        return {rid for rid, jp in self.jobs.items() if jp.running} | set(self._queue)

    def monitor(self, run_id: str) -> JobMonitor | None:
        jp = self.jobs.get(run_id)
        return jp.monitor if jp is not None else None

    def cancel(self, run_id: str) -> None:
        if run_id in self._queue:  # never started: nothing to checkpoint
            self._queue.remove(run_id)
            job_runs.record_end(self.ctx, run_id, JobStatus.CANCELLED, None)
            self.changed.emit(run_id)
            self.ended.emit(run_id, str(JobStatus.CANCELLED))
            return
        jp = self.jobs.get(run_id)
        if jp is not None:
            jp.cancel()

    def _pump(self) -> None:
        while self._queue and sum(jp.running for jp in self.jobs.values()) < self.max_parallel:
            run = job_runs.get_job(self.ctx, self._queue.pop(0))
            jp = JobProcess(self.ctx, run, self, grace_s=self.grace_s)
            jp.changed.connect(self.changed)
            jp.ended.connect(self._on_ended)
            self.jobs[run.id] = jp
            jp.start()

    def _on_ended(self, run_id: str, status: str) -> None:
        self.ended.emit(run_id, status)
        QTimer.singleShot(0, self._pump)

    def shutdown(self, wait_ms: int = 60_000) -> None:
        """Cancel every job (they checkpoint; Resume continues them) and wait for the children."""
        for rid in list(self._queue):
            self.cancel(rid)
        running = [jp for jp in self.jobs.values() if jp.running]
        for jp in running:
            jp.cancel()
        for jp in running:
            if not jp.wait(wait_ms):
                jp.proc.kill()
                jp.wait(5_000)
