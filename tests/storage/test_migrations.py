"""Alembic migrations agree with the models; upgrade/downgrade round trip; newer schemas refused."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from readerstudy.core.errors import SchemaError
from readerstudy.storage import migrate
from readerstudy.storage.db import make_engine
from readerstudy.storage.models import Base


def _diff(url: str) -> list:
    engine = make_engine(url)
    with engine.connect() as conn:
        mc = MigrationContext.configure(conn, opts={"compare_type": True, "render_as_batch": True})
        diff = compare_metadata(mc, Base.metadata)
    engine.dispose()
    return diff


def test_revisions_read_without_alembic_agree_with_alembics_script_directory() -> None:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(migrate.alembic_config("sqlite://"))
    alembic = {r.revision: r.down_revision for r in script.walk_revisions()}
    assert migrate.known_revisions() == alembic
    assert migrate.head_revision() == script.get_current_head()


def test_opening_a_database_at_head_does_not_import_alembic(tmp_path: Path) -> None:
    import subprocess
    import sys

    db = tmp_path / "h.sqlite"
    migrate.upgrade(db)
    code = ("import sys\nfrom readerstudy.services.context import open_context\n"
            f"ctx = open_context({str(db)!r})\nctx.close()\n"
            f"ctx = open_context({str(db)!r}, read_only=True)\nctx.close()\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'alembic'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_empty_db_upgrades_to_head_and_matches_models(tmp_path: Path) -> None:
    db = tmp_path / "a.sqlite"
    assert migrate.upgrade(db) is None  # nothing to back up for a new file
    assert _diff(f"sqlite:///{db}") == []
    engine = make_engine(db)
    assert migrate.current_revision(engine) == migrate.head_revision()
    assert set(inspect(engine).get_table_names()) >= {"study", "case", "read", "audit_event", "phi_mapping"}
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 10000
    engine.dispose()


def test_downgrade_upgrade_round_trip(tmp_path: Path) -> None:
    db = tmp_path / "b.sqlite"
    migrate.upgrade(db)
    migrate.downgrade(db, "base")
    engine = make_engine(db)
    assert set(inspect(engine).get_table_names()) == {"alembic_version"}
    engine.dispose()
    migrate.upgrade(db)
    assert _diff(f"sqlite:///{db}") == []


def test_newer_schema_is_refused_and_untouched(tmp_path: Path) -> None:
    db = tmp_path / "c.sqlite"
    migrate.upgrade(db)
    con = sqlite3.connect(db)
    con.execute("UPDATE alembic_version SET version_num='9999_from_the_future'")
    con.commit()
    con.close()
    before = db.read_bytes()
    with pytest.raises(SchemaError, match="newer version"):
        migrate.upgrade(db)
    assert db.read_bytes() == before
    assert not list(tmp_path.glob("*.bak"))


def test_upgrade_backs_up_an_older_database_first(tmp_path: Path) -> None:
    db = tmp_path / "d.sqlite"
    migrate.upgrade(db)
    migrate.downgrade(db, "base")  # an existing database at an older revision
    backup = migrate.upgrade(db)
    assert backup is not None and backup.exists()
    assert backup.name == f"d.sqlite.before-{migrate.head_revision()}.bak"
    con = sqlite3.connect(backup)
    assert con.execute("SELECT count(*) FROM alembic_version").fetchone() == (0,)  # the pre-upgrade state
    con.close()


@pytest.mark.postgres
def test_postgres_upgrade_matches_models(postgres_url: str) -> None:
    migrate.upgrade(postgres_url)
    assert _diff(postgres_url) == []
    migrate.downgrade(postgres_url, "base")
    migrate.upgrade(postgres_url)
    assert _diff(postgres_url) == []
