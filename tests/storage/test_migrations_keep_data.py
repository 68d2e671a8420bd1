"""Upgrading a database that holds data keeps every row: SQLite's batch migrations copy and drop
tables, and a dropped parent table deletes its children through ON DELETE CASCADE when foreign
keys are on (a read, an assignment or a prediction must never be lost to a schema upgrade)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from readerstudy.storage import migrate

T0 = "'2025-01-01 00:00:00'"
ROWS = {
    "study": f"INSERT INTO study (id, name, description, protocol, created_at) VALUES ('s1', 'Old', '', '{{}}', {T0})",
    "reader": "INSERT INTO reader (id, study_id, name, role, seniority, pin_hash, failed_attempts) "
              "VALUES ('r1', 's1', 'Dr Old', 'reader', 'senior', 'scrypt$x', 0), "
              "('m1r', 's1', 'Net', 'model', 'model', '', 0)",
    "arm": "INSERT INTO arm (id, study_id, name, shows_ai, sequential, position) VALUES ('a1', 's1', 'unaided', 0, 0, 0)",
    "case": f"INSERT INTO \"case\" (id, study_id, pseudonym, source_ref, modality, split, created_at) "
            f"VALUES ('c1', 's1', 'RS-1', 'x.png', 'US', 'test', {T0})",
    "image_asset": "INSERT INTO image_asset (id, case_id, kind, path, checksum, format, meta) "
                   "VALUES ('i1', 'c1', 'image', 'ab/cd.npy', 'abc', 'npy', '{}')",
    "assignment": f"INSERT INTO assignment (id, study_id, reader_id, arm_id, session, seed, case_ids, created_at) "
                  f"VALUES ('as1', 's1', 'r1', 'a1', 1, 7, '{{\"order\": [\"c1\"]}}', {T0})",
    "read": f"INSERT INTO read (id, assignment_id, case_id, reader_id, arm_id, session, phase, revision, probability, "
            f"binary, confidence, time_ms, active_ms, started_at, submitted_at, app_version, view_state) VALUES "
            f"('rd1', 'as1', 'c1', 'r1', 'a1', 1, 'unaided', 0, 80, 1, 4, 1000, 900, {T0}, {T0}, '0', '{{}}')",
    "model": f"INSERT INTO model (id, study_id, reader_id, name, version, checkpoint_hash, config, created_at) "
             f"VALUES ('m1', 's1', 'm1r', 'Net', '1', '', '{{}}', {T0})",
    "model_run": f"INSERT INTO model_run (id, model_id, kind, params, status, started_at) "
                 f"VALUES ('run1', 'm1', 'predict', '{{}}', 'finished', {T0})",
    "prediction": f"INSERT INTO prediction (id, run_id, model_id, case_id, probability, created_at) "
                  f"VALUES ('p1', 'run1', 'm1', 'c1', 0.7, {T0})",
    "annotation": f"INSERT INTO annotation (id, case_id, annotator_id, label_set, path, checksum, version, created_at) "
                  f"VALUES ('an1', 'c1', 'r1', '{{}}', 'm.nii.gz', 'def', 1, {T0})",
}


def _counts(db: Path) -> dict[str, int]:
    con = sqlite3.connect(db)
    try:
        return {t: con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in ROWS}
    finally:
        con.close()


def test_upgrade_to_head_and_back_keeps_every_row(tmp_path: Path) -> None:
    db = tmp_path / "old.sqlite"
    migrate.upgrade(db, "0001")
    con = sqlite3.connect(db)
    con.execute("PRAGMA foreign_keys=ON")
    for sql in ROWS.values():
        con.execute(sql)
    con.commit()
    con.close()
    before = _counts(db)
    assert before == {t: (2 if t == "reader" else 1) for t in ROWS}
    migrate.upgrade(db)  # to head, through every revision
    assert _counts(db) == before
    con = sqlite3.connect(db)
    assert con.execute("SELECT probability, run_id FROM prediction").fetchall() == [(0.7, "run1")]
    assert con.execute("SELECT probability, confidence FROM read").fetchall() == [(80.0, 4)]
    con.close()
    migrate.downgrade(db, "0001")  # and back: the same rows
    assert _counts(db) == before
