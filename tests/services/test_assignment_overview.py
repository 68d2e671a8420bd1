"""The coordinator's assignments table and washout calendar (plain data)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from test_reading_support import COUNTERBALANCED, PIN, build_study, busi_sources

from readerstudy.core.errors import PermissionDenied
from readerstudy.core.protocol import derive_seed
from readerstudy.core.reading import ManualClock
from readerstudy.services.assignment_overview import assignment_overview
from readerstudy.services.assignments import apply_with_plan
from readerstudy.services.auth import (
    local_session,
    sign_in,
    system_session,
)
from readerstudy.services.importing import import_cases
from readerstudy.services.reading import ReadingService

LOCAL = local_session("test")  # the CLI's local coordinator session (reaches every study)

NO_AI = COUNTERBALANCED.replace("shows_ai = true", "shows_ai = false")
TWO_ARMS_ONE_SESSION = """
seed = 5
[[arms]]
name = "unaided"
[[arms]]
name = "second look"
"""


def _read(ctx, clock: ManualClock, reader: str, n: int) -> None:
    svc = ReadingService(ctx, sign_in(ctx, "Pilot", reader, PIN, now=clock.now), clock=clock.monotonic_ns,
                         wall_clock=clock.now, prefetch=False)
    try:
        svc.open()
        for _ in range(n):
            assert svc.start_case() is not None
            svc.display()
            clock.advance(15)
            svc.submit(30.0, 0, 4)
    finally:
        svc.close()


def test_rows_show_seed_progress_washout_date_and_status(tmp_path):
    ctx = build_study(tmp_path, n_cases=3, readers=(("alice", "senior"), ("bob", "junior")), protocol=NO_AI)
    clock = ManualClock()
    _read(ctx, clock, "alice", 3)  # alice finishes session 1
    finished = clock.now()
    _read(ctx, clock, "bob", 1)
    system = system_session(ctx, "Pilot")
    view = assignment_overview(ctx, system, now=clock.now())
    rows = {(r.reader, r.session): r for r in view.rows}
    assert [(r.reader, r.session) for r in view.rows] == [("alice", 1), ("alice", 2), ("bob", 1), ("bob", 2)]
    a1, a2, b1, b2 = rows[("alice", 1)], rows[("alice", 2)], rows[("bob", 1)], rows[("bob", 2)]
    assert a1.seed == derive_seed(3, "alice", a1.arm, 1) and a1.cases == 3 and a1.appended == 0
    assert (a1.done, a1.status, a1.finished_at) == (3, "complete", finished)
    assert a2.status == "washout" and a2.opens_on == finished + timedelta(days=28)
    assert a2.status_text == f"washout until {a2.opens_on:%Y-%m-%d}"
    assert a2.opens_text == f"{a2.opens_on:%Y-%m-%d %H:%M} UTC"
    assert (b1.done, b1.status, b1.status_text) == (1, "reading", "reading (1 of 3 done)")
    assert b2.status == "later" and b2.opens_on is None
    assert (b2.status_text, b2.opens_text) == ("waits for session 1", "28 d after session 1 ends")
    assert b1.opens_text == "from the start"
    assert {a1.arm, b1.arm} == {"unaided", "ai-aided"}  # counterbalanced: different first arms
    # after the washout, session 2 is open
    later = assignment_overview(ctx, system, now=finished + timedelta(days=28, seconds=1))
    assert {(r.reader, r.session): r for r in later.rows}[("alice", 2)].status == "open"
    # the washout calendar: per reader, when each session opens
    cal = {c.reader: c for c in view.calendar}
    assert [e.status for e in cal["alice"].sessions] == ["complete", "washout"]
    assert cal["alice"].sessions[0].text == f"finished {finished:%Y-%m-%d}"
    assert cal["alice"].sessions[1].opens_on == finished + timedelta(days=28)
    assert [e.status for e in cal["bob"].sessions] == ["reading", "later"]
    ctx.close()


def test_appended_cases_and_queued_arms(tmp_path):
    ctx = build_study(tmp_path, n_cases=4, readers=(("alice", "senior"),), protocol=TWO_ARMS_ONE_SESSION)
    import_cases(ctx, LOCAL, "Pilot", busi_sources(6)[4:])
    system = system_session(ctx, "Pilot")
    apply_with_plan(ctx, system)
    first, second = assignment_overview(ctx, system).rows
    assert (first.arm, first.status, first.cases, first.appended) == ("unaided", "open", 6, 2)
    assert len(first.extension_seeds) == 1
    assert (second.arm, second.status, second.status_text) == ("second look", "queued", "after unaided")
    ctx.close()


def test_coordinator_only_and_empty_before_apply(tmp_path):
    ctx = build_study(tmp_path, n_cases=2)
    with pytest.raises(PermissionDenied):
        assignment_overview(ctx, sign_in(ctx, "Pilot", "alice", PIN))
    ctx.close()
    from readerstudy.services.context import open_context

    ctx = open_context(tmp_path / "fresh.db")
    import_cases(ctx, LOCAL, "Fresh", busi_sources(2))
    view = assignment_overview(ctx, system_session(ctx, "Fresh"))
    assert view.protocol is None and view.rows == () and view.calendar == ()
    ctx.close()
