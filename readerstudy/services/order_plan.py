"""What applying a protocol to a study does: the plan (plain data) and its execution.

Applying is one rule for the first apply, a re-apply of the same protocol, an amended protocol
and the "Update assignments" action (:func:`readerstudy.services.assignments.apply_protocol`):

* Readers without assignments get full orders: for each (session, arm) of their counterbalancing
  group, ``numpy.random.default_rng(derive_seed(study seed, reader, arm, session))`` permutes
  every case of the study.
* Cases that an existing order does not list (imported after the order was given) are
  **appended** to it, never mixed in: the new cases, in the study's case order (import time,
  then source reference), are permuted by ``default_rng(derive_extension_seed(order seed, k))``
  for the order's k-th extension, and the block (start, count, seed, time) is recorded with the
  assignment. Every existing prefix stays exactly as it was, for a reader halfway through too.
* Once orders exist, only :data:`readerstudy.core.protocol.AMENDABLE_FIELDS` may change (and an
  AI arm's model while that arm has no reads); anything else raises :class:`ProtocolLocked`.
  Before any order exists the stored protocol is simply replaced (arms created, updated, removed).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from readerstudy.core.errors import ConflictError, ValidationError
from readerstudy.core.models import Arm, Assignment, Read, ReadPhase, Role, Study
from readerstudy.core.protocol import (
    Protocol,
    ProtocolIssue,
    derive_extension_seed,
    derive_seed,
    locked_changes,
    protocol_changes,
)
from readerstudy.services.hanging import PRACTICE_KEY, resolve_practice, stored_practice
from readerstudy.storage.uow import UnitOfWork

PROTOCOL_KEY = "reading"  # key of the reading protocol in ``study.protocol``


class ProtocolLocked(ConflictError):
    """The protocol changes fields that are fixed once readers have orders; ``issues`` name them."""

    def __init__(self, study: str, issues: list[ProtocolIssue]) -> None:
        self.issues = tuple(issues)
        super().__init__(f"Study {study!r} already has reader orders, so its protocol cannot change there: "
                         + "; ".join(f"{i.field}: {i.message}" for i in issues)
                         + ". Nothing was changed.")


@dataclass(frozen=True)
class NewOrder:
    """A full order to give a reader who has none in this (arm, session)."""

    reader: str
    reader_id: str
    arm: str
    session: int
    seed: int
    case_ids: tuple[str, ...]


@dataclass(frozen=True)
class OrderAppend:
    """Cases to append to an existing order, at index ``start``, shuffled by ``seed``."""

    assignment_id: str
    reader: str
    arm: str
    session: int
    start: int
    seed: int
    case_ids: tuple[str, ...]
    done: int  # cases the reader has already read in this order (their final read)


@dataclass(frozen=True)
class ApplyPlan:
    """Everything an apply will do, computed before anything is written (shown to confirm)."""

    study: str
    protocol: Protocol
    first: bool  # no protocol was stored before
    arms_created: tuple[str, ...]
    arms_updated: tuple[str, ...]
    arms_removed: tuple[str, ...]
    changes: tuple[tuple[str, Any, Any], ...]  # (field path, old, new) of the stored protocol
    new_orders: tuple[NewOrder, ...]
    appends: tuple[OrderAppend, ...]
    warnings: tuple[str, ...]
    practice: tuple[str, ...] = ()  # practice case ids: read first by every reader, in no order

    @property
    def stores_protocol(self) -> bool:
        return self.first or bool(self.changes)

    @property
    def nothing_to_do(self) -> bool:
        return not (self.stores_protocol or self.arms_created or self.arms_updated or self.arms_removed
                    or self.new_orders or self.appends)

    @property
    def appended_cases(self) -> int:
        """Distinct cases appended to existing orders."""
        return len({c for a in self.appends for c in a.case_ids})

    def describe(self) -> list[str]:
        """One line per effect, in a coordinator's words (the confirm dialog and the CLI print these)."""
        p = self.protocol
        out: list[str] = []
        if self.first:
            arms = ", ".join(a.name + (" (AI, sequential)" if a.sequential else " (AI)" if a.shows_ai else "")
                             for a in p.arms)
            out.append(f"Store the protocol: design {p.design}, {p.sessions} session(s), washout "
                       f"{p.washout_days:g} day(s), seed {p.seed}; arms: {arms}.")
        out.extend(f"Change {path}: {_fmt(old)} -> {_fmt(new)}." for path, old, new in self.changes)
        if self.practice and self.first:
            out.append(f"Keep {len(self.practice)} practice case(s) out of the orders: every reader reads them "
                       "first, not scored.")
        for what, names in (("Create", self.arms_created), ("Update", self.arms_updated),
                            ("Remove (unused)", self.arms_removed)):
            if names:
                out.append(f"{what} arm(s): {', '.join(names)}.")
        if self.new_orders:
            readers = sorted({o.reader for o in self.new_orders})
            sizes = sorted({len(o.case_ids) for o in self.new_orders})
            out.append(f"Give {len(readers)} reader(s) their orders ({', '.join(readers)}): "
                       f"{len(self.new_orders)} assignment(s) of {'/'.join(map(str, sizes))} case(s), each in "
                       "its own seeded random order.")
        if self.appends:
            out.append(f"Append {self.appended_cases} new case(s) to the end of {len(self.appends)} existing "
                       "order(s), shuffled with a recorded seed per order; the cases already in each order keep "
                       "their places (readers who have started continue where they are).")
        out.extend(f"Note: {w}" for w in self.warnings)
        if self.nothing_to_do:
            out.append("Nothing to do: every reader has an order holding every case.")
        return out


