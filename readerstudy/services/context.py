"""The application context: one database (upgraded to head) and its pixel store.

``open_context(db)`` opens for writing: it checks ``--db`` first (a folder, a file that is not a
database or an unreachable server give one clear error and change nothing), backs the file up
and upgrades it to the newest schema. ``open_context(db, read_only=True)`` is for commands that
only read (``report``, ``export``, ``protocol show``, ``audit verify``): the database is opened
read-only, never created, never migrated, and works on a read-only file system.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from readerstudy.core.errors import SchemaError, ValidationError
from readerstudy.paths import default_db_path, store_dir_for, user_data_dir
from readerstudy.storage.anchor import AuditAnchor, anchor_path_for
from readerstudy.storage.db import make_engine, probe, sidecars, sqlite_path, tidy_sidecars, to_url
from readerstudy.storage.migrate import check_not_newer, head_revision, upgrade
from readerstudy.storage.store import PixelStore
from readerstudy.storage.uow import UnitOfWork

STORE_ENV = "READERSTUDY_STORE"


@dataclass
class AppContext:
    url: str
    engine: Engine
    store: PixelStore
    backup: Path | None = None
    anchor: AuditAnchor | None = None
    read_only: bool = False
    sidecars_before: set[str] | None = None  # read-only SQLite: SQLite's -wal/-shm files before opening

    @property
    def db_path(self) -> Path | None:
        """The SQLite file, or None for a server database."""
        return sqlite_path(self.url)

    def uow(self, *, read: bool = False) -> UnitOfWork:
        """A unit of work; ``read=True`` when it only reads (no write lock on SQLite)."""
        anchor = None if self.read_only else self.anchor
        return UnitOfWork(self.engine, anchor=anchor, read=read or self.read_only)

    def close(self) -> None:
        self.engine.dispose()
        if self.read_only and self.sidecars_before is not None and self.db_path is not None:
            tidy_sidecars(self.db_path, self.sidecars_before)


def resolve_db(db: str | os.PathLike[str] | None) -> str:
    """The SQLAlchemy URL of ``--db`` (a URL, a path, ``$READERSTUDY_DB`` or the default file)."""
    target = str(db) if db and "://" in str(db) else default_db_path(db)
    return to_url(target)


def _store_root(path: Path | None) -> Path:
    if os.environ.get(STORE_ENV):
        return Path(os.environ[STORE_ENV])
    if path is not None:
        return store_dir_for(path)
    return user_data_dir() / "store"


def open_context(db: str | os.PathLike[str] | None = None, *, migrate: bool = True,
                 read_only: bool = False) -> AppContext:
    """Open the database given by ``--db``/env/default.

    Parameters
    ----------
    migrate : back up and upgrade to head first (writable contexts only).
    read_only : open read-only; the database must exist at this version's schema.

    Raises
    ------
    ValidationError
        ``db`` is a folder, not a SQLite file, an unreachable server, or (read-only) at an older
        schema revision.
    NotFoundError
        read-only and there is no such database (nothing is created).
    SchemaError
        the database was written by a newer readerstudy.
    """
    url = resolve_db(db)
    probe(url, must_exist=read_only, writable=not read_only)
    path = sqlite_path(url)
    store_root = _store_root(path)
    anchor = AuditAnchor(anchor_path_for(path, store_root))
    if read_only:
        before = sidecars(path) if path is not None else None
        engine = make_engine(url, read_only=True)
        try:
            _check_current(engine, url)
        except BaseException:
            engine.dispose()
            if path is not None and before is not None:
                tidy_sidecars(path, before)
            raise
        return AppContext(url=url, engine=engine, store=PixelStore(store_root), anchor=anchor, read_only=True,
                          sidecars_before=before)
    backup = upgrade(url) if migrate else None
    store_root.mkdir(parents=True, exist_ok=True)
    return AppContext(url=url, engine=make_engine(url), store=PixelStore(store_root), backup=backup, anchor=anchor)


def _check_current(engine: Engine, url: str) -> None:
    rev = check_not_newer(engine)
    where = sqlite_path(url) or url
    if rev is None:
        raise ValidationError(f"{where}: is not a readerstudy database (no schema); give the path of a study "
                              "database (--db).")
    if rev != head_revision():
        raise SchemaError(f"{where}: schema revision {rev!r} is older than this readerstudy's "
                          f"{head_revision()!r}; run `readerstudy db upgrade --db {where}` first (it backs the "
                          "file up), then try again.")
