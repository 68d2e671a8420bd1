"""Tamper evidence: every tampering of the probe in issue 12 is refused or detected and named.

Each tampering runs on a private copy of one study (sequential AI arm, predictions, an expert
mask, reads by two readers) with raw SQL or file edits behind the app's back; ``audit verify``
must then name the first bad item.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import support
from support import STUDY, copy_db, raw, recompute_chain

from readerstudy.core.errors import IntegrityFailure
from readerstudy.core.models import Role
from readerstudy.paths import store_dir_for
from readerstudy.services.annotation import open_annotation, save_annotation
from readerstudy.services.auth import UserSession, sign_in, system_session
from readerstudy.services.context import open_context
from readerstudy.services.integrity import verify
from readerstudy.services.reading import ReadingService
from readerstudy.storage.audit import row_digest


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("tamper") / "base.sqlite"
    ctx = support.build(db, n_cases=4, protocol=support.SEQUENTIAL, predictions=True)
    with ctx.uow() as uow:
        study = uow.studies.by_name(STUDY)
        uow.readers.add(study.id, "ann", Role.ANNOTATOR)
        case_id = uow.cases.list(study.id)[0].id
        uow.commit()
    with ctx.uow() as uow:
        ann = uow.readers.by_name(study.id, "ann")
    me = UserSession(study.id, study.name, ann.id, ann.name, ann.role)
    layer, _, _ = open_annotation(ctx, me, case_id)
    layer.begin_stroke()
    layer.paint((0, 40, 40), 12, label=1)
    layer.end_stroke()
    save_annotation(ctx, me, case_id, layer)
    support.read_cases(ctx, "alice")
    support.read_cases(ctx, "bob", limit=2)
    ctx.close()
    return db


def _q(db: Path, sql: str) -> list[tuple]:
    con = sqlite3.connect(db)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _verify(db: Path, heads: list[tuple[int, str]] | None = None):  # noqa: ANN202
    ctx = open_context(db, read_only=True)
    try:
        with ctx.uow() as uow:
            study_name = uow.studies.list()[0].name
        return verify(ctx, system_session(ctx, study_name), expected_heads=heads)
    finally:
        ctx.close()


def _read_id(db: Path, k: int = 0) -> str:
    return _q(db, "SELECT id FROM read ORDER BY submitted_at, id")[k][0]


def _columns(db: Path, table: str) -> list[str]:
    return [r[1] for r in _q(db, f'PRAGMA table_info("{table}")')]


def _replace_read_sql(db: Path, read_id: str, verb: str = "INSERT OR REPLACE") -> str:
    """The probe's statement: the stored read re-inserted with probability 99 over itself."""
    cols = _columns(db, "read")
    sel = ", ".join("99.0 AS probability" if c == "probability" else f'"{c}"' for c in cols)
    return f"{verb} INTO read ({', '.join(cols)}) SELECT {sel} FROM read WHERE id = '{read_id}'"


# --- tamperings: (name, do(db) -> expected (kind, item)) -------------------------------------------

def _delete_last_events(db: Path) -> tuple[str, str]:
    last = _q(db, "SELECT max(seq) FROM audit_event")[0][0]
    raw(db, f"DELETE FROM audit_event WHERE seq > {last - 3}")
    return "anchor", f"#{last}"


def _edit_read(db: Path) -> tuple[str, str]:
    rid = _read_id(db, 1)
    raw(db, f"UPDATE read SET probability = 99 WHERE id = '{rid}'")
    return "read", rid


def _delete_read(db: Path) -> tuple[str, str]:
    rid = _read_id(db, 2)
    raw(db, f"DELETE FROM read WHERE id = '{rid}'")
    return "read", rid


def _insert_read(db: Path) -> tuple[str, str]:
    cols = _columns(db, "read")
    sel = ", ".join("'forged0000000000000000000000000' AS id" if c == "id" else
                    "7 AS revision" if c == "revision" else f'"{c}"' for c in cols)
    raw(db, f"INSERT INTO read ({', '.join(cols)}) SELECT {sel} FROM read WHERE id = '{_read_id(db, 0)}'")
    return "read", "forged0000000000000000000000000"


