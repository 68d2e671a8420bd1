"""Use case: a signed-in reader reads their assigned cases (blinded), one stored read per submit.

What a reader session can reach is what this module returns: :class:`CaseView` (a
:class:`~readerstudy.core.models.BlindedCase`, the pixels and display hints) and, in AI arms,
:class:`AiView`. No ground truth, PHI, source reference or other reader's reads are ever queried
here (``tests/services/test_reading_blinding.py`` checks the SQL).

Resume is derived from the stored reads: the first case of the assignment's order without a read;
in a sequential arm, a stored unaided read without its aided read resumes at the AI reveal.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy.exc import IntegrityError

import readerstudy
from readerstudy.core.errors import ConflictError, NotFoundError, PermissionDenied, ValidationError
from readerstudy.core.models import Arm, BlindedCase, ImageAsset, Read, ReadPhase
from readerstudy.core.protocol import Protocol
from readerstudy.core.questions import QuestionSpec, stored_answers, validate_question_answers
from readerstudy.core.reading import (
    Answers,
    Clock,
    ReadDraft,
    ReadingFlow,
    ReadingState,
    WallClock,
    validate_answers,
)
from readerstudy.imaging.windowing import default_window
from readerstudy.services.ai_status import arm_model
from readerstudy.services.assignments import (
    AssignmentInfo,
    close_session_if_done,
    my_assignments,
    next_assignment,
    study_protocol,
)
from readerstudy.services.auth import UserSession, require_coordinator, require_reader
from readerstudy.services.context import AppContext
from readerstudy.services.hanging import (
    PRACTICE_ACTION,
    SecondaryView,
    load_secondary,
    practice_read,
    secondary_assets,
    stored_practice,
)
from readerstudy.storage.retry import with_retry

log = logging.getLogger(__name__)
ALREADY_SUBMITTED = ("This read was already submitted (perhaps from another window); a submitted read cannot be "
                     "changed (a coordinator can record a correction). Reopen the reading list to continue.")

AI_MISSING_ACTION = "ai.missing"


class AiOutputMissing(ConflictError):
    """A sequential AI arm reached a case for which the study has no output of the arm's model.

    The unaided read is stored and locked; the reader can set the case aside
    (:meth:`ReadingService.defer_case`), which tells the coordinator (an ``ai.missing`` audit
    event, listed on the dashboard); it comes back once the model has been run.
    """


@dataclass(frozen=True)
class DisplayHints:
    """How to show the pixels: ``shape`` is (frames/slices, rows, cols); ``window`` (center, width)."""

    modality: str
    shape: tuple[int, ...]
    is_volume: bool
    is_cine: bool
    frame_time_ms: float | None
    window: tuple[float, float] | None
    spacing: tuple[float, float, float]
    invert: bool = False  # MONOCHROME1: the display inverts the grey after the window


@dataclass(frozen=True)
class AiView:
    """The model output a reader is shown: name, version, probability (percent), optional saliency map.

    ``saliency`` is (rows, cols) or (slices, rows, cols) in [0, 1] on the image's pixel grid, peak 1;
    it is the Grad-CAM of the model's own call (``saliency_target``: "positive" when the probability
    is >= 50 %, else "negative"), so it shows where the model saw evidence for what it says.
    """

    model_name: str
    model_version: str
    probability_pct: float
    saliency: np.ndarray | None
    saliency_target: str | None = None


@dataclass(frozen=True)
class CaseView:
    """Everything the reading screen receives for one case (and nothing more)."""

    case: BlindedCase
    pixels: np.ndarray
    hints: DisplayHints
    index: int
    total: int
    session: int
    arm_name: str
    ai: AiView | None = None  # concurrent AI arms only; sequential arms reveal it later
    secondaries: tuple[SecondaryView, ...] = ()  # images hung with this one (protocol's [hanging])
    practice: bool = False  # a practice case: read before the study, recorded as practice, never scored


@dataclass(frozen=True)
class _Item:
    case: BlindedCase
    asset: ImageAsset
    secondaries: tuple[ImageAsset, ...] = ()


_Loaded = tuple[np.ndarray, tuple[float, float], tuple[SecondaryView, ...]]
PRACTICE_ARM = "practice"


def _window_of(pixels: np.ndarray, asset: ImageAsset, modality: str) -> tuple[float, float]:
    return default_window(pixels, asset.window, modality)


def _draft_of(read: Read, index: int) -> ReadDraft:
    """The stored unaided read as the flow's locked draft (its values are shown while it is locked)."""
    return ReadDraft(read.case_id, index, read.phase, Answers(read.probability, read.binary, read.confidence),
                     read.time_ms, read.active_ms, read.started_at, read.submitted_at, read.view_state,
                     read.ai_shown, questions=read.answers)


