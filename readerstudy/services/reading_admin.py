"""Use cases: a coordinator's administration of one reader's reading (ViewDEX's "edit mode").

* :func:`reader_reads`: every stored read of a reader, all revisions, with the case's ground truth
  (the coordinator may see it; a reader session never reaches this module).
* :func:`correct_read`: a correction is a new revision with the coordinator and a required
  reason; the original read stays (see :func:`readerstudy.services.reading.correct_read`).
* :func:`reader_sessions` and :func:`reopen_session`. *Reopening* a session means opening it now,
  before its washout date: the reader may read it at the next sign-in. It is meant for a washout
  that was set too long or a reader who must read earlier; the coordinator's reason and the time
  are stored on the session's assignments (``assignment.reopened``) and in the audit trail, so
  the deviation from the protocol stays visible. Sessions that are complete, already open or not
  reachable yet (an earlier session is unfinished) cannot be reopened. Submitted reads are never
  reopened for re-reading: a wrong answer is corrected with :func:`correct_read`.
* Unlocking a reader is :func:`readerstudy.services.participants.unlock_participant`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from readerstudy.core.errors import ConflictError, NotFoundError, ValidationError
from readerstudy.core.models import Read, ReadPhase, Role
from readerstudy.services import reading
from readerstudy.services.assignments import reader_assignments, study_protocol, washout_date
from readerstudy.services.auth import UserSession
from readerstudy.services.context import AppContext
from readerstudy.services.participants import require_active_coordinator
from readerstudy.storage.uow import UnitOfWork

Now = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ReadRecord:
    """One stored read (one revision) as the coordinator sees it.

    ``time_ms``/``active_ms`` are the reader's time-to-diagnosis and active time (ms) of the
    original read; ``current`` is True for the latest revision of its (case, arm, session, phase),
    the one the reports use; ``original_id`` is the revision-0 read it belongs to.
    """

    read_id: str
    original_id: str
    case_id: str
    pseudonym: str
    truth: int | None
    arm: str
    session: int
    phase: ReadPhase
    revision: int
    probability: float
    binary: int
    confidence: int
    time_ms: int
    active_ms: int
    submitted_at: datetime
    corrected_by: str | None
    reason: str | None
    current: bool


@dataclass(frozen=True)
class SessionStatus:
    """One of a reader's (session, arm) assignments: progress and whether it can be read now.

    ``state`` is ``"complete"``, ``"open"`` (readable now), ``"waiting"`` (washout until
    ``opens_at``, UTC) or ``"later"`` (after an unfinished earlier session).
    """

    assignment_id: str
    session: int
    arm: str
    done: int
    total: int
    state: str
    opens_at: datetime | None
    reopened: dict[str, Any] | None


def _reader(uow: UnitOfWork, coordinator: UserSession, name: str) -> Any:
    try:
        person = uow.readers.by_name(coordinator.study_id, name)
    except NotFoundError:
        raise NotFoundError(f"No reader named {name!r} in study {coordinator.study_name!r}.") from None
    if person.role != Role.READER:
        raise NotFoundError(f"{name!r} is a {person.role}, not a reader; only readers have reads to administer.")
    return person


def reader_reads(ctx: AppContext, coordinator: UserSession, reader_name: str) -> list[ReadRecord]:
    """Every read of ``reader_name`` (all revisions, oldest first; a correction follows its original)."""
    with ctx.uow() as uow:
        require_active_coordinator(uow, coordinator, "viewing a reader's reads")
        person = _reader(uow, coordinator, reader_name)
        reads = uow.reads.for_reader(coordinator.study_id, person.id)
        cases = {c.id: c for c in uow.cases.list(coordinator.study_id)}
        arms = {a.id: a.name for a in uow.arms.list(coordinator.study_id)}
        names = {p.id: p.name for p in uow.readers.list(coordinator.study_id)}
    groups: dict[tuple[str, str, str], list[Read]] = {}
    for r in reads:
        groups.setdefault((r.assignment_id, r.case_id, str(r.phase)), []).append(r)
    out: list[ReadRecord] = []
    for group in sorted(groups.values(), key=lambda g: min(r.submitted_at for r in g)):
        group.sort(key=lambda r: r.revision)
        original, latest = group[0], group[-1]
        for r in group:
            case = cases[r.case_id]
            who = None if r.corrected_by is None else names.get(r.corrected_by, r.corrected_by)
            out.append(ReadRecord(r.id, original.id, r.case_id, case.pseudonym, case.truth, arms[r.arm_id],
                                  r.session, r.phase, r.revision, r.probability, r.binary, r.confidence,
                                  r.time_ms, r.active_ms, r.submitted_at, who, r.reason, r is latest))
    return out


def correct_read(ctx: AppContext, coordinator: UserSession, read_id: str, *, probability: Any, binary: Any,
                 confidence: Any, reason: str) -> str:
    """Record a correction of ``read_id`` (a new revision; the original stays). Returns its id."""
    with ctx.uow() as uow:
        require_active_coordinator(uow, coordinator, "correcting a submitted read")
    return reading.correct_read(ctx, coordinator, read_id, probability=probability, binary=binary,
                                confidence=confidence, reason=reason)


def _statuses(uow: UnitOfWork, coordinator: UserSession, reader_id: str, now: datetime) -> list[SessionStatus]:
    protocol = study_protocol(uow, coordinator.study_id)
    infos = reader_assignments(uow, coordinator.study_id, reader_id)  # the reader's own order and progress
    out, blocked = [], False
    for info in infos:
        opens = washout_date(uow, infos, info, protocol) if protocol is not None else None
        if info.complete:
            state = "complete"
        elif blocked:
            state = "later"
        else:
            state = "waiting" if opens is not None and now < opens else "open"
            blocked = True  # the reader reads one incomplete assignment at a time, in this order
        out.append(SessionStatus(info.assignment.id, info.assignment.session, info.arm.name, info.done, info.total,
                                 state, opens if state == "waiting" else None, info.assignment.reopened))
    return out


def reader_sessions(ctx: AppContext, coordinator: UserSession, reader_name: str, *,
                    now: Now = _utcnow) -> list[SessionStatus]:
    """The reader's assignments in reading order (session, then arm) with progress and state."""
    with ctx.uow() as uow:
        require_active_coordinator(uow, coordinator, "viewing a reader's sessions")
        return _statuses(uow, coordinator, _reader(uow, coordinator, reader_name).id, now())


