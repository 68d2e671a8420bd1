"""Sign-in of readers and coordinators with a PIN; role checks used by the other services.

PINs are hashed with ``hashlib.scrypt`` and a random 16-byte salt; the encoded string
``scrypt$n$r$p$salt_hex$hash_hex`` is what ``reader.pin_hash`` stores. A PIN is never stored,
returned or logged in clear, and hashes are compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from readerstudy.core.errors import AuthenticationError, NotFoundError, PermissionDenied, ValidationError
from readerstudy.core.models import Role
from readerstudy.services.context import AppContext

log = logging.getLogger(__name__)

_N, _R, _P, _DKLEN = 2**14, 8, 1, 32
_SCHEME = "scrypt"


def _derive(pin: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(pin.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=_DKLEN, maxmem=64 * 1024 * 1024)


def hash_pin(pin: str) -> str:
    """Hash a PIN for storage in ``reader.pin_hash``.

    Parameters
    ----------
    pin : str
        The PIN as typed (at least 4 characters).

    Returns
    -------
    str
        ``"scrypt$<n>$<r>$<p>$<salt hex>$<hash hex>"``; a new random salt on every call.
    """
    if not isinstance(pin, str) or len(pin) < 4:
        raise ValidationError("A PIN must have at least 4 characters; choose a longer PIN.")
    salt = secrets.token_bytes(16)
    digest = _derive(pin, salt, _N, _R, _P)
    return f"{_SCHEME}${_N}${_R}${_P}${salt.hex()}${digest.hex()}"


def verify_pin(pin: str, encoded: str) -> bool:
    """True if ``pin`` matches ``encoded`` (from :func:`hash_pin`); constant-time comparison."""
    try:
        scheme, n, r, p, salt_hex, hash_hex = encoded.split("$")
        if scheme != _SCHEME:
            return False
        expected = bytes.fromhex(hash_hex)
        actual = _derive(pin, bytes.fromhex(salt_hex), int(n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


# --- sessions and sign-in -------------------------------------------------------------------------

MAX_ATTEMPTS = 5
LOCK_SECONDS = 60


@dataclass(frozen=True)
class UserSession:
    """Who is signed in, to which study. Services check ``role`` before doing anything.

    ``participant_id`` is the ``reader`` row id (readers, coordinators and annotators are all
    participants). A session carries no PIN and no PIN hash.
    """

    study_id: str
    study_name: str
    participant_id: str
    name: str
    role: Role
    seniority: str = ""

    @property
    def is_coordinator(self) -> bool:
        return self.role == Role.COORDINATOR


@dataclass(frozen=True)
class Participant:
    """What the sign-in screen lists: a name and a role (no hash, no lock state)."""

    name: str
    role: Role
    has_pin: bool


def require_coordinator(session: UserSession, what: str = "this") -> None:
    """Raise :class:`PermissionDenied` unless ``session`` is a coordinator's."""
    if session.role != Role.COORDINATOR:
        raise PermissionDenied(f"Only a study coordinator may do {what}; sign in as a coordinator.")


def require_reader(session: UserSession, what: str = "read cases") -> None:
    if session.role != Role.READER:
        raise PermissionDenied(f"Only a reader may {what}; {session.name!r} is a {session.role}.")


def studies(ctx: AppContext) -> list[str]:
    """Names of the studies one can sign in to (for the sign-in screen)."""
    with ctx.uow() as uow:
        return [s.name for s in uow.studies.list()]


SIGN_IN_ROLES = (Role.READER, Role.ANNOTATOR, Role.COORDINATOR)


def participants(ctx: AppContext, study_name: str) -> list[Participant]:
    """The people who may sign in to ``study_name`` (readers, annotators, coordinators), for a picker."""
    with ctx.uow() as uow:
        study = uow.studies.by_name(study_name)
        out = []
        for r in uow.readers.list(study.id):
            if r.role in SIGN_IN_ROLES:
                out.append(Participant(r.name, r.role, bool(uow.readers.credentials(r.id)[0])))
        return out


def _utcnow() -> datetime:
    return datetime.now(UTC)