def _replace_read_without_triggers(db: Path) -> tuple[str, str]:
    rid = _read_id(db, 3)
    raw(db, _replace_read_sql(db, rid))
    return "read", rid


def _edit_event_and_recompute(db: Path) -> tuple[str, str]:
    last = _q(db, "SELECT max(seq) FROM audit_event")[0][0]
    raw(db, "UPDATE audit_event SET actor = 'someone else' WHERE seq = 3")
    recompute_chain(db)
    return "anchor", f"#{last}"


def _delete_middle_event(db: Path) -> tuple[str, str]:
    raw(db, "DELETE FROM audit_event WHERE seq = 5")
    return "chain", "#6"


def _edit_event(db: Path) -> tuple[str, str]:
    raw(db, "UPDATE audit_event SET payload = json_set(payload, '$.forged', 1) WHERE seq = 4")
    return "chain", "#4"


def _replace_pixel_file(db: Path) -> tuple[str, str]:
    path = _q(db, "SELECT path FROM image_asset ORDER BY path")[0][0]
    f = store_dir_for(db) / path
    arr = np.load(f)
    np.save(f, np.zeros_like(arr))
    return "file", path


def _replace_mask_file(db: Path) -> tuple[str, str]:
    path = _q(db, "SELECT path FROM annotation ORDER BY path")[0][0]
    f = store_dir_for(db) / path
    f.write_bytes(f.read_bytes()[:-7] + b"\x00" * 7)
    return "file", path


def _edit_annotation_checksum(db: Path) -> tuple[str, str]:
    aid = _q(db, "SELECT id FROM annotation")[0][0]
    raw(db, f"UPDATE annotation SET checksum = '{'0' * 64}' WHERE id = '{aid}'")
    return "annotation", aid


def _edit_prediction(db: Path) -> tuple[str, str]:
    pid = _q(db, "SELECT id FROM prediction ORDER BY id")[0][0]
    raw(db, f"UPDATE prediction SET probability = 0.99 WHERE id = '{pid}'")
    return "prediction", pid


def _edit_anchor_file(db: Path) -> tuple[str, str]:
    f = db.with_name(db.name + ".audit-head.json")
    d = json.loads(f.read_text())
    d["hash"] = "f" * 64
    f.write_text(json.dumps(d))
    return "anchor", f"#{d['seq']}"


def _forged_segment(db: Path) -> tuple[str, str]:
    raw(db, "INSERT INTO audit_event (at, actor, action, entity, entity_id, payload, prev_hash, hash, chain) "
            f"VALUES ('2025-01-01 00:00:00', 'x', 'read.submit', 'read', 'r', '{{}}', '{'0' * 64}', '{'a' * 64}', "
            "'seg-forged')")
    return "chain", "segment seg-forged"


def _delete_asset_row(db: Path) -> tuple[str, str]:
    aid = _q(db, "SELECT id FROM image_asset ORDER BY path")[1][0]
    raw(db, "PRAGMA foreign_keys = OFF", f"DELETE FROM image_asset WHERE id = '{aid}'")
    return "asset", aid


TAMPERINGS: list[tuple[str, Callable[[Path], tuple[str, str]]]] = [
    ("delete the last events", _delete_last_events),
    ("edit a stored read", _edit_read),
    ("delete a stored read", _delete_read),
    ("insert a read", _insert_read),
    ("INSERT OR REPLACE a read (triggers dropped)", _replace_read_without_triggers),
    ("edit an event, then recompute the chain", _edit_event_and_recompute),
    ("delete a middle event", _delete_middle_event),
    ("edit an event", _edit_event),
    ("replace a pixel file", _replace_pixel_file),
    ("replace a mask file", _replace_mask_file),
    ("edit an annotation's checksum", _edit_annotation_checksum),
    ("edit a model prediction", _edit_prediction),
    ("edit the anchor file", _edit_anchor_file),
    ("insert a forged segment", _forged_segment),
    ("delete an image asset row", _delete_asset_row),
]


