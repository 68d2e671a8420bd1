"""Schema migrations: back up, then upgrade to head; refuse databases from a newer version.

Alembic runs the migrations, and is imported only when a database has to change. Every open of a
database only asks which revision it is at and whether this version knows it: that reads
``alembic_version`` and the ``revision`` / ``down_revision`` lines of ``migrations/versions/*.py``
(:func:`known_revisions`), without Alembic's import and script parsing (about 0.3 s of every
start-up and every ``report``). ``tests/storage/test_migrations.py`` checks that this agrees with
Alembic's own ``ScriptDirectory``.
"""

from __future__ import annotations

import functools
import re
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, event, inspect, text
from sqlalchemy.exc import DBAPIError

from readerstudy.core.errors import SchemaError
from readerstudy.paths import migrations_dir
from readerstudy.storage.db import make_engine, sqlite_path, to_url

if TYPE_CHECKING:
    from alembic.config import Config

_REVISION = re.compile(r"""^revision\s*(?::[^=]+)?=\s*["']([^"']+)["']""", re.M)
_DOWN = re.compile(r"""^down_revision\s*(?::[^=]+)?=\s*(None|["']([^"']+)["'])""", re.M)


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    cfg = Config(str(migrations_dir() / "alembic.ini"))
    cfg.set_main_option("script_location", str(migrations_dir()))
    cfg.set_main_option("version_locations", str(migrations_dir() / "versions"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def _migration_engine(url: str) -> Engine:
    """The engine migrations run on. On SQLite, foreign keys are OFF while migrating: batch
    migrations copy a table and drop the old one, and with foreign keys ON that drop deletes
    every child row through ON DELETE CASCADE (e.g. all predictions of a ``model_run`` rebuild).
    The Alembic documentation's advice for batch mode; integrity is checked afterwards."""
    engine = make_engine(url)
    if sqlite_path(url) is not None or url.startswith("sqlite"):
        @event.listens_for(engine, "connect")
        def _foreign_keys_off(dbapi_conn, _record) -> None:  # noqa: ANN001 - DB-API connection
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=OFF")
            cur.close()
    return engine


def _check_foreign_keys(conn) -> None:  # noqa: ANN001 - a SQLAlchemy Connection
    if conn.dialect.name != "sqlite":
        return
    bad = conn.execute(text("PRAGMA foreign_key_check")).fetchall()
    if bad:
        table, rowid, parent = bad[0][0], bad[0][1], bad[0][2]
        raise SchemaError(f"The migration left {len(bad)} row(s) pointing at missing rows (first: {table} "
                          f"row {rowid} -> {parent}); nothing was changed. Report this with the database.")


@functools.lru_cache(maxsize=1)
def known_revisions() -> dict[str, str | None]:
    """Every revision of ``migrations/versions`` -> the revision it revises (None for the first).

    Read from each script's ``revision = "..."`` and ``down_revision = "..."`` lines (one parent
    each: this project's history is linear). Raises :class:`SchemaError` if a script lacks them.
    """
    out: dict[str, str | None] = {}
    for script in sorted((migrations_dir() / "versions").glob("*.py")):
        if script.name.startswith("__"):
            continue
        source = script.read_text(encoding="utf-8")
        rev, down = _REVISION.search(source), _DOWN.search(source)
        if rev is None or down is None:
            raise SchemaError(f"{script.name}: no 'revision = ...' and 'down_revision = ...' lines; the "
                              "installation is damaged (reinstall readerstudy).")
        out[rev.group(1)] = down.group(2)
    return out


def head_revision() -> str:
    """The newest revision: the one no other revision revises."""
    revisions = known_revisions()
    heads = set(revisions) - {d for d in revisions.values() if d is not None}
    assert len(heads) == 1, f"migrations/versions must have one head, not {sorted(heads)}"
    return heads.pop()


def current_revision(engine: Engine) -> str | None:
    """The database's revision (``alembic_version.version_num``), or None for a database without one."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        try:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except DBAPIError:  # the table is there but unreadable: not a database we wrote
            return None


def check_not_newer(engine: Engine) -> str | None:
    """Return the current revision; raise :class:`SchemaError` when this version does not know it."""
    rev = current_revision(engine)
    if rev is not None and rev not in known_revisions():
        raise SchemaError(
            f"This database has schema revision {rev!r}, which this readerstudy "
            f"(schema head {head_revision()!r}) does not know: it was written by a newer version. "
            "Install the newer readerstudy to open it; nothing was changed."
        )
    return rev


def backup_sqlite(path: Path, suffix: str | None = None) -> Path:
    """Copy a SQLite file consistently (online backup API, WAL-safe) next to it; return the copy."""
    stamp = suffix or datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    dest = path.with_name(f"{path.name}.{stamp}.bak")
    src = sqlite3.connect(path)
    try:
        dst = sqlite3.connect(dest)
        with dst:
            src.backup(dst)
        dst.close()
    finally:
        src.close()
    return dest


def upgrade(db: str | Path, revision: str = "head", *, backup: bool = True) -> Path | None:
    """Upgrade ``db`` to ``revision``. Backs a non-empty SQLite file up first; returns the backup path.

    Raises :class:`SchemaError` (and changes nothing) for a database from a newer version.
    """
    url = to_url(db)
    engine = _migration_engine(url)
    try:
        rev = check_not_newer(engine)
        target = head_revision() if revision == "head" else revision
        if rev == target:
            return None
        path = sqlite_path(url)
        copy = None
        has_tables = bool(inspect(engine).get_table_names())
        if backup and path is not None and path.exists() and has_tables:
            copy = backup_sqlite(path, suffix=f"before-{target}")
        from alembic import command

        with engine.begin() as conn:
            cfg = alembic_config(url)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
            _check_foreign_keys(conn)
        return copy
    finally:
        engine.dispose()


def downgrade(db: str | Path, revision: str) -> None:
    url = to_url(db)
    engine = _migration_engine(url)
    try:
        from alembic import command

        with engine.begin() as conn:
            cfg = alembic_config(url)
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, revision)
            _check_foreign_keys(conn)
    finally:
        engine.dispose()


