"""Revision 0002_participants on a database that already has participants and assignments."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from readerstudy.storage import migrate


def test_existing_participants_stay_active_through_the_upgrade_and_back(tmp_path: Path) -> None:
    db = tmp_path / "old.sqlite"
    migrate.upgrade(db, "0001")
    con = sqlite3.connect(db)
    con.execute("INSERT INTO study (id, name, description, protocol, created_at) "
                "VALUES ('s1', 'Old', '', '{}', '2025-01-01 00:00:00')")
    con.execute("INSERT INTO reader (id, study_id, name, role, seniority, pin_hash, failed_attempts) "
                "VALUES ('r1', 's1', 'Dr Old', 'reader', 'senior', 'scrypt$x', 2)")
    con.execute("INSERT INTO arm (id, study_id, name, shows_ai, sequential, position) "
                "VALUES ('a1', 's1', 'unaided', 0, 0, 0)")
    con.execute("INSERT INTO assignment (id, study_id, reader_id, arm_id, session, seed, case_ids, created_at) "
                "VALUES ('as1', 's1', 'r1', 'a1', 1, 7, '{\"order\": []}', '2025-01-01 00:00:00')")
    con.execute("INSERT INTO \"case\" (id, study_id, pseudonym, source_ref, modality, split, created_at) "
                "VALUES ('c1', 's1', 'RS-1', 'x.png', 'US', 'test', '2025-01-01 00:00:00')")
    con.execute("INSERT INTO read (id, assignment_id, case_id, reader_id, arm_id, session, phase, revision, "
                "probability, binary, confidence, time_ms, active_ms, started_at, submitted_at, app_version, "
                "view_state) VALUES ('rd1', 'as1', 'c1', 'r1', 'a1', 1, 'unaided', 0, 80, 1, 4, 1000, 900, "
                "'2025-01-01 00:00:00', '2025-01-01 00:00:01', '0', '{}')")
    con.commit()
    con.close()
    backup = migrate.upgrade(db, "0002_participants")  # this revision, whatever comes after it
    assert backup is not None and backup.name.endswith("before-0002_participants.bak")
    con = sqlite3.connect(db)
    assert con.execute("SELECT name, active, must_change_pin, failed_attempts FROM reader").fetchall() == [
        ("Dr Old", 1, 0, 2)]
    assert con.execute("SELECT reopened FROM assignment").fetchall() == [(None,)]  # assignments survive
    assert con.execute("SELECT id, reader_id FROM read").fetchall() == [("rd1", "r1")]  # and reads
    con.close()
    migrate.downgrade(db, "0001")
    con = sqlite3.connect(db)
    cols = [r[1] for r in con.execute("PRAGMA table_info(reader)")]
    assert "active" not in cols and con.execute("SELECT name FROM reader").fetchall() == [("Dr Old",)]
    assert con.execute("SELECT count(*) FROM assignment").fetchone() == (1,)
    con.close()
