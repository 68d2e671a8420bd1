"""Use cases: a study's participants (readers, annotators, coordinators) and their PINs.

Rules, enforced here and not only in the widgets:

* Only a coordinator manages participants (:class:`PermissionDenied` otherwise). A coordinator
  who signed in must still be an active coordinator of the study when acting; the command line
  acts as the local coordinator (:func:`readerstudy.services.auth.system_session`).
* Participants are never deleted: reads, masks and audit events reference them. A coordinator
  deactivates a participant instead; a deactivated participant cannot sign in and is not listed
  on the sign-in screen, and can be reactivated. The last active coordinator cannot be
  deactivated (the study would have nobody to manage it in the app).
* The AI's model reader (:attr:`Role.MODEL`) belongs to the engine; it is neither listed nor
  managed here.
* A PIN is :data:`PIN_MIN_DIGITS` to :data:`PIN_MAX_DIGITS` digits. It is hashed with
  :func:`readerstudy.services.auth.hash_pin` and never stored, returned, logged or audited in
  clear. "Set PIN" stores the PIN the coordinator types; "Reset PIN" issues a random temporary
  PIN that the participant must replace at the next sign-in. Both clear a lock-out.
* A participant changes their own PIN with the current one; a wrong current PIN counts towards
  the sign-in lock-out (:data:`readerstudy.services.auth.MAX_ATTEMPTS`).
* Every change is audited (actor: the coordinator's name; entity ``reader``; no PIN or hash).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from readerstudy.core.errors import (
    AuthenticationError,
    ConflictError,
    NotFoundError,
    PermissionDenied,
    ValidationError,
)
from readerstudy.core.models import Reader, Role, Seniority
from readerstudy.services.auth import (
    LOCK_SECONDS,
    MAX_ATTEMPTS,
    SIGN_IN_ROLES,
    UserSession,
    hash_pin,
    require_coordinator,
    sign_in,
    sign_out,
    verify_pin,
)
from readerstudy.services.context import AppContext
from readerstudy.storage.uow import UnitOfWork

PIN_MIN_DIGITS = 4
PIN_MAX_DIGITS = 12
TEMPORARY_PIN_DIGITS = 6
NAME_MAX = 200
SENIORITIES = tuple(s.value for s in Seniority)  # "senior", "mid", "junior", "" (none)
Now = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ParticipantInfo:
    """A participant as the coordinator's table shows it (no PIN, no hash).

    ``locked_until`` is set only while a lock-out is in force (UTC); ``reads`` counts the
    participant's submitted reads (revision 0), the reason they are deactivated, never deleted.
    """

    id: str
    name: str
    role: Role
    seniority: str
    active: bool
    has_pin: bool
    must_change_pin: bool
    failed_attempts: int
    locked_until: datetime | None
    reads: int

    @property
    def locked(self) -> bool:
        return self.locked_until is not None


# --- validation -------------------------------------------------------------------------------------

def validate_pin(pin: object) -> str:
    """Return ``pin`` if it is :data:`PIN_MIN_DIGITS`-:data:`PIN_MAX_DIGITS` digits, else raise
    :class:`ValidationError` saying what is wrong (the message never contains the PIN)."""
    if not isinstance(pin, str) or not pin:
        raise ValidationError(f"Type a PIN: {PIN_MIN_DIGITS} to {PIN_MAX_DIGITS} digits.")
    if not (pin.isascii() and pin.isdigit()):
        raise ValidationError("A PIN is digits only (0-9); remove letters, spaces and other characters.")
    if len(pin) < PIN_MIN_DIGITS:
        raise ValidationError(f"A PIN needs at least {PIN_MIN_DIGITS} digits; this one has {len(pin)}.")
    if len(pin) > PIN_MAX_DIGITS:
        raise ValidationError(f"A PIN has at most {PIN_MAX_DIGITS} digits; this one has {len(pin)}.")
    return pin


def validate_new_pin(pin: object, repeated: object) -> str:
    """:func:`validate_pin`, and the PIN typed twice must match (the dialogs and the CLI prompt)."""
    checked = validate_pin(pin)
    if repeated != checked:
        raise ValidationError("The two PINs differ; type the same PIN twice.")
    return checked


def validate_name(name: object, what: str = "A participant's name") -> str:
    """The name stripped of surrounding blanks; refuses empty, over-long or control characters."""
    if not isinstance(name, str) or not name.strip():
        raise ValidationError(f"{what} cannot be empty; type a name.")
    clean = name.strip()
    if len(clean) > NAME_MAX:
        raise ValidationError(f"{what} has {len(clean)} characters; use at most {NAME_MAX}.")
    if any(not ch.isprintable() for ch in clean):
        raise ValidationError(f"{what} contains a tab, line break or other control character; remove it.")
    if clean.lower().startswith("system:"):
        raise ValidationError(f"{what} cannot start with 'system:' (reserved for command-line tools).")
    return clean


def validate_seniority(role: Role, seniority: object) -> str:
    """A reader's seniority is one of :data:`SENIORITIES` (case-insensitive); other roles have none."""
    text = "" if seniority is None else seniority
    if not isinstance(text, str) or text.strip().lower() not in SENIORITIES:
        raise ValidationError(f"Seniority {seniority!r} is unknown; use senior, mid, junior or leave it empty.")
    level = text.strip().lower()
    if level and role != Role.READER:
        raise ValidationError("Seniority is for readers; leave it empty for annotators and coordinators.")
    return level


