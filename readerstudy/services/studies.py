"""Use cases: create a study together with its first coordinator, so someone can manage it.

A study nobody can sign in to is useless, so a study is created with its first coordinator in one
transaction:

* :func:`create_study` (first run, or "New study..." on the sign-in screen): a name and a first
  coordinator (name + PIN). Anyone at the workstation may create a *new* study: it holds nothing
  yet, and it gives no access to the other studies.
* :func:`create_study_as` (a signed-in coordinator's "New study..."): the coordinator becomes the
  new study's first coordinator under the same name and PIN (the PIN hash is copied, never the PIN).
* :func:`add_first_coordinator`: a study made by ``readerstudy import`` on the command line has no
  coordinator yet; the first one can be created from the sign-in screen. Once a study has a
  coordinator (active or not), only a coordinator (or the command line) adds more.

The new study gets its own de-identification secret (as ``services.importing.ensure_study`` does).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from readerstudy.core.errors import ConflictError, PermissionDenied, ValidationError
from readerstudy.core.models import Role
from readerstudy.services.assignments import PROTOCOL_KEY
from readerstudy.services.auth import UserSession, hash_pin, require_coordinator
from readerstudy.services.context import AppContext
from readerstudy.services.participants import validate_name, validate_pin
from readerstudy.storage.uow import UnitOfWork

STUDY_NAME_MAX = 200


def validate_study_name(name: object) -> str:
    """The study name stripped of surrounding blanks; refuses an empty or over-long name."""
    if not isinstance(name, str) or not name.strip():
        raise ValidationError("A study needs a name; type one (e.g. 'BUSI pilot 2026').")
    clean = name.strip()
    if len(clean) > STUDY_NAME_MAX:
        raise ValidationError(f"The study name has {len(clean)} characters; use at most {STUDY_NAME_MAX}.")
    if any(not ch.isprintable() for ch in clean):
        raise ValidationError("The study name contains a tab, line break or other control character; remove it.")
    return clean


def _new_study(uow: UnitOfWork, name: str, description: str, actor: str) -> str:
    for other in uow.studies.list():
        if other.name.casefold() == name.casefold():
            raise ConflictError(f"A study named {other.name!r} already exists; choose another name "
                                "(or sign in to that study).")
    study = uow.studies.add(name, description.strip(), {"deid_secret": secrets.token_hex(16)})
    uow.audit.append(actor, "study.create", "study", study.id, {"name": name})
    return study.id


def _first_coordinator(uow: UnitOfWork, study_id: str, study_name: str, name: str, pin_hash: str,
                       **extra: object) -> UserSession:
    person = uow.readers.add(study_id, name, Role.COORDINATOR, pin_hash=pin_hash)
    uow.audit.append(name, "participant.add", "reader", person.id,
                     {"name": name, "role": str(Role.COORDINATOR), "seniority": "", "pin_set": True,
                      "first_coordinator": True, **extra})
    uow.audit.append(name, "auth.sign_in", "reader", person.id, {"role": str(Role.COORDINATOR)})
    return UserSession(study_id, study_name, person.id, name, Role.COORDINATOR)


def create_study(ctx: AppContext, study_name: str, coordinator_name: str, pin: str, *,
                 description: str = "") -> UserSession:
    """Create ``study_name`` with its first coordinator and return that coordinator's session
    (signed in: they just typed the PIN twice).

    Raises :class:`ValidationError` (names, PIN) or :class:`ConflictError` (a study of that name,
    ignoring case); nothing is stored on error.
    """
    name = validate_study_name(study_name)
    person = validate_name(coordinator_name, "The coordinator's name")
    pin_hash = hash_pin(validate_pin(pin))
    with ctx.uow() as uow:
        study_id = _new_study(uow, name, description, person)
        session = _first_coordinator(uow, study_id, name, person, pin_hash)
        uow.commit()
    return session


def create_study_as(ctx: AppContext, coordinator: UserSession, study_name: str, *,
                    description: str = "") -> UserSession:
    """A signed-in coordinator creates another study and becomes its first coordinator (same name,
    same PIN). Returns the coordinator's session in the new study."""
    require_coordinator(coordinator, "creating a study from a coordinator's session")
    if coordinator.is_system:
        raise PermissionDenied("The command line creates studies with 'readerstudy study create'.")
    name = validate_study_name(study_name)
    with ctx.uow() as uow:
        me = uow.readers.get(coordinator.participant_id)
        if me.study_id != coordinator.study_id or me.role != Role.COORDINATOR or not me.active:
            raise PermissionDenied(f"{coordinator.name!r} is no longer an active coordinator; sign in again.")
        pin_hash = uow.readers.credentials(me.id)[0]
        study_id = _new_study(uow, name, description, me.name)
        session = _first_coordinator(uow, study_id, name, me.name, pin_hash, copied_from=coordinator.study_name)
        uow.commit()
    return session


