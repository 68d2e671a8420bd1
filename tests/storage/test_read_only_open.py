"""Read-only opens of a live SQLite database (report, export, backup while readers write).

A failed ``mode=ro`` open in a writable folder is transient (a writer is checkpointing, recovering
or removing the WAL at that moment). It must be retried, never answered with ``immutable=1``:
an immutable connection reads pages that writers are changing, and the backup taken with it
failed with "database disk image is malformed" while six readers submitted.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from readerstudy.core.errors import ValidationError
from readerstudy.storage import db


def _wal_db(path: Path) -> Path:
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("CREATE TABLE t (x INTEGER)")
    con.execute("INSERT INTO t VALUES (1)")
    con.commit()
    con.close()
    return path


def _failing_first(monkeypatch: pytest.MonkeyPatch, failures: int) -> list[str]:
    """``_ro_engine`` whose first ``failures`` engines cannot connect; returns the flags asked for."""
    real = db._ro_engine
    asked: list[str] = []

    def ro_engine(path: Path, flags: str):  # noqa: ANN202
        asked.append(flags)
        if len(asked) <= failures:
            return real(path.with_name("gone") / "missing.sqlite", flags)  # "unable to open database file"
        return real(path, flags)

    monkeypatch.setattr(db, "_ro_engine", ro_engine)
    return asked


def test_a_transient_failure_on_a_writable_folder_is_retried_read_only_never_immutable(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _wal_db(tmp_path / "study.sqlite")
    asked = _failing_first(monkeypatch, failures=2)
    engine = db.make_engine(path, read_only=True)
    try:
        assert asked == ["mode=ro"] * 3
        assert "mode=ro" in str(engine.url) and "immutable" not in str(engine.url)
        # it sees a writer's later commit (an immutable connection would not)
        w = sqlite3.connect(path)
        w.execute("INSERT INTO t VALUES (2)")
        w.commit()
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 2
        w.close()
    finally:
        engine.dispose()


def test_a_lasting_failure_on_a_writable_folder_says_what_sqlite_said(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _wal_db(tmp_path / "study.sqlite")
    monkeypatch.setattr(db, "RO_OPEN_ATTEMPTS", 3)
    asked = _failing_first(monkeypatch, failures=10)
    with pytest.raises(ValidationError) as err:
        db.make_engine(path, read_only=True)
    assert asked == ["mode=ro"] * 3
    message = str(err.value)
    assert "unable to open database file" in message and "try again" in message
    assert "not writable" not in message and "read-only" not in message
