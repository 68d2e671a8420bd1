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
    must_change_pin: bool = False  # a coordinator reset the PIN: choose a new one before going on

    @property
    def is_coordinator(self) -> bool:
        return self.role == Role.COORDINATOR

    @property
    def is_system(self) -> bool:
        """A command-line session (:func:`system_session`), not a participant who signed in."""
        return self.participant_id.startswith("system:")


@dataclass(frozen=True)
class Participant:
    """What the sign-in screen lists: a name and a role (no hash, no lock state)."""

    name: str
    role: Role
    has_pin: bool


def require_coordinator(session: UserSession, what: str = "this") -> None:
    """Raise :class:`PermissionDenied` unless ``session`` is a coordinator's."""
    if not isinstance(session, UserSession) or session.role != Role.COORDINATOR:
        raise PermissionDenied(f"Only a study coordinator may do {what}; sign in as a coordinator.")


def require_reader(session: UserSession, what: str = "read cases") -> None:
    if not isinstance(session, UserSession):
        raise PermissionDenied(f"To {what} a reader must sign in first.")
    if session.role != Role.READER:
        raise PermissionDenied(f"Only a reader may {what}; {session.name!r} is a {session.role}.")


def require_role(session: UserSession, roles: tuple[Role, ...] | frozenset[Role], what: str) -> None:
    """Raise :class:`PermissionDenied` unless ``session`` has one of ``roles`` (a session is required)."""
    if not isinstance(session, UserSession):
        raise PermissionDenied(f"{what} needs a signed-in session; sign in first.")
    if session.role not in roles:
        allowed = " and ".join(sorted(f"{r}s" for r in roles))
        raise PermissionDenied(f"{what[:1].upper()}{what[1:]} is for {allowed} only; {session.name!r} is a "
                               f"{session.role}.")


def require_study(session: UserSession, study_name: str, what: str,
                  roles: tuple[Role, ...] | frozenset[Role] = (Role.COORDINATOR,)) -> None:
    """``require_role`` and the session belongs to ``study_name`` (the CLI's local session reaches all)."""
    require_role(session, roles, what)
    if session.study_id and session.study_name != study_name:
        raise PermissionDenied(f"{session.name!r} is signed in to study {session.study_name!r}, not "
                               f"{study_name!r}; sign in to that study for {what}.")


def studies(ctx: AppContext) -> list[str]:
    """Names of the studies one can sign in to (for the sign-in screen)."""
    with ctx.uow() as uow:
        return [s.name for s in uow.studies.list()]


SIGN_IN_ROLES = (Role.READER, Role.ANNOTATOR, Role.COORDINATOR)


def participants(ctx: AppContext, study_name: str) -> list[Participant]:
    """The people who may sign in to ``study_name`` (active readers, annotators, coordinators), for a
    picker. Deactivated participants and model readers are not listed."""
    with ctx.uow() as uow:
        study = uow.studies.by_name(study_name)
        out = []
        for r in uow.readers.list(study.id):
            if r.role in SIGN_IN_ROLES and r.active:
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
        if not person.active:
            raise AuthenticationError(f"{name!r} is deactivated in this study and cannot sign in; "
                                      "ask the coordinator to reactivate the account.")
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
        must_change = uow.readers.account(person.id)[1]
        uow.audit.append(name, "auth.sign_in", "reader", person.id, {"role": str(person.role)})
        uow.commit()
        log.info("%s signed in to %s as %s", name, study.name, person.role)
        return UserSession(study.id, study.name, person.id, person.name, person.role, person.seniority,
                           must_change_pin=must_change)


def sign_out(ctx: AppContext, session: UserSession) -> None:
    """Record that ``session`` ended (shared workstations: who was signed in when is in the audit)."""
    with ctx.uow() as uow:
        uow.audit.append(session.name, "auth.sign_out", "reader", session.participant_id,
                         {"role": str(session.role)})
        uow.commit()
    log.info("%s signed out of %s", session.name, session.study_name)


def system_session(ctx: AppContext, study_name: str, actor: str = "cli") -> UserSession:
    """A coordinator session of one study for command-line tools run by whoever holds the database file.

    The rule (see :func:`local_session`): PIN-less coordinator sessions exist only for the CLI's
    own local use; services and the GUI never create one (``tests/services/test_roles.py`` checks).
    """
    with ctx.uow() as uow:
        study = uow.studies.by_name(study_name)
    return UserSession(study.id, study.name, f"system:{actor}", actor, Role.COORDINATOR)


def local_session(actor: str = "cli") -> UserSession:
    """A database-wide coordinator session for the command line's own local use.

    The rule: a coordinator session without a PIN exists only for the CLI run by whoever holds
    the database file (a PIN would protect nothing from them); every action is audited under
    ``actor``. The GUI and every other service call need a signed-in session.
    """
    return UserSession("", "", f"system:{actor}", actor, Role.COORDINATOR)


def is_local_session(session: UserSession) -> bool:
    """True for the CLI's own local session (:func:`local_session`): every study, no PIN."""
    return isinstance(session, UserSession) and session.study_id == "" and session.participant_id.startswith("system:")


def scope(ctx: AppContext, session: UserSession, study_name: str) -> UserSession:
    """``session`` for study ``study_name``: the CLI's local session (:func:`local_session`) becomes
    that study's coordinator session; any other session must already belong to it."""
    if is_local_session(session):
        require_coordinator(session, f"working on study {study_name!r}")
        with ctx.uow(read=True) as uow:
            study = uow.studies.by_name(study_name)
        return UserSession(study.id, study.name, session.participant_id, session.name, Role.COORDINATOR)
    require_study(session, study_name, f"working on study {study_name!r}", tuple(Role))
    return session


def add_participant(ctx: AppContext, coordinator: UserSession, name: str, role: Role, pin: str, *,
                    seniority: str = "") -> UserSession:
    """Coordinator use case: add a participant with a PIN; returns its (unsigned) identity.

    Kept for callers that want a :class:`UserSession`; the rules (names, PIN digits, seniority,
    audit) are those of :func:`readerstudy.services.participants.add_participant`.
    """
    from readerstudy.services import participants as people

    info = people.add_participant(ctx, coordinator, name, role, pin=pin, seniority=seniority)
    return UserSession(coordinator.study_id, coordinator.study_name, info.id, info.name, info.role, info.seniority)


def set_pin(ctx: AppContext, coordinator: UserSession, name: str, pin: str) -> None:
    """Coordinator use case: set a participant's PIN (also clears a lock); see
    :func:`readerstudy.services.participants.set_pin`."""
    from readerstudy.services import participants as people

    people.set_pin(ctx, coordinator, name, pin)
