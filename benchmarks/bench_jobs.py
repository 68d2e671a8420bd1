"""Benchmark: the reading window while an engine training job runs in a child process.

The app runs training in a child (``python -m readerstudy engine pipeline ...``, a ``QProcess``
of :class:`readerstudy.ui.jobs.runner.JobRunner`), so the reading window's GUI thread only reads
the child's JSON lines. Measured in one offscreen Qt process, with and without a ``tiny`` training
job of 20 BUSI cases running (restarted as a new job whenever one finishes, so that a training
runs during the whole measurement):

* frame time: a 60 Hz timer drags the window/level of a BUSI image (a reader's W/L drag) and
  repaints the view synchronously; the interval between two frames (p50, p95);
* submit -> next case displayed (p95) over 40 cases, as in ``bench_reading.py``.

Each figure is reported as a ratio against the same measurement with no job. The machine's cores
are shared with the training child (which the app runs at a lower CPU priority, ``--background``):
the ratio says what a reader feels while the model trains. The 1-minute load average is printed
too: other processes on the machine make both figures noisy.

Run: ``python benchmarks/bench_jobs.py``; or ``run()`` -> list of row dicts.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

FRAMES = 600  # 10 s at 60 Hz
CASES = 40


class Training:
    """Keeps a ``tiny`` training job running (a new one when the last ended) through the GUI's runner."""

    def __init__(self, folder: Path) -> None:
        from readerstudy.services.auth import local_session, system_session
        from readerstudy.services.context import open_context
        from readerstudy.services.demo import busi_sources
        from readerstudy.services.importing import import_cases
        from readerstudy.ui.jobs.runner import JobRunner

        sources = [s for s in busi_sources() if int(s.case_id.split("(")[1].split(")")[0]) <= 10]
        self.ctx = open_context(folder / "train.sqlite")
        import_cases(self.ctx, local_session("bench"), "train", sources)
        self.session = system_session(self.ctx, "train")
        self.runner = JobRunner(self.ctx)
        self.runner.ended.connect(lambda *_: self._next() if self.on else None)
        self.on, self.jobs, self.progress_events = False, 0, 0
        self.runner.changed.connect(self._count)

    def _count(self, run_id: str) -> None:
        mon = self.runner.monitor(run_id)
        self.progress_events = max(self.progress_events, mon.step if mon else 0)

    def _next(self) -> None:
        from readerstudy.core.jobs import JobKind
        from readerstudy.services import job_runs
        from readerstudy.services.jobs import JobSpec

        self.jobs += 1
        run = job_runs.create_job(self.ctx, self.session, JobSpec(JobKind.TRAIN, "train", preset="tiny"))
        self.runner.submit(run)

    def start(self, pump) -> None:  # noqa: ANN001
        self.on = True
        self._next()
        t_end = time.perf_counter() + 120
        while not any(m.monitor.stage not in ("", "prepare") for m in self.runner.jobs.values()):
            pump()  # wait until the child trains (torch imported, first training stage reported)
            if time.perf_counter() > t_end:
                raise TimeoutError("the training child did not start training")

    def stop(self) -> None:
        self.on = False
        self.runner.shutdown()
        self.ctx.close()


def _frames(window, loop, n: int) -> list[float]:  # noqa: ANN001
    from PySide6.QtCore import QTimer

    stamps: list[float] = []
    sign = [1.0]

    def tick() -> None:
        stamps.append(time.perf_counter())
        sign[0] = -sign[0]
        window.image.drag_window(8.0 * sign[0], 0.0)
        window.image.repaint()

    timer = QTimer()
    timer.setInterval(16)
    timer.timeout.connect(tick)
    timer.start()
    while len(stamps) < n + 1:
        loop.processEvents()
        time.sleep(0.001)
    timer.stop()
    return list(np.diff(stamps) * 1000.0)


def _measure(folder: Path, train: Training | None) -> tuple[list[float], list[float]]:
    import bench_reading
    from PySide6.QtCore import QEvent, QEventLoop
    from PySide6.QtWidgets import QApplication

    from readerstudy.core.reading import ReadingState
    from readerstudy.services.reading import ReadingService
    from readerstudy.ui.reading_window import ReadingWindow

    loop = QEventLoop()
    ctx, user = bench_reading._build(folder, "2d", CASES + 1)
    if train is not None:
        train.start(loop.processEvents)
    svc = ReadingService(ctx, user, prefetch=True)
    w = ReadingWindow(svc, black_screen_ms=0)
    w.resize(1400, 900)
    w.show()
    flow = svc.flow

    def wait(cond, limit=30.0):  # noqa: ANN001, ANN202
        t_end = time.perf_counter() + limit
        while not cond():
            loop.processEvents()
            if time.perf_counter() > t_end:
                raise TimeoutError("the next case was not displayed")

    wait(lambda: flow.state == ReadingState.DISPLAYED)
    frames = _frames(w, loop, FRAMES)
    submits = []
    while flow.index < flow.total - 1:
        i = flow.index
        t_read = time.perf_counter() + 0.15
        wait(lambda t_read=t_read: time.perf_counter() > t_read and svc.prefetch_idle())
        w.panel.set_values(60, 1, 4)
        t0 = time.perf_counter()
        w.submit()
        wait(lambda i=i: flow.index == i + 1 and flow.state == ReadingState.DISPLAYED)
        loop.processEvents()
        submits.append((time.perf_counter() - t0) * 1000)
    w.close()
    w.deleteLater()
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    svc.close()
    ctx.close()
    return frames, submits


def run() -> list[dict]:
    from readerstudy.ui.app import ensure_app

    ensure_app()
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "idle").mkdir()
        idle = _measure(Path(tmp) / "idle", None)
        (Path(tmp) / "busy").mkdir()
        train = Training(Path(tmp) / "busy")
        try:
            busy = _measure(Path(tmp) / "busy", train)
            jobs = train.jobs
        finally:
            train.stop()
    for label, i, qs in (("frame_interval", 0, (50, 95)), ("submit_to_next_case", 1, (95,))):
        for q in qs:
            v, b = float(np.percentile(busy[i], q)), float(np.percentile(idle[i], q))
            rows.append({"name": f"jobs.reading_{label}_during_tiny_training.p{q}", "value": round(v, 2),
                         "unit": "ms", "baseline": "same with no job running", "baseline_value": round(b, 2),
                         "ratio": round(v / b, 3) if b else None})
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    rows.append({"name": "jobs.machine_load_average_1min_at_end", "value": round(load, 2), "unit": "procs",
                 "baseline": "CPU cores", "baseline_value": float(os.cpu_count() or 1),
                 "ratio": round(load / (os.cpu_count() or 1), 3)})
    rows.append({"name": "jobs.training_jobs_run_during_measurement", "value": float(jobs), "unit": "jobs",
                 "baseline": "at least one", "baseline_value": 1.0, "ratio": float(jobs)})
    return rows


if __name__ == "__main__":
    for row in run():
        print(f"{row['name']:<62} {row['value']:>10} {row['unit']:<5} baseline {row['baseline_value']:>8} "
              f"({row['baseline']}) ratio {row['ratio']}")
