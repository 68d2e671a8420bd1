"""Reading administration: a reader's reads (with truth, for the coordinator), corrections as new
revisions that keep the original, reopening a washout-locked session."""

from __future__ import annotations

from datetime import timedelta

import pytest
from test_reading_support import COORD_PIN, COUNTERBALANCED, PIN, build_study, busi_sources

from readerstudy.core.errors import ConflictError, NotFoundError, PermissionDenied, ValidationError
from readerstudy.core.models import ReadPhase
from readerstudy.core.reading import ManualClock
from readerstudy.services import reading_admin as admin
from readerstudy.services.assignments import WashoutPending
from readerstudy.services.auth import local_session, sign_in
from readerstudy.services.importing import import_cases
from readerstudy.services.reading import ReadingService
from readerstudy.services.report_data import collect_report_data

WASHOUT = COUNTERBALANCED.replace("shows_ai = true", "shows_ai = false")


LOCAL = local_session("test")  # the CLI's local coordinator session (reaches every study)


def _read(ctx, name, answers, clock=None):
    """``name`` reads len(answers) cases (probability, call, confidence); returns the clock."""
    clock = clock or ManualClock()
    svc = ReadingService(ctx, sign_in(ctx, "Pilot", name, PIN), clock=clock.monotonic_ns, wall_clock=clock.now,
                         prefetch=False)
    svc.open()
    for p, b, c in answers:
        assert svc.start_case() is not None
        svc.display()
        clock.advance(20)
        svc.submit(p, b, c)
    svc.close()
    return clock


@pytest.fixture
def ctx(tmp_path):
    c = build_study(tmp_path, n_cases=3)
    yield c
    c.close()


def test_a_readers_reads_with_truth_for_the_coordinator_only(ctx):
    _read(ctx, "alice", [(80, 1, 4), (10, 0, 5)])
    coord = sign_in(ctx, "Pilot", "carol", COORD_PIN)
    rows = admin.reader_reads(ctx, coord, "alice")
    with ctx.uow() as uow:
        study = uow.studies.by_name("Pilot")
        truth = {c.id: c.truth for c in uow.cases.list(study.id)}
        order = uow.assignments.list(study.id)[0].case_ids
    assert [r.case_id for r in rows] == list(order[:2])
    assert [(r.probability, r.binary, r.confidence, r.revision, r.current) for r in rows] == [
        (80.0, 1, 4, 0, True), (10.0, 0, 5, 0, True)]
    assert all(r.truth == truth[r.case_id] and r.arm == "unaided" and r.session == 1 for r in rows)
    assert all(r.phase == ReadPhase.UNAIDED and r.time_ms == 20_000 and r.pseudonym.startswith("RS-") for r in rows)
    assert admin.reader_reads(ctx, coord, "bob") == []
    reader = sign_in(ctx, "Pilot", "bob", PIN)
    for call in (lambda: admin.reader_reads(ctx, reader, "alice"),
                 lambda: admin.reader_sessions(ctx, reader, "alice"),
                 lambda: admin.reopen_session(ctx, reader, "alice", 1, "x"),
                 lambda: admin.correct_read(ctx, reader, rows[0].read_id, probability=1, binary=0, confidence=1,
                                            reason="x")):
        with pytest.raises(PermissionDenied):
            call()
    with pytest.raises(NotFoundError, match="coordinator, not a reader"):
        admin.reader_reads(ctx, coord, "carol")


