"""Study-defined questions through the reading service: validated, stored with a schema version, audited."""

from __future__ import annotations

import pytest
from test_reading_support import PIN, build_study

from readerstudy.core.errors import ValidationError
from readerstudy.core.questions import ANSWERS_SCHEMA
from readerstudy.core.reading import ManualClock, ReadingState
from readerstudy.services.auth import sign_in
from readerstudy.services.reading import ReadingService, correct_read
from readerstudy.storage.audit import check_digest

QUESTIONS = """
seed = 7
black_screen_ms = 0
[[arms]]
name = "unaided"

[[questions]]
key = "birads"
kind = "birads"
label = "BI-RADS assessment"

[[questions]]
key = "lesion"
kind = "location"
label = "Lesion centre"
required = false
"""


@pytest.fixture()
def ctx(tmp_path):
    c = build_study(tmp_path, n_cases=3, protocol=QUESTIONS)
    yield c
    c.close()


def _open(ctx):
    clock = ManualClock()
    svc = ReadingService(ctx, sign_in(ctx, "Pilot", "alice", PIN), clock=clock.monotonic_ns,
                         wall_clock=clock.now, prefetch=False)
    svc.open()
    view = svc.start_case()
    svc.display()
    return svc, view


def test_answers_are_stored_with_their_schema_version_and_covered_by_the_audit_digest(ctx):
    svc, view = _open(ctx)
    assert [q.key for q in svc.questions] == ["birads", "lesion"]
    rows, cols = svc.mark_shape
    assert (rows, cols) == view.hints.shape[-2:] and rows > 100  # a 2D ultrasound image: no slice axis
    svc.submit(70, 1, 4, answers={"birads": "4B", "lesion": {"row": rows - 1, "col": 12.5}})
    svc.close()
    with ctx.uow() as uow:
        (read,) = uow.reads.for_study(svc.user.study_id)
        (event,) = uow.audit.list(read.id, "read.submit")
        assert read.answers == {"birads": "4b", "lesion": {"row": float(rows - 1), "col": 12.5}}
        assert read.answers_schema == ANSWERS_SCHEMA == 1
        assert "answers" in event.payload["content"]["fields"]
        assert check_digest(uow.session, event.payload["content"], read.id) is None


@pytest.mark.parametrize(("answers", "message"), [
    ({"birads": "7"}, "'BI-RADS assessment' (birads): '7' is not one of ['0', '1', '2', '3', '4a', '4b', '4c', '5', '6']"),
    ({}, "'BI-RADS assessment' (birads) needs an answer"),
    ({"birads": "3", "lesion": {"row": 99999, "col": 1}}, "lies outside the image"),
    ({"birads": "3", "lesion": {"row": 1, "col": 1, "slice": 1}}, "the image is 2D and has no slices"),
    ({"birads": "3", "density": "c"}, "'density' is not a question of this study"),
])
def test_bad_answers_are_refused_and_nothing_is_stored(ctx, answers, message):
    svc, _ = _open(ctx)
    with pytest.raises(ValidationError) as exc:
        svc.submit(70, 1, 4, answers=answers)
    assert message in str(exc.value)
    assert svc.flow.state == ReadingState.DISPLAYED  # still on the case, nothing advanced
    svc.submit(70, 1, 4, answers={"birads": "3"})  # then a valid read goes through
    svc.close()
    with ctx.uow() as uow:
        (read,) = uow.reads.for_study(svc.user.study_id)
    assert read.answers == {"birads": "3"}


def test_a_correction_keeps_the_answers_of_the_read_it_corrects(ctx):
    svc, _ = _open(ctx)
    svc.submit(70, 1, 4, answers={"birads": "4c"})
    svc.close()
    with ctx.uow() as uow:
        (read,) = uow.reads.for_study(svc.user.study_id)
    carol = sign_in(ctx, "Pilot", "carol", "9999")
    new_id = correct_read(ctx, carol, read.id, probability=20, binary=0, confidence=4, reason="wrong key")
    with ctx.uow() as uow:
        new = uow.reads.get(new_id)
    assert new.answers == {"birads": "4c"} and new.answers_schema == 1 and new.revision == 1


def test_a_study_without_questions_stores_no_answers(tmp_path):
    ctx = build_study(tmp_path, n_cases=2)
    try:
        svc, _ = _open(ctx)
        assert svc.questions == ()
        with pytest.raises(ValidationError, match="'birads' is not a question of this study"):
            svc.submit(10, 0, 3, answers={"birads": "2"})
        svc.submit(10, 0, 3)
        svc.close()
        with ctx.uow() as uow:
            (read,) = uow.reads.for_study(svc.user.study_id)
        assert read.answers is None and read.answers_schema is None
    finally:
        ctx.close()