def _fmt(value: Any) -> str:
    if value is None:
        return "latest model"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _arm_plan(study_arms: dict[str, Arm], new: Protocol, has_orders: bool
              ) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    created = tuple(s.name for s in new.arms if s.name not in study_arms)
    if has_orders:
        return created, (), ()
    names = {s.name for s in new.arms}
    updated = tuple(s.name for pos, s in enumerate(new.arms) if s.name in study_arms and (
        study_arms[s.name].shows_ai, study_arms[s.name].sequential, study_arms[s.name].position)
        != (s.shows_ai, s.sequential, pos))
    removed = tuple(n for n in study_arms if n not in names)
    return created, updated, removed


def _new_orders(uow: UnitOfWork, study_id: str, protocol: Protocol, assignments: list[Assignment],
                arm_names: dict[str, str], case_ids: list[str]) -> list[NewOrder]:
    """Full orders for readers without any assignment, balancing counterbalancing groups."""
    by_reader: dict[str, list[Assignment]] = {}
    for a in assignments:
        by_reader.setdefault(a.reader_id, []).append(a)
    first = [arm_names.get(min(v, key=lambda a: a.session).arm_id) for v in by_reader.values()]
    group_sizes = [first.count(protocol.arms[0].name), first.count(protocol.arms[-1].name)]
    out: list[NewOrder] = []
    for reader in uow.readers.list(study_id, Role.READER):
        if reader.id in by_reader or not reader.active:  # deactivated readers get no new orders
            continue
        group = 0 if group_sizes[0] <= group_sizes[1] else 1  # balance first-arm groups
        group_sizes[group] += 1
        for session, arm_name in protocol.schedule(group):
            seed = derive_seed(protocol.seed, reader.name, arm_name, session)
            order = np.random.default_rng(seed).permutation(len(case_ids))
            out.append(NewOrder(reader.name, reader.id, arm_name, session, seed,
                                tuple(case_ids[i] for i in order)))
    return out


def _appends(uow: UnitOfWork, assignments: list[Assignment], arms: dict[str, Arm], names: dict[str, str],
             case_ids: list[str]) -> tuple[list[OrderAppend], list[str]]:
    """Blocks of new cases for existing orders, and notes on readers already in a later session."""
    out: list[OrderAppend] = []
    latest_session: dict[str, int] = {}
    reads_by_assignment: dict[str, list[Read]] = {}
    for a in assignments:
        reads = [r for r in uow.reads.for_assignment(a.id) if r.revision == 0]
        reads_by_assignment[a.id] = reads
        if reads:
            latest_session[a.reader_id] = max(latest_session.get(a.reader_id, 0), a.session)
    notes: list[str] = []
    for a in assignments:
        listed = set(a.case_ids)
        missing = [c for c in case_ids if c not in listed]
        if not missing:
            continue
        seed = derive_extension_seed(a.seed, len(a.extensions) + 1)
        block = tuple(missing[i] for i in np.random.default_rng(seed).permutation(len(missing)))
        arm = arms[a.arm_id]
        final = ReadPhase.AIDED if arm.sequential else ReadPhase.UNAIDED
        done = len({r.case_id for r in reads_by_assignment[a.id] if r.phase == final})
        reader = names.get(a.reader_id, a.reader_id)
        out.append(OrderAppend(a.id, reader, arm.name, a.session, len(a.case_ids), seed, block, done))
        if latest_session.get(a.reader_id, 0) > a.session:
            notes.append(f"{reader} has started session {latest_session[a.reader_id]}: the {len(block)} new "
                         f"case(s) come first in session {a.session} ({arm.name}), and the later session "
                         "waits for its washout again after they are read.")
    return out, sorted(set(notes))


