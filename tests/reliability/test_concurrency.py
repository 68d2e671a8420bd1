"""Concurrent readers through the services: 8 processes on one SQLite file, 50 on PostgreSQL.

Each process is a reader reading a sequential-AI arm (unaided read, AI reveal, aided read) as
fast as it can, all started together. Pass: no process crashes, every acknowledged read is
stored exactly once (0 lost, 0 duplicated), the chain and the anchor verify. The issue-12 probe
found 38 of 48 SQLite and 13 of 16 PostgreSQL processes crashing on the audit chain's tip.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa
import support

from readerstudy.services.auth import system_session
from readerstudy.services.context import open_context
from readerstudy.services.integrity import verify
from readerstudy.services.reading import ALREADY_SUBMITTED

HERE = Path(__file__).resolve().parent


def run_workers(mode: str, payload: dict, timeout: float = 240) -> dict:
    proc = subprocess.run([sys.executable, str(HERE / "workers.py"), mode, json.dumps(payload)], cwd=HERE,
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _stored(ctx) -> list[tuple[str, str, str]]:  # noqa: ANN001
    with ctx.uow() as uow:
        study = uow.studies.by_name(support.STUDY)
        names = {r.id: r.name for r in uow.readers.list(study.id)}
        return [(names[r.reader_id], r.case_id, str(r.phase)) for r in uow.reads.for_study(study.id)]


def _check(ctx, results: list[dict], n_readers: int, n_cases: int) -> dict:  # noqa: ANN001
    crashed = [r for r in results if r["error"]]
    assert not crashed, crashed[0]["error"]
    acked = [(r["name"], c, p) for r in results for c, p in r["acks"]]
    stored = _stored(ctx)
    assert len(results) == n_readers
    assert Counter(stored) == Counter(acked)  # nothing lost, nothing stored twice
    assert len(set(stored)) == n_readers * n_cases * 2
    report = verify(ctx, system_session(ctx, support.STUDY))
    assert report.ok, report.problems
    assert report.warnings == []  # the anchor is at the head: it never moved backwards
    return {"readers": n_readers, "crashed": len(crashed), "acknowledged": len(acked), "stored": len(stored)}


def test_eight_processes_read_one_sqlite_file(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    names = [f"reader{i:02d}" for i in range(8)]
    db = tmp_path / "study.sqlite"
    ctx = support.build(db, n_cases=6, readers=names, protocol=support.SEQUENTIAL, predictions=True)
    t0 = time.perf_counter()
    out = run_workers("concurrent", {"db": str(db), "names": names})
    wall = time.perf_counter() - t0
    figures = _check(ctx, out["results"], 8, 6)
    ctx.close()
    with capsys.disabled():
        print(f"\nSQLite: {figures} in {wall:.1f} s")
    assert wall < 120


def test_one_reader_in_two_processes_gets_already_submitted(tmp_path: Path) -> None:
    db = tmp_path / "study.sqlite"
    ctx = support.build(db, n_cases=3, readers=["alice"], protocol=support.SEQUENTIAL, predictions=True)
    out = run_workers("same-reader", {"db": str(db), "names": ["alice", "alice"]})
    results = out["results"]
    assert all(r["error"] is None for r in results), [r["error"] for r in results]
    conflicts = [c for r in results for c in r["conflicts"]]
    assert conflicts and set(conflicts) == {ALREADY_SUBMITTED}  # never a raw IntegrityError
    acked = [(c, p) for r in results for c, p in r["acks"]]
    stored = [(c, p) for _, c, p in _stored(ctx)]
    assert Counter(stored) == Counter(acked) and len(set(stored)) == len(stored) == 6
    assert verify(ctx, system_session(ctx, support.STUDY)).ok
    ctx.close()


@pytest.fixture()
def pg_db(postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    """A fresh database on the test server (so other PostgreSQL tests' schema changes cannot interfere)."""
    name = f"rs_conc_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    store = tmp_path / "store"
    monkeypatch.setenv("READERSTUDY_STORE", str(store))
    url = postgres_url.rsplit("/", 1)[0] + "/" + name
    yield url, store
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.mark.postgres
def test_fifty_processes_read_on_postgresql(pg_db, capsys) -> None:  # noqa: ANN001
    url, store = pg_db
    names = [f"reader{i:02d}" for i in range(50)]
    ctx = support.build(url, n_cases=4, readers=names, protocol=support.SEQUENTIAL, predictions=True)
    t0 = time.perf_counter()
    out = run_workers("concurrent", {"db": url, "names": names, "store": str(store)})
    wall = time.perf_counter() - t0
    figures = _check(ctx, out["results"], 50, 4)
    ctx.close()
    with capsys.disabled():
        print(f"\nPostgreSQL: {figures} in {wall:.1f} s")
    assert wall < 180


@pytest.mark.postgres
def test_one_reader_in_two_processes_on_postgresql(pg_db) -> None:  # noqa: ANN001
    url, store = pg_db
    ctx = support.build(url, n_cases=3, readers=["alice"], protocol=support.SEQUENTIAL, predictions=True)
    out = run_workers("same-reader", {"db": url, "names": ["alice", "alice"], "store": str(store)})
    assert all(r["error"] is None for r in out["results"]), [r["error"] for r in out["results"]]
    conflicts = {c for r in out["results"] for c in r["conflicts"]}
    assert conflicts == {ALREADY_SUBMITTED}
    assert len(_stored(ctx)) == len(set(_stored(ctx))) == 6
    ctx.close()


def test_reveal_is_logged_before_the_screen_moves(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """If the AI-reveal event cannot be written, the reading stays on the locked unaided read."""
    from readerstudy.core.reading import ReadingState
    from readerstudy.services.auth import sign_in
    from readerstudy.services.reading import ReadingService
    from readerstudy.storage import db as storage_db
    from readerstudy.storage.errors import StorageError

    db = tmp_path / "study.sqlite"
    support.build(db, n_cases=2, readers=["alice"], protocol=support.SEQUENTIAL, predictions=True).close()
    monkeypatch.setattr(storage_db, "BUSY_TIMEOUT_MS", 50)  # give up on a held lock quickly
    ctx = open_context(db)
    svc = ReadingService(ctx, sign_in(ctx, support.STUDY, "alice", support.PIN), prefetch=False)
    flow = svc.open()
    svc.start_case()
    svc.display()
    svc.submit(40, 0, 3)
    assert flow.state == ReadingState.UNAIDED_LOCKED
    with ctx.uow() as uow:
        before = len(uow.audit.list())
    blocker = sa.create_engine(f"sqlite:///{db}", connect_args={"isolation_level": None})
    with blocker.connect() as conn:
        conn.exec_driver_sql("BEGIN IMMEDIATE")  # another program holds the write lock throughout
        with pytest.raises(StorageError, match="stayed busy"):
            svc.reveal_ai()
        conn.exec_driver_sql("ROLLBACK")
    blocker.dispose()
    assert flow.state == ReadingState.UNAIDED_LOCKED and flow.ai_shown is None
    with ctx.uow() as uow:
        assert len(uow.audit.list()) == before
    svc.reveal_ai()  # the lock is gone: now it is logged, then shown
    assert flow.state == ReadingState.AI_REVEALED
    with ctx.uow() as uow:
        assert uow.audit.list()[-1].action == "ai.reveal"
    svc.close()
    ctx.close()
