"""The reading session as a Qt-free state machine: answers, timers and the walk through the cases.

States of one case::

    BLACK_SCREEN -> DISPLAYED -> SUBMITTED                                   (plain arm)
    BLACK_SCREEN -> DISPLAYED -> UNAIDED_LOCKED -> AI_REVEALED -> SUBMITTED  (sequential AI arm)

then the next case's BLACK_SCREEN, or FINISHED after the last one. Widgets listen to the psygnal
events of :class:`ReadingFlow` and call its methods; persistence is a callback (the service's),
so the flow only advances once a read is safely stored.

Times: ``time_ms`` is time-to-diagnosis, from the display of what is being judged to submit (for
the aided read of a sequential arm: from the AI reveal). ``active_ms`` counts the same span but
stops after ``idle_timeout_s`` without input and while the window has no focus. Both use an
injected monotonic clock in nanoseconds (``time.monotonic_ns`` by default).
"""

from __future__ import annotations

import enum
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from psygnal import Signal

from readerstudy.core.errors import ConflictError, ValidationError
from readerstudy.core.models import ReadPhase

Clock = Callable[[], int]
WallClock = Callable[[], datetime]
LIKERT_LABELS = {1: "very low", 2: "low", 3: "moderate", 4: "high", 5: "very high"}


class ReadingState(enum.StrEnum):
    IDLE = "idle"
    BLACK_SCREEN = "black_screen"
    DISPLAYED = "displayed"
    UNAIDED_LOCKED = "unaided_locked"
    AI_REVEALED = "ai_revealed"
    SUBMITTED = "submitted"
    PAUSED = "paused"
    FINISHED = "finished"


@dataclass(frozen=True)
class Answers:
    """A complete, valid answer: probability 0-100, binary call 0/1, confidence 1-5 (Likert)."""

    probability: float
    binary: int
    confidence: int


def validate_answers(probability: Any, binary: Any, confidence: Any) -> Answers:
    """Check all three answers; raise :class:`ValidationError` naming every missing or bad one."""
    problems = []
    p = None
    if probability is None:
        problems.append("probability is missing (0-100)")
    else:
        try:
            p = float(probability)
        except (TypeError, ValueError):
            p = math.nan
        if isinstance(probability, bool) or not math.isfinite(p) or not 0 <= p <= 100:
            problems.append(f"probability {probability!r} is not a number from 0 to 100")
    if binary is None:
        problems.append("binary call is missing (0 or 1)")
    elif isinstance(binary, bool) or binary not in (0, 1):
        problems.append(f"binary call {binary!r} is not 0 or 1")
    if confidence is None:
        problems.append("confidence is missing (1-5)")
    elif isinstance(confidence, bool) or not isinstance(confidence, int) or not 1 <= confidence <= 5:
        problems.append(f"confidence {confidence!r} is not a whole number from 1 to 5")
    if problems:
        raise ValidationError("Answer not complete: " + "; ".join(problems) + ".")
    assert p is not None
    return Answers(p, int(binary), int(confidence))


def validate_model_probability(value: Any, where: str = "model prediction") -> float:
    """A model's output probability: a finite number in [0, 1] (not a percentage), as a float.

    Raises :class:`ValidationError` for NaN, infinities, booleans, non-numbers and values outside
    [0, 1] (e.g. -1 or 101), so a bad engine output is refused like a bad answer is.
    """
    try:
        p = float(value)
    except (TypeError, ValueError):
        p = math.nan
    if isinstance(value, bool) or not math.isfinite(p) or not 0.0 <= p <= 1.0:
        raise ValidationError(f"{where}: probability {value!r} is not a number from 0 to 1 (a percentage must be "
                              "divided by 100); nothing was stored.")
    return p


