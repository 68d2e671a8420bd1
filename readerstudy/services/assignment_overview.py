"""Use case: every reader's assignments as the coordinator sees them, and the washout calendar.

Plain data for the Protocol tab's assignments table and the dashboard's washout calendar. The
status of an assignment follows the reading service's own rule
(:func:`readerstudy.services.assignments.next_assignment`): a reader reads their assignments in
order (session, then arm), the first incomplete one is the current one, and a later session
opens at its washout date (:func:`readerstudy.services.assignments.washout_date`: the stored
date, or the end of the earlier sessions + ``washout_days``, whichever is later).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from readerstudy.core.models import Role
from readerstudy.core.protocol import Protocol, amendable
from readerstudy.services.assignments import (
    AssignmentInfo,
    preview_apply,
    reader_assignments,
    study_protocol,
    washout_date,
)
from readerstudy.services.auth import UserSession, require_coordinator
from readerstudy.services.context import AppContext
from readerstudy.services.order_plan import ApplyPlan
from readerstudy.storage.uow import UnitOfWork

# status codes of AssignmentRow.status
COMPLETE, READING, OPEN, WASHOUT, QUEUED, LATER = "complete", "reading", "open", "washout", "queued", "later"


@dataclass(frozen=True)
class AssignmentRow:
    """One reader x arm x session assignment.

    ``seed`` is the order's seed (``default_rng(seed).permutation`` of the cases when it was
    given); ``appended`` cases were added later in blocks whose seeds are ``extension_seeds``.
    ``opens_on`` (UTC) is the washout date when known; ``status`` one of ``complete``,
    ``reading``, ``open``, ``washout``, ``queued`` (after an earlier arm of the same session),
    ``later`` (a later session, date not known until the earlier one is finished);
    ``status_text`` says it in words.
    """

    reader: str
    seniority: str
    session: int
    arm: str
    seed: int
    cases: int
    done: int
    appended: int
    extension_seeds: tuple[int, ...]
    opens_on: datetime | None
    status: str
    status_text: str
    finished_at: datetime | None
    opens_text: str = ""  # opens_on in words: a date, "from the start", "28 d after session 1 ends"...


@dataclass(frozen=True)
class CalendarEntry:
    """One reader's session in the washout calendar (arms of the session together)."""

    session: int
    arms: tuple[str, ...]
    opens_on: datetime | None
    status: str
    text: str


@dataclass(frozen=True)
class CalendarRow:
    reader: str
    seniority: str
    sessions: tuple[CalendarEntry, ...]


@dataclass(frozen=True)
class AssignmentOverview:
    study: str
    protocol: Protocol | None
    rows: tuple[AssignmentRow, ...]  # by reader name, then reading order
    calendar: tuple[CalendarRow, ...]


def _day(when: datetime) -> str:
    return f"{when:%Y-%m-%d %H:%M} UTC"


def _finished_at(uow: UnitOfWork, info: AssignmentInfo) -> datetime | None:
    reads = uow.reads.for_assignment(info.assignment.id)
    return max((r.submitted_at for r in reads if r.revision == 0), default=None)


def _status(uow: UnitOfWork, infos: list[AssignmentInfo], info: AssignmentInfo, current: AssignmentInfo | None,
            protocol: Protocol, now: datetime) -> tuple[str, str, datetime | None, str]:
    """(status, status text, opens on, opens-on text) of one assignment."""
    a = info.assignment
    start = "from the start" if a.session == 1 else "when known"
    if info.complete:
        return COMPLETE, "complete", a.not_before, _day(a.not_before) if a.not_before else start
    if info is current:
        opens = washout_date(uow, infos, info, protocol)
        when = _day(opens) if opens else start
        if opens is not None and now < opens:
            return WASHOUT, f"washout until {opens:%Y-%m-%d}", opens, when
        if info.done or uow.reads.for_assignment(a.id):
            return READING, f"reading ({info.done} of {info.total} done)", opens, when
        return OPEN, "open, not started", opens, when
    assert current is not None  # an incomplete assignment that is not current comes after the current one
    if a.session == current.assignment.session:
        return QUEUED, f"after {current.arm.name}", a.not_before, f"after {current.arm.name}"
    earlier_done = all(i.complete for i in infos if i.assignment.session < a.session)
    if a.not_before is not None and earlier_done:
        return LATER, "waits for its washout", a.not_before, _day(a.not_before)
    after = f"{protocol.washout_days:g} d after session {a.session - 1} ends"
    if a.not_before is not None:  # cases were appended to an earlier session after it was finished once
        after += f" (not before {a.not_before:%Y-%m-%d})"
    return LATER, f"waits for session {a.session - 1}", None, after


