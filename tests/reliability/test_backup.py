"""Backups and restore: one archive of database + pixel store, taken while readers read; restored
copies are complete, readable (pixels verified) and pass ``audit verify``."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
import support
from test_concurrency import HERE

from readerstudy.core.errors import ConflictError, ValidationError
from readerstudy.paths import store_dir_for
from readerstudy.services.auth import local_session, sign_in
from readerstudy.services.backup import BackupSettings, backup, restore, scheduled_backup
from readerstudy.services.context import open_context
from readerstudy.services.reading import ReadingService

LOCAL = local_session("test")


def _reads(db: Path) -> int:
    ctx = open_context(db, read_only=True)
    try:
        with ctx.uow() as uow:
            return len(uow.reads.for_study(uow.studies.by_name(support.STUDY).id))
    finally:
        ctx.close()


def _reader_sees_pixels(db: Path, name: str) -> bool:
    """A reader of the restored copy opens a case: its pixels load and match their checksum."""
    ctx = open_context(db)
    try:
        svc = ReadingService(ctx, sign_in(ctx, support.STUDY, name, support.PIN), prefetch=False)
        flow = svc.open()
        if flow is None:
            return True
        view = svc.start_case()
        svc.close()
        return view is not None and view.pixels.size > 0
    finally:
        ctx.close()


def test_backups_taken_during_concurrent_reading_restore_complete_and_verified(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    names = [f"reader{i}" for i in range(6)]
    db = tmp_path / "live.sqlite"
    ctx = support.build(db, n_cases=30, readers=names, protocol=support.SEQUENTIAL, predictions=True,
                        tiny_in=tmp_path / "img")
    readers = subprocess.Popen([sys.executable, str(HERE / "workers.py"), "concurrent",
                                json.dumps({"db": str(db), "names": names})], cwd=HERE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    archives = []
    while readers.poll() is None and len(archives) < 5:  # back up again and again while they read
        if _reads(db) == 0:
            time.sleep(0.02)
            continue
        archives.append(backup(ctx, LOCAL, tmp_path / "backups" / f"b{len(archives)}.tar.gz").archive)
        time.sleep(0.1)
    out, err = readers.communicate(timeout=240)
    assert readers.returncode == 0, err[-2000:]
    assert all(r["error"] is None for r in json.loads(out.strip().splitlines()[-1])["results"])
    archives.append(backup(ctx, LOCAL, tmp_path / "backups" / "final.tar.gz").archive)
    ctx.close()
    counts = []
    for i, archive in enumerate(archives):
        target = tmp_path / "restored" / f"r{i}.sqlite"
        report = restore(archive, target, LOCAL)
        assert report.ok, (archive.name, report.problems)
        assert report.warnings == []
        counts.append(_reads(target))
        assert _reader_sees_pixels(target, names[i % len(names)])
    assert counts == sorted(counts)  # later snapshots hold at least what earlier ones did
    assert len(archives) >= 3 and 0 < counts[0] and counts[-2] < counts[-1]  # taken mid-reading
    assert counts[-1] == _reads(db) == len(names) * 30 * 2
    with capsys.disabled():
        print(f"\nbackups during reading: {len(archives)} archives, reads in them {counts}, all restored and verified")


def test_restore_refuses_to_overwrite_and_damaged_archives(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite"
    ctx = support.build(db, n_cases=2, readers=["alice"], tiny_in=tmp_path / "img")
    support.read_cases(ctx, "alice")
    archive = backup(ctx, LOCAL).archive
    ctx.close()
    assert archive.parent == tmp_path / "s.sqlite.backups"
    with pytest.raises(ConflictError, match="already exists"):
        restore(archive, db, LOCAL)
    with pytest.raises(ConflictError, match="already exists"):
        backup(open_context(db, read_only=True), LOCAL, archive)
    damaged = tmp_path / "damaged.tar.gz"
    with tarfile.open(archive) as src, tarfile.open(damaged, "w:gz") as dst:
        for m in src.getmembers():
            data = src.extractfile(m).read()
            if m.name.startswith("store/"):
                data = data[:-1] + bytes([data[-1] ^ 1])
            m.size = len(data)
            import io

            dst.addfile(m, io.BytesIO(data))
    target = tmp_path / "new" / "x.sqlite"
    with pytest.raises(ValidationError, match="does not match its checksum"):
        restore(damaged, target, LOCAL)
    assert not target.exists() and not store_dir_for(target).exists()
    assert sorted(p.name for p in (tmp_path / "new").iterdir()) == []  # no temporary folder left either
    (tmp_path / "junk.tar.gz").write_bytes(b"not an archive")
    with pytest.raises(ValidationError, match="not a readable backup archive"):
        restore(tmp_path / "junk.tar.gz", target, LOCAL)


def test_scheduled_backups_keep_the_newest(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite"
    ctx = support.build(db, n_cases=2, readers=["alice"], tiny_in=tmp_path / "img")
    settings = BackupSettings(interval_min=1, keep=2, folder=tmp_path / "auto")
    user = sign_in(ctx, support.STUDY, "alice", support.PIN)  # any signed-in role: the app's own task
    made = [scheduled_backup(ctx, user, settings).archive for _ in range(4)]
    assert sorted(p.name for p in (tmp_path / "auto").glob("*.tar.gz")) == sorted(p.name for p in made[-2:])
    assert scheduled_backup(ctx, user, BackupSettings(interval_min=0)) is None
    ctx.close()