def contradiction_warning(probability: float | None, binary: int | None, margin: float, *,
                          positive: str = "positive", negative: str = "negative") -> str | None:
    """A warning (never a block) when the binary call contradicts the probability by more than ``margin``.

    ``positive`` / ``negative`` name the calls as the form does (the protocol's ``[form]`` labels).
    """
    if probability is None or binary is None or not math.isfinite(probability):
        return None
    if binary == 1 and probability < 50 - margin:
        return f"You called it {positive.lower()} but gave a probability of {probability:.0f} %. Submit anyway?"
    if binary == 0 and probability > 50 + margin:
        return f"You called it {negative.lower()} but gave a probability of {probability:.0f} %. Submit anyway?"
    return None


class ActiveTimer:
    """Elapsed and active time from :meth:`start`, on an injected monotonic clock (ns).

    Active time is elapsed time minus idle stretches: after ``idle_timeout_s`` without
    :meth:`touch`, it stops counting until the next input; it also stops while unfocused.
    """

    def __init__(self, clock: Clock = time.monotonic_ns, idle_timeout_s: float = 30.0) -> None:
        self._clock = clock
        self._idle_ns = int(idle_timeout_s * 1e9)
        self._t0: int | None = None
        self._active_ns = 0
        self._mark = 0
        self._focused = True

    @property
    def running(self) -> bool:
        return self._t0 is not None

    def start(self) -> None:
        self._t0 = self._mark = self._clock()
        self._active_ns = 0

    def _settle(self, now: int) -> None:
        if self._focused:
            self._active_ns += min(now - self._mark, self._idle_ns)
        self._mark = now

    def touch(self) -> None:
        """The reader did something (key, mouse, wheel): active time resumes."""
        if self._t0 is not None:
            self._settle(self._clock())

    def set_focused(self, focused: bool) -> None:
        if self._t0 is not None and focused != self._focused:
            self._settle(self._clock())
        self._focused = focused

    def elapsed_ms(self) -> int:
        if self._t0 is None:
            return 0
        return (self._clock() - self._t0) // 1_000_000

    def active_ms(self) -> int:
        if self._t0 is None:
            return 0
        now = self._clock()
        extra = min(now - self._mark, self._idle_ns) if self._focused else 0
        return (self._active_ns + extra) // 1_000_000


@dataclass(frozen=True)
class ReadDraft:
    """A read ready to be stored (what the flow hands to the persistence callback)."""

    case_id: str
    index: int
    phase: ReadPhase
    answers: Answers
    time_ms: int
    active_ms: int
    started_at: datetime
    submitted_at: datetime
    view_state: dict[str, Any]
    ai_shown: dict[str, Any] | None
    warning: str | None = None
    questions: dict[str, Any] | None = None  # validated answers to the study-defined questions (key -> answer)


