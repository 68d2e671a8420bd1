"""A study is created with its first coordinator, in one transaction, on an empty database or not."""

from __future__ import annotations

import json

import pytest
from test_reading_support import busi_sources

from readerstudy.core.errors import ConflictError, PermissionDenied, ValidationError
from readerstudy.core.models import Role
from readerstudy.services import auth, studies
from readerstudy.services.auth import local_session
from readerstudy.services.importing import import_cases
from readerstudy.services.participants import add_participant, list_participants

LOCAL = local_session("test")  # the CLI's local coordinator session (reaches every study)


def _counts(ctx):
    with ctx.uow() as uow:
        return len(uow.studies.list()), len(uow.audit.list())


def test_first_run_creates_the_study_and_its_coordinator(ctx):
    assert auth.studies(ctx) == []
    session = studies.create_study(ctx, "  BUSI pilot ", "Dr Reed", "24680", description="benign vs malignant")
    assert (session.study_name, session.name, session.role) == ("BUSI pilot", "Dr Reed", Role.COORDINATOR)
    assert auth.studies(ctx) == ["BUSI pilot"]
    assert [(p.name, p.role, p.has_pin) for p in auth.participants(ctx, "BUSI pilot")] == [
        ("Dr Reed", Role.COORDINATOR, True)]
    assert auth.sign_in(ctx, "BUSI pilot", "Dr Reed", "24680").participant_id == session.participant_id
    with ctx.uow() as uow:
        study = uow.studies.by_name("BUSI pilot")
        events = uow.audit.list()
    assert study.description == "benign vs malignant" and len(study.protocol["deid_secret"]) == 32
    assert [e.action for e in events][:3] == ["study.create", "participant.add", "auth.sign_in"]
    assert "24680" not in json.dumps([e.payload for e in events])
    # the new coordinator can manage participants at once
    add_participant(ctx, session, "Reader One", Role.READER, pin="1111", seniority="junior")
    assert [p.name for p in list_participants(ctx, session)] == ["Dr Reed", "Reader One"]


@pytest.mark.parametrize(("args", "error", "match"), [
    (("", "Dr Reed", "1234"), ValidationError, "needs a name"),
    (("S\n2", "Dr Reed", "1234"), ValidationError, "control character"),
    (("S2", " ", "1234"), ValidationError, "coordinator's name cannot be empty"),
    (("S2", "Dr Reed", "12"), ValidationError, "at least 4 digits"),
    (("S2", "Dr Reed", "12ab"), ValidationError, "digits only"),
    (("first study", "Dr Reed", "1234"), ConflictError, "already exists"),
])
def test_bad_input_creates_nothing(ctx, args, error, match):
    studies.create_study(ctx, "First study", "Dr One", "1234")
    before = _counts(ctx)
    with pytest.raises(error, match=match):
        studies.create_study(ctx, *args)
    assert _counts(ctx) == before


def test_a_coordinator_creates_another_study_with_the_same_name_and_pin(ctx):
    first = studies.create_study(ctx, "Study A", "Dr Reed", "24680")
    add_participant(ctx, first, "Reader One", Role.READER, pin="1111")
    reader = auth.sign_in(ctx, "Study A", "Reader One", "1111")
    with pytest.raises(PermissionDenied):
        studies.create_study_as(ctx, reader, "Study B")
    second = studies.create_study_as(ctx, first, "Study B", description="follow-up")
    assert (second.study_name, second.name) == ("Study B", "Dr Reed") and second.study_id != first.study_id
    assert auth.sign_in(ctx, "Study B", "Dr Reed", "24680").is_coordinator  # same PIN, hash copied
    assert [p.name for p in auth.participants(ctx, "Study B")] == ["Dr Reed"]  # nobody else is copied
    with ctx.uow() as uow:
        add = [e for e in uow.audit.list() if e.action == "participant.add"][-1]
    assert add.payload["copied_from"] == "Study A"
    with pytest.raises(ConflictError):
        studies.create_study_as(ctx, first, "study b")


def test_a_study_imported_on_the_command_line_gets_its_first_coordinator(ctx):
    import_cases(ctx, LOCAL, "Imported", busi_sources(2))
    assert studies.needs_first_coordinator(ctx, "Imported")
    with pytest.raises(ValidationError, match="at least 4"):
        studies.add_first_coordinator(ctx, "Imported", "Dr Reed", "1")
    assert studies.needs_first_coordinator(ctx, "Imported")
    session = studies.add_first_coordinator(ctx, "Imported", "Dr Reed", "24680")
    assert session.is_coordinator and not studies.needs_first_coordinator(ctx, "Imported")
    with pytest.raises(PermissionDenied, match="already has a coordinator"):
        studies.add_first_coordinator(ctx, "Imported", "Mallory", "1234")
    assert [p.name for p in auth.participants(ctx, "Imported")] == ["Dr Reed"]