def make_plan(uow: UnitOfWork, study: Study, stored: Protocol | None, new: Protocol) -> ApplyPlan:
    """What applying ``new`` to ``study`` (whose applied protocol is ``stored``) will do.

    Raises :class:`~readerstudy.core.errors.ValidationError` when the study has no cases and
    :class:`ProtocolLocked` for changes refused once orders exist. Writes nothing.
    """
    case_ids = [c.id for c in uow.cases.list(study.id)]
    if not case_ids:
        raise ValidationError(f"Study {study.name!r} has no cases; import cases before applying a protocol.")
    assignments = uow.assignments.list(study.id)
    arm_rows = uow.arms.list(study.id)
    has_orders = bool(assignments)
    if has_orders and stored is not None:
        read_arm_ids = {r.arm_id for r in uow.reads.for_study(study.id)}
        with_reads = {a.name for a in arm_rows if a.id in read_arm_ids}
        locked = locked_changes(stored, new, with_reads)
        if locked:
            raise ProtocolLocked(study.name, locked)
    # practice cases are kept out of every order (locked once orders exist, so the stored ones hold)
    practice = stored_practice(uow, study.id) if has_orders else resolve_practice(uow, study.id, new, case_ids)
    case_ids = [c for c in case_ids if c not in set(practice)]
    arms_by_name = {a.name: a for a in arm_rows}
    created, updated, removed = _arm_plan(arms_by_name, new, has_orders)
    names = {r.id: r.name for r in uow.readers.list(study.id)}
    arm_names = {a.id: a.name for a in arm_rows}
    new_orders = _new_orders(uow, study.id, new, assignments, arm_names, case_ids)
    appends, notes = _appends(uow, assignments, {a.id: a for a in arm_rows}, names, case_ids)
    changes = tuple(protocol_changes(stored, new)) if stored is not None else ()
    return ApplyPlan(study.name, new, stored is None, created, updated, removed, changes, tuple(new_orders),
                     tuple(appends), tuple(notes), practice)


def execute_plan(uow: UnitOfWork, study: Study, plan: ApplyPlan, now: datetime
                 ) -> tuple[list[Assignment], list[Assignment]]:
    """Write ``plan`` in the caller's unit of work; returns (created, extended) assignments."""
    if plan.stores_protocol:
        uow.studies.set_protocol(study.id, {**study.protocol, PROTOCOL_KEY: plan.protocol.to_dict(),
                                            PRACTICE_KEY: list(plan.practice)})
    arms = {a.name: a for a in uow.arms.list(study.id)}
    for name in plan.arms_removed:
        uow.arms.remove_unused(arms.pop(name).id)
    for pos, spec in enumerate(plan.protocol.arms):
        if spec.name in plan.arms_created:
            arms[spec.name] = uow.arms.add(study.id, spec.name, shows_ai=spec.shows_ai,
                                           sequential=spec.sequential, position=pos)
        elif spec.name in plan.arms_updated:
            arms[spec.name] = uow.arms.update(arms[spec.name].id, shows_ai=spec.shows_ai,
                                              sequential=spec.sequential, position=pos)
    created = [uow.assignments.add(study.id, o.reader_id, arms[o.arm].id, session=o.session, seed=o.seed,
                                   case_ids=list(o.case_ids)) for o in plan.new_orders]
    extended = [uow.assignments.extend(a.assignment_id, list(a.case_ids), seed=a.seed, at=now)
                for a in plan.appends]
    return created, extended


def audit_payload(plan: ApplyPlan) -> dict[str, Any]:
    """What the audit event of an apply records (enough to re-derive every order and block)."""
    return {
        "protocol": plan.protocol.to_dict(),
        "changes": [[p, old, new] for p, old, new in plan.changes],
        "arms_created": list(plan.arms_created), "arms_updated": list(plan.arms_updated),
        "arms_removed": list(plan.arms_removed), "practice_case_ids": list(plan.practice),
        "assignments_created": len(plan.new_orders),
        "orders": [{"reader": o.reader, "arm": o.arm, "session": o.session, "seed": o.seed,
                    "cases": len(o.case_ids)} for o in plan.new_orders],
        "orders_extended": [{"assignment_id": a.assignment_id, "reader": a.reader, "arm": a.arm,
                             "session": a.session, "start": a.start, "count": len(a.case_ids), "seed": a.seed}
                            for a in plan.appends],
    }
