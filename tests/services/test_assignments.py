"""Assignments: seeded orders (reproducible, different per reader), counterbalancing, washout."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from test_reading_support import COUNTERBALANCED, PIN, PLAIN, build_study

from readerstudy.core.errors import ConflictError, ValidationError
from readerstudy.core.models import Role
from readerstudy.core.protocol import derive_seed, parse_protocol
from readerstudy.core.reading import ManualClock
from readerstudy.services.assignments import WashoutPending, apply_protocol, protocol_summary
from readerstudy.services.auth import (
    add_participant,
    local_session,
    sign_in,
    system_session,
)
from readerstudy.services.reading import ReadingService

LOCAL = local_session("test")  # the CLI's local coordinator session (reaches every study)

READERS = (("alice", "senior"), ("bob", "mid"), ("dan", "junior"), ("erin", "junior"))


def _orders(ctx):
    with ctx.uow() as uow:
        study = uow.studies.by_name("Pilot")
        names = {r.id: r.name for r in uow.readers.list(study.id)}
        arms = {a.id: a.name for a in uow.arms.list(study.id)}
        cases = [c.id for c in uow.cases.list(study.id)]
        return cases, {(names[a.reader_id], arms[a.arm_id], a.session): a for a in uow.assignments.list(study.id)}


def test_orders_are_reproducible_recorded_and_differ_per_reader(tmp_path):
    ctx1 = build_study(tmp_path / "a", n_cases=8, readers=READERS)
    ctx2 = build_study(tmp_path / "b", n_cases=8, readers=READERS)
    cases1, o1 = _orders(ctx1)
    cases2, o2 = _orders(ctx2)
    pos = {c: i for i, c in enumerate(cases1)}
    pos2 = {c: i for i, c in enumerate(cases2)}
    for key, a in o1.items():
        assert a.seed == derive_seed(7, key[0], key[1], key[2]) == o2[key].seed
        expected = np.random.default_rng(a.seed).permutation(8).tolist()
        assert [pos[c] for c in a.case_ids] == expected  # the stored seed regenerates the order
        assert [pos2[c] for c in o2[key].case_ids] == expected  # same protocol + reader -> same order
        assert sorted(a.case_ids) == sorted(cases1)
    assert len({tuple(pos[c] for c in a.case_ids) for a in o1.values()}) == len(o1)  # differ per reader
    ctx1.close()
    ctx2.close()


def test_counterbalanced_halves_and_late_readers(tmp_path):
    ctx = build_study(tmp_path, n_cases=4, readers=READERS, protocol=COUNTERBALANCED)
    _, orders = _orders(ctx)
    first = {r: arm for (r, arm, s) in orders if s == 1}
    assert sorted(first.values()) == ["ai-aided", "ai-aided", "unaided", "unaided"]
    for r in first:
        assert {arm for (rr, arm, s) in orders if rr == r} == {"unaided", "ai-aided"}
    system = system_session(ctx, "Pilot")
    add_participant(ctx, system, "frank", Role.READER, PIN)
    created = apply_protocol(ctx, system, parse_protocol(COUNTERBALANCED))  # same protocol: idempotent
    assert len(created) == 2
    assert len(apply_protocol(ctx, system, parse_protocol(COUNTERBALANCED))) == 0
    with pytest.raises(ConflictError, match="cannot change"):
        apply_protocol(ctx, system, parse_protocol(PLAIN))
    rows = protocol_summary(ctx, system)["assignments"]
    assert len(rows) == 10 and all(r["cases"] == 4 for r in rows)
    ctx.close()


def test_protocol_needs_cases(tmp_path):
    from readerstudy.services.context import open_context
    from readerstudy.services.importing import ensure_study

    ctx = open_context(tmp_path / "empty.db")
    ensure_study(ctx, LOCAL, "Empty")
    with pytest.raises(ValidationError, match="no cases"):
        apply_protocol(ctx, system_session(ctx, "Empty"), parse_protocol(PLAIN))
    ctx.close()


def test_washout_is_enforced_between_sessions(tmp_path):
    ctx = build_study(tmp_path, n_cases=3, readers=(("alice", "senior"),), protocol=COUNTERBALANCED.replace(
        'shows_ai = true', 'shows_ai = false'))
    clock = ManualClock()
    user = sign_in(ctx, "Pilot", "alice", PIN)
    svc = ReadingService(ctx, user, clock=clock.monotonic_ns, wall_clock=clock.now, prefetch=False)
    flow = svc.open()
    first_arm = svc.arm.name
    while svc.start_case() is not None:
        svc.display()
        clock.advance(30)
        svc.submit(60, 1, 4)
    end = clock.now()
    with pytest.raises(WashoutPending) as exc:
        svc.open()
    assert exc.value.not_before == end + timedelta(days=28)
    assert "not before" in str(exc.value) and exc.value.session == 2
    clock.advance(27 * 86400)
    with pytest.raises(WashoutPending):
        svc.open()
    with ctx.uow() as uow:  # the date is stored with the session-2 assignment
        stored = [a.not_before for a in uow.assignments.list(user.study_id, user.participant_id) if a.session == 2]
    assert stored == [end + timedelta(days=28)]
    clock.advance(86400 + 1)
    flow = svc.open()
    assert flow is not None and svc.arm.name != first_arm and svc.info.assignment.session == 2
    svc.close()
    ctx.close()
