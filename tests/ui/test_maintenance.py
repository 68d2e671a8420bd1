"""The app's maintenance hook: the start-up audit check warns a coordinator of a tampered study,
and the backup timer writes archives while the window is open."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

from PySide6.QtWidgets import QMainWindow

from readerstudy.core.models import Role
from readerstudy.services.auth import hash_pin, sign_in
from readerstudy.services.backup import BackupSettings
from readerstudy.ui.maintenance import Maintenance

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reliability"))
import support  # noqa: E402


def _study(tmp_path: Path):  # noqa: ANN202
    ctx = support.build(tmp_path / "s.sqlite", n_cases=2, readers=["alice"], tiny_in=tmp_path / "img")
    with ctx.uow() as uow:
        study = uow.studies.by_name(support.STUDY)
        uow.readers.add(study.id, "carol", Role.COORDINATOR, pin_hash=hash_pin("1357"))
        uow.commit()
    support.read_cases(ctx, "alice")
    return ctx


def test_start_up_check_warns_the_coordinator_of_a_tampered_read(qtbot, tmp_path: Path) -> None:  # noqa: ANN001
    ctx = _study(tmp_path)
    con = sqlite3.connect(tmp_path / "s.sqlite")
    con.execute("DROP TRIGGER read_no_update")
    con.execute("UPDATE read SET probability = 99 WHERE rowid = 1")
    con.commit()
    con.close()
    window = QMainWindow()
    qtbot.addWidget(window)
    coordinator = sign_in(ctx, support.STUDY, "carol", "1357")
    m = Maintenance(ctx, coordinator, window, BackupSettings(interval_min=0), ask=False)
    m.check_now()
    qtbot.waitUntil(lambda: m.last_report is not None, timeout=20_000)
    assert not m.last_report.ok and m.last_report.first.kind == "read"
    assert "differs from what its audit event" in str(m.last_report.first)
    reader = Maintenance(ctx, sign_in(ctx, support.STUDY, "alice", support.PIN), window,
                         BackupSettings(interval_min=0), ask=False)
    reader.check_now()
    qtbot.waitUntil(lambda: not reader.busy, timeout=20_000)
    assert reader.last_report is None and reader.errors == []  # readers are not shown the audit
    ctx.close()


def test_backup_timer_writes_archives_while_the_app_runs(qtbot, tmp_path: Path) -> None:  # noqa: ANN001
    ctx = _study(tmp_path)
    window = QMainWindow()
    qtbot.addWidget(window)
    user = sign_in(ctx, support.STUDY, "alice", support.PIN)
    m = Maintenance(ctx, user, window, BackupSettings(interval_min=0.005, keep=2, folder=tmp_path / "auto"))
    assert m.timer.isActive() and m.timer.interval() == 300
    qtbot.waitUntil(lambda: len(list((tmp_path / "auto").glob("*.tar.gz"))) >= 2 and m.last_backup is not None,
                    timeout=20_000)
    m.timer.stop()
    qtbot.waitUntil(lambda: not m.busy, timeout=20_000)  # a backup started before the stop finishes
    assert m.errors == [] and len(list((tmp_path / "auto").glob("*.tar.gz"))) == 2
    assert "Backed up to" in window.statusBar().currentMessage()
    ctx.close()