def _role(role: object) -> Role:
    try:
        parsed = Role(str(role).strip().lower())
    except ValueError:
        parsed = None
    if parsed not in SIGN_IN_ROLES:
        raise ValidationError(f"Role {role!r} is not a participant's; use reader, annotator or coordinator "
                              "(the AI model reader is added by the engine).")
    assert parsed is not None
    return parsed


# --- helpers ----------------------------------------------------------------------------------------

def require_active_coordinator(uow: UnitOfWork, coordinator: UserSession, what: str = "this") -> None:
    """The acting coordinator must (still) be an active coordinator of this study."""
    require_coordinator(coordinator, what)
    if coordinator.is_system:
        return
    try:
        me = uow.readers.get(coordinator.participant_id)
    except NotFoundError:
        me = None
    if me is None or me.study_id != coordinator.study_id or me.role != Role.COORDINATOR or not me.active:
        raise PermissionDenied(f"{coordinator.name!r} is no longer an active coordinator of study "
                               f"{coordinator.study_name!r}; sign in again as an active coordinator.")


def _managed(uow: UnitOfWork, coordinator: UserSession, name: str) -> Reader:
    try:
        person = uow.readers.by_name(coordinator.study_id, name)
    except NotFoundError:
        raise NotFoundError(f"No participant named {name!r} in study {coordinator.study_name!r}; "
                            "check the name (see 'participants list').") from None
    if person.role not in SIGN_IN_ROLES:
        raise NotFoundError(f"{name!r} is the study's AI model reader; models are managed by the engine, "
                            "not as participants.")
    return person


def _info(uow: UnitOfWork, person: Reader, reads: dict[str, int], now: datetime) -> ParticipantInfo:
    pin_hash, failed, locked_until = uow.readers.credentials(person.id)
    active, must_change = uow.readers.account(person.id)
    locked = locked_until if locked_until is not None and locked_until > now else None
    return ParticipantInfo(person.id, person.name, person.role, person.seniority, active, bool(pin_hash),
                           must_change, failed if locked_until is None or locked else 0, locked,
                           reads.get(person.id, 0))


def _one(uow: UnitOfWork, coordinator: UserSession, person_id: str, now: datetime) -> ParticipantInfo:
    return _info(uow, uow.readers.get(person_id), uow.reads.count_by_reader(coordinator.study_id), now)


def _unique_name(uow: UnitOfWork, study_id: str, name: str, except_id: str | None = None) -> None:
    for other in uow.readers.list(study_id):
        if other.id != except_id and other.name.casefold() == name.casefold():
            raise ConflictError(f"A participant named {other.name!r} already exists in this study "
                                "(names are compared ignoring case); choose another name.")


