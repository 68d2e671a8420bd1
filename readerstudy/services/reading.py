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

import readerstudy
from readerstudy.core.errors import ConflictError, NotFoundError, ValidationError
from readerstudy.core.models import Arm, BlindedCase, ImageAsset, ReadPhase
from readerstudy.core.protocol import Protocol
from readerstudy.core.reading import Clock, ReadDraft, ReadingFlow, ReadingState, WallClock, validate_answers
from readerstudy.services.assignments import (
    AssignmentInfo,
    close_session_if_done,
    my_assignments,
    next_assignment,
    study_protocol,
)
from readerstudy.services.auth import UserSession, require_coordinator, require_reader
from readerstudy.services.context import AppContext

log = logging.getLogger(__name__)


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


@dataclass(frozen=True)
class AiView:
    """The model output a reader is shown: name, version, probability (percent), optional saliency map."""

    model_name: str
    model_version: str
    probability_pct: float
    saliency: np.ndarray | None


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


@dataclass(frozen=True)
class _Item:
    case: BlindedCase
    asset: ImageAsset


def _window_of(pixels: np.ndarray, asset: ImageAsset) -> tuple[float, float]:
    if asset.window:
        return float(asset.window[0]), float(asset.window[1])
    sample = pixels.reshape(-1)[:: max(1, pixels.size // 200_000)]
    lo, hi = (float(v) for v in np.percentile(sample, [0.5, 99.5]))
    if hi <= lo:
        hi = lo + 1.0
    return (lo + hi) / 2, hi - lo


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
        self._cache: dict[str, Future[tuple[np.ndarray, tuple[float, float]]]] = {}
        self.flow: ReadingFlow | None = None
        self.info: AssignmentInfo | None = None
        self._items: dict[str, _Item] = {}
        self._ai_pending: dict[str, Any] | None = None
        with ctx.uow() as uow:
            proto = study_protocol(uow, user.study_id)
        if proto is None:
            raise NotFoundError(f"Study {user.study_name!r} has no reading protocol yet; ask the coordinator "
                                "to apply one (readerstudy protocol apply).")
        self.protocol: Protocol = proto

    # --- opening ------------------------------------------------------------------------------------
    def assignments(self) -> list[AssignmentInfo]:
        with self.ctx.uow() as uow:
            return my_assignments(uow, self.user)

    def open(self) -> ReadingFlow | None:
        """Open the first incomplete assignment at the resume point; None when everything is read.

        Raises :class:`~readerstudy.services.assignments.WashoutPending` before the next session's date.
        """
        with self.ctx.uow() as uow:
            info = next_assignment(uow, self.user, self._wall(), self.protocol)
            if info is None:
                self.flow, self.info = None, None
                return None
            a = info.assignment
            reads = [r for r in uow.reads.for_assignment(a.id) if r.revision == 0]
            items = {cid: _Item(uow.cases.blinded(cid), uow.assets.image(cid)) for cid in a.case_ids}
        final = ReadPhase.AIDED if info.arm.sequential else ReadPhase.UNAIDED
        completed = {r.case_id for r in reads if r.phase == final}
        locked: dict[str, ReadDraft | None] = {}
        if info.arm.sequential:
            for r in reads:
                if r.phase == ReadPhase.UNAIDED and r.case_id not in completed:
                    locked[r.case_id] = None
        self.info, self._items = info, items
        self.flow = ReadingFlow(a.case_ids, completed=completed, unaided_locked=locked,
                                sequential=info.arm.sequential, persist=self._persist, clock=self._clock,
                                wall_clock=self._wall, idle_timeout_s=self.protocol.idle_timeout_s,
                                contradiction_margin=self.protocol.contradiction_margin)
        log.info("%s opened session %d arm %s at %s", self.user.name, a.session, info.arm.name,
                 self.flow.progress_text())
        return self.flow

    @property
    def arm(self) -> Arm:
        if self.info is None:
            raise ConflictError("No assignment is open; call open() first.")
        return self.info.arm

    # --- pixels -----------------------------------------------------------------------------------
    def _load(self, case_id: str) -> tuple[np.ndarray, tuple[float, float]]:
        """Pixels and their default window (the window is computed here, off the GUI thread when prefetched)."""
        asset = self._items[case_id].asset
        pixels = self.ctx.store.load_array(asset.path)
        return pixels, _window_of(pixels, asset)

    def _pixels(self, case_id: str) -> tuple[np.ndarray, tuple[float, float]]:
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
        pixels, window = self._pixels(cid)
        a = item.asset
        hints = DisplayHints(item.case.modality, tuple(pixels.shape), a.is_volume, a.is_cine, a.frame_time_ms,
                             window, a.spacing)
        ai = None
        if self.arm.shows_ai and not self.arm.sequential:
            ai, self._ai_pending = self._ai_for(cid)
        assert self.info is not None
        return CaseView(item.case, pixels, hints, flow.index, flow.total, self.info.assignment.session,
                        self.arm.name, ai)

    def display(self) -> None:
        """The case is on screen (after the black screen): the clock starts."""
        flow = self._need_flow()
        flow.display()
        if self._ai_pending is not None and flow.state == ReadingState.DISPLAYED:
            flow.set_ai_shown({**self._ai_pending, "shown_at": self._wall().isoformat()})
            self._ai_pending = None

    def _ai_for(self, case_id: str) -> tuple[AiView, dict[str, Any]]:
        spec = self.protocol.arm(self.arm.name)
        with self.ctx.uow() as uow:
            model_id = None
            if spec.model:
                models = [m for m in uow.models.list(self.user.study_id) if m.name == spec.model]
                if not models:
                    raise NotFoundError(f"The protocol shows model {spec.model!r}, which this study does not have.")
                model_id = models[-1].id
            pred = uow.models.latest_prediction(case_id, model_id)
            if pred is None:
                raise ConflictError(f"No model output for case {self._items[case_id].case.pseudonym}; the "
                                    "coordinator must run the model on this study before AI arms are read.")
            model = uow.models.get(pred.model_id)
        pct = pred.probability * 100.0 if pred.probability <= 1.0 else pred.probability
        saliency = self.ctx.store.load_array(pred.saliency_path) if pred.saliency_path else None
        shown = {"model_id": model.id, "model_name": model.name, "model_version": model.version,
                 "checkpoint_hash": model.checkpoint_hash, "prediction_id": pred.id,
                 "probability": pred.probability, "probability_pct": pct,
                 "saliency_path": pred.saliency_path, "saliency_shown": saliency is not None}
        return AiView(model.name, model.version, pct, saliency), shown

    def reveal_ai(self) -> AiView:
        """Sequential arm: the unaided read is stored and locked; show the model output and log it."""
        flow = self._need_flow()
        if not self.arm.sequential:
            raise ConflictError(f"Arm {self.arm.name!r} is not a sequential AI arm; there is nothing to reveal.")
        cid = flow.current_case
        if flow.state != ReadingState.UNAIDED_LOCKED or cid is None:
            raise ConflictError("Submit the unaided read first; the AI output is revealed only after it is locked.")
        view, shown = self._ai_for(cid)
        flow.reveal_ai({**shown, "shown_at": self._wall().isoformat()})
        with self.ctx.uow() as uow:
            uow.audit.append(self.user.name, "ai.reveal", "case", cid,
                             {k: shown[k] for k in ("model_id", "model_version", "prediction_id", "probability")})
            uow.commit()
        return view

    def submit(self, probability: Any, binary: Any, confidence: Any,
               view_state: dict[str, Any] | None = None) -> ReadDraft:
        """Validate and store the read in one transaction, then move on (see :class:`ReadingFlow`)."""
        return self._need_flow().submit(probability, binary, confidence, view_state)

    def _persist(self, d: ReadDraft) -> None:
        info = self.info
        assert info is not None
        a = info.assignment
        with self.ctx.uow() as uow:
            if uow.reads.max_revision(a.id, d.case_id, d.phase) is not None:
                raise ConflictError("This read was already submitted; a submitted read cannot be changed "
                                    "(a coordinator can record a correction).")
            if d.phase == ReadPhase.AIDED and uow.reads.max_revision(a.id, d.case_id, ReadPhase.UNAIDED) is None:
                raise ConflictError("The aided read needs a locked unaided read first.")
            read = uow.reads.add(
                assignment_id=a.id, case_id=d.case_id, reader_id=self.user.participant_id, arm_id=a.arm_id,
                session=a.session, phase=d.phase, probability=d.answers.probability, binary=d.answers.binary,
                confidence=d.answers.confidence, time_ms=d.time_ms, active_ms=d.active_ms,
                started_at=d.started_at, submitted_at=d.submitted_at, app_version=readerstudy.__version__,
                view_state=d.view_state, ai_shown=d.ai_shown)
            uow.audit.append(self.user.name, "read.submit", "read", read.id,
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

    Returns the new read's id. Readers get :class:`PermissionDenied`.
    """
    require_coordinator(coordinator, "correcting a submitted read (readers cannot change a submitted read)")
    if not reason or not reason.strip():
        raise ValidationError("A correction needs a reason (e.g. 'reader pressed the wrong key, confirmed by phone').")
    answers = validate_answers(probability, binary, confidence)
    with ctx.uow() as uow:
        orig = uow.reads.get(read_id)
        rev = (uow.reads.max_revision(orig.assignment_id, orig.case_id, orig.phase) or 0) + 1
        new = uow.reads.add(
            assignment_id=orig.assignment_id, case_id=orig.case_id, reader_id=orig.reader_id, arm_id=orig.arm_id,
            session=orig.session, phase=orig.phase, revision=rev, probability=answers.probability,
            binary=answers.binary, confidence=answers.confidence, time_ms=orig.time_ms, active_ms=orig.active_ms,
            started_at=orig.started_at, submitted_at=(now or (lambda: datetime.now(UTC)))(),
            app_version=readerstudy.__version__, view_state=orig.view_state, ai_shown=orig.ai_shown,
            corrected_by=coordinator.participant_id, reason=reason.strip())
        uow.audit.append(coordinator.name, "read.correct", "read", new.id,
                         {"original": orig.id, "revision": rev, "reason": reason.strip(),
                          "before": {"probability": orig.probability, "binary": orig.binary,
                                     "confidence": orig.confidence},
                          "after": {"probability": answers.probability, "binary": answers.binary,
                                    "confidence": answers.confidence}})
        uow.commit()
        return new.id
