"""Turn the environment's failures (full disk, read-only file system, busy or unreachable database)
into one clear :class:`~readerstudy.core.errors.ReaderStudyError` each, and recognise the
transient ones a transaction may retry (:func:`is_transient`).

A failed transaction is rolled back and a refused import leaves its staging folder removed, so
each of these messages can truthfully say that nothing was changed.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from sqlalchemy.exc import DBAPIError

from readerstudy.core.errors import ReaderStudyError, ValidationError

READ_ONLY_COMMANDS = "report, export, protocol show, audit verify"
TRANSIENT_SQLSTATES = {"40001", "40P01", "55P03"}  # serialization failure, deadlock, lock not available


class StorageError(ValidationError):
    """The database or the pixel store could not be written or read; nothing was changed."""


def _message(exc: BaseException) -> str:
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        return str(exc.orig)
    return str(exc)


def is_transient(exc: BaseException) -> bool:
    """True for lock/busy (SQLite) and serialization/deadlock (PostgreSQL) errors worth a retry."""
    if not isinstance(exc, DBAPIError):
        return False
    text = _message(exc).lower()
    if "database is locked" in text or "database table is locked" in text or "database is busy" in text:
        return True
    return getattr(exc.orig, "sqlstate", None) in TRANSIENT_SQLSTATES


def _full(paths: tuple[str | Path, ...]) -> bool:
    """True when the file system of one of ``paths`` (or its nearest existing folder) has < 64 KiB free."""
    for p in paths:
        if not p or "://" in str(p):
            continue
        q = Path(p).expanduser()
        q = q if q.exists() else next((a for a in q.parents if a.exists()), Path("/"))
        try:
            st = os.statvfs(q)
        except OSError:
            continue
        if st.f_bavail * st.f_frsize < 64 * 1024:
            return True
    return False


def translate(exc: BaseException, paths: tuple[str | Path, ...] = ()) -> ReaderStudyError | None:
    """The one-line error for ``exc``, or None when it is not an environment failure we know.

    ``paths`` (the database, the output) tell a full disk behind SQLite's generic "disk I/O error"
    (its shared-memory file cannot grow on a full disk).
    """
    if isinstance(exc, ReaderStudyError):
        return exc
    text = _message(exc).strip().splitlines()[0] if _message(exc).strip() else type(exc).__name__
    low = text.lower()
    code = getattr(exc, "errno", None)
    if code == errno.ENOSPC or "disk is full" in low or "no space left" in low or \
            ("disk i/o error" in low and _full(paths)):
        return StorageError(f"The disk is full ({text}): nothing was saved. Free some space and try again.")
    if code == errno.EROFS or "readonly database" in low or "read-only file system" in low:
        return StorageError(f"The database or its folder is read-only ({text}): nothing was changed. "
                            f"Commands that only read ({READ_ONLY_COMMANDS}) still work.")
    if code in (errno.EACCES, errno.EPERM):
        return StorageError(f"Permission denied ({text}): nothing was changed. Check the permissions "
                            "of the database, its folder and its pixel store.")
    if "file is not a database" in low:
        return StorageError(f"The database file is not a SQLite database ({text}); give the path of a "
                            "readerstudy database (--db).")
    if "unable to open database file" in low:
        return StorageError(f"The database file cannot be opened ({text}); check that the path exists "
                            "and is a file you may read.")
    if "disk i/o error" in low:
        return StorageError(f"A disk error stopped the write ({text}): nothing was saved. Check the disk (space, "
                            "health, a removed drive) and try again.")
    if is_transient(exc):
        return StorageError("The database stayed busy (another program held its write lock too long); nothing "
                            "was changed. Try again.")
    if isinstance(exc, DBAPIError) and exc.connection_invalidated or "connection refused" in low \
            or "could not connect" in low or "server closed the connection" in low:
        return StorageError(f"Lost the connection to the database server ({text.splitlines()[0]}); "
                            "check that the server is running, then try again.")
    return None