# --- listing ----------------------------------------------------------------------------------------

def list_participants(ctx: AppContext, coordinator: UserSession, *, now: Now = _utcnow) -> list[ParticipantInfo]:
    """Every participant of the coordinator's study, active or not (models excluded), by role then name."""
    order = {Role.COORDINATOR: 0, Role.READER: 1, Role.ANNOTATOR: 2}
    with ctx.uow() as uow:
        require_active_coordinator(uow, coordinator, "managing participants")
        reads = uow.reads.count_by_reader(coordinator.study_id)
        t = now()
        people = [_info(uow, p, reads, t) for p in uow.readers.list(coordinator.study_id) if p.role in SIGN_IN_ROLES]
    return sorted(people, key=lambda p: (order[p.role], p.name.casefold()))


def get_participant(ctx: AppContext, coordinator: UserSession, name: str, *, now: Now = _utcnow) -> ParticipantInfo:
    with ctx.uow() as uow:
        require_active_coordinator(uow, coordinator, "managing participants")
        return _one(uow, coordinator, _managed(uow, coordinator, name).id, now())


# --- changes ----------------------------------------------------------------------------------------

def add_participant(ctx: AppContext, coordinator: UserSession, name: str, role: Role | str, *,
                    pin: str | None = None, seniority: str = "", now: Now = _utcnow) -> ParticipantInfo:
    """Add a reader (with seniority), annotator or coordinator; ``pin`` may be set later.

    Raises :class:`ValidationError` (name, role, seniority, PIN), :class:`ConflictError` (name taken,
    ignoring case), :class:`PermissionDenied` (not a coordinator). Nothing is stored on error.
    """
    with ctx.uow() as uow:
        require_active_coordinator(uow, coordinator, "adding participants")
        clean = validate_name(name)
        parsed = _role(role)
        level = validate_seniority(parsed, seniority)
        pin_hash = hash_pin(validate_pin(pin)) if pin is not None else ""
        _unique_name(uow, coordinator.study_id, clean)
        person = uow.readers.add(coordinator.study_id, clean, parsed, seniority=level, pin_hash=pin_hash)
        uow.audit.append(coordinator.name, "participant.add", "reader", person.id,
                         {"name": clean, "role": str(parsed), "seniority": level, "pin_set": bool(pin_hash)})
        info = _one(uow, coordinator, person.id, now())
        uow.commit()
    return info


def rename_participant(ctx: AppContext, coordinator: UserSession, name: str, new_name: str, *,
                       now: Now = _utcnow) -> ParticipantInfo:
    """Rename; reads, masks and assignments follow (they reference the id, and stored order seeds
    are kept). Past audit events keep the name they were written with."""
    with ctx.uow() as uow:
        require_active_coordinator(uow, coordinator, "renaming participants")
        person = _managed(uow, coordinator, name)
        clean = validate_name(new_name, "The new name")
        if clean == person.name:
            raise ValidationError(f"{person.name!r} already has this name; type a different one.")
        _unique_name(uow, coordinator.study_id, clean, except_id=person.id)
        uow.readers.rename(person.id, clean)
        uow.audit.append(coordinator.name, "participant.rename", "reader", person.id,
                         {"from": person.name, "to": clean})
        info = _one(uow, coordinator, person.id, now())
        uow.commit()
    return info


def set_seniority(ctx: AppContext, coordinator: UserSession, name: str, seniority: str, *,
                  now: Now = _utcnow) -> ParticipantInfo:
    """Change a reader's seniority (senior, mid, junior or empty)."""
    with ctx.uow() as uow:
        require_active_coordinator(uow, coordinator, "changing a reader's seniority")
        person = _managed(uow, coordinator, name)
        level = validate_seniority(person.role, seniority)
        uow.readers.set_seniority(person.id, level)
        uow.audit.append(coordinator.name, "participant.seniority", "reader", person.id,
                         {"name": person.name, "from": person.seniority, "to": level})
        info = _one(uow, coordinator, person.id, now())
        uow.commit()
    return info


