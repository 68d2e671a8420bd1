"""Participants: coordinator-only management, audited, never deleted; PIN rules, lock-out, own PIN."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from test_reading_support import COORD_PIN, PIN, build_study

from readerstudy.core.errors import (
    AuthenticationError,
    ConflictError,
    NotFoundError,
    PermissionDenied,
    ValidationError,
)
from readerstudy.core.models import Role
from readerstudy.core.reading import ManualClock
from readerstudy.services import participants as people
from readerstudy.services.auth import local_session, sign_in, system_session
from readerstudy.services.auth import participants as sign_in_list
from readerstudy.services.reading import ReadingService

LOCAL = local_session("test")  # the CLI's local coordinator session (reaches every study)


@pytest.fixture
def ctx(tmp_path):
    c = build_study(tmp_path, n_cases=2, predictions=True)  # alice, bob (readers), carol (coordinator), a model
    yield c
    c.close()


def _coord(ctx):
    return sign_in(ctx, "Pilot", "carol", COORD_PIN)


def _audit(ctx):
    with ctx.uow() as uow:
        return uow.audit.list()


def _n_people(ctx):
    with ctx.uow() as uow:
        return len(uow.readers.list(uow.studies.by_name("Pilot").id))


def test_only_an_active_coordinator_manages_participants(ctx):
    reader = sign_in(ctx, "Pilot", "alice", PIN)
    people.add_participant(ctx, _coord(ctx), "ann", Role.ANNOTATOR, pin="5555")
    annotator = sign_in(ctx, "Pilot", "ann", "5555")
    calls = [
        lambda s: people.list_participants(ctx, s),
        lambda s: people.add_participant(ctx, s, "eve", Role.READER, pin="1234"),
        lambda s: people.rename_participant(ctx, s, "bob", "robert"),
        lambda s: people.set_seniority(ctx, s, "bob", "mid"),
        lambda s: people.deactivate_participant(ctx, s, "bob"),
        lambda s: people.reactivate_participant(ctx, s, "bob"),
        lambda s: people.set_pin(ctx, s, "bob", "1357"),
        lambda s: people.reset_pin(ctx, s, "bob"),
        lambda s: people.unlock_participant(ctx, s, "bob"),
    ]
    before = len(_audit(ctx))
    for who in (reader, annotator):
        for call in calls:
            with pytest.raises(PermissionDenied, match="coordinator"):
                call(who)
    assert len(_audit(ctx)) == before and _n_people(ctx) == 5  # 3 + annotator + model: nothing changed

    # a coordinator deactivated elsewhere loses the power at once, even in a session opened before
    coord = _coord(ctx)
    people.add_participant(ctx, coord, "dora", Role.COORDINATOR, pin="2222")
    dora = sign_in(ctx, "Pilot", "dora", "2222")
    people.deactivate_participant(ctx, coord, "dora")
    with pytest.raises(PermissionDenied, match="no longer an active coordinator"):
        people.list_participants(ctx, dora)


def test_add_lists_and_audits_without_pins(ctx):
    coord = _coord(ctx)
    r = people.add_participant(ctx, coord, "  Dr Eve  ", "reader", pin="864200", seniority="Senior")
    a = people.add_participant(ctx, coord, "Ann", Role.ANNOTATOR)  # PIN later
    c = people.add_participant(ctx, coord, "Cora", Role.COORDINATOR, pin="1111")
    assert (r.name, r.role, r.seniority, r.active, r.has_pin, r.reads) == ("Dr Eve", Role.READER, "senior",
                                                                          True, True, 0)
    assert (a.has_pin, c.role) == (False, Role.COORDINATOR)
    listed = people.list_participants(ctx, coord)
    assert [p.name for p in listed] == ["carol", "Cora", "alice", "bob", "Dr Eve", "Ann"]  # role, then name
    assert all(p.role != Role.MODEL for p in listed)  # the AI's model reader is not a participant
    assert sign_in(ctx, "Pilot", "Dr Eve", "864200").seniority == "senior"
    with pytest.raises(AuthenticationError, match="No PIN is set"):
        sign_in(ctx, "Pilot", "Ann", "0000")
    adds = [e for e in _audit(ctx) if e.action == "participant.add"]
    assert [e.payload["name"] for e in adds[-3:]] == ["Dr Eve", "Ann", "Cora"] and adds[-1].actor == "carol"
    dumped = json.dumps([e.payload for e in _audit(ctx)])
    assert "864200" not in dumped and "scrypt$" not in dumped
    with ctx.uow() as uow:
        assert uow.audit.verify_chain() == (True, None)


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"name": "", "role": Role.READER}, ValidationError, "cannot be empty"),
    ({"name": "x\ty", "role": Role.READER}, ValidationError, "control character"),
    ({"name": "system:cli", "role": Role.READER}, ValidationError, "reserved"),
    ({"name": "y" * 201, "role": Role.READER}, ValidationError, "at most 200"),
    ({"name": "eve", "role": "model"}, ValidationError, "reader, annotator or coordinator"),
    ({"name": "eve", "role": "boss"}, ValidationError, "reader, annotator or coordinator"),
    ({"name": "eve", "role": Role.READER, "seniority": "expert"}, ValidationError, "senior, mid, junior"),
    ({"name": "eve", "role": Role.ANNOTATOR, "seniority": "senior"}, ValidationError, "Seniority is for readers"),
    ({"name": "eve", "role": Role.READER, "pin": "12a4"}, ValidationError, "digits only"),
    ({"name": "eve", "role": Role.READER, "pin": "12 34"}, ValidationError, "digits only"),
    ({"name": "eve", "role": Role.READER, "pin": "١٢٣٤"}, ValidationError, "digits only"),  # Arabic-Indic digits
    ({"name": "eve", "role": Role.READER, "pin": "123"}, ValidationError, "at least 4 digits; this one has 3"),
    ({"name": "eve", "role": Role.READER, "pin": "1" * 13}, ValidationError, "at most 12 digits"),
    ({"name": "eve", "role": Role.READER, "pin": ""}, ValidationError, "Type a PIN"),
    ({"name": "ALICE", "role": Role.READER}, ConflictError, "ignoring case"),
    ({"name": "DiffKD-student", "role": Role.READER}, ConflictError, "already exists"),
])
def test_bad_input_is_refused_and_changes_nothing(ctx, kwargs, error, match):
    coord = _coord(ctx)
    n, events = _n_people(ctx), len(_audit(ctx))
    with pytest.raises(error, match=match) as exc:
        people.add_participant(ctx, coord, **kwargs)
    assert (_n_people(ctx), len(_audit(ctx))) == (n, events)
    if "pin" in kwargs and kwargs["pin"]:
        assert kwargs["pin"] not in str(exc.value)


def test_the_model_reader_is_not_managed_here(ctx):
    coord = _coord(ctx)
    for call in (people.deactivate_participant, people.reset_pin, people.unlock_participant,
                 lambda c, s, n: people.rename_participant(c, s, n, "x"), people.get_participant):
        with pytest.raises(NotFoundError, match="model reader"):
            call(ctx, coord, "DiffKD-student")
    with pytest.raises(NotFoundError, match="No participant named 'nobody'"):
        people.set_pin(ctx, coord, "nobody", "1234")


def _read_one(ctx, name):
    clock = ManualClock()
    svc = ReadingService(ctx, sign_in(ctx, "Pilot", name, PIN), clock=clock.monotonic_ns, wall_clock=clock.now,
                         prefetch=False)
    svc.open()
    svc.start_case()
    svc.display()
    clock.advance(12)
    svc.submit(80, 1, 4)
    svc.close()


def test_deactivate_never_deletes_and_blocks_sign_in(ctx):
    coord = _coord(ctx)
    _read_one(ctx, "bob")
    info = people.deactivate_participant(ctx, coord, "bob")
    assert (info.active, info.reads) == (False, 1)
    assert "bob" not in [p.name for p in sign_in_list(ctx, "Pilot")]
    with pytest.raises(AuthenticationError, match="deactivated"):
        sign_in(ctx, "Pilot", "bob", PIN)
    with ctx.uow() as uow:  # the row and the read that references it are still there
        study = uow.studies.by_name("Pilot")
        bob = uow.readers.by_name(study.id, "bob")
        assert not bob.active and [r.reader_id for r in uow.reads.for_study(study.id)] == [bob.id]
    assert "bob" in [p.name for p in people.list_participants(ctx, coord)]
    assert not hasattr(people, "delete_participant")
    with pytest.raises(ConflictError, match="already deactivated"):
        people.deactivate_participant(ctx, coord, "bob")
    people.reactivate_participant(ctx, coord, "bob")
    assert sign_in(ctx, "Pilot", "bob", PIN).name == "bob"
    assert [e.action for e in _audit(ctx)][-3:-1] == ["participant.deactivate", "participant.reactivate"]


def test_a_coordinator_cannot_remove_themselves_or_the_last_coordinator(ctx):
    coord = _coord(ctx)
    with pytest.raises(ConflictError, match="cannot deactivate yourself"):
        people.deactivate_participant(ctx, coord, "carol")
    system = system_session(ctx, "Pilot")
    with pytest.raises(ConflictError, match="last active coordinator"):
        people.deactivate_participant(ctx, system, "carol")
    people.add_participant(ctx, system, "dora", Role.COORDINATOR, pin="2222")
    people.deactivate_participant(ctx, system, "carol")
    assert [e.actor for e in _audit(ctx)][-1] == "cli"


def test_lockout_and_unlock(ctx):
    clock = ManualClock()
    coord = _coord(ctx)
    assert people.unlock_participant(ctx, coord, "bob", now=clock.now) is False  # not locked: nothing to do
    events = len(_audit(ctx))
    for _ in range(5):
        with pytest.raises(AuthenticationError):
            sign_in(ctx, "Pilot", "bob", "0000", now=clock.now)
    info = people.get_participant(ctx, coord, "bob", now=clock.now)
    assert info.locked_until == clock.now() + timedelta(seconds=60) and info.failed_attempts == 5
    with pytest.raises(AuthenticationError, match="locked"):
        sign_in(ctx, "Pilot", "bob", PIN, now=clock.now)
    assert people.unlock_participant(ctx, coord, "bob", now=clock.now) is True
    assert not people.get_participant(ctx, coord, "bob", now=clock.now).locked
    assert sign_in(ctx, "Pilot", "bob", PIN, now=clock.now).name == "bob"  # at once, no 60 s wait
    unlock = [e for e in _audit(ctx)[events:] if e.action == "participant.unlock"]
    assert len(unlock) == 1 and unlock[0].payload == {"name": "bob", "failed_attempts": 5, "was_locked": True}


def test_set_pin_clears_a_lock_and_reset_pin_forces_a_new_one(ctx):
    clock = ManualClock()
    coord = _coord(ctx)
    for _ in range(5):
        with pytest.raises(AuthenticationError):
            sign_in(ctx, "Pilot", "alice", "0000", now=clock.now)
    people.set_pin(ctx, coord, "alice", "4321", now=clock.now)
    s = sign_in(ctx, "Pilot", "alice", "4321", now=clock.now)
    assert not s.must_change_pin
    with pytest.raises(ValidationError, match="digits only"):
        people.set_pin(ctx, coord, "alice", "abcd")

    temporary = people.reset_pin(ctx, coord, "alice")
    assert len(temporary) == 6 and temporary.isdigit()
    with pytest.raises(AuthenticationError):
        sign_in(ctx, "Pilot", "alice", "4321", now=clock.now)  # the old PIN is gone
    s = sign_in(ctx, "Pilot", "alice", temporary, now=clock.now)
    assert s.must_change_pin and people.get_participant(ctx, coord, "alice").must_change_pin
    people.change_own_pin(ctx, s, temporary, "97531", now=clock.now)
    s2 = sign_in(ctx, "Pilot", "alice", "97531", now=clock.now)
    assert not s2.must_change_pin
    dumped = json.dumps([e.payload for e in _audit(ctx)])
    assert temporary not in dumped and "4321" not in dumped and "97531" not in dumped
    assert {"participant.set_pin", "participant.reset_pin", "participant.change_own_pin"} <= {
        e.action for e in _audit(ctx)}


def test_own_pin_change_needs_the_current_pin(ctx):
    clock = ManualClock()
    me = sign_in(ctx, "Pilot", "alice", PIN, now=clock.now)
    with pytest.raises(ValidationError, match="at least 4"):
        people.change_own_pin(ctx, me, PIN, "12", now=clock.now)
    with pytest.raises(ValidationError, match="same as the current"):
        people.change_own_pin(ctx, me, PIN, PIN, now=clock.now)
    for _ in range(4):
        with pytest.raises(AuthenticationError, match="current PIN is wrong"):
            people.change_own_pin(ctx, me, "0000", "5678", now=clock.now)
    assert sign_in(ctx, "Pilot", "alice", PIN, now=clock.now).name == "alice"  # still the old PIN; count reset
    for _ in range(5):
        with pytest.raises(AuthenticationError, match="current PIN is wrong"):
            people.change_own_pin(ctx, me, "0000", "5678", now=clock.now)
    with pytest.raises(AuthenticationError, match="locked"):  # wrong current PINs count towards the lock-out
        sign_in(ctx, "Pilot", "alice", PIN, now=clock.now)
    with pytest.raises(AuthenticationError, match="locked"):
        people.change_own_pin(ctx, me, PIN, "5678", now=clock.now)
    clock.advance(61)
    people.change_own_pin(ctx, me, PIN, "5678", now=clock.now)
    assert sign_in(ctx, "Pilot", "alice", "5678", now=clock.now).name == "alice"
    coord = _coord(ctx)
    people.change_own_pin(ctx, coord, COORD_PIN, "8888")  # coordinators too
    assert sign_in(ctx, "Pilot", "carol", "8888").is_coordinator
    with pytest.raises(PermissionDenied):
        people.change_own_pin(ctx, system_session(ctx, "Pilot"), "", "1234")


def test_rename_keeps_reads_and_assignments(ctx):
    coord = _coord(ctx)
    _read_one(ctx, "alice")
    with ctx.uow() as uow:
        study = uow.studies.by_name("Pilot")
        alice = uow.readers.by_name(study.id, "alice")
        orders = [a.case_ids for a in uow.assignments.list(study.id, alice.id)]
    info = people.rename_participant(ctx, coord, "alice", "Dr Alice Smith")
    assert (info.id, info.reads) == (alice.id, 1)
    with pytest.raises(AuthenticationError):
        sign_in(ctx, "Pilot", "alice", PIN)
    s = sign_in(ctx, "Pilot", "Dr Alice Smith", PIN)
    assert s.participant_id == alice.id
    with ctx.uow() as uow:
        assert [a.case_ids for a in uow.assignments.list(study.id, alice.id)] == orders
    svc = ReadingService(ctx, s, prefetch=False)
    assert svc.open() is not None and svc.flow.done == 1  # resumes after the read made under the old name
    svc.close()
    with pytest.raises(ConflictError, match="ignoring case"):
        people.rename_participant(ctx, coord, "bob", "dr alice smith")
    with pytest.raises(ValidationError, match="already has this name"):
        people.rename_participant(ctx, coord, "bob", "bob")
    assert [e.payload for e in _audit(ctx) if e.action == "participant.rename"] == [
        {"from": "alice", "to": "Dr Alice Smith"}]
    people.set_seniority(ctx, coord, "bob", "mid")
    assert people.get_participant(ctx, coord, "bob").seniority == "mid"


@pytest.mark.postgres
def test_participants_and_reading_admin_on_postgres(postgres_url, tmp_path, monkeypatch):
    from test_reading_support import PLAIN, busi_sources

    from readerstudy.core.protocol import parse_protocol
    from readerstudy.services import reading_admin, studies
    from readerstudy.services.assignments import apply_protocol
    from readerstudy.services.context import open_context
    from readerstudy.services.importing import import_cases
    from readerstudy.storage import migrate

    monkeypatch.setenv("READERSTUDY_STORE", str(tmp_path / "store"))
    migrate.downgrade(postgres_url, "base")
    pg = open_context(postgres_url)
    try:
        coord = studies.create_study(pg, "Pilot", "carol", COORD_PIN)
        import_cases(pg, LOCAL, "Pilot", busi_sources(2))
        people.add_participant(pg, coord, "alice", Role.READER, pin=PIN, seniority="senior")
        people.add_participant(pg, coord, "bob", Role.READER, pin=PIN)
        apply_protocol(pg, coord, parse_protocol(PLAIN))
        _read_one(pg, "alice")
        assert {p.name: p.reads for p in people.list_participants(pg, coord)} == {"carol": 0, "alice": 1, "bob": 0}
        people.deactivate_participant(pg, coord, "bob")
        with pytest.raises(AuthenticationError, match="deactivated"):
            sign_in(pg, "Pilot", "bob", PIN)
        read = reading_admin.reader_reads(pg, coord, "alice")[0]
        reading_admin.correct_read(pg, coord, read.read_id, probability=10, binary=0, confidence=2, reason="typo")
        assert [(r.revision, r.current) for r in reading_admin.reader_reads(pg, coord, "alice")] == [
            (0, False), (1, True)]
        assert [s.state for s in reading_admin.reader_sessions(pg, coord, "alice")] == ["open"]
        with pg.uow() as uow:
            assert uow.audit.verify_chain() == (True, None)
    finally:
        pg.close()
        migrate.downgrade(postgres_url, "base")