def _reader_rows(uow: UnitOfWork, study_id: str, reader_id: str, name: str, seniority: str,
                 arm_names: dict[str, str], protocol: Protocol, now: datetime) -> list[AssignmentRow]:
    infos = reader_assignments(uow, study_id, reader_id)
    current = next((i for i in infos if not i.complete), None)
    rows = []
    for info in infos:
        a = info.assignment
        status, text, opens, opens_text = _status(uow, infos, info, current, protocol, now)
        rows.append(AssignmentRow(
            name, seniority, a.session, arm_names[a.arm_id], a.seed, info.total, info.done,
            sum(e.count for e in a.extensions), tuple(e.seed for e in a.extensions), opens, status, text,
            _finished_at(uow, info) if info.complete else None, opens_text))
    return rows


def washout_calendar(rows: tuple[AssignmentRow, ...] | list[AssignmentRow]) -> list[CalendarRow]:
    """Group assignment rows by reader and session: when each session opens and where it stands."""
    by_reader: dict[str, list[AssignmentRow]] = {}
    for r in rows:
        by_reader.setdefault(r.reader, []).append(r)
    out = []
    for reader, items in by_reader.items():
        entries = []
        for session in sorted({r.session for r in items}):
            in_session = [r for r in items if r.session == session]
            lead = next((r for r in in_session if r.status != COMPLETE), None)
            if lead is None:
                last = max((r.finished_at for r in in_session if r.finished_at), default=None)
                text = f"finished {last:%Y-%m-%d}" if last else "finished"
                entries.append(CalendarEntry(session, tuple(r.arm for r in in_session), in_session[0].opens_on,
                                             COMPLETE, text))
            else:
                text = lead.status_text if lead.status in (READING, OPEN, QUEUED) else f"opens {lead.opens_text}"
                entries.append(CalendarEntry(session, tuple(r.arm for r in in_session), lead.opens_on,
                                             lead.status, text))
        out.append(CalendarRow(reader, items[0].seniority, tuple(entries)))
    return out


def assignment_overview(ctx: AppContext, coordinator: UserSession, now: datetime | None = None) -> AssignmentOverview:
    """Every reader's assignments with progress, order seeds, washout dates and status (coordinator only)."""
    require_coordinator(coordinator, "viewing every reader's assignments")
    now = now or datetime.now(UTC)
    with ctx.uow() as uow:
        protocol = study_protocol(uow, coordinator.study_id)
        rows: list[AssignmentRow] = []
        if protocol is not None:
            arm_names = {a.id: a.name for a in uow.arms.list(coordinator.study_id)}
            for r in sorted(uow.readers.list(coordinator.study_id, Role.READER), key=lambda r: r.name):
                rows += _reader_rows(uow, coordinator.study_id, r.id, r.name, r.seniority, arm_names, protocol, now)
    return AssignmentOverview(coordinator.study_name, protocol, tuple(rows), tuple(washout_calendar(rows)))


@dataclass(frozen=True)
class ProtocolState:
    """What the protocol editor needs to know about the study.

    ``pending`` is what "Update assignments" would do with the applied protocol (readers and
    cases added since), None before any apply.
    """

    study: str
    applied: Protocol | None
    has_orders: bool
    arms_with_reads: tuple[str, ...]
    models: tuple[str, ...]  # distinct model names, oldest first
    readers: int
    cases: int
    pending: ApplyPlan | None

    def editable(self, field: str) -> bool:
        """May the editor change ``field`` (a field path)? Everything until orders are given."""
        if not self.has_orders or self.applied is None:
            return True
        return amendable(field, self.applied, self.arms_with_reads)


def protocol_state(ctx: AppContext, coordinator: UserSession) -> ProtocolState:
    """The applied protocol, whether orders exist, arms already read, the study's models (coordinator only)."""
    require_coordinator(coordinator, "editing the protocol")
    sid = coordinator.study_id
    with ctx.uow() as uow:
        applied = study_protocol(uow, sid)
        has_orders = bool(uow.assignments.list(sid))
        read_arm_ids = {r.arm_id for r in uow.reads.for_study(sid)}
        with_reads = tuple(a.name for a in uow.arms.list(sid) if a.id in read_arm_ids)
        models = tuple(dict.fromkeys(m.name for m in uow.models.list(sid)))
        readers, cases = len(uow.readers.list(sid, Role.READER)), uow.cases.count(sid)
    pending = preview_apply(ctx, coordinator) if applied is not None and cases else None
    return ProtocolState(coordinator.study_name, applied, has_orders, with_reads, models, readers, cases, pending)
