"""Database engines: SQLite (default, one file) or PostgreSQL (by URL).

Writable SQLite engines get WAL, ``foreign_keys=ON``, ``recursive_triggers=ON`` and a busy
timeout in a connect listener, and every transaction starts with ``BEGIN IMMEDIATE``: the write
lock is taken before the first read, so "read the audit chain's tip, then append" cannot
interleave with another process (pysqlite's own deferred ``BEGIN`` is switched off, as the
SQLAlchemy SQLite dialect documentation recommends). A unit of work that only reads can ask for a
deferred ``BEGIN`` with the execution option ``readerstudy_read=True``
(:data:`READ_OPTION`).

Read-only engines (``read_only=True``, for ``report``, ``export``, ``protocol show``, ``audit
verify``) open the file with ``mode=ro`` and ``query_only``; on a read-only file system, where
SQLite cannot create the ``-shm`` file of a WAL database, they fall back to ``immutable=1``
(safe only when no ``-wal`` content is pending, which is checked, and nobody can write there).
In a writable folder a failed open is transient (writers are checkpointing or recovering the WAL)
and is retried, never answered with ``immutable=1``, which would read pages while a writer changes
them. Neither creates a file or a folder.

:func:`probe` checks ``--db`` before anything else touches it and raises one clear
:class:`~readerstudy.core.errors.ValidationError` for a folder, a file that is not SQLite or an
unreachable server.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from readerstudy.core.errors import NotFoundError, ValidationError

BUSY_TIMEOUT_MS = 10_000
RO_OPEN_ATTEMPTS = 20  # read-only opens of a live database, 0.05 s more back-off each (about 10 s)
READ_OPTION = "readerstudy_read"


def to_url(db: str | Path) -> str:
    """A SQLAlchemy URL from ``--db``: a URL is kept, anything else is a SQLite file path."""
    text_ = str(db)
    if "://" in text_:
        return text_
    return f"sqlite:///{Path(text_).expanduser().resolve()}"


def sqlite_path(url: str) -> Path | None:
    """The file behind a SQLite URL, or None for other back-ends and in-memory databases."""
    u = make_url(url)
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:":
        return None
    db = u.database
    if db.startswith("file:"):
        db = db[5:].split("?", 1)[0]
    return Path(db)


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # noqa: ANN001 - DB-API connection
    dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (see _begin)
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA recursive_triggers=ON")  # REPLACE's implicit delete fires DELETE triggers
    cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _sqlite_read_pragmas(dbapi_conn, _record) -> None:  # noqa: ANN001
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA query_only=ON")
    cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cur.close()


def _begin(conn) -> None:  # noqa: ANN001 - sqlalchemy Connection
    read = conn.get_execution_options().get(READ_OPTION, False)
    conn.exec_driver_sql("BEGIN" if read else "BEGIN IMMEDIATE")


def _begin_deferred(conn) -> None:  # noqa: ANN001
    conn.exec_driver_sql("BEGIN")


def make_engine(db: str | Path, *, read_only: bool = False, create: bool = True) -> Engine:
    """Create an engine for ``db`` (path or URL).

    Parameters
    ----------
    db : a SQLite file path or a SQLAlchemy URL.
    read_only : open the SQLite file read-only (never written, never created); for PostgreSQL
        every transaction is ``READ ONLY``.
    create : for a writable SQLite file, create the missing parent folders.
    """
    url = to_url(db)
    path = sqlite_path(url)
    if path is None:
        if read_only:
            return create_engine(url, pool_pre_ping=True,
                                 execution_options={"postgresql_readonly": True})
        return create_engine(url, pool_pre_ping=True)
    if read_only:
        return _read_only_sqlite(path)
    if create:
        path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})
    event.listen(engine, "connect", _sqlite_pragmas)
    event.listen(engine, "begin", _begin)
    return engine


def _ro_engine(path: Path, flags: str) -> Engine:
    url = f"sqlite:///file:{quote(str(path))}?{flags}&uri=true"
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})
    event.listen(engine, "connect", _sqlite_read_pragmas)
    event.listen(engine, "begin", _begin_deferred)
    return engine


def _read_only_sqlite(path: Path) -> Engine:
    if not path.exists():
        raise NotFoundError(f"{path}: no such database; nothing was created. Give the path of an existing "
                            "readerstudy database (--db).")
    error: DBAPIError | None = None
    for attempt in range(RO_OPEN_ATTEMPTS):
        engine = _ro_engine(path, "mode=ro")
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT count(*) FROM sqlite_master")).scalar()
            return engine
        except DBAPIError as exc:
            engine.dispose()
            error = exc
        if read_only_folder(path):
            break
        # a live database in a writable folder: the failure is transient (writers checkpointing,
        # recovering or removing the WAL while we open); never fall back to immutable=1 there,
        # which would read pages a writer is changing ("database disk image is malformed")
        time.sleep(0.05 * (attempt + 1))
    if not read_only_folder(path):
        raise ValidationError(f"{path}: cannot be opened for reading ({_reason(error)}); nothing was changed. "
                              "If another program is writing it, try again in a moment.")
    # a WAL database on a read-only folder: SQLite cannot create <db>-shm; immutable is safe only
    # when no committed transaction waits in <db>-wal (and nobody can write on a read-only folder)
    wal = path.with_name(path.name + "-wal")
    if wal.exists() and wal.stat().st_size > 0:
        raise ValidationError(f"{path}: cannot open read-only: its folder is not writable and {wal.name} holds "
                              "transactions not yet in the main file. Open it once where it is writable "
                              "(or copy the folder elsewhere), then try again.")
    return _ro_engine(path, "immutable=1")


def _reason(error: DBAPIError | None) -> str:
    orig = getattr(error, "orig", None)
    return str(orig or error or "unknown error")


def sidecars(path: Path) -> set[str]:
    """Which of SQLite's ``-wal`` / ``-shm`` files exist next to ``path`` now."""
    return {s for s in ("-wal", "-shm") if path.with_name(path.name + s).exists()}


