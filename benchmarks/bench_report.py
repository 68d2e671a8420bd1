"""Speed of the whole report (statistics, figures, HTML, PDF, JSON, CSV) against its statistics alone.

Rows (``benchmarks/run.py`` prints each as a ratio against its baseline, measured in the same run):

* ``demo report, fresh process``: ``readerstudy report`` on the demo study read by the seeded
  simulated readers (711 reads + the model), wall time of a new process as a coordinator runs it
  (imports included), against the same report's statistics alone (reading the database +
  every table), in process. Target: <= 5 s on a quiet 2-core machine. The command typesets the
  PDF in a child started first, which lays the pages out while this process draws the figures
  (:mod:`readerstudy.reports.pdf_process`), so this row's value is wall seconds (its CPU seconds,
  children included, are in the row).
* ``demo report, fresh process, one core``: the same report in a new process with everything in
  that process (no PDF child), wall seconds: the baseline of the overlap.
* ``demo report, in process``: the same export called again in a warm process (the app's case).
* ``10 readers x 2 arms x 1000 cases``: 20,000 reads + a model written straight into a database,
  report in process against its statistics alone. Target: <= 30 s.

Measured 2026-12-02 on the shared 2-core development machine (load average about 4, so every
figure is inflated): demo fresh process 10.99 s CPU before the model card was curated (a
20-page PDF, 8 pages of flattened provenance) and 7.81 s CPU after (13 pages); warm 6.76 ->
4.35 s CPU; 10 x 2 x 1000 in process 9.7-10.0 s CPU (within the 30 s target).
Measured 2026-12-02 (session 22, load average about 0; this virtual machine's speed drifts by
about 25 % from minute to minute): fresh process 4.52 s wall (best of 3) against 7.12 s wall for
the same report in one process (x0.63); warm 4.82 s CPU; 10 x 2 x 1000 11.30 s CPU.
"""

from __future__ import annotations

import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from readerstudy.services.auth import local_session

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "reports"))


LOCAL = local_session("test")  # the CLI's local coordinator session (reaches every study)


def _row(name: str, took: tuple[float, float], baseline: str, base: tuple[float, float], *,
         wall: bool = False) -> dict[str, Any]:
    """``took``/``base`` = (CPU s, wall s). The value is CPU time for single-process rows: on this
    project's shared 2-core machines the wall time mostly measures the other jobs, and on a quiet
    machine a single-threaded report's wall time is its CPU time. ``wall=True`` for the command,
    which overlaps its work in child processes: its value is wall time. Both are kept in the row."""
    k = 1 if wall else 0
    return {"name": name, "value": took[k], "unit": "s wall" if wall else "s CPU", "baseline": baseline,
            "baseline_value": base[k], "ratio": took[k] / base[k], "cpu_s": took[0], "wall_s": took[1],
            "baseline_cpu_s": base[0], "baseline_wall_s": base[1]}


def _timed(fn: Any, *args: Any) -> tuple[float, float]:
    c, w = time.process_time(), time.perf_counter()
    fn(*args)
    return time.process_time() - c, time.perf_counter() - w


def _stats_alone(db: Path, study: str) -> tuple[float, float]:
    from readerstudy.reports.document import build_tables
    from readerstudy.services.context import open_context
    from readerstudy.services.report_data import collect_report_data

    ctx = open_context(db)
    took = _timed(lambda: build_tables(collect_report_data(ctx, LOCAL, study)))
    ctx.close()
    return took


def _in_process(db: Path, study: str, out: Path) -> tuple[float, float]:
    from readerstudy.services.context import open_context
    from readerstudy.services.reporting import export_report

    ctx = open_context(db)
    took = _timed(export_report, ctx, LOCAL, study, out)
    ctx.close()
    return took


def _fresh_process(cmd: list[str]) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), wall


#: the report in a new process with everything in it (the command before the overlap)
ONE_CORE = """
import sys
from readerstudy.services.auth import local_session
from readerstudy.services.context import open_context
from readerstudy.services.reporting import export_report
ctx = open_context(sys.argv[1], read_only=True)
export_report(ctx, local_session(), sys.argv[2], sys.argv[3])
ctx.close()
"""


def demo_db(folder: Path) -> Path:
    from simreads import simulate_demo

    from readerstudy.services.context import open_context
    from readerstudy.services.demo import build_demo

    path = folder / "demo.sqlite"
    ctx = open_context(path)
    build_demo(ctx, LOCAL, with_protocol=False)
    simulate_demo(ctx, seed=11)
    ctx.close()
    return path


