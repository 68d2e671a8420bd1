"""Sign-in: scrypt PIN hashes, lockout after 5 wrong PINs, roles enforced in services."""

from __future__ import annotations

import logging

import pytest
from test_reading_support import COORD_PIN, PIN, build_study

from readerstudy.core.errors import AuthenticationError, PermissionDenied, ValidationError
from readerstudy.core.models import Role
from readerstudy.core.reading import ManualClock
from readerstudy.services.auth import add_participant, hash_pin, participants, sign_in, verify_pin
from readerstudy.services.reading import ReadingService, correct_read


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    c = build_study(tmp_path_factory.mktemp("auth"), n_cases=2)
    yield c
    c.close()


def test_hash_pin_is_salted_scrypt_and_verifies():
    a, b = hash_pin("0000"), hash_pin("0000")
    assert a != b and a.startswith("scrypt$") and "0000" not in a
    assert verify_pin("0000", a) and not verify_pin("0001", a)
    assert not verify_pin("0000", "garbage") and not verify_pin("0000", "")
    with pytest.raises(ValidationError):
        hash_pin("12")


def test_sign_in_returns_a_session_and_never_logs_the_pin(ctx, caplog):
    caplog.set_level(logging.DEBUG)
    s = sign_in(ctx, "Pilot", "alice", PIN)
    assert (s.name, s.role, s.seniority) == ("alice", Role.READER, "senior")
    assert not hasattr(s, "pin_hash")
    assert PIN not in caplog.text
    with ctx.uow() as uow:
        assert all(PIN not in str(ev.payload) for ev in uow.audit.list())
        assert uow.readers.credentials(s.participant_id)[0].startswith("scrypt$")


def test_participants_lists_readers_and_coordinator_without_hashes(ctx):
    people = {p.name: p for p in participants(ctx, "Pilot")}
    assert set(people) == {"alice", "bob", "carol"}
    assert people["carol"].role == Role.COORDINATOR and people["alice"].has_pin


def test_five_wrong_pins_lock_for_60_seconds(ctx):
    clock = ManualClock()
    for i in range(4):
        with pytest.raises(AuthenticationError, match=f"{4 - i} attempt"):
            sign_in(ctx, "Pilot", "bob", "0000", now=clock.now)
    with pytest.raises(AuthenticationError, match="locked for 60 s"):
        sign_in(ctx, "Pilot", "bob", "0000", now=clock.now)
    clock.advance(30)
    with pytest.raises(AuthenticationError, match="locked; try again in 30 s"):
        sign_in(ctx, "Pilot", "bob", PIN, now=clock.now)  # even the right PIN is refused while locked
    clock.advance(31)
    assert sign_in(ctx, "Pilot", "bob", PIN, now=clock.now).name == "bob"
    with ctx.uow() as uow:
        _, failed, locked = uow.readers.credentials(uow.readers.by_name(uow.studies.by_name("Pilot").id, "bob").id)
        assert (failed, locked) == (0, None)
        actions = [e.action for e in uow.audit.list()]
    assert actions.count("auth.failed") >= 5


def test_lock_expiry_restarts_the_count(ctx):
    clock = ManualClock()
    for _ in range(5):
        with pytest.raises(AuthenticationError):
            sign_in(ctx, "Pilot", "alice", "1111", now=clock.now)
    clock.advance(61)
    with pytest.raises(AuthenticationError, match="4 attempt"):
        sign_in(ctx, "Pilot", "alice", "1111", now=clock.now)
    clock.advance(1)
    sign_in(ctx, "Pilot", "alice", PIN, now=clock.now)


def test_unknown_name_gives_the_same_message(ctx):
    with pytest.raises(AuthenticationError, match="Wrong name or PIN"):
        sign_in(ctx, "Pilot", "mallory", PIN)


def test_roles_are_enforced_in_services(ctx):
    reader = sign_in(ctx, "Pilot", "alice", PIN)
    coord = sign_in(ctx, "Pilot", "carol", COORD_PIN)
    assert coord.is_coordinator
    with pytest.raises(PermissionDenied):
        add_participant(ctx, reader, "eve", Role.READER, "1234")
    with pytest.raises(PermissionDenied):
        correct_read(ctx, reader, "any", probability=1, binary=0, confidence=1, reason="x")
    with pytest.raises(PermissionDenied):
        ReadingService(ctx, coord)  # a coordinator has no reading session
    from readerstudy.services.assignments import protocol_summary, study_overview
    for fn in (protocol_summary, study_overview):
        with pytest.raises(PermissionDenied):
            fn(ctx, reader)
    assert study_overview(ctx, coord)["cases"][0]["truth"] in (0, 1)