def deactivate_participant(ctx: AppContext, coordinator: UserSession, name: str, *,
                           now: Now = _utcnow) -> ParticipantInfo:
    """Deactivate (never delete): the participant keeps every read but can no longer sign in.

    Refused for oneself and for the study's last active coordinator (:class:`ConflictError`).
    """
    with ctx.uow() as uow:
        require_active_coordinator(uow, coordinator, "deactivating participants")
        person = _managed(uow, coordinator, name)
        if not person.active:
            raise ConflictError(f"{person.name!r} is already deactivated.")
        if person.id == coordinator.participant_id:
            raise ConflictError("You cannot deactivate yourself; another coordinator must do it.")
        if person.role == Role.COORDINATOR:
            others = [p for p in uow.readers.list(coordinator.study_id, Role.COORDINATOR)
                      if p.active and p.id != person.id]
            if not others:
                raise ConflictError(f"{person.name!r} is the study's last active coordinator; add or reactivate "
                                    "another coordinator first.")
        uow.readers.set_active(person.id, False)
        uow.audit.append(coordinator.name, "participant.deactivate", "reader", person.id,
                         {"name": person.name, "role": str(person.role)})
        info = _one(uow, coordinator, person.id, now())
        uow.commit()
    return info


def reactivate_participant(ctx: AppContext, coordinator: UserSession, name: str, *,
                           now: Now = _utcnow) -> ParticipantInfo:
    with ctx.uow() as uow:
        require_active_coordinator(uow, coordinator, "reactivating participants")
        person = _managed(uow, coordinator, name)
        if person.active:
            raise ConflictError(f"{person.name!r} is already active.")
        uow.readers.set_active(person.id, True)
        uow.audit.append(coordinator.name, "participant.reactivate", "reader", person.id,
                         {"name": person.name, "role": str(person.role)})
        info = _one(uow, coordinator, person.id, now())
        uow.commit()
    return info


def set_pin(ctx: AppContext, coordinator: UserSession, name: str, pin: str, *, now: Now = _utcnow) -> ParticipantInfo:
    """Store the PIN the coordinator typed (e.g. with the participant at the desk); clears a lock-out."""
    with ctx.uow() as uow:
        require_active_coordinator(uow, coordinator, "setting PINs")
        person = _managed(uow, coordinator, name)
        uow.readers.set_pin_hash(person.id, hash_pin(validate_pin(pin)))
        uow.readers.set_login_state(person.id, 0, None)
        uow.audit.append(coordinator.name, "participant.set_pin", "reader", person.id, {"name": person.name})
        info = _one(uow, coordinator, person.id, now())
        uow.commit()
    return info


def reset_pin(ctx: AppContext, coordinator: UserSession, name: str) -> str:
    """Issue a random :data:`TEMPORARY_PIN_DIGITS`-digit temporary PIN and return it (to be told to
    the participant once); the participant must choose a new PIN at the next sign-in. Clears a lock-out."""
    temporary = "".join(secrets.choice("0123456789") for _ in range(TEMPORARY_PIN_DIGITS))
    with ctx.uow() as uow:
        require_active_coordinator(uow, coordinator, "resetting PINs")
        person = _managed(uow, coordinator, name)
        uow.readers.set_pin_hash(person.id, hash_pin(temporary), must_change=True)
        uow.readers.set_login_state(person.id, 0, None)
        uow.audit.append(coordinator.name, "participant.reset_pin", "reader", person.id,
                         {"name": person.name, "temporary": True})
        uow.commit()
    return temporary


