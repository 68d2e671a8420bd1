"""Reading service: one stored read per submit, resume after a crash, sequential AI, finality."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from test_reading_support import COORD_PIN, PIN, SEQUENTIAL, build_study

import readerstudy
from readerstudy.core.errors import ConflictError, ValidationError
from readerstudy.core.models import ReadPhase
from readerstudy.core.reading import ManualClock, ReadingState
from readerstudy.services.auth import sign_in
from readerstudy.services.reading import ReadingService, correct_read


def _service(ctx, name="alice", clock=None, prefetch=False):
    clock = clock or ManualClock()
    user = sign_in(ctx, "Pilot", name, PIN)
    return ReadingService(ctx, user, clock=clock.monotonic_ns, wall_clock=clock.now, prefetch=prefetch), clock


@pytest.fixture()
def ctx(tmp_path):
    c = build_study(tmp_path, n_cases=4)
    yield c
    c.close()


def test_submit_stores_one_read_with_everything_and_resumes_after_a_crash(ctx):
    svc, clock = _service(ctx, prefetch=True)
    flow = svc.open()
    order = list(flow.case_ids)
    view = svc.start_case()
    assert (view.index, view.total, flow.progress_text()) == (0, 4, "Case 1 of 4")
    svc.display()
    clock.advance(12.5)
    svc.submit(72, 1, 4, {"window": [120.0, 200.0], "zoom": 1.5})
    svc.start_case()
    svc.display()
    clock.advance(3)
    svc.close()  # the app dies here, with case 2 on screen and unsubmitted

    with ctx.uow() as uow:
        reads = uow.reads.for_study(svc.user.study_id)
        chain_ok, _ = uow.audit.verify_chain()
    assert len(reads) == 1 and chain_ok
    r = reads[0]
    assert (r.case_id, r.probability, r.binary, r.confidence, r.time_ms) == (order[0], 72.0, 1, 4, 12_500)
    assert r.app_version == readerstudy.__version__ and r.view_state == {"window": [120.0, 200.0], "zoom": 1.5}
    assert r.session == 1 and r.phase == ReadPhase.UNAIDED and r.ai_shown is None and r.revision == 0

    svc2, _ = _service(ctx)
    flow2 = svc2.open()
    assert flow2.current_case == order[1] and flow2.progress_text() == "Case 2 of 4"
    while svc2.start_case() is not None:
        svc2.display()
        svc2.submit(10, 0, 2)
    assert flow2.state == ReadingState.FINISHED and svc2.open() is None
    svc2.close()


def test_a_submitted_read_cannot_be_changed(ctx):
    a, _ = _service(ctx)
    b, _ = _service(ctx)  # the same reader in a second window
    for s in (a, b):
        s.open()
        s.start_case()
        s.display()
    a.submit(60, 1, 3)
    with pytest.raises(ConflictError, match="already submitted"):
        b.submit(5, 0, 5)
    assert b.flow.state == ReadingState.DISPLAYED
    with ctx.uow() as uow:
        read = uow.reads.for_study(a.user.study_id)[0]
    with ctx.engine.begin() as conn, pytest.raises(sa.exc.DatabaseError, match="append-only"):
        conn.execute(sa.text("UPDATE read SET probability = 1 WHERE id = :i"), {"i": read.id})
    with ctx.engine.begin() as conn, pytest.raises(sa.exc.DatabaseError, match="append-only"):
        conn.execute(sa.text("DELETE FROM read WHERE id = :i"), {"i": read.id})


def test_coordinator_correction_is_a_new_revision(ctx):
    svc, _ = _service(ctx)
    svc.open()
    svc.start_case()
    svc.display()
    svc.submit(60, 1, 3)
    coord = sign_in(ctx, "Pilot", "carol", COORD_PIN)
    with ctx.uow() as uow:
        original = uow.reads.for_study(coord.study_id)[0]
    with pytest.raises(ValidationError, match="reason"):
        correct_read(ctx, coord, original.id, probability=40, binary=0, confidence=3, reason=" ")
    new_id = correct_read(ctx, coord, original.id, probability=40, binary=0, confidence=3,
                          reason="reader called: wrong key")
    with ctx.uow() as uow:
        reads = {r.id: r for r in uow.reads.for_study(coord.study_id)}
        events = [e for e in uow.audit.list(new_id) if e.action == "read.correct"]
    assert reads[original.id].probability == 60 and reads[original.id].revision == 0
    new = reads[new_id]
    assert (new.revision, new.probability, new.corrected_by, new.reason) == (1, 40, coord.participant_id,
                                                                            "reader called: wrong key")
    assert events and events[0].payload["original"] == original.id
    svc.close()


def test_invalid_answers_store_nothing(ctx):
    svc, _ = _service(ctx)
    svc.open()
    svc.start_case()
    svc.display()
    with pytest.raises(ValidationError):
        svc.submit(float("nan"), 1, 3)
    with pytest.raises(ValidationError):
        svc.submit(50, 1, None)
    with ctx.uow() as uow:
        assert uow.reads.for_study(svc.user.study_id) == []
    svc.close()


def test_sequential_ai_locks_unaided_then_logs_what_was_shown(tmp_path):
    ctx = build_study(tmp_path, n_cases=3, protocol=SEQUENTIAL, predictions=True)
    svc, clock = _service(ctx)
    svc.open()
    view = svc.start_case()
    assert view.ai is None  # nothing of the model before the unaided read
    with pytest.raises(ConflictError, match="unaided read first"):
        svc.reveal_ai()
    svc.display()
    clock.advance(20)
    svc.submit(30, 0, 3)
    with pytest.raises(ConflictError):
        svc.submit(90, 1, 5)  # the unaided read is locked
    clock.advance(2)
    ai = svc.reveal_ai()
    assert ai.model_name == "DiffKD-student" and ai.model_version == "1.2.0"
    assert ai.saliency is not None and ai.saliency.shape == view.pixels.shape[-2:]
    clock.advance(7)
    svc.submit(55, 1, 4)

    # crash after the next unaided read: resume at the reveal
    svc.start_case()
    svc.display()
    svc.submit(20, 0, 2)
    svc.close()
    svc2, _ = _service(ctx, clock=clock)
    flow = svc2.open()
    svc2.start_case()
    svc2.display()
    assert flow.state == ReadingState.UNAIDED_LOCKED and flow.index == 1
    svc2.reveal_ai()
    svc2.submit(25, 0, 3)

    with ctx.uow() as uow:
        reads = sorted(uow.reads.for_study(svc.user.study_id), key=lambda r: r.submitted_at)
        reveals = [e for e in uow.audit.list() if e.action == "ai.reveal"]
    unaided, aided = reads[0], reads[1]
    assert unaided.phase == ReadPhase.UNAIDED and unaided.ai_shown is None and unaided.probability == 30
    assert aided.phase == ReadPhase.AIDED and aided.time_ms == 7_000
    shown = aided.ai_shown
    assert shown["model_name"] == "DiffKD-student" and shown["model_version"] == "1.2.0"
    assert shown["probability"] == pytest.approx(ai.probability_pct / 100) and shown["saliency_shown"] is True
    assert shown["shown_at"] == clock.now().__class__.fromisoformat(shown["shown_at"]).isoformat()
    assert len(reveals) == 2 and len(reads) == 4
    svc2.close()
    ctx.close()


def test_concurrent_ai_arm_shows_the_model_with_the_case(tmp_path):
    proto = 'seed = 1\nblack_screen_ms = 0\n[[arms]]\nname = "ai"\nshows_ai = true\nmodel = "DiffKD-student"\n'
    ctx = build_study(tmp_path, n_cases=2, protocol=proto, predictions=True)
    svc, _ = _service(ctx)
    svc.open()
    view = svc.start_case()
    assert view.ai is not None and 0 <= view.ai.probability_pct <= 100
    svc.display()
    svc.submit(50, 1, 3)
    with ctx.uow() as uow:
        assert uow.reads.for_study(svc.user.study_id)[0].ai_shown["model_name"] == "DiffKD-student"
    svc.close()
    ctx.close()


def test_missing_ai_output_sets_the_case_aside_and_tells_the_coordinator(tmp_path):
    from test_reading_support import add_predictions

    from readerstudy.services.auth import sign_in as coordinator_sign_in
    from readerstudy.services.dashboard import dashboard_data
    from readerstudy.services.reading import AI_MISSING_ACTION, AiOutputMissing

    ctx = build_study(tmp_path, n_cases=3, protocol=SEQUENTIAL)  # no model output in the study
    svc, clock = _service(ctx)
    flow = svc.open()
    for k in range(3):
        svc.start_case()
        svc.display()
        svc.submit(40 + k, 0, 3)  # the unaided read is stored and locked
        assert not svc.ai_available()
        with pytest.raises(AiOutputMissing, match="No AI output for case RS-"):
            svc.reveal_ai()
        with pytest.raises(ConflictError, match="unaided_locked"):  # no aided read without the AI output
            svc.submit(50, 1, 3)
        svc.defer_case()
    assert svc.start_case() is None and len(flow.deferred) == 3 and flow.done == 0
    assert flow.progress_text() == "0 of 3 cases read; 3 set aside"
    svc.close()
    with ctx.uow() as uow:
        events = uow.audit.list(action=AI_MISSING_ACTION)
        reads = uow.reads.for_study(svc.user.study_id)
    assert len(events) == 3 and len(reads) == 3 and all(r.phase == ReadPhase.UNAIDED for r in reads)
    assert events[0].actor == "alice" and events[0].payload["arm"] == "ai-sequential"
    coordinator = coordinator_sign_in(ctx, "Pilot", "carol", COORD_PIN)
    (gap,) = dashboard_data(ctx, coordinator).ai_gaps
    assert gap.arm == "ai-sequential" and len(gap.without_output) == 3 and len(gap.set_aside) == 3
    assert "engine predict" in gap.describe() and "alice" in gap.describe()

    add_predictions(ctx, "Pilot")  # the coordinator runs the model: the cases come back at the reveal
    assert not dashboard_data(ctx, coordinator).ai_gaps
    svc2, _ = _service(ctx, clock=clock)
    flow2 = svc2.open()
    svc2.start_case()
    svc2.display()
    assert flow2.state == ReadingState.UNAIDED_LOCKED and svc2.ai_available()
    with pytest.raises(ConflictError, match="reveal it"):
        svc2.defer_case()
    assert svc2.reveal_ai().probability_pct >= 0
    svc2.submit(60, 1, 4)
    assert flow2.done == 1
    svc2.close()
    ctx.close()


def test_concurrent_ai_arm_without_output_is_set_aside_before_display(tmp_path):
    from readerstudy.services.reading import AiOutputMissing

    proto = 'seed = 1\nblack_screen_ms = 0\n[[arms]]\nname = "ai"\nshows_ai = true\nmodel = "Net"\n'
    ctx = build_study(tmp_path, n_cases=2, protocol=proto)
    svc, _ = _service(ctx)
    flow = svc.open()
    with pytest.raises(AiOutputMissing, match="'Net', which this study does not have"):
        svc.start_case()
    svc.defer_case()
    with pytest.raises(AiOutputMissing):
        svc.start_case()
    svc.defer_case()
    assert svc.start_case() is None and len(flow.deferred) == 2
    svc.close()
    ctx.close()