def tidy_sidecars(path: Path, existed: set[str]) -> None:
    """After a read-only use: let SQLite remove the ``-wal``/``-shm`` files that use created.

    A read-only connection cannot delete them; a plain connection that is the database's last
    one checkpoints an (empty) WAL and removes both on close, exactly as a writer's clean close
    does. When another process has the database open nothing is removed. Never raises.
    """
    if existed >= {"-wal", "-shm"} or not sidecars(path) - existed:
        return
    try:
        con = sqlite3.connect(path, timeout=0.5)
        try:
            con.execute("SELECT count(*) FROM sqlite_master").fetchone()
        finally:
            con.close()
    except sqlite3.Error:
        pass


def read_only_folder(path: Path) -> bool:
    """True when ``path`` (or, if absent, its nearest existing folder) cannot be written."""
    p = path if path.exists() else next((q for q in path.parents if q.exists()), Path("/"))
    try:
        if os.statvfs(p).f_flag & os.ST_RDONLY:
            return True
    except OSError:
        return False
    folder = p if p.is_dir() else p.parent
    return not os.access(folder, os.W_OK) or (p.is_file() and not os.access(p, os.W_OK))


def probe(db: str | Path, *, must_exist: bool, writable: bool = False) -> None:
    """Check ``db`` before it is opened; raise one clear error, change nothing.

    Raises
    ------
    ValidationError
        ``db`` is a folder, a file that is not a SQLite database, or a server that cannot be reached.
    NotFoundError
        ``must_exist`` and the SQLite file does not exist.
    """
    url = to_url(db)
    path = sqlite_path(url)
    if path is None:
        _probe_server(url)
        return
    if path.is_dir():
        raise ValidationError(f"{path}: is a folder, not a database file; give the path of a .sqlite file (--db).")
    if not path.exists():
        if writable and read_only_folder(path):
            raise ValidationError(f"{path}: its folder is read-only; a database cannot be created there.")
        if must_exist:
            raise NotFoundError(f"{path}: no such database; nothing was created. Give the path of an existing "
                                "readerstudy database (--db).")
        return
    if writable and read_only_folder(path):
        raise ValidationError(f"{path}: the database or its folder is read-only, so nothing can be changed there. "
                              "Commands that only read (report, export, protocol show, audit verify) still work.")
    if not os.access(path, os.R_OK):
        raise ValidationError(f"{path}: cannot be read (permission denied); check the file's permissions.")
    reason = _not_sqlite(path)
    if reason is not None:
        raise ValidationError(f"{path}: is not a SQLite database (SQLite: {reason}); give the path of a "
                              "readerstudy database (--db).")


def _not_sqlite(path: Path) -> str | None:
    """SQLite's reason when ``path`` is not a SQLite database, else None (other errors: None).

    Asked through SQLite, never with Python's file I/O: closing *any* descriptor of a database file
    releases every POSIX lock this process holds on it (https://sqlite.org/howtocorrupt.html,
    section 2.2). A process with a connection open would then look absent to the others: the
    last of them to close deletes the WAL this process still writes into, and its later commits
    are lost. SQLite's own VFS keeps such descriptors open until the process's locks are gone.
    """
    existed = sidecars(path)
    try:
        con = sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
    except sqlite3.Error:
        return None
    try:
        con.execute("PRAGMA schema_version").fetchone()
    except sqlite3.DatabaseError as exc:
        if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_NOTADB:
            return str(exc)
    finally:
        con.close()
        tidy_sidecars(path, existed)
    return None


def _probe_server(url: str) -> None:
    try:
        u = make_url(url)
        args = {"connect_timeout": 5} if u.get_backend_name() == "postgresql" else {}
        engine = create_engine(url, connect_args=args)
    except ArgumentError as exc:
        raise ValidationError(f"--db {url!r} is not a database URL ({exc}); give a SQLite path or a URL such as "
                              "postgresql+psycopg://user@host/db.") from None
    except ImportError as exc:
        raise ValidationError(f"The driver for {url.split('://')[0]} is not installed ({exc}); for PostgreSQL "
                              "install readerstudy[postgres].") from None
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except DBAPIError as exc:
        first = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc)
        where = f"{u.host or 'localhost'}:{u.port or 5432}/{u.database or ''}"
        raise ValidationError(f"Cannot connect to the database server at {where} ({first}); check the URL and "
                              "that the server is running.") from None
    finally:
        engine.dispose()


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)
