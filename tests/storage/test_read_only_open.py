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


def test_probing_a_database_this_process_has_open_keeps_its_locks(tmp_path: Path) -> None:
    """After ``probe``, another process closing its connection must not delete the WAL this
    process is using (Python's ``open``/``close`` of the file dropped this process's POSIX locks:
    the other process then deleted ``-wal`` and ``-shm``, and this process's next commit went
    into an unlinked file and was lost)."""
    import subprocess
    import sys

    path = _wal_db(tmp_path / "study.sqlite")
    mine = sqlite3.connect(path)
    mine.execute("SELECT count(*) FROM t").fetchone()
    db.probe(path, must_exist=True)
    db.probe(path, must_exist=True, writable=True)
    other = f"import sqlite3; c = sqlite3.connect({str(path)!r}); c.execute('SELECT count(*) FROM t').fetchone(); c.close()"
    subprocess.run([sys.executable, "-c", other], check=True)
    assert db.sidecars(path) == {"-wal", "-shm"}
    mine.execute("INSERT INTO t VALUES (3)")
    mine.commit()
    fresh = sqlite3.connect(path)
    assert fresh.execute("SELECT count(*) FROM t").fetchone() == (2,)
    fresh.close()
    mine.close()


def test_probe_still_names_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.sqlite"
    bogus.write_bytes(b"%PDF-1.7 not a database at all, long enough to have a header" * 4)
    with pytest.raises(ValidationError, match="is not a SQLite database .SQLite: file is not a database"):
        db.probe(bogus, must_exist=True)
    assert db.sidecars(bogus) == set()
