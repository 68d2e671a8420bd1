"""Cases and readers added after the protocol was applied: orders are extended, never redrawn."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from test_reading_support import COUNTERBALANCED, PIN, PLAIN, build_study, busi_sources

from readerstudy.core.errors import ConflictError
from readerstudy.core.models import Role
from readerstudy.core.protocol import derive_extension_seed, derive_seed, parse_protocol
from readerstudy.core.reading import ManualClock
from readerstudy.services.assignments import apply_protocol, apply_with_plan, preview_apply
from readerstudy.services.auth import (
    add_participant,
    local_session,
    sign_in,
    system_session,
)
from readerstudy.services.importing import import_cases
from readerstudy.services.order_plan import ProtocolLocked
from readerstudy.services.reading import ReadingService

LOCAL = local_session("test")  # the CLI's local coordinator session (reaches every study)

READERS = (("alice", "senior"), ("bob", "mid"))


def _state(ctx):
    """(case ids in study order, {(reader, arm, session): assignment}) of study "Pilot"."""
    with ctx.uow() as uow:
        study = uow.studies.by_name("Pilot")
        names = {r.id: r.name for r in uow.readers.list(study.id)}
        arms = {a.id: a.name for a in uow.arms.list(study.id)}
        cases = [c.id for c in uow.cases.list(study.id)]
        return cases, {(names[a.reader_id], arms[a.arm_id], a.session): a for a in uow.assignments.list(study.id)}


def _read(ctx, reader: str, n: int) -> list[str]:
    """``reader`` submits ``n`` reads through the reading service; returns the case ids read, in order."""
    clock = ManualClock()
    svc = ReadingService(ctx, sign_in(ctx, "Pilot", reader, PIN, now=clock.now), clock=clock.monotonic_ns,
                         wall_clock=clock.now, prefetch=False)
    done = []
    try:
        flow = svc.open()
        for _ in range(n):
            assert svc.start_case() is not None
            svc.display()
            done.append(flow.current_case)
            clock.advance(20)
            svc.submit(70.0, 1, 3)
    finally:
        svc.close()
    return done


def _study_with_late_cases(tmp_path, *, first: int = 6, late: int = 3, read_by_alice: int = 3):
    ctx = build_study(tmp_path, n_cases=first, readers=READERS)
    read = _read(ctx, "alice", read_by_alice)
    before = _state(ctx)
    report = import_cases(ctx, LOCAL, "Pilot", busi_sources(first + late)[first:])
    assert not report.refused
    return ctx, read, before


def test_new_cases_are_appended_and_every_prefix_stays_byte_identical(tmp_path):
    ctx, read, (cases_before, before) = _study_with_late_cases(tmp_path)
    system = system_session(ctx, "Pilot")
    plan = preview_apply(ctx, system, parse_protocol(PLAIN))
    assert len(plan.appends) == 2 and plan.appended_cases == 3 and not plan.new_orders
    assert any("Append 3 new case(s) to the end of 2 existing order(s)" in line for line in plan.describe())
    alice_plan = next(a for a in plan.appends if a.reader == "alice")
    assert alice_plan.done == 3 and alice_plan.start == 6

    created = apply_protocol(ctx, system, parse_protocol(PLAIN))  # the CLI's `protocol apply`, same file
    assert created == []
    cases, after = _state(ctx)
    new = [c for c in cases if c not in cases_before]
    assert len(new) == 3
    for key, a in after.items():
        old = before[key]
        assert a.id == old.id and a.seed == old.seed
        # byte-identical prefix, as stored (JSON)
        assert json.dumps(list(a.case_ids[:6])) == json.dumps(list(old.case_ids))
        (ext,) = a.extensions
        assert (ext.start, ext.count) == (6, 3) and ext.seed == derive_extension_seed(old.seed, 1)
        expected = [new[i] for i in np.random.default_rng(ext.seed).permutation(3)]
        assert list(a.case_ids[6:]) == expected  # the recorded seed regenerates the block
    assert after[("alice", "unaided", 1)].case_ids[:3] == tuple(read)  # what alice read is untouched
    # alice resumes right after what she read, then reaches the appended cases
    assert _read(ctx, "alice", 6) == list(after[("alice", "unaided", 1)].case_ids[3:])
    assert preview_apply(ctx, system).nothing_to_do  # nothing left: the update is idempotent
    ctx.close()


def test_extension_is_deterministic(tmp_path):
    ctx1, _, _ = _study_with_late_cases(tmp_path / "a")
    ctx2, _, _ = _study_with_late_cases(tmp_path / "b")
    for c in (ctx1, ctx2):
        apply_with_plan(c, system_session(c, "Pilot"))  # "Update assignments": the applied protocol
    positions = []
    for c in (ctx1, ctx2):
        cases, orders = _state(c)
        pos = {cid: i for i, cid in enumerate(cases)}
        positions.append({k: [pos[x] for x in a.case_ids] for k, a in orders.items()})
        c.close()
    assert positions[0] == positions[1]
    assert positions[0][("alice", "unaided", 1)] != positions[0][("bob", "unaided", 1)]


def test_a_second_extension_appends_a_second_block(tmp_path):
    ctx, _, _ = _study_with_late_cases(tmp_path)
    system = system_session(ctx, "Pilot")
    apply_with_plan(ctx, system)
    _, first = _state(ctx)
    import_cases(ctx, LOCAL, "Pilot", busi_sources(11)[9:])
    outcome = apply_with_plan(ctx, system)
    assert len(outcome.extended) == 2
    _, second = _state(ctx)
    for key, a in second.items():
        assert a.case_ids[:9] == first[key].case_ids
        assert [(e.start, e.count) for e in a.extensions] == [(6, 3), (9, 2)]
        assert a.extensions[1].seed == derive_extension_seed(a.seed, 2)
    ctx.close()


def test_new_readers_get_full_orders_of_every_case(tmp_path):
    ctx, _, (_, before) = _study_with_late_cases(tmp_path)
    system = system_session(ctx, "Pilot")
    add_participant(ctx, system, "carla", Role.READER, PIN, seniority="junior")
    outcome = apply_with_plan(ctx, system)
    (new,) = outcome.created
    cases, after = _state(ctx)
    carla = after[("carla", "unaided", 1)]
    assert carla.seed == derive_seed(7, "carla", "unaided", 1) and carla.extensions == ()
    assert [cases.index(c) for c in carla.case_ids] == np.random.default_rng(carla.seed).permutation(9).tolist()
    assert len(outcome.extended) == 2  # alice and bob got the 3 new cases appended in the same call
    with ctx.uow() as uow:  # one audited call, with every seed needed to re-derive the orders
        study = uow.studies.by_name("Pilot")
        (event,) = [e for e in uow.audit.list(study.id) if e.action == "assignments.update"]
        assert uow.audit.verify_chain()[0]
    assert event.actor == system.name and event.payload["assignments_created"] == 1
    assert event.payload["orders"][0]["seed"] == carla.seed
    assert sorted((e["reader"], e["start"], e["count"]) for e in event.payload["orders_extended"]) == [
        ("alice", 6, 3), ("bob", 6, 3)]
    ctx.close()


def test_a_stale_preview_is_refused_and_nothing_changes(tmp_path):
    ctx, _, _ = _study_with_late_cases(tmp_path)
    system = system_session(ctx, "Pilot")
    plan = preview_apply(ctx, system)
    import_cases(ctx, LOCAL, "Pilot", busi_sources(10)[9:])
    _, before = _state(ctx)
    with pytest.raises(ConflictError, match="changed since this was previewed"):
        apply_with_plan(ctx, system, expected=plan)
    assert _state(ctx)[1] == before
    apply_with_plan(ctx, system, expected=preview_apply(ctx, system))
    assert all(len(a.case_ids) == 10 for a in _state(ctx)[1].values())
    ctx.close()


def test_settings_may_change_after_apply_but_the_design_may_not(tmp_path):
    ctx = build_study(tmp_path, n_cases=4, readers=READERS, protocol=COUNTERBALANCED)
    system = system_session(ctx, "Pilot")
    applied = parse_protocol(COUNTERBALANCED)
    _, before = _state(ctx)
    outcome = apply_with_plan(ctx, system, replace(applied, black_screen_ms=250, contradiction_margin=10.0))
    assert outcome.plan.changes == (("black_screen_ms", 0, 250), ("contradiction_margin", 20.0, 10.0))
    assert _state(ctx)[1] == before  # orders untouched
    with ctx.uow() as uow:
        stored = uow.studies.by_name("Pilot").protocol["reading"]
    assert stored["black_screen_ms"] == 250 and stored["contradiction_margin"] == 10.0
    with pytest.raises(ProtocolLocked) as exc:
        apply_with_plan(ctx, system, replace(applied, washout_days=7.0, seed=4))
    assert {i.field for i in exc.value.issues} == {"seed", "washout_days"}
    assert "cannot change" in str(exc.value)
    ctx.close()


def test_before_any_order_the_protocol_is_replaced_and_arms_follow(tmp_path):
    ctx = build_study(tmp_path, n_cases=4, readers=(), protocol=COUNTERBALANCED)
    system = system_session(ctx, "Pilot")
    plan = apply_with_plan(ctx, system, parse_protocol(PLAIN)).plan
    assert plan.arms_removed == ("ai-aided",) and not plan.first
    with ctx.uow() as uow:
        arms = [a.name for a in uow.arms.list(uow.studies.by_name("Pilot").id)]
    assert arms == ["unaided"]
    ctx.close()