def test_untampered_study_verifies(base: Path) -> None:
    report = _verify(base)
    assert report.ok, report.problems
    assert report.counts["reads"] == 12 and report.counts["annotations"] == 1 and report.counts["predictions"] == 4
    assert report.counts["files"] == 5 and report.warnings == []


DETECTED: dict[str, bool] = {}  # tampering -> detected and named (filled by the tests below)


def _detects(base: Path, folder: Path, tamper) -> tuple[bool, list]:  # noqa: ANN001
    db = copy_db(base, folder)
    kind, item = tamper(db)
    report = _verify(db)
    return report.first is not None and (report.first.kind, report.first.item) == (kind, item), report.problems


@pytest.mark.parametrize("name,tamper", TAMPERINGS, ids=[t[0] for t in TAMPERINGS])
def test_tampering_is_detected_and_named(base: Path, tmp_path: Path, name: str, tamper) -> None:  # noqa: ANN001
    DETECTED[name] = False
    DETECTED[name], problems = _detects(base, tmp_path, tamper)
    assert DETECTED[name], f"{name}: {problems or 'not detected'}"


def test_every_tampering_of_the_table_is_detected(base: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    for i, (name, tamper) in enumerate(TAMPERINGS):
        if name not in DETECTED:
            DETECTED[name] = _detects(base, tmp_path / str(i), tamper)[0]
    with capsys.disabled():
        print(f"\ntamperings tried: {len(DETECTED)}, detected and named: {sum(DETECTED.values())}")
    assert all(DETECTED.values()), sorted(k for k, v in DETECTED.items() if not v)


def test_recomputed_chain_without_anchor_fails_against_a_head_from_a_report(base: Path, tmp_path: Path) -> None:
    db = copy_db(base, tmp_path)
    head = _verify(db).head
    db.with_name(db.name + ".audit-head.json").unlink()
    rid = _read_id(db, 0)
    raw(db, f"UPDATE read SET probability = 1 WHERE id = '{rid}'")
    ctx = open_context(db, read_only=True)  # a careful forger also rewrites the read's content hash ...
    with ctx.uow() as uow:
        forged = row_digest(uow.session, "read", rid)["sha256"]
    ctx.close()
    raw(db, f"UPDATE audit_event SET payload = json_set(payload, '$.content.sha256', '{forged}') "
            f"WHERE entity_id = '{rid}'")
    recompute_chain(db)  # ... and every hash after it
    assert _verify(db).ok  # without an anchor nothing in the file can tell
    report = _verify(db, [(head["seq"], head["hash"][:16])])
    assert not report.ok and report.first.kind == "anchor" and report.first.item == f"#{head['seq']}"
    assert any("no anchor file" in w for w in report.warnings)


@pytest.mark.parametrize("verb", ["INSERT OR REPLACE", "REPLACE"])
def test_probe_replace_statement_is_refused_with_triggers_in_place(base: Path, tmp_path: Path, verb: str) -> None:
    db = copy_db(base, tmp_path)
    rid = _read_id(db, 1)
    before = _q(db, f"SELECT probability FROM read WHERE id = '{rid}'")
    for recursive in (False, True):  # whatever the connection's pragmas
        con = sqlite3.connect(db)
        con.execute(f"PRAGMA recursive_triggers = {'ON' if recursive else 'OFF'}")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            con.execute(_replace_read_sql(db, rid, verb))
        con.close()
    assert _q(db, f"SELECT probability FROM read WHERE id = '{rid}'") == before
    assert _verify(db).ok


def test_upsert_and_replace_of_audit_events_are_refused(base: Path, tmp_path: Path) -> None:
    db = copy_db(base, tmp_path)
    cols = _columns(db, "audit_event")
    sel = ", ".join("'forger' AS actor" if c == "actor" else f'"{c}"' for c in cols)
    statements = [
        f"INSERT OR REPLACE INTO audit_event ({', '.join(cols)}) SELECT {sel} FROM audit_event WHERE seq = 2",
        f"REPLACE INTO audit_event ({', '.join(cols)}) SELECT {sel} FROM audit_event WHERE seq = 2",
        f"INSERT INTO audit_event ({', '.join(cols)}) SELECT {sel} FROM audit_event WHERE seq = 2 "
        "ON CONFLICT(seq) DO UPDATE SET actor = 'forger'",
        _replace_read_sql(db, _read_id(db), "INSERT") + " ON CONFLICT(id) DO UPDATE SET probability = 99",
    ]
    con = sqlite3.connect(db)
    for sql in statements:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            con.execute(sql)
    con.close()
    assert _q(db, "SELECT count(*) FROM audit_event WHERE actor = 'forger'") == [(0,)]


def test_replaced_pixel_file_is_never_shown_to_a_reader(base: Path, tmp_path: Path) -> None:
    db = copy_db(base, tmp_path)
    for (path,) in _q(db, "SELECT path FROM image_asset"):
        f = store_dir_for(db) / path
        np.save(f, np.full_like(np.load(f), 255))
    ctx = open_context(db)
    try:
        svc = ReadingService(ctx, sign_in(ctx, STUDY, "bob", support.PIN), prefetch=False)
        svc.open()
        with pytest.raises(IntegrityFailure, match="does not match its checksum"):
            svc.start_case()
        svc.close()
    finally:
        ctx.close()


def test_cli_audit_verify_names_the_first_bad_item_and_exits_3(base: Path, tmp_path: Path) -> None:
    db = copy_db(base, tmp_path)
    cli = [sys.executable, "-m", "readerstudy", "audit", "verify", "--db", str(db)]
    ok = subprocess.run(cli, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0 and "audit verified" in ok.stdout, ok.stderr
    kind, item = _edit_read(db)
    bad = subprocess.run(cli, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 3
    assert bad.stderr.strip().splitlines() == [f"readerstudy: error: audit verification failed: {kind} {item}: "
                                               "differs from what its audit event "
                                               f"#{_event_of(db, item)} recorded: it was edited or replaced"]


def _event_of(db: Path, read_id: str) -> int:
    return _q(db, f"SELECT seq FROM audit_event WHERE entity_id = '{read_id}'")[0][0]


def test_anchor_follows_the_chain_head(base: Path, tmp_path: Path) -> None:
    db = copy_db(base, tmp_path)
    anchor = json.loads(db.with_name(db.name + ".audit-head.json").read_text())
    assert (anchor["seq"], anchor["hash"]) == _q(db, "SELECT seq, hash FROM audit_event ORDER BY seq DESC LIMIT 1")[0]
    shutil.rmtree(store_dir_for(db) / ".staging", ignore_errors=True)


def test_head_printed_in_an_export_catches_a_rewritten_chain(base: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    from readerstudy.cli.app import main

    db = copy_db(base, tmp_path)
    out = tmp_path / "reads.csv"
    assert main(["export", "--db", str(db), "--study", STUDY, "--format", "csv", "--out", str(out)]) == 0
    head = json.loads(out.with_name("reads.csv.provenance.json").read_text())["audit_chain_head"]
    db.with_name(db.name + ".audit-head.json").unlink()  # the forger removes the anchor too ...
    last = "(SELECT max(seq) FROM audit_event)"  # ... and deletes the last read with its event
    raw(db, f"DELETE FROM read WHERE id = (SELECT entity_id FROM audit_event WHERE seq = {last})",
        f"DELETE FROM audit_event WHERE seq = {last}")
    capsys.readouterr()
    assert main(["audit", "verify", "--db", str(db)]) == 0  # nothing in the file can tell
    assert main(["audit", "verify", "--db", str(db), "--expect-head", head]) == 3
    assert "names event" in capsys.readouterr().err
