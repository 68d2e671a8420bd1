"""Use cases: apply a reading protocol (arms, assignments, orders) and find what a reader reads next.

Orders are reproducible: each (reader, arm, session) gets ``numpy.random.default_rng(seed)`` with a
seed derived from the study seed, the reader's name, the arm and the session
(:func:`readerstudy.core.protocol.derive_seed`), and that seed is stored in ``assignment.seed``.
Washout: a session after the first may not start before the end of the reader's previous session
plus ``washout_days``; the date is stored in ``assignment.not_before`` when the previous session
ends, and checked again from the stored reads when a session opens.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from readerstudy.core.errors import ConflictError, ValidationError
from readerstudy.core.models import Arm, Assignment, ReadPhase, Role
from readerstudy.core.protocol import Protocol, derive_seed, parse_protocol, protocol_from_dict
from readerstudy.services.auth import UserSession, require_coordinator, require_reader
from readerstudy.services.context import AppContext
from readerstudy.storage.uow import UnitOfWork

PROTOCOL_KEY = "reading"


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


def apply_protocol(ctx: AppContext, coordinator: UserSession, protocol: Protocol) -> list[Assignment]:
    """Store the protocol, create its arms and give every reader without assignments their orders.

    Idempotent for an unchanged protocol: readers added later get their assignments on the next
    call. A different protocol is refused once assignments exist (orders must not change under
    readers' feet); start a new study instead. Returns the assignments created by this call.
    """
    require_coordinator(coordinator, "applying a protocol")
    with ctx.uow() as uow:
        study = uow.studies.get(coordinator.study_id)
        stored = study.protocol.get(PROTOCOL_KEY)
        has_assignments = bool(uow.assignments.list(study.id))
        if stored and has_assignments and protocol_from_dict(stored) != protocol:
            raise ConflictError(f"Study {study.name!r} already has assignments from another protocol; "
                                "protocols cannot change once orders are given. Create a new study.")
        if not uow.cases.count(study.id):
            raise ValidationError(f"Study {study.name!r} has no cases; import cases before applying a protocol.")
        uow.studies.set_protocol(study.id, {**study.protocol, PROTOCOL_KEY: protocol.to_dict()})
        arms = {a.name: a for a in uow.arms.list(study.id)}
        for pos, spec in enumerate(protocol.arms):
            if spec.name not in arms:
                arms[spec.name] = uow.arms.add(study.id, spec.name, shows_ai=spec.shows_ai,
                                               sequential=spec.sequential, position=pos)
        created = _assign_missing(uow, study.id, protocol, arms)
        uow.audit.append(coordinator.name, "protocol.apply", "study", study.id,
                         {"protocol": protocol.to_dict(), "assignments_created": len(created)})
        uow.commit()
        return created


def _assign_missing(uow: UnitOfWork, study_id: str, protocol: Protocol, arms: dict[str, Arm]) -> list[Assignment]:
    case_ids = [c.id for c in uow.cases.list(study_id)]
    readers = uow.readers.list(study_id, Role.READER)
    existing = uow.assignments.list(study_id)
    by_reader: dict[str, list[Assignment]] = {}
    for a in existing:
        by_reader.setdefault(a.reader_id, []).append(a)
    arm_names = {a.id: a.name for a in arms.values()}
    first = [arm_names[min(v, key=lambda a: a.session).arm_id] for v in by_reader.values()]
    group_sizes = [first.count(protocol.arms[0].name), first.count(protocol.arms[-1].name)]
    created: list[Assignment] = []
    for reader in readers:
        if reader.id in by_reader:
            continue
        group = 0 if group_sizes[0] <= group_sizes[1] else 1  # balance first-arm groups
        group_sizes[group] += 1
        for session, arm_name in protocol.schedule(group):
            seed = derive_seed(protocol.seed, reader.name, arm_name, session)
            order = np.random.default_rng(seed).permutation(len(case_ids))
            created.append(uow.assignments.add(study_id, reader.id, arms[arm_name].id, session=session,
                                               seed=seed, case_ids=[case_ids[i] for i in order]))
    return created


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
                             "not_before": a.not_before.isoformat() if a.not_before else None})
        return {"study": coordinator.study_name, "protocol": protocol.to_dict() if protocol else None,
                "assignments": rows}


# --- a reader's own assignments ---------------------------------------------------------------------

def _done_count(uow: UnitOfWork, a: Assignment, arm: Arm) -> int:
    final = ReadPhase.AIDED if arm.sequential else ReadPhase.UNAIDED
    return len({r.case_id for r in uow.reads.for_assignment(a.id) if r.phase == final and r.revision == 0})


def my_assignments(uow: UnitOfWork, user: UserSession) -> list[AssignmentInfo]:
    """The signed-in reader's assignments, in reading order (session, then arm position)."""
    require_reader(user)
    arms = {a.id: a for a in uow.arms.list(user.study_id)}
    out = [AssignmentInfo(a, arms[a.arm_id], _done_count(uow, a, arms[a.arm_id]), len(a.case_ids))
           for a in uow.assignments.list(user.study_id, user.participant_id)]
    return sorted(out, key=lambda i: (i.assignment.session, i.arm.position))


def washout_date(uow: UnitOfWork, infos: list[AssignmentInfo], current: AssignmentInfo,
                 protocol: Protocol) -> datetime | None:
    """When ``current`` may start: stored ``not_before`` or, as a check, end of earlier sessions + washout."""
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
