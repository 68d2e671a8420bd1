"""`readerstudy protocol apply|update|show` on a study that already has orders."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from readerstudy.cli.app import main
from readerstudy.services.auth import local_session

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "services"))
from test_reading_support import PLAIN, build_study, busi_sources  # noqa: E402

LOCAL = local_session("test")  # the CLI's local coordinator session (reaches every study)


def test_apply_again_extends_orders_update_and_dry_run(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from readerstudy.services.importing import import_cases

    ctx = build_study(tmp_path, n_cases=4)
    import_cases(ctx, LOCAL, "Pilot", busi_sources(6)[4:])
    ctx.close()
    db, toml = str(tmp_path / "study.db"), tmp_path / "plain.toml"
    toml.write_text(PLAIN)
    assert main(["protocol", "apply", "--db", db, "--study", "Pilot", "--file", str(toml), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "0 assignment(s) created, 2 order(s) extended by 2 case(s) (dry run: nothing written)" in out
    assert "Append 2 new case(s) to the end of 2 existing order(s)" in out
    assert main(["protocol", "show", "--db", db, "--study", "Pilot"]) == 0
    assert "0/4" in capsys.readouterr().out  # the dry run wrote nothing
    assert main(["protocol", "apply", "--db", db, "--study", "Pilot", "--file", str(toml)]) == 0
    assert "2 order(s) extended by 2 case(s)." in capsys.readouterr().out
    assert main(["protocol", "show", "--db", db, "--study", "Pilot"]) == 0
    shown = capsys.readouterr().out
    assert shown.count("0/6") == 2 and "appended" in shown
    assert main(["protocol", "update", "--db", db, "--study", "Pilot"]) == 0
    assert "Nothing to do" in capsys.readouterr().out
    # a changed design is refused with one line (exit 3), naming the fields
    toml.write_text(PLAIN.replace("seed = 7", "seed = 8"))
    assert main(["protocol", "apply", "--db", db, "--study", "Pilot", "--file", str(toml)]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "seed: cannot change once readers have their orders" in err
    # a bad file: the validator's message with line and field
    toml.write_text(PLAIN.replace("sessions = 1", "sessions = 0"))
    assert main(["protocol", "apply", "--db", db, "--study", "Pilot", "--file", str(toml)]) == 3
    assert "plain.toml line 3: sessions" in capsys.readouterr().err