def coordinator_in(ctx: AppContext, coordinator: UserSession, study_name: str) -> UserSession:
    """The signed-in coordinator's session in ``study_name``, where they are an active coordinator
    under the same name with the same PIN: a study they built from theirs (importing into a new
    study makes the importing coordinator its coordinator, see ``services/importing``).

    Raises :class:`PermissionDenied` for a non-coordinator, the command line's local session, or a
    study where the coordinator is not such a coordinator; :class:`NotFoundError` for no such study.
    """
    require_coordinator(coordinator, "working on another study")
    if coordinator.is_system:
        raise PermissionDenied("The command line acts as every study's coordinator already.")
    with ctx.uow(read=True) as uow:
        me = uow.readers.get(coordinator.participant_id)
        study = uow.studies.by_name(study_name)
        mine = uow.readers.credentials(me.id)[0]
        there = next((p for p in uow.readers.list(study.id, Role.COORDINATOR)
                      if p.name == me.name and p.active and uow.readers.credentials(p.id)[0] == mine), None)
        if not me.active or me.study_id != coordinator.study_id or there is None:
            raise PermissionDenied(f"{coordinator.name!r} is not a coordinator of study {study.name!r}; sign in "
                                   "to it as one of its coordinators.")
    return UserSession(study.id, study.name, there.id, there.name, Role.COORDINATOR)


def needs_first_coordinator(ctx: AppContext, study_name: str) -> bool:
    """True when ``study_name`` has no coordinator at all (e.g. created by ``readerstudy import``)."""
    with ctx.uow() as uow:
        study = uow.studies.by_name(study_name)
        return not uow.readers.list(study.id, Role.COORDINATOR)


def add_first_coordinator(ctx: AppContext, study_name: str, name: str, pin: str) -> UserSession:
    """Create the first coordinator of a study that has none and return their (signed-in) session.

    Raises :class:`PermissionDenied` once the study has a coordinator: then a coordinator adds
    participants (``participants add`` on the command line).
    """
    person = validate_name(name, "The coordinator's name")
    pin_hash = hash_pin(validate_pin(pin))
    with ctx.uow() as uow:
        study = uow.studies.by_name(study_name)
        if uow.readers.list(study.id, Role.COORDINATOR):
            raise PermissionDenied(f"Study {study.name!r} already has a coordinator; ask them to add you "
                                   "in the Participants tab.")
        for other in uow.readers.list(study.id):
            if other.name.casefold() == person.casefold():
                raise ConflictError(f"A participant named {other.name!r} already exists in this study; "
                                    "choose another name.")
        session = _first_coordinator(uow, study.id, study.name, person, pin_hash)
        uow.commit()
    return session


@dataclass(frozen=True)
class StudySummary:
    """What ``readerstudy study list`` prints (names only; no case or participant details)."""

    name: str
    description: str
    cases: int
    readers: int
    annotators: int
    coordinators: int
    protocol_applied: bool


def study_summaries(ctx: AppContext) -> list[StudySummary]:
    """Every study of the database with its size (active participants only), by name."""
    out = []
    with ctx.uow() as uow:
        for study in uow.studies.list():
            people = [p for p in uow.readers.list(study.id) if p.active]
            count = {role: sum(1 for p in people if p.role == role) for role in Role}
            out.append(StudySummary(study.name, study.description, uow.cases.count(study.id), count[Role.READER],
                                    count[Role.ANNOTATOR], count[Role.COORDINATOR],
                                    bool(study.protocol.get(PROTOCOL_KEY))))
    return out


__all__ = ["StudySummary", "study_summaries", "add_first_coordinator", "create_study", "create_study_as",
           "coordinator_in", "needs_first_coordinator",
           "validate_study_name"]
