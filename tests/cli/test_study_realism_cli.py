"""`readerstudy study realism`: builds the realism study, applies its protocol, prints what it built."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from readerstudy.cli.app import main

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "services"))
from realism_support import REALISM, SOURCE, source_study  # noqa: E402


def test_study_realism_builds_applies_and_reports(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from readerstudy.services.assignments import study_protocol

    source_study(tmp_path / "r.db", n_cases=2).close()
    db = str(tmp_path / "r.db")
    assert main(["study", "realism", "--db", db, "--source", SOURCE, "--name", REALISM]) == 0
    out = capsys.readouterr().out
    assert f"Realism study {REALISM!r}: 6 images of 32 x 32 px (4 synthetic, 2 real) from {SOURCE!r}" in out
    assert "Protocol applied (realism.toml)" in out
    assert main(["simulate-readers", "--db", db, "--study", REALISM, "--readers", "2"]) == 0
    assert "12 read(s); 2 simulated reader(s) finished" in capsys.readouterr().out
    from readerstudy.services.context import open_context

    ctx = open_context(db)
    try:
        with ctx.uow(read=True) as uow:
            proto = study_protocol(uow, uow.studies.by_name(REALISM).id)
    finally:
        ctx.close()
    assert proto is not None and proto.form.positive == "Synthetic" and [q.key for q in proto.questions] == ["realism"]
    # the same name again: one clear line, exit 3, nothing changed
    assert main(["study", "realism", "--db", db, "--source", SOURCE, "--name", REALISM]) == 3
    assert "already exists" in capsys.readouterr().err


def test_study_realism_without_protocol_and_with_a_bad_one(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    source_study(tmp_path / "r.db", n_cases=2).close()
    db = str(tmp_path / "r.db")
    bad = tmp_path / "bad.toml"
    bad.write_text('seed = 1\n[[arms]]\nname = "unaided"\n[form]\npositive = "Real"\nnegative = "real"\n')
    assert main(["study", "realism", "--db", db, "--source", SOURCE, "--name", "R1", "--protocol", str(bad)]) == 3
    err = capsys.readouterr().err
    assert "form.positive" in err and "different names" in err
    assert main(["study", "realism", "--db", db, "--source", SOURCE, "--name", "R1", "--no-protocol"]) == 0
    assert "No protocol applied: readerstudy protocol apply --study 'R1'" in capsys.readouterr().out
