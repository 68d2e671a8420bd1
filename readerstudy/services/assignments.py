"""Use cases: apply a reading protocol (arms, assignments, orders) and find what a reader reads next.

Orders are reproducible: each (reader, arm, session) gets ``numpy.random.default_rng(seed)`` with a
seed derived from the study seed, the reader's name, the arm and the session
(:func:`readerstudy.core.protocol.derive_seed`), and that seed is stored in ``assignment.seed``.
Readers and cases added after the apply extend the orders, never redraw them; what an apply does
is computed first as a plan (:mod:`readerstudy.services.order_plan`), shown, then executed.
Washout: a session after the first may not start before the end of the reader's previous session
plus ``washout_days``; the date is stored in ``assignment.not_before`` when the previous session
ends, and checked again from the stored reads when a session opens.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from readerstudy.core.errors import ConflictError, ValidationError
from readerstudy.core.models import Arm, Assignment, ReadPhase, Role
from readerstudy.core.protocol import Protocol, parse_protocol, protocol_from_dict
from readerstudy.services.auth import UserSession, require_coordinator, require_reader
from readerstudy.services.context import AppContext
from readerstudy.services.order_plan import PROTOCOL_KEY, ApplyPlan, audit_payload, execute_plan, make_plan
from readerstudy.storage.uow import UnitOfWork


class WashoutPending(ConflictError):
    """The reader's next session may not start yet. ``not_before`` says when it may."""

    def __init__(self, not_before: datetime, session: int) -> None:
        self.not_before = not_before
        self.session = session
        super().__init__(f"Session {session} is not open yet (washout): not before "
                         f"{not_before:%Y-%m-%d %H:%M} UTC. Come back then.")


@dataclass(frozen=True)
class AssignmentInfo:
    """One of a reader's assignments with its progress (for the reader's own screens)."""

    assignment: Assignment
    arm: Arm
    done: int  # cases with a complete read (aided read too, in sequential arms)
    total: int

    @property
    def complete(self) -> bool:
        return self.done >= self.total


# --- protocol -------------------------------------------------------------------------------------

def load_protocol_file(path: str | Path) -> Protocol:
    p = Path(path)
    if not p.is_file():
        raise ValidationError(f"{p}: protocol file not found; give the path of a .toml protocol.")
    return parse_protocol(p.read_text(encoding="utf-8"), p.name)


def study_protocol(uow: UnitOfWork, study_id: str) -> Protocol | None:
    """The protocol stored with the study, or None when none was applied yet."""
    raw = uow.studies.get(study_id).protocol.get(PROTOCOL_KEY)
    return protocol_from_dict(raw) if raw else None


@dataclass(frozen=True)
class ApplyOutcome:
    """What an apply did: its plan (see :class:`~readerstudy.services.order_plan.ApplyPlan`) and the rows."""

    plan: ApplyPlan
    created: tuple[Assignment, ...]
    extended: tuple[Assignment, ...]


def preview_apply(ctx: AppContext, coordinator: UserSession, protocol: Protocol | None = None) -> ApplyPlan:
    """What :func:`apply_protocol` would do now (nothing is written); ``None``: the applied protocol."""
    require_coordinator(coordinator, "previewing a protocol")
    with ctx.uow() as uow:
        study = uow.studies.get(coordinator.study_id)
        stored = study_protocol(uow, study.id)
        return make_plan(uow, study, stored, _protocol_or_stored(study.name, protocol, stored))


def _protocol_or_stored(study: str, protocol: Protocol | None, stored: Protocol | None) -> Protocol:
    if protocol is not None:
        return protocol
    if stored is None:
        raise ValidationError(f"Study {study!r} has no reading protocol yet; apply one first.")
    return stored


def apply_with_plan(ctx: AppContext, coordinator: UserSession, protocol: Protocol | None = None, *,
                    expected: ApplyPlan | None = None, now: datetime | None = None) -> ApplyOutcome:
    """Apply ``protocol`` (``None``: the applied one, i.e. "Update assignments"); one audited transaction.

    Stores the protocol, creates its arms, gives readers without assignments their orders and
    appends cases imported since to existing orders (rules: :mod:`readerstudy.services.order_plan`).
    ``expected`` is the plan shown to the coordinator: if the study changed since (cases imported,
    readers added), :class:`~readerstudy.core.errors.ConflictError` and nothing is written.
    Raises :class:`~readerstudy.services.order_plan.ProtocolLocked` for changes refused once
    orders exist, :class:`~readerstudy.core.errors.ValidationError` for a study without cases.
    """
    require_coordinator(coordinator, "applying a protocol")
    with ctx.uow() as uow:
        study = uow.studies.get(coordinator.study_id)
        stored = study_protocol(uow, study.id)
        plan = make_plan(uow, study, stored, _protocol_or_stored(study.name, protocol, stored))
        if expected is not None and plan != expected:
            raise ConflictError(f"Study {study.name!r} changed since this was previewed (cases or readers were "
                                "added); review the new preview and apply again. Nothing was changed.")
        if plan.nothing_to_do:
            return ApplyOutcome(plan, (), ())
        created, extended = execute_plan(uow, study, plan, now or datetime.now(UTC))
        action = "protocol.apply" if plan.stores_protocol else "assignments.update"
        uow.audit.append(coordinator.name, action, "study", study.id, audit_payload(plan))
        uow.commit()
        return ApplyOutcome(plan, tuple(created), tuple(extended))


