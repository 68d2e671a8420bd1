"""The Qt-free reading state machine: answers, timer, transitions, resume."""

from __future__ import annotations

import math

import pytest

from readerstudy.core.errors import ConflictError, ValidationError
from readerstudy.core.models import ReadPhase
from readerstudy.core.reading import (
    ActiveTimer,
    ManualClock,
    ReadingFlow,
    ReadingState,
    contradiction_warning,
    validate_answers,
)


@pytest.mark.parametrize("p, b, c, needle", [
    (None, 1, 3, "probability is missing"),
    (math.nan, 1, 3, "probability nan"),
    (101, 1, 3, "probability 101"),
    (-0.5, 1, 3, "probability -0.5"),
    ("abc", 1, 3, "probability 'abc'"),
    (50, None, 3, "binary call is missing"),
    (50, 2, 3, "binary call 2"),
    (50, True, 3, "binary call True"),
    (50, 1, None, "confidence is missing"),
    (50, 1, 0, "confidence 0"),
    (50, 1, 6, "confidence 6"),
    (50, 1, 2.5, "confidence 2.5"),
])
def test_invalid_answers_are_refused_with_the_reason(p, b, c, needle):
    with pytest.raises(ValidationError, match="Answer not complete") as exc:
        validate_answers(p, b, c)
    assert needle in str(exc.value)


def test_valid_answers_and_bounds():
    a = validate_answers(0, 0, 1)
    assert (a.probability, a.binary, a.confidence) == (0.0, 0, 1)
    assert validate_answers("100", 1, 5).probability == 100.0


def test_contradiction_warning_beyond_the_margin_only():
    assert contradiction_warning(25, 1, 20) is not None  # positive call, p < 30
    assert contradiction_warning(30, 1, 20) is None
    assert contradiction_warning(75, 0, 20) is not None
    assert contradiction_warning(70, 0, 20) is None
    assert contradiction_warning(90, 1, 20) is None


def test_active_time_pauses_after_idle_timeout_and_without_focus():
    clock = ManualClock()
    t = ActiveTimer(clock.monotonic_ns, idle_timeout_s=30)
    t.start()
    clock.advance(10)
    t.touch()
    assert (t.elapsed_ms(), t.active_ms()) == (10_000, 10_000)
    clock.advance(100)  # idle: only the first 30 s count
    assert t.active_ms() == 40_000
    t.touch()
    clock.advance(5)
    t.set_focused(False)
    clock.advance(60)  # window not focused: nothing counts
    t.set_focused(True)
    clock.advance(2)
    assert t.elapsed_ms() == 177_000
    assert t.active_ms() == 47_000


def _flow(**kw):
    clock = ManualClock()
    stored = []
    flow = ReadingFlow(["a", "b", "c"], persist=stored.append, clock=clock.monotonic_ns, wall_clock=clock.now, **kw)
    return flow, clock, stored


def test_plain_flow_times_and_advances():
    flow, clock, stored = _flow()
    events = []
    flow.state_changed.connect(events.append)
    flow.start()
    assert flow.state == ReadingState.BLACK_SCREEN
    clock.advance(0.5)  # the black screen is not reading time
    flow.display()
    clock.advance(28.7)
    draft = flow.submit(70, 1, 4, {"window": [128, 256]})
    assert draft.time_ms == 28_700 and draft.phase == ReadPhase.UNAIDED and draft.case_id == "a"
    assert stored == [draft] and flow.index == 1 and flow.progress_text() == "Case 2 of 3"
    assert events == ["black_screen", "displayed", "submitted"]


def test_nothing_changes_when_persisting_fails():
    def boom(draft):
        raise ConflictError("disk full")
    clock = ManualClock()
    flow = ReadingFlow(["a"], persist=boom, clock=clock.monotonic_ns, wall_clock=clock.now)
    flow.start()
    flow.display()
    with pytest.raises(ConflictError):
        flow.submit(10, 0, 3)
    assert flow.state == ReadingState.DISPLAYED and flow.index == 0


def test_invalid_answer_keeps_the_case_open():
    flow, _, stored = _flow()
    flow.start()
    flow.display()
    with pytest.raises(ValidationError):
        flow.submit(float("nan"), 1, 3)
    assert flow.state == ReadingState.DISPLAYED and not stored


def test_resume_starts_at_first_case_without_read_and_finishes():
    flow, _, _ = _flow(completed={"a", "c"})
    assert flow.current_case == "b" and flow.done == 2
    flow.start()
    flow.display()
    flow.submit(5, 0, 5)
    finished = []
    flow.finished.connect(lambda: finished.append(True))
    flow.start()
    assert flow.state == ReadingState.FINISHED and finished == [True]


def test_sequential_unaided_is_locked_before_reveal():
    flow, clock, stored = _flow(sequential=True)
    flow.start()
    flow.display()
    clock.advance(20)
    unaided = flow.submit(40, 0, 3)
    assert flow.state == ReadingState.UNAIDED_LOCKED and flow.current_case == "a"
    with pytest.raises(ConflictError):
        flow.submit(90, 1, 5)  # cannot change the locked unaided read
    clock.advance(1)
    flow.reveal_ai({"model_name": "m", "probability": 0.9})
    clock.advance(6)
    aided = flow.submit(80, 1, 4)
    assert unaided.phase == ReadPhase.UNAIDED and unaided.ai_shown is None
    assert aided.phase == ReadPhase.AIDED and aided.ai_shown["probability"] == 0.9
    assert aided.time_ms == 6_000 and flow.index == 1 and len(stored) == 2


def test_sequential_resume_at_reveal():
    flow, _, _ = _flow(sequential=True, completed={"a"}, unaided_locked={"b": None})
    flow.start()
    flow.display()
    assert flow.state == ReadingState.UNAIDED_LOCKED and flow.current_case == "b"


def test_pause_stops_active_time():
    flow, clock, _ = _flow()
    flow.start()
    flow.display()
    clock.advance(10)
    flow.pause()
    assert flow.state == ReadingState.PAUSED
    clock.advance(20)
    flow.resume()
    clock.advance(5)
    draft = flow.submit(50, 1, 3)
    assert (draft.time_ms, draft.active_ms) == (35_000, 15_000)


def test_defer_sets_a_locked_case_aside_and_moves_on():
    clock = ManualClock()
    stored = []
    flow = ReadingFlow(["a", "b", "c"], sequential=True, persist=stored.append, clock=clock.monotonic_ns,
                       wall_clock=clock.now)
    deferred = []
    flow.case_deferred.connect(lambda i, cid: deferred.append((i, cid)))
    with pytest.raises(ConflictError, match="set the case aside"):
        flow.defer()  # nothing to set aside yet
    flow.start()
    flow.display()
    with pytest.raises(ConflictError):
        flow.defer()  # the unaided read comes first
    flow.submit(30, 0, 2)
    assert flow.defer() == "a" and deferred == [(0, "a")] and flow.state == ReadingState.SUBMITTED
    flow.start()
    assert flow.current_case == "b"
    flow.display()
    flow.submit(40, 0, 2)
    flow.reveal_ai({"model": "m"})
    flow.submit(45, 0, 3)
    flow.start()
    flow.defer()  # on the black screen (a concurrent AI arm without output): nothing read
    flow.start()
    assert flow.state == ReadingState.FINISHED and flow.deferred == ("a", "c") and flow.done == 1
    assert flow.progress_text() == "1 of 3 cases read; 2 set aside"
    assert [d.phase for d in stored] == [ReadPhase.UNAIDED, ReadPhase.UNAIDED, ReadPhase.AIDED]