def unlock_participant(ctx: AppContext, coordinator: UserSession, name: str, *, now: Now = _utcnow) -> bool:
    """Lift a lock-out after too many wrong PINs and start the count of wrong PINs again.

    Returns True if ``name`` was locked. Nothing is changed or audited when there was neither a
    lock nor a wrong PIN to forget.
    """
    with ctx.uow() as uow:
        require_active_coordinator(uow, coordinator, "unlocking participants")
        person = _managed(uow, coordinator, name)
        _, failed, locked_until = uow.readers.credentials(person.id)
        was_locked = locked_until is not None and locked_until > now()
        if not was_locked and (locked_until is not None or not failed):
            return False  # not locked, and an expired lock restarts the count by itself
        uow.readers.set_login_state(person.id, 0, None)
        uow.audit.append(coordinator.name, "participant.unlock", "reader", person.id,
                         {"name": person.name, "failed_attempts": failed, "was_locked": was_locked})
        uow.commit()
    return was_locked


def change_own_pin(ctx: AppContext, session: UserSession, current_pin: str, new_pin: str, *,
                   now: Now = _utcnow) -> None:
    """A signed-in participant (any role) replaces their own PIN; the current PIN is required.

    Raises :class:`AuthenticationError` for a wrong current PIN (it counts towards the lock-out)
    or while locked, :class:`ValidationError` for a bad or unchanged new PIN.
    """
    if session.is_system:
        raise PermissionDenied("The command line has no PIN of its own; use 'participants set-pin'.")
    validate_pin(new_pin)
    with ctx.uow() as uow:
        person = uow.readers.get(session.participant_id)
        if person.study_id != session.study_id or not person.active:
            raise PermissionDenied(f"{session.name!r} cannot change a PIN in this study; ask the coordinator.")
        pin_hash, failed, locked_until = uow.readers.credentials(person.id)
        t = now()
        if locked_until is not None and locked_until > t:
            raise AuthenticationError(f"Too many wrong PINs: {person.name!r} is locked; try again in "
                                      f"{max(1, int((locked_until - t).total_seconds()))} s.")
        if not pin_hash or not verify_pin(current_pin, pin_hash):
            failed = (0 if locked_until is not None else failed) + 1
            lock = t + timedelta(seconds=LOCK_SECONDS) if failed >= MAX_ATTEMPTS else None
            uow.readers.set_login_state(person.id, failed, lock)
            uow.audit.append(person.name, "auth.failed", "reader", person.id,
                             {"attempt": failed, "locked": bool(lock), "during": "change_own_pin"})
            uow.commit()
            raise AuthenticationError("The current PIN is wrong; your PIN was not changed.")
        if new_pin == current_pin:
            raise ValidationError("The new PIN is the same as the current one; choose a different PIN.")
        uow.readers.set_pin_hash(person.id, hash_pin(new_pin))
        uow.readers.set_login_state(person.id, 0, None)
        uow.audit.append(person.name, "participant.change_own_pin", "reader", person.id, {"name": person.name})
        uow.commit()


def change_pin_at_sign_in(ctx: AppContext, study_name: str, name: str, current_pin: str, new_pin: str,
                          repeated: str, *, now: Now = _utcnow) -> None:
    """"Change my PIN" from the sign-in screen: the new PIN (typed twice) is checked first, then the
    participant signs in with the current PIN (same lock-out), changes it and is signed out again."""
    validate_new_pin(new_pin, repeated)
    if new_pin == current_pin:
        raise ValidationError("The new PIN is the same as the current one; choose a different PIN.")
    session = sign_in(ctx, study_name, name, current_pin, now=now)
    change_own_pin(ctx, session, current_pin, new_pin, now=now)
    sign_out(ctx, session)


__all__ = [
    "change_pin_at_sign_in",
    "PIN_MAX_DIGITS", "PIN_MIN_DIGITS", "SENIORITIES", "TEMPORARY_PIN_DIGITS", "ParticipantInfo",
    "add_participant", "change_own_pin", "require_active_coordinator", "deactivate_participant", "get_participant", "list_participants",
    "reactivate_participant", "rename_participant", "reset_pin", "set_pin", "set_seniority",
    "unlock_participant", "validate_name", "validate_new_pin", "validate_pin", "validate_seniority",
]