def large_db(folder: Path, readers: int = 10, cases: int = 1000, seed: int = 0) -> Path:
    """A study of ``readers`` x 2 arms x ``cases`` reads plus one model, inserted in bulk."""
    from sqlalchemy import insert

    from readerstudy.core.models import Role
    from readerstudy.services.context import open_context
    from readerstudy.storage import models as orm

    rng = np.random.default_rng(seed)
    path = folder / "large.sqlite"
    ctx = open_context(path)
    now = datetime.now(UTC)
    with ctx.uow() as uow:
        study = uow.studies.add("Large", "benchmark study", {})
        s = uow.session
        truth = rng.integers(0, 2, cases)
        case_ids = [uuid.uuid4().hex for _ in range(cases)]
        s.execute(insert(orm.CaseRow), [{"id": c, "study_id": study.id, "pseudonym": f"RS-{i:08X}", "source_ref": c,
                                         "modality": "US", "truth": int(t)} for i, (c, t) in enumerate(zip(case_ids, truth, strict=True))])
        arms = [uow.arms.add(study.id, name, shows_ai=name == "AI-aided", position=i)
                for i, name in enumerate(("unaided", "AI-aided"))]
        rows = []
        for r in range(readers):
            who = uow.readers.add(study.id, f"Reader {r + 1:02d}", Role.READER,
                                  seniority=("senior", "mid", "junior")[r % 3])
            for k, arm in enumerate(arms):
                asg = uow.assignments.add(study.id, who.id, arm.id, session=1, seed=r, case_ids=case_ids)
                d = 1.2 + 0.4 * k
                z = d * truth - d / 2 + rng.normal(size=cases)
                p = np.clip(np.round(100 / (1 + np.exp(-1.4 * z))), 0, 100)
                for c, pi in zip(case_ids, p, strict=True):
                    rows.append({"id": uuid.uuid4().hex, "assignment_id": asg.id, "case_id": c, "reader_id": who.id,
                                 "arm_id": arm.id, "session": 1, "phase": "unaided", "revision": 0,
                                 "probability": float(pi), "binary": int(pi >= 50), "confidence": 3,
                                 "time_ms": int(rng.integers(5000, 60000)), "active_ms": 5000, "started_at": now,
                                 "submitted_at": now + timedelta(seconds=30), "app_version": "bench",
                                 "view_state": {"window": [40, 400], "zoom": 1.0}, "ai_shown": None})
        s.execute(insert(orm.ReadRow), rows)
        bot = uow.readers.add(study.id, "Model", Role.MODEL)
        model = uow.models.add(study.id, bot.id, name="Model", version="1")
        run = uow.models.start_run(model.id)
        z = 2.0 * truth - 1.0 + rng.normal(size=cases)
        s.execute(insert(orm.PredictionRow), [{"id": uuid.uuid4().hex, "run_id": run, "model_id": model.id,
                                               "case_id": c, "probability": float(1 / (1 + np.exp(-1.5 * v)))}
                                              for c, v in zip(case_ids, z, strict=True)])
        uow.commit()
    ctx.close()
    return path


def run() -> list[dict[str, Any]]:
    from readerstudy.services.demo import BUSI_STUDY

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        db = demo_db(root)
        stats_s = min(_stats_alone(db, BUSI_STUDY) for _ in range(2))
        cli = [sys.executable, "-m", "readerstudy", "report", "--db", str(db), "--study", BUSI_STUDY,
               "--out", str(root / "cli")]
        one_core = [sys.executable, "-c", ONE_CORE, str(db), BUSI_STUDY, str(root / "one")]
        fresh, single = [], []
        for _ in range(3):  # interleaved, so both see the same machine
            fresh.append(_fresh_process(cli))
            single.append(_fresh_process(one_core))
        fresh_best = min(fresh, key=lambda t: t[1])
        rows.append(_row("demo report (711 reads + model), fresh process", fresh_best,
                         "statistics alone (collect + tables)", stats_s, wall=True))
        rows.append(_row("demo report, fresh process (PDF child laying out while figures are drawn)", fresh_best,
                         "the same report in a fresh process, one core", min(single, key=lambda t: t[1]), wall=True))
        warm = min(_in_process(db, BUSI_STUDY, root / f"w{i}") for i in range(2))
        rows.append(_row("demo report, in process (warm)", warm, "statistics alone (collect + tables)", stats_s))
        big = large_db(root)
        big_stats = _stats_alone(big, "Large")
        rows.append(_row("10 readers x 2 arms x 1000 cases report, in process", _in_process(big, "Large", root / "big"),
                         "statistics alone (collect + tables)", big_stats))
    return rows


if __name__ == "__main__":
    for r in run():
        print(f"{r['name']}: {r['value']:.2f} {r['unit']} ({r['cpu_s']:.2f} s CPU, {r['wall_s']:.2f} s wall) vs "
              f"{r['baseline']}: {r['baseline_value']:.2f} {r['unit']} ({r['baseline_cpu_s']:.2f} s CPU, "
              f"{r['baseline_wall_s']:.2f} s wall) -> x{r['ratio']:.2f}")