@dataclass
class _Position:
    index: int = 0
    started_at: datetime | None = None
    unaided: ReadDraft | None = None
    ai_shown: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class ReadingFlow:
    """One reader's walk through one assignment's ordered cases.

    Parameters
    ----------
    case_ids : ordered case ids of the assignment.
    completed : cases already fully read (resume skips them).
    unaided_locked : cases whose unaided read is stored but not the aided one (resume at the reveal).
    sequential : sequential AI arm (unaided read, lock, reveal, aided read).
    persist : called with each :class:`ReadDraft`; the flow advances only if it returns.
    """

    state_changed = Signal(str)
    case_started = Signal(int, str)  # index (0-based), case id; the black screen is showing
    case_displayed = Signal(int, str)
    unaided_locked = Signal(object)  # ReadDraft
    ai_revealed = Signal(object)  # the ai_shown dict
    read_submitted = Signal(object)  # ReadDraft
    case_deferred = Signal(int, str)  # index, case id: set aside (its unaided read stays locked)
    finished = Signal()

    def __init__(self, case_ids: list[str] | tuple[str, ...], *, completed: set[str] | frozenset[str] = frozenset(),
                 unaided_locked: dict[str, ReadDraft | None] | None = None, sequential: bool = False,
                 persist: Callable[[ReadDraft], None] | None = None, clock: Clock = time.monotonic_ns,
                 wall_clock: WallClock = lambda: datetime.now(UTC), idle_timeout_s: float = 30.0,
                 contradiction_margin: float = 20.0) -> None:
        self.case_ids = tuple(case_ids)
        self.sequential = sequential
        self.margin = contradiction_margin
        self._completed = set(completed)
        self._deferred: set[str] = set()
        self._locked = dict(unaided_locked or {})
        self._persist = persist or (lambda draft: None)
        self._wall = wall_clock
        self.timer = ActiveTimer(clock, idle_timeout_s)
        self.state = ReadingState.IDLE
        self._paused_from: ReadingState | None = None
        self._pos = _Position(index=self._first_open())

    # --- position -------------------------------------------------------------------------------
    def _first_open(self) -> int:
        for i, cid in enumerate(self.case_ids):
            if cid not in self._completed and cid not in self._deferred:
                return i
        return len(self.case_ids)

    @property
    def deferred(self) -> tuple[str, ...]:
        """Cases set aside in this sitting (:meth:`defer`), in order; they are not read yet."""
        return tuple(c for c in self.case_ids if c in self._deferred)

    @property
    def index(self) -> int:
        return self._pos.index

    @property
    def total(self) -> int:
        return len(self.case_ids)

    @property
    def done(self) -> int:
        return len(self._completed & set(self.case_ids))

    @property
    def current_case(self) -> str | None:
        return self.case_ids[self._pos.index] if self._pos.index < self.total else None

    @property
    def unaided_draft(self) -> ReadDraft | None:
        return self._pos.unaided

    @property
    def ai_shown(self) -> dict[str, Any] | None:
        return self._pos.ai_shown

    def progress_text(self) -> str:
        if self.current_case is None:
            if self._deferred:
                return f"{self.done} of {self.total} cases read; {len(self._deferred)} set aside"
            return f"All {self.total} cases read"
        return f"Case {self._pos.index + 1} of {self.total}"

    def _set(self, state: ReadingState) -> None:
        self.state = state
        self.state_changed.emit(str(state))

    def _require(self, *states: ReadingState, action: str) -> None:
        if self.state not in states:
            raise ConflictError(f"Cannot {action} now (the reading is {self.state}, not "
                                f"{' or '.join(str(s) for s in states)}).")

    # --- transitions ----------------------------------------------------------------------------
    def start(self) -> None:
        """Go to the current case's black screen (or FINISHED when every case is read)."""
        self._require(ReadingState.IDLE, ReadingState.SUBMITTED, action="start the next case")
        if self.current_case is None:
            self._set(ReadingState.FINISHED)
            self.finished.emit()
            return
        self._pos = _Position(index=self._pos.index)
        self._set(ReadingState.BLACK_SCREEN)
        self.case_started.emit(self._pos.index, self.current_case)

    def display(self) -> None:
        """The image is on screen: the clock starts (or, resuming a locked unaided read, wait for the reveal)."""
        self._require(ReadingState.BLACK_SCREEN, action="display the case")
        cid = self.current_case
        assert cid is not None
        if self.sequential and cid in self._locked:
            self._pos.unaided = self._locked[cid]
            self._set(ReadingState.UNAIDED_LOCKED)
            self.case_displayed.emit(self._pos.index, cid)
            return
        self._pos.started_at = self._wall()
        self.timer.start()
        self._set(ReadingState.DISPLAYED)
        self.case_displayed.emit(self._pos.index, cid)

    def set_ai_shown(self, ai_shown: dict[str, Any]) -> None:
        """Concurrent (non-sequential) AI arm: record what is shown with the case from the start."""
        self._pos.ai_shown = dict(ai_shown)

    def reveal_ai(self, ai_shown: dict[str, Any]) -> None:
        """Sequential arm, after the unaided read is locked: show the model output; the aided clock starts."""
        self._require(ReadingState.UNAIDED_LOCKED, action="reveal the AI output")
        self._pos.ai_shown = dict(ai_shown)
        self._pos.started_at = self._wall()
        self.timer.start()
        self._set(ReadingState.AI_REVEALED)
        self.ai_revealed.emit(self._pos.ai_shown)

    def defer(self) -> str:
        """Set the current case aside and move on, when it cannot be read now (e.g. no model output).

        Allowed with the unaided read locked (sequential arm: that read stays stored, so the case comes
        back at its reveal the next time the assignment is opened) or on the black screen (nothing
        read yet). Nothing is stored. Returns the case id.
        """
        self._require(ReadingState.UNAIDED_LOCKED, ReadingState.BLACK_SCREEN, action="set the case aside")
        cid = self.current_case
        assert cid is not None
        index = self._pos.index
        self._deferred.add(cid)
        self._pos = _Position(index=self._first_open())
        self._set(ReadingState.SUBMITTED)
        self.case_deferred.emit(index, cid)
        return cid

    def touch(self) -> None:
        self.timer.touch()

    def set_focused(self, focused: bool) -> None:
        self.timer.set_focused(focused)

    def pause(self) -> None:
        """A break: active time stops (the elapsed time-to-diagnosis keeps running, as it is wall time)."""
        if self.state in (ReadingState.DISPLAYED, ReadingState.AI_REVEALED, ReadingState.UNAIDED_LOCKED):
            self._paused_from = self.state
            self.timer.set_focused(False)
            self._set(ReadingState.PAUSED)

    def resume(self) -> None:
        if self.state == ReadingState.PAUSED and self._paused_from is not None:
            self.timer.set_focused(True)
            self._set(self._paused_from)
            self._paused_from = None

    def check(self, probability: Any, binary: Any, confidence: Any) -> tuple[Answers, str | None]:
        answers = validate_answers(probability, binary, confidence)
        return answers, contradiction_warning(answers.probability, answers.binary, self.margin)

    def submit(self, probability: Any, binary: Any, confidence: Any,
               view_state: dict[str, Any] | None = None, questions: dict[str, Any] | None = None) -> ReadDraft:
        """Validate, persist (through the callback) and advance. Nothing changes if either step fails.

        ``questions`` are the answers to the study-defined questions, already validated by the
        caller (:func:`readerstudy.core.questions.validate_question_answers`); they travel in the draft.
        """
        self._require(ReadingState.DISPLAYED, ReadingState.AI_REVEALED, action="submit a read")
        answers, warning = self.check(probability, binary, confidence)
        cid = self.current_case
        assert cid is not None and self._pos.started_at is not None
        phase = ReadPhase.AIDED if self.state == ReadingState.AI_REVEALED else ReadPhase.UNAIDED
        draft = ReadDraft(case_id=cid, index=self._pos.index, phase=phase, answers=answers,
                          time_ms=self.timer.elapsed_ms(), active_ms=self.timer.active_ms(),
                          started_at=self._pos.started_at, submitted_at=self._wall(),
                          view_state=dict(view_state or {}), ai_shown=self._pos.ai_shown, warning=warning,
                          questions=dict(questions) if questions is not None else None)
        self._persist(draft)
        if self.sequential and phase == ReadPhase.UNAIDED:
            self._pos.unaided = draft
            self._locked[cid] = draft
            self._set(ReadingState.UNAIDED_LOCKED)
            self.unaided_locked.emit(draft)
            return draft
        self._completed.add(cid)
        self._locked.pop(cid, None)
        self._pos = _Position(index=self._first_open())
        self._set(ReadingState.SUBMITTED)
        self.read_submitted.emit(draft)
        return draft


class ManualClock:
    """A clock that moves only when told: ``monotonic_ns`` and ``now`` advance together.

    For tests and for ``simulate-readers``, which records simulated reading times through the
    normal timer instead of writing them around it.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._ns = 0
        self._start = start or datetime(2025, 1, 6, 9, 0, tzinfo=UTC)

    def monotonic_ns(self) -> int:
        return self._ns

    def now(self) -> datetime:
        from datetime import timedelta

        return self._start + timedelta(microseconds=self._ns // 1000)

    def advance(self, seconds: float) -> None:
        if seconds < 0 or not math.isfinite(seconds):
            raise ValueError("a clock only moves forward")
        self._ns += int(round(seconds * 1e9))
