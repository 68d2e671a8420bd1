"""Benchmark: launch to the sign-in screen, against an empty Qt window; case switch on a 2D US.

Launch: a fresh interpreter runs the real ``readerstudy gui --db FILE`` path (CLI parse, logging,
database open and schema check, Qt start-up, pyqtgraph configuration, the sign-in dialog with its
study list) until the dialog is shown and the event loop has run once (its first paint). The
baseline is a fresh interpreter that imports PySide6, shows an empty ``QWidget`` and runs the
event loop once: what any Qt app pays. Both are timed from ``Popen`` to the child's "shown" line,
median of ``REPEATS`` runs (the first run of each warms the page cache and is not counted); the
children's CPU seconds are reported too, as wall time on a shared machine follows its load.
Target: at most 1.5 s to the sign-in screen.

Case switch: submit -> next case displayed in the reading window (dark theme, overlays on) for a
BUSI ultrasound image, with prefetch, as in :mod:`bench_reading` (whose helpers it uses) but on
``N_SWITCH`` cases; target p95 < 50 ms. And the same for a 512x512x300 int16 CT with a float32 PET on
its grid hung fused over it (``[hanging] layout = "fused"``), ``N_CT_PET`` cases; target p95 < 150 ms.

Run: ``python benchmarks/run.py launch``; or ``run()`` -> list of row dicts.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
HERE = Path(__file__).resolve().parent
REPEATS = 5
N_SWITCH = 60
N_CT_PET = 12  # 12 cases of 150 MB CT + 300 MB PET each (2 distinct contents)
TARGET_S = 1.5

_EMPTY = """
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QWidget
app = QApplication([])
w = QWidget(); w.resize(460, 300); w.show()
QTimer.singleShot(0, lambda: (print("shown", flush=True), app.exit(0)))
app.exec()
"""

_APP = """
import sys
import readerstudy.ui.shell as shell
_start = shell.AppShell.start
def start(self):
    _start(self)
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication
    def done():
        assert self.sign_in is not None and self.sign_in.isVisible()
        print("shown", flush=True)
        QApplication.instance().exit(0)
    QTimer.singleShot(0, done)
shell.AppShell.start = start
from readerstudy.cli.app import main
sys.exit(main(["gui", "--db", sys.argv[1]]))
"""


def _time_child(code: str, *args: str) -> float:
    """Wall seconds from Popen to the child's "shown" line (its CPU seconds go to ``_CPU``)."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "QT_QPA_PLATFORM": os.environ["QT_QPA_PLATFORM"]})
    line = proc.stdout.readline() if proc.stdout else ""
    elapsed = time.perf_counter() - t0
    _, err = proc.communicate(timeout=60)
    if line.strip() != "shown":
        raise RuntimeError(f"the child did not show its window: {err[-2000:]}")
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    _CPU.append(r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime)
    return elapsed


_CPU: list[float] = []


def _median(code: str, *args: str) -> tuple[float, float]:
    """Median wall and CPU seconds (CPU: the whole child, exit included; steadier on a busy machine)."""
    _time_child(code, *args)  # warm-up: page cache, .pyc files
    _CPU.clear()
    wall = statistics.median(_time_child(code, *args) for _ in range(REPEATS))
    return wall, statistics.median(_CPU)


def _launch_rows(tmp: Path) -> list[dict]:
    from readerstudy.services.context import open_context
    from readerstudy.services.studies import create_study

    db = tmp / "launch.sqlite"
    ctx = open_context(db)
    create_study(ctx, "Launch", "Dr Reed", "2468")
    ctx.close()
    empty, empty_cpu = _median(_EMPTY)
    app, app_cpu = _median(_APP, str(db))
    return [
        {"name": "launch.to_sign_in_screen.cpu", "value": round(app_cpu, 3), "unit": "s",
         "baseline": "empty Qt window, CPU", "baseline_value": round(empty_cpu, 3),
         "ratio": round(app_cpu / empty_cpu, 3)},
        {"name": "launch.to_sign_in_screen", "value": round(app, 3), "unit": "s",
         "baseline": "empty Qt window (PySide6 import + QApplication + show)", "baseline_value": round(empty, 3),
         "ratio": round(app / empty, 3)},
        {"name": "launch.to_sign_in_screen_vs_target", "value": round(app, 3), "unit": "s",
         "baseline": f"target {TARGET_S} s", "baseline_value": TARGET_S, "ratio": round(app / TARGET_S, 3)},
    ]


def _switch_rows(tmp: Path) -> list[dict]:
    sys.path.insert(0, str(HERE))
    import bench_reading

    from readerstudy.ui.app import ensure_app

    ensure_app()
    rows = []
    for kind, name, n, target in (("2d", "2d_us", N_SWITCH, 50.0), ("ct_pet", "ct_512x512x300_pet_fused", N_CT_PET, 150.0)):
        folder = tmp / kind
        folder.mkdir()
        ctx, user = bench_reading._build(folder, kind, n)
        try:
            times = bench_reading._measure(ctx, user, prefetch=True)
        finally:
            ctx.close()
        p95 = float(np.percentile(times, 95))
        rows.append({"name": f"reading.case_switch.{name}.p95", "value": round(p95, 2), "unit": "ms",
                     "baseline": f"target {target:.0f} ms", "baseline_value": target, "ratio": round(p95 / target, 3)})
    return rows


def run() -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        return _launch_rows(Path(tmp)) + _switch_rows(Path(tmp))


if __name__ == "__main__":
    for row in run():
        print(f"{row['name']:<40} {row['value']:>8} {row['unit']:<3} baseline {row['baseline_value']:>7} "
              f"({row['baseline']}) ratio {row['ratio']}")
