"""Hanging protocols (secondary images) and practice cases, through the real services on a real database."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from test_reading_support import LOCAL, PIN, PLAIN, build_study

from readerstudy.core.errors import ValidationError
from readerstudy.core.hanging import HangingSpec, slice_links
from readerstudy.core.protocol import ProtocolError, parse_protocol, protocol_from_dict
from readerstudy.imaging.phantom import make_phantom
from readerstudy.services.assignments import apply_protocol
from readerstudy.services.auth import sign_in, system_session
from readerstudy.services.context import open_context
from readerstudy.services.demo import DEMO_PIN, PHANTOM_STUDY, build_phantom
from readerstudy.services.hanging import PRACTICE_ACTION
from readerstudy.services.order_plan import ProtocolLocked
from readerstudy.services.reading import ReadingService
from readerstudy.services.report_data import collect_report_data

BASE = 'seed = 1\n{top}\n[[arms]]\nname = "unaided"\n{tables}\n'


def _issues(top: str = "", tables: str = "") -> dict[str, tuple[str, int | None]]:
    with pytest.raises(ProtocolError) as exc:
        parse_protocol(BASE.format(top=top, tables=tables), "p.toml")
    return {i.field: (i.message, i.line) for i in exc.value.issues}


# --- protocol parsing -------------------------------------------------------------------------------

def test_hanging_table_parses_and_round_trips():
    p = parse_protocol(BASE.format(top='practice = ["a", "b"]', tables='[hanging]\nlayout = "fused"\n'
                                   'secondary = "pet"\ncolormap = "inferno"\nopacity = 0.3\n'))
    assert p.hanging == HangingSpec("fused", ("pet",), "inferno", 0.3) and p.practice == ("a", "b")
    assert protocol_from_dict(p.to_dict()) == p
    counted = parse_protocol(BASE.format(top="practice = 2", tables=""))
    assert counted.practice == 2 and counted.hanging == HangingSpec() and not counted.hanging.multi
    assert protocol_from_dict(counted.to_dict()) == counted


def test_hanging_errors_name_the_field_and_line():
    issues = _issues(tables='[hanging]\nlayout = "overlay"\ncolormap = "jet"\nopacity = 1.5\n'
                            'secondary = ["image"]\nblend = 1\n')
    assert set(issues) == {"hanging.layout", "hanging.colormap", "hanging.opacity", "hanging.secondary",
                           "hanging.blend"}
    assert "'overlay' is not a layout" in issues["hanging.layout"][0] and issues["hanging.layout"][1] == 6
    assert issues["hanging.colormap"][1] == 7 and "hot" in issues["hanging.colormap"][0]
    assert issues["hanging.opacity"][1] == 8 and "0 to 1" in issues["hanging.opacity"][0]
    assert "not \"image\"" in issues["hanging.secondary"][0]
    assert "unknown field" in issues["hanging.blend"][0]
    assert "hanging.opacity" in _issues(tables="[hanging]\nopacity = true\n")
    assert "hanging" in _issues(top='hanging = "fused"')


@pytest.mark.parametrize(("value", "needle"), [("-1", "count from 0 to 50"), ('"a"', "list of case names"),
                                               ('["a", "a"]', "listed twice"), ("[1, 2]", "list of case names"),
                                               ("true", "list of case names")])
def test_practice_errors(value, needle):
    message, line = _issues(top=f"practice = {value}")["practice"]
    assert needle in message and line == 2


def test_slice_links_follow_patient_z():
    assert slice_links(4, (0.0, 2.5), 4, (0.0, 2.5)) == (0, 1, 2, 3)
    # PET slices of 5 mm centred at 5 and 10 mm cover [2.5, 7.5) and [7.5, 12.5): CT slices 2 mm apart
    assert slice_links(6, (0.0, 2.0), 2, (5.0, 5.0)) == (-1, -1, 0, 0, 1, 1)
    assert slice_links(6, (0.0, 2.5), 2, (5.0, 5.0)) == (-1, 0, 0, 1, 1, -1)  # half-open at the edges
    assert slice_links(3, (10.0, -2.5), 3, (5.0, 2.5)) == (2, 1, 0)  # stacks in opposite directions


# --- practice cases through apply and reading -----------------------------------------------------

def _practice_study(tmp_path, practice: str, n_cases: int = 4):
    return build_study(tmp_path, n_cases=n_cases, protocol=PLAIN.replace("idle_timeout_s = 30",
                                                                         f"idle_timeout_s = 30\npractice = {practice}"))


def _read_all(ctx, name="alice"):
    svc = ReadingService(ctx, sign_in(ctx, "Pilot", name, PIN), prefetch=False)
    seen = []
    while svc.open() is not None:
        while (view := svc.start_case()) is not None:
            seen.append((view.case.id, view.practice, view.index, view.total))
            svc.display()
            svc.submit(70, 1, 4)
    svc.close()
    return seen


def test_practice_cases_come_first_are_audited_and_never_reads(tmp_path):
    ctx = _practice_study(tmp_path, '["benign-1", "malignant-1"]')
    with ctx.uow() as uow:
        study = uow.studies.by_name("Pilot")
        by_ref = {c.source_ref: c.id for c in uow.cases.list(study.id)}
        practice = {by_ref["benign-1"], by_ref["malignant-1"]}
        orders = [set(a.case_ids) for a in uow.assignments.list(study.id)]
    assert orders and all(o == set(by_ref.values()) - practice for o in orders)  # out of every order

    svc = ReadingService(ctx, sign_in(ctx, "Pilot", "alice", PIN), prefetch=False)
    svc.open()
    view = svc.start_case()
    assert view.practice and (view.index, view.total) == (0, 2) and svc.arm.name == "practice"
    assert not svc.arm.shows_ai and view.case.id in practice
    svc.display()
    svc.submit(30, 0, 2)
    svc.close()
    with ctx.uow() as uow:
        assert uow.reads.for_study(uow.studies.by_name("Pilot").id) == []
        events = [e for cid in practice for e in uow.audit.list(cid, PRACTICE_ACTION)]
    assert len(events) == 1 and events[0].actor == "alice" and events[0].payload["probability"] == 30.0

    seen = _read_all(ctx)  # resumes at the second practice case, then the scored cases
    assert [s[1] for s in seen] == [True, False, False] and seen[0][2:] == (1, 2)
    assert seen[1][2:] == (0, 2) and {s[0] for s in seen[1:]} == set(by_ref.values()) - practice
    assert _read_all(ctx) == []  # practice is not repeated once read
    with ctx.uow() as uow:
        reads = uow.reads.for_study(uow.studies.by_name("Pilot").id)
    assert len(reads) == 2 and not {r.case_id for r in reads} & practice


def test_report_counts_do_not_change_when_practice_reads_exist(tmp_path):
    ctx = _practice_study(tmp_path, "1", n_cases=5)
    _read_all(ctx, "alice")  # practice + 4 scored
    before = collect_report_data(ctx, LOCAL, "Pilot")
    svc = ReadingService(ctx, sign_in(ctx, "Pilot", "bob", PIN), prefetch=False)
    svc.open()
    view = svc.start_case()
    assert view.practice
    svc.display()
    svc.submit(99, 1, 5)  # bob's practice read only
    svc.close()
    with ctx.uow() as uow:
        assert len(uow.audit.list(view.case.id, PRACTICE_ACTION)) == 2
    after = collect_report_data(ctx, LOCAL, "Pilot")
    assert len(before.table) == len(after.table) == 4
    assert after.table.equals(before.table)
    assert before.info.n_cases == after.info.n_cases == 4  # the practice case is not one of the study's cases
    assert {r.name: r.n_reads for r in after.info.readers} == {"alice": 4, "bob": 0}
    with ctx.uow() as uow:
        pseudonym = uow.cases.blinded(view.case.id).pseudonym
    assert pseudonym not in set(after.table["case"])


def test_practice_count_is_seeded_and_unknown_names_refused(tmp_path):
    ctx = _practice_study(tmp_path, "2", n_cases=6)
    with ctx.uow() as uow:
        study = uow.studies.by_name("Pilot")
        stored = study.protocol["practice_case_ids"]
        assert len(stored) == 2 and all(len(a.case_ids) == 4 for a in uow.assignments.list(study.id))
    again = _practice_study(tmp_path / "b", "2", n_cases=6)
    with again.uow() as uow:
        other = uow.studies.by_name("Pilot")
        refs = {c.id: c.source_ref for c in uow.cases.list(other.id)}
        same = [refs[c] for c in other.protocol["practice_case_ids"]]
    with ctx.uow() as uow:
        refs1 = {c.id: c.source_ref for c in uow.cases.list(study.id)}
    assert same == [refs1[c] for c in stored]  # same seed, same practice cases

    system = system_session(ctx, "Pilot")
    changed = dataclasses.replace(parse_protocol(PLAIN), practice=1)
    with pytest.raises(ProtocolLocked, match="practice"):
        apply_protocol(ctx, system, changed)

    fresh = open_context(tmp_path / "c.db")
    build_phantom(fresh, LOCAL, 2, with_protocol=False)
    bad = dataclasses.replace(parse_protocol(PLAIN), practice=("no-such-case",))
    with pytest.raises(ValidationError, match="no-such-case"):
        apply_protocol(fresh, system_session(fresh, PHANTOM_STUDY), bad)
    with fresh.uow() as uow:
        assert uow.assignments.list(uow.studies.by_name(PHANTOM_STUDY).id) == []  # nothing changed


# --- the phantom: PET fused on CT ---------------------------------------------------------------------

def test_phantom_cases_carry_their_pet_registered_to_the_ct(tmp_path):
    ctx = open_context(tmp_path / "p.db")
    build_phantom(ctx, LOCAL, 3)
    svc = ReadingService(ctx, sign_in(ctx, PHANTOM_STUDY, "Reader 1", DEMO_PIN), prefetch=True)
    assert svc.protocol.hanging == HangingSpec("fused", ("pet",), "hot", 0.5)
    flow = svc.open()
    assert svc.practice and flow.total == 1
    view = svc.start_case()
    assert view.practice and len(view.secondaries) == 1
    pet = view.secondaries[0]
    truth_pet = make_phantom(0).pet  # phantom00 is the demo's practice case
    assert pet.kind == "pet" and pet.pixels.shape == view.pixels.shape == truth_pet.shape
    np.testing.assert_array_equal(pet.pixels, truth_pet)
    assert pet.slice_of == tuple(range(view.pixels.shape[0])) and pet.window == (3.0, 6.0)
    svc.display()
    svc.submit(10, 0, 3)
    svc.open()
    view = svc.start_case()  # a scored case, prefetched with its PET
    assert not view.practice and view.total == 2 and view.secondaries[0].pixels.max() > 4.0  # hot lesion
    svc.close()


def test_protocol_editor_toml_keeps_hanging_and_practice():
    from pathlib import Path

    from readerstudy.services.protocol_toml import protocol_to_toml

    text = (Path(__file__).resolve().parents[2] / "resources" / "protocols" / "demo_phantom.toml").read_text()
    p = parse_protocol(text)
    assert p.practice == ("phantom00",) and p.hanging.layout == "fused"
    assert protocol_to_toml(p, text) == text  # unchanged: the file stays as written
    edited = dataclasses.replace(p, hanging=HangingSpec("side_by_side", ("pet",), "hot", 0.7), practice=2)
    assert parse_protocol(protocol_to_toml(edited, text)) == edited
    plain = parse_protocol(PLAIN)
    assert "hanging" not in protocol_to_toml(plain) and "practice" not in protocol_to_toml(plain)
    fresh = dataclasses.replace(plain, practice=("a",), hanging=HangingSpec("fused"))
    assert parse_protocol(protocol_to_toml(fresh)) == fresh
    assert parse_protocol(protocol_to_toml(fresh, PLAIN)) == fresh  # new keys in an edited file
    back = protocol_to_toml(plain, protocol_to_toml(fresh))
    assert parse_protocol(back) == plain and "[hanging]" not in back
