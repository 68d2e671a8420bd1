"""Revision 0008_label_sets: a new table, one label set per study; downgrade drops only it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from readerstudy.storage import migrate


def _q(db: Path, sql: str) -> list[tuple]:
    con = sqlite3.connect(db)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_label_set_table_up_and_down(tmp_path: Path) -> None:
    db = tmp_path / "old.sqlite"
    migrate.upgrade(db, "0007_read_answers")
    con = sqlite3.connect(db)
    con.execute("INSERT INTO study (id, name, description, protocol, created_at) "
                "VALUES ('s1', 'Old', '', '{}', '2025-01-01 00:00:00')")
    con.commit()
    con.close()
    backup = migrate.upgrade(db, "0008_label_sets")
    assert backup is not None and backup.name.endswith("before-0008_label_sets.bak")
    con = sqlite3.connect(db)
    con.execute("PRAGMA foreign_keys = ON")
    con.execute("INSERT INTO label_set (id, study_id, name, labels, updated_at) "
                "VALUES ('l1', 's1', 'tumour', '{\"name\": \"tumour\", \"labels\": []}', '2025-01-01 00:00:00')")
    with pytest.raises(sqlite3.IntegrityError):  # one per study
        con.execute("INSERT INTO label_set (id, study_id, name, labels, updated_at) "
                    "VALUES ('l2', 's1', 'x', '{}', '2025-01-01 00:00:00')")
    con.commit()
    con.close()
    assert _q(db, "SELECT study_id, name FROM label_set") == [("s1", "tumour")]
    migrate.downgrade(db, "0007_read_answers")
    tables = {r[0] for r in _q(db, "SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "label_set" not in tables and _q(db, "SELECT id FROM study") == [("s1",)]
