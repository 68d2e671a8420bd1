"""The CLI: demo summary, exit codes (2 usage, 3 invalid input), db commands, import."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from readerstudy.cli.app import main


def test_demo_no_gui_prints_summary_and_is_idempotent(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    db = tmp_path / "x.sqlite"
    assert main(["demo", "--no-gui", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "BUSI benign vs malignant: 79 cases (40 positive), 79 masks, 3 readers" in out
    assert "Phantom liver CT/PET: 6 cases" in out
    assert "2 arms, 6 reading assignments" in out  # counterbalanced: 3 readers x 2 sessions
    assert main(["protocol", "show", "--db", str(db), "--study", "BUSI benign vs malignant"]) == 0
    shown = capsys.readouterr().out
    assert "design counterbalanced" in shown and "washout 28 d" in shown
    assert main(["demo", "--no-gui", "--db", str(db)]) == 0
    assert "already present" in capsys.readouterr().out


def test_usage_error_exits_2(capsys: pytest.CaptureFixture) -> None:
    assert main(["import", "--study", "S"]) == 2
    assert "one of the arguments --folder --manifest is required" in capsys.readouterr().err


def test_invalid_input_exits_3_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code = main(["import", "--db", str(tmp_path / "d.sqlite"), "--study", "S", "--manifest", str(tmp_path / "no.csv")])
    err = capsys.readouterr().err
    assert code == 3 and err.count("\n") == 1 and "manifest not found" in err and "Traceback" not in err


def test_db_current_and_backup(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    db = tmp_path / "d.sqlite"
    assert main(["db", "upgrade", "--db", str(db)]) == 0
    assert main(["db", "current", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    from readerstudy.storage.migrate import head_revision

    head = head_revision()  # the newest revision, whichever it is
    assert f"database: {head}; this readerstudy: {head}" in out
    assert main(["db", "backup", "--db", str(db)]) == 0
    archive = capsys.readouterr().out.split(" (database + ")[0]
    assert Path(archive).exists() and archive.endswith(".tar.gz")


def test_env_variable_selects_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("READERSTUDY_DB", str(tmp_path / "env.sqlite"))
    assert main(["db", "upgrade"]) == 0
    assert (tmp_path / "env.sqlite").exists()


def test_import_folder_with_labels(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from readerstudy.paths import demo_dir

    src = tmp_path / "in"
    for label in ("benign", "malignant"):
        (src / label).mkdir(parents=True)
        for f in sorted((demo_dir() / label).glob(f"{label} (1)*.png")):
            (src / label / f.name).write_bytes(f.read_bytes())
    code = main(["import", "--db", str(tmp_path / "d.sqlite"), "--study", "S", "--folder", str(src),
                 "--labels", "benign=0,malignant=1", "--modality", "US"])
    assert code == 0
    assert "S: imported 2 case(s) (2 mask(s)), refused 0" in capsys.readouterr().out


def test_python_dash_m_entry_point() -> None:
    out = subprocess.run([sys.executable, "-m", "readerstudy", "--version"], capture_output=True, text=True,
                         check=True)
    assert out.stdout.startswith("readerstudy ")