def sign_in(ctx: AppContext, study_name: str, name: str, pin: str, *,
            now: Callable[[], datetime] = _utcnow) -> UserSession:
    """Check ``pin`` for participant ``name`` of ``study_name`` and open a session.

    Five wrong PINs in a row lock the participant for 60 s (stored, so a restart does not reset
    it). Raises :class:`AuthenticationError` with a message that says what to do; never says
    whether the name or the PIN was wrong for an unknown name.
    """
    with ctx.uow() as uow:
        study = uow.studies.by_name(study_name)
        try:
            person = uow.readers.by_name(study.id, name)
        except NotFoundError:
            raise AuthenticationError("Wrong name or PIN; try again.") from None
        if person.role not in SIGN_IN_ROLES:
            raise AuthenticationError(f"{name!r} is a {person.role} and cannot sign in; ask the coordinator.")
        pin_hash, failed, locked_until = uow.readers.credentials(person.id)
        t = now()
        if locked_until is not None and locked_until > t:
            wait = max(1, math.ceil((locked_until - t).total_seconds()))
            raise AuthenticationError(f"Too many wrong PINs: sign-in for {name!r} is locked; "
                                      f"try again in {wait} s.")
        if not pin_hash:
            raise AuthenticationError(f"No PIN is set for {name!r}; ask the coordinator to set one.")
        if not verify_pin(pin, pin_hash):
            failed = (0 if locked_until is not None else failed) + 1
            lock = t + timedelta(seconds=LOCK_SECONDS) if failed >= MAX_ATTEMPTS else None
            uow.readers.set_login_state(person.id, failed, lock)
            uow.audit.append(name, "auth.failed", "reader", person.id, {"attempt": failed, "locked": bool(lock)})
            uow.commit()
            if lock is not None:
                raise AuthenticationError(f"Wrong PIN {MAX_ATTEMPTS} times: sign-in for {name!r} is locked "
                                          f"for {LOCK_SECONDS} s.")
            left = MAX_ATTEMPTS - failed
            raise AuthenticationError(f"Wrong name or PIN; {left} attempt(s) left before a "
                                      f"{LOCK_SECONDS} s lock.")
        uow.readers.set_login_state(person.id, 0, None)
        uow.audit.append(name, "auth.sign_in", "reader", person.id, {"role": str(person.role)})
        uow.commit()
        log.info("%s signed in to %s as %s", name, study.name, person.role)
        return UserSession(study.id, study.name, person.id, person.name, person.role, person.seniority)


def system_session(ctx: AppContext, study_name: str, actor: str = "cli") -> UserSession:
    """A coordinator session for command-line tools run by whoever holds the database file.

    The CLI has the file itself, so a PIN would protect nothing; every action it takes is still
    audited under ``actor``. The GUI never uses this.
    """
    with ctx.uow() as uow:
        study = uow.studies.by_name(study_name)
    return UserSession(study.id, study.name, f"system:{actor}", actor, Role.COORDINATOR)


def add_participant(ctx: AppContext, coordinator: UserSession, name: str, role: Role, pin: str, *,
                    seniority: str = "") -> UserSession:
    """Coordinator use case: add a reader (or coordinator) with a PIN. Returns its (unsigned) identity."""
    require_coordinator(coordinator, "adding participants")
    if role not in SIGN_IN_ROLES:
        raise ValidationError(f"Participants who sign in are readers, annotators or coordinators, not {role}.")
    pin_hash = hash_pin(pin)
    with ctx.uow() as uow:
        r = uow.readers.add(coordinator.study_id, name, role, seniority=seniority, pin_hash=pin_hash)
        uow.audit.append(coordinator.name, "participant.add", "reader", r.id,
                         {"name": name, "role": str(role), "seniority": seniority})
        uow.commit()
    return UserSession(coordinator.study_id, coordinator.study_name, r.id, r.name, r.role, r.seniority)


def set_pin(ctx: AppContext, coordinator: UserSession, name: str, pin: str) -> None:
    """Coordinator use case: set or reset a participant's PIN (also clears a lock)."""
    require_coordinator(coordinator, "setting PINs")
    with ctx.uow() as uow:
        r = uow.readers.by_name(coordinator.study_id, name)
        uow.readers.set_pin_hash(r.id, hash_pin(pin))
        uow.readers.set_login_state(r.id, 0, None)
        uow.audit.append(coordinator.name, "participant.set_pin", "reader", r.id, {})
        uow.commit()
