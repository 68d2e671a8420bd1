"""The answers to study-defined questions are covered by read.submit's content digest like the others."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import support
from support import PIN, STUDY, copy_db, raw

from readerstudy.core.reading import ManualClock
from readerstudy.services.auth import sign_in, system_session
from readerstudy.services.context import open_context
from readerstudy.services.integrity import verify
from readerstudy.services.reading import ReadingService

BIRADS = support.PLAIN + """
[[questions]]
key = "birads"
kind = "birads"
label = "BI-RADS assessment"
"""


def _study(tmp_path: Path) -> Path:
    db = tmp_path / "birads.sqlite"
    ctx = support.build(db, n_cases=2, protocol=BIRADS)
    clock = ManualClock()
    svc = ReadingService(ctx, sign_in(ctx, STUDY, "alice", PIN, now=clock.now), clock=clock.monotonic_ns,
                         wall_clock=clock.now, prefetch=False)
    svc.open()
    for birads in ("2", "4c"):
        svc.start_case()
        svc.display()
        svc.submit(10 if birads == "2" else 80, int(birads != "2"), 4, answers={"birads": birads})
    svc.close()
    ctx.close()
    return db


def _verify(db: Path):  # noqa: ANN202
    ctx = open_context(db, read_only=True)
    try:
        return verify(ctx, system_session(ctx, STUDY))
    finally:
        ctx.close()


def test_an_edited_birads_answer_is_detected_and_the_read_named(tmp_path: Path) -> None:
    db = _study(tmp_path)
    assert _verify(db).ok
    con = sqlite3.connect(db)
    rid, answers = con.execute("SELECT id, answers FROM read WHERE answers LIKE '%4c%'").fetchone()
    con.close()
    assert json.loads(answers) == {"schema": 1, "values": {"birads": "4c"}}
    forged = copy_db(db, tmp_path / "forged")
    raw(forged, f"UPDATE read SET answers = '{{\"schema\": 1, \"values\": {{\"birads\": \"2\"}}}}' WHERE id = '{rid}'")
    report = _verify(forged)
    assert not report.ok and report.first is not None and (report.first.kind, report.first.item) == ("read", rid)
