"""Builders shared by the reliability tests: a small real study, readers that read through the
services, copies of a database with its store and anchor, and raw-SQL tampering helpers."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import numpy as np

from readerstudy.core.models import Role
from readerstudy.core.protocol import parse_protocol
from readerstudy.core.reading import ManualClock, ReadingState
from readerstudy.paths import store_dir_for
from readerstudy.services.assignments import apply_protocol
from readerstudy.services.auth import (
    hash_pin,
    local_session,
    sign_in,
    system_session,
)
from readerstudy.services.context import AppContext, open_context
from readerstudy.services.importing import CaseSource, import_cases
from readerstudy.services.reading import ReadingService
from readerstudy.storage.audit import GENESIS, event_hash

LOCAL = local_session("test")  # the CLI's local coordinator session (reaches every study)

BUSI = Path(__file__).resolve().parents[2] / "resources" / "demo" / "busi"
PIN = "2468"
STUDY = "Reliability"

PLAIN = """
seed = 5
sessions = 1
black_screen_ms = 0
[[arms]]
name = "unaided"
"""

SEQUENTIAL = """
seed = 9
sessions = 1
black_screen_ms = 0
[[arms]]
name = "ai-sequential"
shows_ai = true
sequential = true
"""


def sources(n: int, offset: int = 0) -> list[CaseSource]:
    out = []
    for i in range(offset, offset + n):
        folder, truth = (("benign", 0), ("malignant", 1))[i % 2]
        k = i // 2 + 1
        out.append(CaseSource(f"{folder}-{k}", BUSI / folder / f"{folder} ({k}).png", truth=truth, site="Site A",
                              modality="US"))
    return out


def tiny_sources(folder: Path, n: int, seed: int = 0) -> list[CaseSource]:
    """``n`` small (24 x 24) grey PNG cases written into ``folder``: cheap to import by the hundred."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        p = folder / f"case{i:03d}.png"
        Image.fromarray(rng.integers(0, 255, (24, 24), dtype=np.uint8)).save(p)
        out.append(CaseSource(f"case{i:03d}", p, truth=i % 2, site="Site A", modality="US"))
    return out


def add_readers(ctx: AppContext, names: list[str]) -> None:
    """Readers with PIN :data:`PIN` (one scrypt hash shared, to keep set-up fast)."""
    pin_hash = hash_pin(PIN)
    with ctx.uow() as uow:
        study = uow.studies.by_name(STUDY)
        for n in names:
            uow.readers.add(study.id, n, Role.READER, seniority="senior", pin_hash=pin_hash)
        uow.commit()


def add_predictions(ctx: AppContext) -> None:
    with ctx.uow() as uow:
        study = uow.studies.by_name(STUDY)
        bot = uow.readers.add(study.id, "model", Role.MODEL)
        model = uow.models.add(study.id, bot.id, name="model", version="1")
        run = uow.models.start_run(model.id)
        preds = {}
        for i, case in enumerate(uow.cases.list(study.id)):
            p = uow.models.add_prediction(run, model.id, case.id, 0.2 + 0.6 * (case.truth or 0) - 0.1 * (i % 3) / 3)
            from readerstudy.storage.audit import row_digest

            preds[p.id] = row_digest(uow.session, "prediction", p.id)["sha256"]
        uow.models.finish_run(run)
        uow.audit.append("test", "model.predict", "model", model.id, {"predictions": preds})
        uow.commit()


def build(db: Path | str, *, n_cases: int = 6, readers: list[str] | None = None, protocol: str = PLAIN,
          predictions: bool = False, tiny_in: Path | None = None) -> AppContext:
    """A study :data:`STUDY` at ``db``: BUSI cases (or ``tiny_in``: tiny PNGs), readers, a protocol."""
    ctx = open_context(db)
    report = import_cases(ctx, LOCAL, STUDY, tiny_sources(tiny_in, n_cases) if tiny_in else sources(n_cases))
    assert not report.refused, report.refused
    add_readers(ctx, readers or ["alice", "bob"])
    if predictions:
        add_predictions(ctx)
    apply_protocol(ctx, system_session(ctx, STUDY), parse_protocol(protocol))
    return ctx


def read_cases(ctx: AppContext, name: str, limit: int | None = None, *, seed: int = 0) -> list[str]:
    """Sign in as ``name`` and read (at most ``limit``) cases through the services; returns read ids."""
    rng = np.random.default_rng(seed)
    clock = ManualClock()
    user = sign_in(ctx, STUDY, name, PIN, now=clock.now)
    svc = ReadingService(ctx, user, clock=clock.monotonic_ns, wall_clock=clock.now, prefetch=False)
    done: list[str] = []
    try:
        flow = svc.open()
        while flow is not None and (limit is None or len(done) < limit) and svc.start_case() is not None:
            svc.display()
            if flow.state == ReadingState.DISPLAYED:
                clock.advance(float(rng.uniform(2, 9)))
                p = int(rng.integers(0, 101))
                svc.submit(p, int(p >= 50), int(rng.integers(1, 6)))
                done.append(flow.case_ids[flow.index] if flow.state != ReadingState.SUBMITTED else "")
            if flow.state == ReadingState.UNAIDED_LOCKED:
                svc.reveal_ai()
                clock.advance(2.0)
                svc.submit(60, 1, 3)
    finally:
        svc.close()
    with ctx.uow() as uow:
        return [r.id for r in uow.reads.for_study(user.study_id) if r.reader_id == user.participant_id]


def copy_db(src: Path, dest_dir: Path, name: str | None = None) -> Path:
    """A consistent copy of a SQLite database with its pixel store and audit anchor."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / (name or src.name)
    a, b = sqlite3.connect(src), sqlite3.connect(dest)
    a.backup(b)
    a.close()
    b.close()
    shutil.copytree(store_dir_for(src), store_dir_for(dest))
    anchor = src.with_name(src.name + ".audit-head.json")
    if anchor.exists():
        shutil.copy2(anchor, dest.with_name(dest.name + ".audit-head.json"))
    return dest


def raw(db: Path, *statements: str, drop_triggers: bool = True) -> None:
    """Run SQL behind the app's back, as someone with the file and the sqlite3 shell would."""
    con = sqlite3.connect(db)
    try:
        if drop_triggers:
            for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
                con.execute(f"DROP TRIGGER {name}")
        for sql in statements:
            con.execute(sql)
        con.commit()
    finally:
        con.close()


def recompute_chain(db: Path) -> None:
    """Recompute every hash of the local chain (what a careful tamperer does after an edit)."""
    con = sqlite3.connect(db)
    try:
        for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
            con.execute(f"DROP TRIGGER {name}")
        rows = con.execute("SELECT seq, at, actor, action, entity, entity_id, payload FROM audit_event "
                           "WHERE chain = '' ORDER BY seq").fetchall()
        con.execute("UPDATE audit_event SET prev_hash = 'x' || seq, hash = 'y' || seq WHERE chain = ''")
        prev = GENESIS
        from datetime import datetime

        for seq, at, actor, action, entity, entity_id, payload in rows:
            h = event_hash(prev, datetime.fromisoformat(at), actor, action, entity, entity_id, json.loads(payload))
            con.execute("UPDATE audit_event SET prev_hash = ?, hash = ? WHERE seq = ?", (prev, h, seq))
            prev = h
        con.commit()
    finally:
        con.close()