class ReadingService:
    """A reader's reading session over the current assignment; the UI and the simulator drive it.

    Parameters
    ----------
    clock, wall_clock : injected for tests and simulation (monotonic ns; aware UTC datetime).
    prefetch : load the next case's pixels in a background thread while the reader reads.
    """

    def __init__(self, ctx: AppContext, user: UserSession, *, clock: Clock = time.monotonic_ns,
                 wall_clock: WallClock | None = None, prefetch: bool = True) -> None:
        require_reader(user)
        self.ctx, self.user = ctx, user
        self._clock = clock
        self._wall: WallClock = wall_clock or (lambda: datetime.now(UTC))
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="prefetch") if prefetch else None
        self._cache: dict[str, Future[_Loaded]] = {}
        self.flow: ReadingFlow | None = None
        self.info: AssignmentInfo | None = None
        self._items: dict[str, _Item] = {}
        self._ai_pending: dict[str, Any] | None = None
        self._mark_shape: tuple[int, ...] | None = None  # the current image's (slices,) rows, cols: marks lie inside
        self.practice = False  # the open flow is the reader's practice cases
        with ctx.uow(read=True) as uow:
            proto = study_protocol(uow, user.study_id)
        if proto is None:
            raise NotFoundError(f"Study {user.study_name!r} has no reading protocol yet; ask the coordinator "
                                "to apply one (readerstudy protocol apply).")
        self.protocol: Protocol = proto

    # --- opening ------------------------------------------------------------------------------------
    def assignments(self) -> list[AssignmentInfo]:
        with self.ctx.uow(read=True) as uow:
            return my_assignments(uow, self.user)

    def open(self) -> ReadingFlow | None:
        """Open the first incomplete assignment at the resume point; None when everything is read.

        Raises :class:`~readerstudy.services.assignments.WashoutPending` before the next session's date.
        """
        with self.ctx.uow(read=True) as uow:
            info = next_assignment(uow, self.user, self._wall(), self.protocol)
            if info is None:
                self.flow, self.info = None, None
                return None
            a = info.assignment
            practice = stored_practice(uow, self.user.study_id)
            todo = [c for c in practice if c not in practice_read(uow, self.user.name, practice)]
            if todo:
                return self._open_practice(uow, info, practice)
            self.practice = False
            reads = [r for r in uow.reads.for_assignment(a.id) if r.revision == 0]
            items = {cid: self._item(uow, cid) for cid in a.case_ids}
        final = ReadPhase.AIDED if info.arm.sequential else ReadPhase.UNAIDED
        completed = {r.case_id for r in reads if r.phase == final}
        locked: dict[str, ReadDraft | None] = {}
        if info.arm.sequential:
            for r in reads:
                if r.phase == ReadPhase.UNAIDED and r.case_id not in completed:
                    locked[r.case_id] = _draft_of(r, a.case_ids.index(r.case_id))  # shown again on resume
        self.info, self._items = info, items
        self.flow = ReadingFlow(a.case_ids, completed=completed, unaided_locked=locked,
                                sequential=info.arm.sequential, persist=self._persist, clock=self._clock,
                                wall_clock=self._wall, idle_timeout_s=self.protocol.idle_timeout_s,
                                contradiction_margin=self.protocol.contradiction_margin)
        log.info("%s opened session %d arm %s at %s", self.user.name, a.session, info.arm.name,
                 self.flow.progress_text())
        return self.flow

    def _item(self, uow: Any, cid: str) -> _Item:
        return _Item(uow.cases.blinded(cid), uow.assets.image(cid),
                     secondary_assets(uow, cid, self.protocol.hanging))

    def _open_practice(self, uow: Any, info: AssignmentInfo, practice: tuple[str, ...]) -> ReadingFlow:
        """The reader's practice cases first (unaided, not scored); resumes at the first one not read."""
        done = practice_read(uow, self.user.name, practice)
        self.info, self.practice = info, True
        self._items = {cid: self._item(uow, cid) for cid in practice}
        self.flow = ReadingFlow(list(practice), completed=done, persist=self._persist_practice, clock=self._clock,
                                wall_clock=self._wall, idle_timeout_s=self.protocol.idle_timeout_s,
                                contradiction_margin=self.protocol.contradiction_margin)
        log.info("%s opened practice at %s", self.user.name, self.flow.progress_text())
        return self.flow

    @property
    def arm(self) -> Arm:
        if self.info is None:
            raise ConflictError("No assignment is open; call open() first.")
        if self.practice:  # practice cases are read unaided, whatever the first arm shows
            return Arm(PRACTICE_ARM, self.user.study_id, PRACTICE_ARM, False, False, -1)
        return self.info.arm

    # --- pixels -----------------------------------------------------------------------------------
    def _load(self, case_id: str) -> _Loaded:
        """Pixels, their default window and the secondary images (off the GUI thread when prefetched)."""
        item = self._items[case_id]
        asset = item.asset
        pixels = self.ctx.store.load_verified(asset.path, asset.checksum)  # a replaced file is never shown
        n = pixels.shape[0] if pixels.ndim == 3 else 1
        secondaries = tuple(load_secondary(lambda a: self.ctx.store.load_verified(a.path, a.checksum), asset, n, s)
                            for s in item.secondaries)
        return pixels, _window_of(pixels, asset, item.case.modality), secondaries

    def _pixels(self, case_id: str) -> _Loaded:
        hit = self._cache.pop(case_id, None)
        return hit.result() if hit is not None else self._load(case_id)

    def prefetch(self, case_id: str | None) -> None:
        """Start loading ``case_id`` in the background (no-op without a pool or when cached)."""
        if self._pool is None or case_id is None or case_id in self._cache or case_id not in self._items:
            return
        self._cache[case_id] = self._pool.submit(self._load, case_id)

    def prefetch_next(self) -> None:
        """Start loading the case after the current one (the window calls this once the case is painted)."""
        if self.flow is not None:
            self.prefetch(self._next_case_id())

    def prefetch_idle(self) -> bool:
        """True when no background load is still running."""
        return all(f.done() for f in self._cache.values())

    def _next_case_id(self) -> str | None:
        assert self.flow is not None
        for cid in self.flow.case_ids[self.flow.index + 1:]:
            return cid
        return None

    # --- reading ----------------------------------------------------------------------------------
    def start_case(self) -> CaseView | None:
        """Advance to the next case's black screen and return its view; None when the assignment is done."""
        flow = self._need_flow()
        flow.start()
        if flow.state == ReadingState.FINISHED:
            return None
        return self.case_view()

    def case_view(self) -> CaseView:
        flow = self._need_flow()
        cid = flow.current_case
        if cid is None:
            raise ConflictError("Every case of this assignment is read.")
        item = self._items[cid]
        pixels, window, secondaries = self._pixels(cid)
        a = item.asset
        hints = DisplayHints(item.case.modality, tuple(pixels.shape), a.is_volume, a.is_cine, a.frame_time_ms,
                             window, a.spacing, a.invert)
        stack = pixels.shape if pixels.ndim == 3 else (1, *pixels.shape)  # (slices/frames, rows, cols) as shown
        self._mark_shape = tuple(stack[1:] if stack[0] == 1 else stack)
        ai = None
        if self.arm.shows_ai and not self.arm.sequential:
            ai, self._ai_pending = self._ai_for(cid)
        assert self.info is not None
        return CaseView(item.case, pixels, hints, flow.index, flow.total, self.info.assignment.session,
                        self.arm.name, ai, secondaries, self.practice)

    def display(self) -> None:
        """The case is on screen (after the black screen): the clock starts."""
        flow = self._need_flow()
        flow.display()
        if self._ai_pending is not None and flow.state == ReadingState.DISPLAYED:
            flow.set_ai_shown({**self._ai_pending, "shown_at": self._wall().isoformat()})
            self._ai_pending = None

    def _ai_for(self, case_id: str) -> tuple[AiView, dict[str, Any]]:
        if not self.arm.shows_ai:  # blinding: an unaided arm never reaches the model's output
            raise PermissionDenied(f"Arm {self.arm.name!r} does not show the AI's output.")
        with self.ctx.uow(read=True) as uow:
            pred = self._prediction(uow, case_id)
            model = uow.models.get(pred.model_id)
        pct = pred.probability * 100.0  # predictions are stored in [0, 1] (validated on write)
        saliency = self.ctx.store.load_array(pred.saliency_path) if pred.saliency_path else None
        shown = {"model_id": model.id, "model_name": model.name, "model_version": model.version,
                 "checkpoint_hash": model.checkpoint_hash, "prediction_id": pred.id,
                 "probability": pred.probability, "probability_pct": pct,
                 "saliency_path": pred.saliency_path, "saliency_shown": saliency is not None}
        target = None if saliency is None else ("positive" if pct >= 50.0 else "negative")
        shown["saliency_target"] = target
        return AiView(model.name, model.version, pct, saliency, target), shown

    def _prediction(self, uow: Any, case_id: str) -> Any:
        spec = self.protocol.arm(self.arm.name)
        pseudonym = self._items[case_id].case.pseudonym
        model_id = None
        if spec.model:
            named = arm_model(uow, self.user.study_id, spec.model)  # the dashboard's rule too
            if named is None:
                raise AiOutputMissing(f"No AI output for case {pseudonym}: the protocol shows model "
                                      f"{spec.model!r}, which this study does not have yet.")
            model_id = named.id
        pred = uow.models.latest_prediction(case_id, model_id)
        if pred is None:
            raise AiOutputMissing(f"No AI output for case {pseudonym}: the model has not been run on it yet.")
        return pred

    def ai_available(self) -> bool:
        """Whether the current case has the output of the arm's model (sequential and concurrent AI arms)."""
        cid = self._need_flow().current_case
        if cid is None or not self.arm.shows_ai:
            return False
        with self.ctx.uow(read=True) as uow:
            try:
                self._prediction(uow, cid)
            except AiOutputMissing:
                return False
        return True

    def defer_case(self) -> str:
        """Set the current case aside because its AI output is missing; tell the coordinator.

        In a sequential AI arm after the unaided read is locked (that read stays stored), or in a
        concurrent AI arm before the case is shown (:meth:`start_case` raised
        :class:`AiOutputMissing`). Writes an
        ``ai.missing`` audit event (the dashboard lists them) and moves to the next case; the case comes
        back the next time this assignment is opened. Returns the case's pseudonym.

        Raises
        ------
        ConflictError
            Not in that state, or the AI output is in fact available (reveal it instead).
        """
        flow = self._need_flow()
        allowed = (ReadingState.UNAIDED_LOCKED if self.arm.sequential else ReadingState.BLACK_SCREEN)
        if not self.arm.shows_ai or flow.state != allowed:
            raise ConflictError("Only a case of an AI arm whose AI output is missing can be set aside "
                                "(in a sequential arm, after its unaided read is locked).")
        if self.ai_available():
            raise ConflictError("The AI output of this case is available: reveal it (A) instead of setting "
                                "the case aside.")
        assert self.info is not None
        cid = flow.defer()
        pseudonym = self._items[cid].case.pseudonym
        with self.ctx.uow() as uow:
            uow.audit.append(self.user.name, AI_MISSING_ACTION, "case", cid,
                             {"pseudonym": pseudonym, "arm": self.arm.name, "session": self.info.assignment.session,
                              "assignment_id": self.info.assignment.id,
                              "model": self.protocol.arm(self.arm.name).model})
            uow.commit()
        log.warning("%s set case %s aside: no AI output", self.user.name, pseudonym)
        return pseudonym

    def reveal_ai(self) -> AiView:
        """Sequential arm: the unaided read is stored and locked; show the model output and log it."""
        flow = self._need_flow()
        if not self.arm.sequential:
            raise ConflictError(f"Arm {self.arm.name!r} is not a sequential AI arm; there is nothing to reveal.")
        cid = flow.current_case
        if flow.state != ReadingState.UNAIDED_LOCKED or cid is None:
            raise ConflictError("Submit the unaided read first; the AI output is revealed only after it is locked.")
        view, shown = self._ai_for(cid)
        shown = {**shown, "shown_at": self._wall().isoformat()}

        def log_reveal() -> None:  # written first: the screen moves to the reveal only once it is logged
            with self.ctx.uow() as uow:
                uow.audit.append(self.user.name, "ai.reveal", "case", cid,
                                 {k: shown[k] for k in ("model_id", "model_version", "prediction_id",
                                                        "probability", "shown_at")})
                uow.commit()

        with_retry(log_reveal)
        flow.reveal_ai(shown)
        return view

    @property
    def mark_shape(self) -> tuple[int, ...]:
        """The current image's (rows, cols), or (slices, rows, cols) for a volume: where a location mark may lie."""
        if self._mark_shape is None:
            raise ConflictError("No case is shown; start a case first.")
        return self._mark_shape

    @property
    def questions(self) -> tuple[QuestionSpec, ...]:
        """The study-defined questions every read of this study answers (beyond the standard four)."""
        return self.protocol.questions

    def submit(self, probability: Any, binary: Any, confidence: Any,
               view_state: dict[str, Any] | None = None, answers: dict[str, Any] | None = None) -> ReadDraft:
        """Validate and store the read in one transaction, then move on (see :class:`ReadingFlow`).

        ``answers`` maps each study-defined question's key to its answer (see
        :mod:`readerstudy.core.questions`; a location mark is ``{"row", "col"[, "slice"]}`` in
        pixels of the displayed image and must lie inside it).

        Raises
        ------
        ValidationError
            A standard answer or a question's answer is missing or invalid (nothing stored).
        """
        flow = self._need_flow()
        checked = validate_question_answers(self.protocol.questions, answers, self._mark_shape)
        return flow.submit(probability, binary, confidence, view_state,
                           checked if self.protocol.questions else None)

    def _persist(self, d: ReadDraft) -> None:
        """Store one read and its audit event in one transaction (retried while the database is busy)."""
        try:
            with_retry(lambda: self._store_read(d))
        except IntegrityError as exc:  # the same reader submitted this case from another window/process
            raise ConflictError(ALREADY_SUBMITTED) from exc

    def _persist_practice(self, d: ReadDraft) -> None:
        """A practice read is an audit event only (``practice.read``): never a read, so never scored."""
        def store() -> None:
            with self.ctx.uow() as uow:
                if self.user.name in {e.actor for e in uow.audit.list(d.case_id, PRACTICE_ACTION)}:
                    raise ConflictError(ALREADY_SUBMITTED)
                uow.audit.append(self.user.name, PRACTICE_ACTION, "case", d.case_id, {
                    "reader_id": self.user.participant_id, "probability": d.answers.probability,
                    "binary": d.answers.binary, "confidence": d.answers.confidence, "time_ms": d.time_ms,
                    "active_ms": d.active_ms, "started_at": d.started_at.isoformat(),
                    "submitted_at": d.submitted_at.isoformat(), "view_state": d.view_state})
                uow.commit()
        with_retry(store)

    def _store_read(self, d: ReadDraft) -> None:
        info = self.info
        assert info is not None
        a = info.assignment
        with self.ctx.uow() as uow:
            if uow.reads.max_revision(a.id, d.case_id, d.phase) is not None:
                raise ConflictError(ALREADY_SUBMITTED)
            if d.phase == ReadPhase.AIDED and uow.reads.max_revision(a.id, d.case_id, ReadPhase.UNAIDED) is None:
                raise ConflictError("The aided read needs a locked unaided read first.")
            read = uow.reads.add(
                assignment_id=a.id, case_id=d.case_id, reader_id=self.user.participant_id, arm_id=a.arm_id,
                session=a.session, phase=d.phase, probability=d.answers.probability, binary=d.answers.binary,
                confidence=d.answers.confidence, time_ms=d.time_ms, active_ms=d.active_ms,
                started_at=d.started_at, submitted_at=d.submitted_at, app_version=readerstudy.__version__,
                view_state=d.view_state, ai_shown=d.ai_shown,
                answers=stored_answers(d.questions) if d.questions is not None else None)
            uow.audit.append_row(self.user.name, "read.submit", "read", read.id,
                                 {"assignment_id": a.id, "case_id": d.case_id, "phase": str(d.phase),
                                  "contradiction_warning": d.warning is not None})
            final = d.phase == (ReadPhase.AIDED if info.arm.sequential else ReadPhase.UNAIDED)
            flow = self.flow
            if final and flow is not None and flow.done + 1 >= flow.total:  # this read ends the assignment
                close_session_if_done(uow, self.user, self.protocol, a.session, d.submitted_at)
            uow.commit()

    def _need_flow(self) -> ReadingFlow:
        if self.flow is None:
            raise ConflictError("No assignment is open; call open() first.")
        return self.flow

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        self._cache.clear()