def apply_protocol(ctx: AppContext, coordinator: UserSession, protocol: Protocol) -> list[Assignment]:
    """Apply a protocol (see :func:`apply_with_plan`); returns the assignments created by this call.

    Idempotent for an unchanged protocol, apart from what the study gained since: readers added
    later get their orders and cases imported later are appended to every order.
    """
    return list(apply_with_plan(ctx, coordinator, protocol).created)


def protocol_summary(ctx: AppContext, coordinator: UserSession) -> dict[str, Any]:
    """The stored protocol and every reader's assignments (coordinator view, for ``protocol show``)."""
    require_coordinator(coordinator, "viewing the protocol and all assignments")
    with ctx.uow() as uow:
        protocol = study_protocol(uow, coordinator.study_id)
        arms = {a.id: a.name for a in uow.arms.list(coordinator.study_id)}
        rows = []
        for r in uow.readers.list(coordinator.study_id, Role.READER):
            for a in uow.assignments.list(coordinator.study_id, r.id):
                done = _done_count(uow, a, uow.arms.get(a.arm_id))
                rows.append({"reader": r.name, "seniority": r.seniority, "session": a.session,
                             "arm": arms[a.arm_id], "seed": a.seed, "cases": len(a.case_ids), "done": done,
                             "appended": sum(e.count for e in a.extensions),
                             "extensions": [{"start": e.start, "count": e.count, "seed": e.seed,
                                             "at": e.at.isoformat()} for e in a.extensions],
                             "not_before": a.not_before.isoformat() if a.not_before else None})
        return {"study": coordinator.study_name, "protocol": protocol.to_dict() if protocol else None,
                "assignments": rows}


# --- a reader's own assignments ---------------------------------------------------------------------

def _done_count(uow: UnitOfWork, a: Assignment, arm: Arm) -> int:
    final = ReadPhase.AIDED if arm.sequential else ReadPhase.UNAIDED
    return len({r.case_id for r in uow.reads.for_assignment(a.id) if r.phase == final and r.revision == 0})


def reader_assignments(uow: UnitOfWork, study_id: str, reader_id: str) -> list[AssignmentInfo]:
    """One reader's assignments with progress, in reading order (session, then arm position)."""
    arms = {a.id: a for a in uow.arms.list(study_id)}
    out = [AssignmentInfo(a, arms[a.arm_id], _done_count(uow, a, arms[a.arm_id]), len(a.case_ids))
           for a in uow.assignments.list(study_id, reader_id)]
    return sorted(out, key=lambda i: (i.assignment.session, i.arm.position))


def my_assignments(uow: UnitOfWork, user: UserSession) -> list[AssignmentInfo]:
    """The signed-in reader's assignments, in reading order (session, then arm position)."""
    require_reader(user)
    return reader_assignments(uow, user.study_id, user.participant_id)


def washout_date(uow: UnitOfWork, infos: list[AssignmentInfo], current: AssignmentInfo,
                 protocol: Protocol) -> datetime | None:
    """When ``current`` may start: stored ``not_before`` or, as a check, end of earlier sessions + washout.

    None (open now) when a coordinator reopened the session before its washout date
    (``assignment.reopened``, see :func:`readerstudy.services.reading_admin.reopen_session`).
    """
    if current.assignment.reopened:
        return None
    earlier = [i for i in infos if i.assignment.session < current.assignment.session]
    if not earlier:
        return current.assignment.not_before
    last = max((r.submitted_at for i in earlier for r in uow.reads.for_assignment(i.assignment.id)), default=None)
    derived = last + timedelta(days=protocol.washout_days) if last else None
    stored = current.assignment.not_before
    candidates = [d for d in (stored, derived) if d is not None]
    return max(candidates) if candidates else None


def next_assignment(uow: UnitOfWork, user: UserSession, now: datetime,
                    protocol: Protocol) -> AssignmentInfo | None:
    """The reader's first incomplete assignment; raises :class:`WashoutPending` before its date."""
    infos = my_assignments(uow, user)
    for info in infos:
        if info.complete:
            continue
        nb = washout_date(uow, infos, info, protocol)
        if nb is not None and now < nb:
            raise WashoutPending(nb, info.assignment.session)
        return info
    return None


def close_session_if_done(uow: UnitOfWork, user: UserSession, protocol: Protocol, session: int,
                          ended_at: datetime) -> None:
    """After a read: if ``session`` is now complete, date the next session's washout (same transaction)."""
    infos = my_assignments(uow, user)
    if not all(i.complete for i in infos if i.assignment.session == session):
        return
    when = ended_at + timedelta(days=protocol.washout_days)
    for i in infos:
        if i.assignment.session == session + 1 and i.assignment.not_before is None:
            uow.assignments.set_not_before(i.assignment.id, when)


# --- coordinator overview (placeholder dashboard) -----------------------------------------------------

def study_overview(ctx: AppContext, coordinator: UserSession) -> dict[str, Any]:
    """Cases (with ground truth: coordinator only) and each reader's progress."""
    require_coordinator(coordinator, "viewing the study overview")
    with ctx.uow() as uow:
        cases = [{"pseudonym": c.pseudonym, "modality": c.modality, "truth": c.truth, "split": c.split,
                  "site": c.site} for c in uow.cases.list(coordinator.study_id)]
    summary = protocol_summary(ctx, coordinator)
    return {"study": coordinator.study_name, "cases": cases, "assignments": summary["assignments"],
            "protocol": summary["protocol"]}