def reopen_session(ctx: AppContext, coordinator: UserSession, reader_name: str, session: int, reason: str, *,
                   now: Now = _utcnow) -> list[str]:
    """Open ``session`` of ``reader_name`` now, before its washout date (see the module docstring).

    Returns the ids of the assignments reopened (every arm of that session). Raises
    :class:`ValidationError` for a blank reason, :class:`ConflictError` when the session is not
    waiting for its washout (complete, already open, or after an unfinished session).
    """
    if not isinstance(reason, str) or not reason.strip():
        raise ValidationError("Reopening a session early needs a reason (e.g. 'reader leaves the site on Friday').")
    t = now()
    with ctx.uow() as uow:
        require_active_coordinator(uow, coordinator, "reopening a reader's session")
        person = _reader(uow, coordinator, reader_name)
        rows = [s for s in _statuses(uow, coordinator, person.id, t) if s.session == session]
        if not rows:
            raise NotFoundError(f"{person.name!r} has no session {session}.")
        waiting = [s for s in rows if s.state == "waiting"]
        if not waiting:
            states = ", ".join(sorted({s.state for s in rows}))
            raise ConflictError(f"Session {session} of {person.name!r} is {states}, not waiting for its washout; "
                                "only a session that does not open yet can be reopened.")
        info = {"at": t.isoformat(), "by": coordinator.name, "reason": reason.strip(),
                "washout_until": waiting[0].opens_at.isoformat() if waiting[0].opens_at else None}
        ids = [s.assignment_id for s in rows if s.state != "complete"]
        for aid in ids:
            uow.assignments.set_reopened(aid, info)
        uow.audit.append(coordinator.name, "session.reopen", "reader", person.id,
                         {"reader": person.name, "session": session, "assignments": ids, **info})
        uow.commit()
    return ids


__all__ = ["ReadRecord", "SessionStatus", "correct_read", "reader_reads", "reader_sessions", "reopen_session"]