def test_a_correction_needs_a_reason_and_keeps_the_original(ctx):
    _read(ctx, "alice", [(80, 1, 4)])
    coord = sign_in(ctx, "Pilot", "carol", COORD_PIN)
    original = admin.reader_reads(ctx, coord, "alice")[0]
    for reason in ("", "   "):
        with pytest.raises(ValidationError, match="needs a reason"):
            admin.correct_read(ctx, coord, original.read_id, probability=20, binary=0, confidence=4, reason=reason)
    with pytest.raises(ValidationError, match="same as the current read"):
        admin.correct_read(ctx, coord, original.read_id, probability=80, binary=1, confidence=4, reason="typo")
    with pytest.raises(ValidationError):
        admin.correct_read(ctx, coord, original.read_id, probability=120, binary=0, confidence=4, reason="typo")
    assert len(admin.reader_reads(ctx, coord, "alice")) == 1  # nothing stored so far

    first = admin.correct_read(ctx, coord, original.read_id, probability=20, binary=0, confidence=4,
                               reason="reader phoned: pressed Y instead of N")
    # correcting again through the original id follows the latest revision
    second = admin.correct_read(ctx, coord, original.read_id, probability=25, binary=0, confidence=3,
                                reason="confirmed confidence 3")
    rows = admin.reader_reads(ctx, coord, "alice")
    assert [(r.read_id, r.revision, r.probability, r.current, r.original_id) for r in rows] == [
        (original.read_id, 0, 80.0, False, original.read_id), (first, 1, 20.0, False, original.read_id),
        (second, 2, 25.0, True, original.read_id)]
    assert rows[2].corrected_by == "carol" and rows[2].reason == "confirmed confidence 3"
    assert rows[0].corrected_by is None and rows[0].time_ms == rows[2].time_ms
    with ctx.uow() as uow:
        ev = [e for e in uow.audit.list() if e.action == "read.correct"][-1]
        assert uow.audit.verify_chain() == (True, None)
    assert ev.payload["before"] == {"probability": 20.0, "binary": 0, "confidence": 4}
    assert ev.payload["corrects"] == first and ev.payload["original"] == original.read_id
    data = collect_report_data(ctx, LOCAL, "Pilot")  # the reports use the latest revision only
    assert list(data.table["probability"]) == [25.0]


def test_a_coordinator_cannot_correct_another_studys_read(ctx):
    _read(ctx, "alice", [(80, 1, 4)])
    coord = sign_in(ctx, "Pilot", "carol", COORD_PIN)
    read_id = admin.reader_reads(ctx, coord, "alice")[0].read_id
    import_cases(ctx, LOCAL, "Other", busi_sources(1))
    from readerstudy.services.studies import add_first_coordinator

    other = add_first_coordinator(ctx, "Other", "olga", "5555")
    with pytest.raises(NotFoundError, match="No read"):
        admin.correct_read(ctx, other, read_id, probability=1, binary=0, confidence=1, reason="not mine")
    assert len(admin.reader_reads(ctx, coord, "alice")) == 1


def test_reopen_opens_a_washout_locked_session_now(tmp_path):
    ctx = build_study(tmp_path, n_cases=2, readers=(("alice", "senior"),), protocol=WASHOUT)
    clock = _read(ctx, "alice", [(70, 1, 3), (30, 0, 3)])
    end = clock.now()
    coord = sign_in(ctx, "Pilot", "carol", COORD_PIN)
    sessions = admin.reader_sessions(ctx, coord, "alice", now=clock.now)
    assert [(s.session, s.state, s.done, s.total) for s in sessions] == [(1, "complete", 2, 2), (2, "waiting", 0, 2)]
    assert sessions[1].opens_at == end + timedelta(days=28)
    svc = ReadingService(ctx, sign_in(ctx, "Pilot", "alice", PIN), clock=clock.monotonic_ns, wall_clock=clock.now,
                         prefetch=False)
    with pytest.raises(WashoutPending):
        svc.open()
    with pytest.raises(ValidationError, match="needs a reason"):
        admin.reopen_session(ctx, coord, "alice", 2, " ", now=clock.now)
    with pytest.raises(ConflictError, match="complete"):
        admin.reopen_session(ctx, coord, "alice", 1, "again", now=clock.now)
    with pytest.raises(NotFoundError, match="no session 3"):
        admin.reopen_session(ctx, coord, "alice", 3, "x", now=clock.now)

    ids = admin.reopen_session(ctx, coord, "alice", 2, "reader leaves the site on Friday", now=clock.now)
    assert ids == [sessions[1].assignment_id]
    after = admin.reader_sessions(ctx, coord, "alice", now=clock.now)[1]
    assert after.state == "open" and after.reopened["reason"] == "reader leaves the site on Friday"
    assert after.reopened["by"] == "carol" and after.reopened["washout_until"] == (end + timedelta(days=28)).isoformat()
    flow = svc.open()  # the reader reads session 2 now
    assert flow is not None and svc.info.assignment.session == 2
    svc.close()
    with pytest.raises(ConflictError, match="open"):
        admin.reopen_session(ctx, coord, "alice", 2, "again", now=clock.now)
    with ctx.uow() as uow:
        ev = [e for e in uow.audit.list() if e.action == "session.reopen"]
    assert len(ev) == 1 and ev[0].payload["session"] == 2 and ev[0].actor == "carol"
    from readerstudy.services.assignment_overview import assignment_overview

    rows = assignment_overview(ctx, coord, now=clock.now()).rows  # the Protocol tab's table agrees
    assert [(r.session, r.status) for r in rows] == [(1, "complete"), (2, "open")]
    ctx.close()