def correct_read(ctx: AppContext, coordinator: UserSession, read_id: str, *, probability: Any, binary: Any,
                 confidence: Any, reason: str, now: Callable[[], datetime] | None = None) -> str:
    """Coordinator correction: a new row with revision + 1, ``corrected_by`` and ``reason``; the original stays.

    ``read_id`` may be any revision of the read; the correction always follows the latest one
    (the audit's ``before`` is the latest revision's answers). Returns the new read's id.

    Raises
    ------
    PermissionDenied
        For anyone but a coordinator.
    ValidationError
        Blank reason, answers out of range, or answers equal to the current read's.
    NotFoundError
        ``read_id`` is not a read of the coordinator's study.
    """
    require_coordinator(coordinator, "correcting a submitted read (readers cannot change a submitted read)")
    if not reason or not reason.strip():
        raise ValidationError("A correction needs a reason (e.g. 'reader pressed the wrong key, confirmed by phone').")
    answers = validate_answers(probability, binary, confidence)
    with ctx.uow() as uow:
        orig = uow.reads.get(read_id)
        if uow.assignments.get(orig.assignment_id).study_id != coordinator.study_id:
            raise NotFoundError(f"No read with id {read_id!r} in study {coordinator.study_name!r}.")
        latest = max((r for r in uow.reads.for_assignment(orig.assignment_id)
                      if r.case_id == orig.case_id and r.phase == orig.phase), key=lambda r: r.revision)
        if (latest.probability, latest.binary, latest.confidence) == (answers.probability, answers.binary,
                                                                      answers.confidence):
            raise ValidationError("The corrected answers are the same as the current read; change at least "
                                  "one answer (nothing was stored).")
        rev = latest.revision + 1
        new = uow.reads.add(
            assignment_id=orig.assignment_id, case_id=orig.case_id, reader_id=orig.reader_id, arm_id=orig.arm_id,
            session=orig.session, phase=orig.phase, revision=rev, probability=answers.probability,
            binary=answers.binary, confidence=answers.confidence, time_ms=orig.time_ms, active_ms=orig.active_ms,
            started_at=orig.started_at, submitted_at=(now or (lambda: datetime.now(UTC)))(),
            app_version=readerstudy.__version__, view_state=orig.view_state, ai_shown=orig.ai_shown,
            corrected_by=coordinator.participant_id, reason=reason.strip(),
            answers=stored_answers(latest.answers) if latest.answers is not None else None)
        uow.audit.append_row(coordinator.name, "read.correct", "read", new.id,
                         {"original": orig.id, "corrects": latest.id, "revision": rev, "reason": reason.strip(),
                          "before": {"probability": latest.probability, "binary": latest.binary,
                                     "confidence": latest.confidence},
                          "after": {"probability": answers.probability, "binary": answers.binary,
                                    "confidence": answers.confidence}})
        uow.commit()
        return new.id
