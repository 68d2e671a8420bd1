"""Revision 0007_read_answers on a database that already holds reads: every read kept, triggers kept."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from readerstudy.storage import migrate

T0 = "'2025-01-01 00:00:00'"
SETUP = (
    f"INSERT INTO study (id, name, description, protocol, created_at) VALUES ('s1', 'Old', '', '{{}}', {T0})",
    "INSERT INTO reader (id, study_id, name, role, seniority, pin_hash, failed_attempts) "
    "VALUES ('r1', 's1', 'Dr Old', 'reader', 'senior', 'scrypt$x', 0)",
    "INSERT INTO arm (id, study_id, name, shows_ai, sequential, position) VALUES ('a1', 's1', 'unaided', 0, 0, 0)",
    f"INSERT INTO \"case\" (id, study_id, pseudonym, source_ref, modality, split, created_at) "
    f"VALUES ('c1', 's1', 'RS-1', 'x.png', 'US', 'test', {T0})",
    f"INSERT INTO assignment (id, study_id, reader_id, arm_id, session, seed, case_ids, created_at) "
    f"VALUES ('as1', 's1', 'r1', 'a1', 1, 7, '{{\"order\": [\"c1\"]}}', {T0})",
    f"INSERT INTO read (id, assignment_id, case_id, reader_id, arm_id, session, phase, revision, probability, "
    f"binary, confidence, time_ms, active_ms, started_at, submitted_at, app_version, view_state) VALUES "
    f"('rd1', 'as1', 'c1', 'r1', 'a1', 1, 'unaided', 0, 80, 1, 4, 1000, 900, {T0}, {T0}, '0', '{{}}')",
)


def _q(db: Path, sql: str) -> list[tuple]:
    con = sqlite3.connect(db)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_reads_survive_the_upgrade_with_no_answers_and_stay_append_only(tmp_path: Path) -> None:
    db = tmp_path / "old.sqlite"
    migrate.upgrade(db, "0006_audit")
    con = sqlite3.connect(db)
    for sql in SETUP:
        con.execute(sql)
    con.commit()
    con.close()
    backup = migrate.upgrade(db, "0007_read_answers")
    assert backup is not None and backup.name.endswith("before-0007_read_answers.bak")
    assert _q(db, "SELECT id, probability, binary, confidence, answers FROM read") == [("rd1", 80.0, 1, 4, None)]
    triggers = {r[0] for r in _q(db, "SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    assert {"read_no_update", "read_no_delete", "read_no_replace"} <= triggers
    con = sqlite3.connect(db)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        con.execute("UPDATE read SET answers = '{\"schema\": 1, \"values\": {\"birads\": \"2\"}}'")
    con.close()
    migrate.downgrade(db, "0006_audit")
    cols = [r[1] for r in _q(db, "PRAGMA table_info(read)")]
    assert "answers" not in cols and _q(db, "SELECT id, probability FROM read") == [("rd1", 80.0)]
