"""Bad input: every case gives one clear line on stderr, exit code 3 and no change.

A table of command lines (each class of the issue-12 probe, plus the neighbours of each) runs
through the CLI's ``main`` against a private folder; the folder's files are hashed before and
after. Read-only commands on a read-only file system must still work (exit 0). A full disk is a
real tmpfs of a few hundred kilobytes where the system allows mounting one.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import support
from PIL import Image

from readerstudy.cli.app import main
from readerstudy.core.errors import ValidationError
from readerstudy.storage import migrate

STUDY = support.STUDY
UNREACHABLE_PG = "postgresql+psycopg://rs@127.0.0.1:9/none"


@dataclass(frozen=True)
class Case:
    name: str
    argv: Callable[[Path], list[str]]
    expect: str  # a fragment of the one error line ("" with rc 0: must work)
    rc: int = 3
    where: str = "work"  # the folder that must not change: work | ro | full


def _tree(root: Path, full_disk: bool = False) -> dict[str, str]:
    """Every file's sha256 and every folder. On a full disk SQLite cannot remove its ``-shm`` index
    and empty ``-wal`` on close; they hold no data, so there they are not counted as a change."""
    out = {}
    for p in sorted(root.rglob("*")):
        if p.name.endswith(".lock") or full_disk and (p.name.endswith("-shm") or
                                                      (p.name.endswith("-wal") and p.stat().st_size == 0)):
            continue
        if p.is_file():
            out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
        elif p.is_dir():
            out[str(p.relative_to(root)) + "/"] = ""
    return out


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A study with reads, plus every bad file the table needs."""
    root = tmp_path_factory.mktemp("bad-input")
    ctx = support.build(root / "study.sqlite", n_cases=3, readers=["alice"], tiny_in=root / "img")
    support.read_cases(ctx, "alice")
    ctx.close()
    (root / "notdb.sqlite").write_text("case_id,image\n1,a.png\n")
    (root / "empty.sqlite").write_bytes(b"")
    (root / "adir").mkdir()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(root / "x.png")
    (root / "latin1.csv").write_bytes("case_id,image,site\ncas_é,x.png,Hôpital Nord\n".encode("latin-1"))
    (root / "missing-file.csv").write_text("case_id,image\nc1,nope.png\n")
    (root / "dup.csv").write_text("case_id,image\nc1,x.png\nc1,x.png\n")
    (root / "bad-truth.csv").write_text("case_id,image,truth\nc1,x.png,maybe\n")
    (root / "no-columns.csv").write_text("id,file\nc1,x.png\n")
    (root / "no-rows.csv").write_text("case_id,image\n")
    bad = root / "allbad"
    bad.mkdir()
    (bad / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nthis is not a png")
    (bad / "scan.dcm").write_bytes(b"DICM but not really")
    (root / "bad.toml").write_text("seed = [\n")
    (root / "junk.tar.gz").write_bytes(b"not an archive")
    newer = root / "newer.sqlite"
    shutil.copy(root / "study.sqlite", newer)
    import sqlite3

    con = sqlite3.connect(newer)
    con.execute("UPDATE alembic_version SET version_num = '9999_future'")
    con.commit()
    con.close()
    older = root / "older.sqlite"
    migrate.upgrade(older)
    migrate.downgrade(older, "0001")
    return root


CASES = [
    Case("Latin-1 manifest", lambda w: ["import", "--db", f"{w}/study.sqlite", "--study", STUDY,
                                        "--manifest", f"{w}/latin1.csv"], "not a UTF-8 CSV file"),
    Case("--db is a folder (import)", lambda w: ["import", "--db", f"{w}/adir", "--study", "S",
                                                 "--folder", f"{w}/img"], "is a folder, not a database file"),
    Case("--db is a folder (report)", lambda w: ["report", "--db", f"{w}/adir", "--study", STUDY, "--out",
                                                 f"{w}/out"], "is a folder, not a database file"),
    Case("--db is a folder (db current)", lambda w: ["db", "current", "--db", f"{w}/adir"], "is a folder"),
    Case("--db is not SQLite (report)", lambda w: ["report", "--db", f"{w}/notdb.sqlite", "--study", STUDY,
                                                   "--out", f"{w}/out"], "is not a SQLite database"),
    Case("--db is not SQLite (import)", lambda w: ["import", "--db", f"{w}/notdb.sqlite", "--study", "S",
                                                   "--folder", f"{w}/img"], "is not a SQLite database"),
    Case("--db is not SQLite (db upgrade)", lambda w: ["db", "upgrade", "--db", f"{w}/notdb.sqlite"],
         "is not a SQLite database"),
    Case("--db is not SQLite (demo)", lambda w: ["demo", "--db", f"{w}/notdb.sqlite", "--no-gui"],
         "is not a SQLite database"),
    Case("--db is an empty file (report)", lambda w: ["report", "--db", f"{w}/empty.sqlite", "--study", STUDY,
                                                      "--out", f"{w}/out"], "is not a readerstudy database"),
    Case("unreachable PostgreSQL (report)", lambda w: ["report", "--db", UNREACHABLE_PG, "--study", STUDY,
                                                       "--out", f"{w}/out"], "Cannot connect to the database server"),
    Case("unreachable PostgreSQL (import)", lambda w: ["import", "--db", UNREACHABLE_PG, "--study", "S",
                                                       "--folder", f"{w}/img"], "Cannot connect to the database server"),
    Case("unknown URL scheme", lambda w: ["report", "--db", "nosuchdb://x/y", "--study", STUDY, "--out",
                                          f"{w}/out"], "is not a database URL"),
    Case("protocol show of a missing database", lambda w: ["protocol", "show", "--db", f"{w}/nonexistent/dir/x.sqlite",
                                                           "--study", STUDY], "no such database; nothing was created"),
    Case("export of a missing database", lambda w: ["export", "--db", f"{w}/nope.sqlite", "--study", STUDY,
                                                    "--format", "csv", "--out", f"{w}/o.csv"], "no such database"),
    Case("audit verify of a missing database", lambda w: ["audit", "verify", "--db", f"{w}/nope.sqlite"],
         "no such database"),
    Case("audit verify of a folder", lambda w: ["audit", "verify", "--db", f"{w}/adir"], "is a folder"),
    Case("db backup of a non-database", lambda w: ["db", "backup", "--db", f"{w}/notdb.sqlite"],
         "is not a SQLite database"),
    Case("db backup of a missing database", lambda w: ["db", "backup", "--db", f"{w}/nope.sqlite"],
         "no such database"),
    Case("db backup of PostgreSQL", lambda w: ["db", "backup", "--db", UNREACHABLE_PG], "Cannot connect"),
    Case("db restore of a junk archive", lambda w: ["db", "restore", f"{w}/junk.tar.gz", "--db", f"{w}/new.sqlite"],
         "not a readable backup archive"),
    Case("db restore over an existing database", lambda w: ["db", "restore", f"{w}/junk.tar.gz", "--db",
                                                            f"{w}/study.sqlite"], "already exists"),
    Case("a newer schema (report)", lambda w: ["report", "--db", f"{w}/newer.sqlite", "--study", STUDY, "--out",
                                               f"{w}/out"], "written by a newer version"),
    Case("a newer schema (import)", lambda w: ["import", "--db", f"{w}/newer.sqlite", "--study", STUDY,
                                               "--folder", f"{w}/img"], "written by a newer version"),
    Case("an older schema opened read-only", lambda w: ["protocol", "show", "--db", f"{w}/older.sqlite", "--study",
                                                        STUDY], "run `readerstudy db upgrade"),
    Case("folder where every file is refused", lambda w: ["import", "--db", f"{w}/study.sqlite", "--study",
                                                          "Brand new", "--folder", f"{w}/allbad"],
         "nothing imported: all 2 file(s) were refused"),
    Case("manifest names a missing image", lambda w: ["import", "--db", f"{w}/study.sqlite", "--study", STUDY,
                                                      "--manifest", f"{w}/missing-file.csv"], "nope.png does not exist"),
    Case("manifest with a duplicate case id", lambda w: ["import", "--db", f"{w}/study.sqlite", "--study", STUDY,
                                                         "--manifest", f"{w}/dup.csv"], "duplicate case_id 'c1'"),
    Case("manifest with a bad truth", lambda w: ["import", "--db", f"{w}/study.sqlite", "--study", STUDY,
                                                 "--manifest", f"{w}/bad-truth.csv"], "truth 'maybe' is not 0/1"),
    Case("manifest without the columns", lambda w: ["import", "--db", f"{w}/study.sqlite", "--study", STUDY,
                                                    "--manifest", f"{w}/no-columns.csv"], "missing column(s)"),
    Case("manifest without rows", lambda w: ["import", "--db", f"{w}/study.sqlite", "--study", STUDY,
                                             "--manifest", f"{w}/no-rows.csv"], "lists no cases"),
    Case("missing manifest", lambda w: ["import", "--db", f"{w}/study.sqlite", "--study", STUDY,
                                        "--manifest", f"{w}/none.csv"], "manifest not found"),
    Case("import from a missing folder", lambda w: ["import", "--db", f"{w}/study.sqlite", "--study", STUDY,
                                                    "--folder", f"{w}/none"], "not a folder"),
    Case("missing protocol file", lambda w: ["protocol", "apply", "--db", f"{w}/study.sqlite", "--study", STUDY,
                                             "--file", f"{w}/none.toml"], "protocol file not found"),
    Case("protocol file that is not TOML", lambda w: ["protocol", "apply", "--db", f"{w}/study.sqlite", "--study",
                                                      STUDY, "--file", f"{w}/bad.toml"], "not valid TOML"),
    Case("report of an unknown study", lambda w: ["report", "--db", f"{w}/study.sqlite", "--study", "Nope",
                                                  "--out", f"{w}/out"], "No study named 'Nope'"),
    Case("export of an unknown study", lambda w: ["export", "--db", f"{w}/study.sqlite", "--study", "Nope",
                                                  "--format", "csv", "--out", f"{w}/o.csv"], "No study named 'Nope'"),
    Case("audit verify --expect-head garbage", lambda w: ["audit", "verify", "--db", f"{w}/study.sqlite",
                                                          "--expect-head", "zz"], "is not a chain head"),
    # a read-only file system: read-only commands work, writing ones refuse in one line
    Case("report on a read-only file system", lambda w: ["report", "--db", f"{w}/ro/study.sqlite", "--study", STUDY,
                                                         "--out", f"{w}/out"], "", 0, "ro"),
    Case("export on a read-only file system", lambda w: ["export", "--db", f"{w}/ro/study.sqlite", "--study", STUDY,
                                                         "--format", "imrmc", "--out", f"{w}/o.csv"], "", 0, "ro"),
    Case("protocol show on a read-only file system", lambda w: ["protocol", "show", "--db", f"{w}/ro/study.sqlite",
                                                                "--study", STUDY], "", 0, "ro"),
    Case("audit verify on a read-only file system", lambda w: ["audit", "verify", "--db", f"{w}/ro/study.sqlite"],
         "", 0, "ro"),
    Case("db backup of a read-only file system", lambda w: ["db", "backup", "--db", f"{w}/ro/study.sqlite", "--out",
                                                            f"{w}/b.tar.gz"], "", 0, "ro"),
    Case("import on a read-only file system", lambda w: ["import", "--db", f"{w}/ro/study.sqlite", "--study", STUDY,
                                                         "--folder", f"{w}/img"], "read-only", 3, "ro"),
    Case("protocol apply on a read-only file system", lambda w: ["protocol", "apply", "--db", f"{w}/ro/study.sqlite",
                                                                 "--study", STUDY, "--file", f"{w}/p.toml"],
         "read-only", 3, "ro"),
    # a full disk
    Case("import on a full disk", lambda w: ["import", "--db", f"{w}/full/study.sqlite", "--study", STUDY,
                                             "--folder", f"{w}/img2"], "The disk is full", 3, "full"),
    Case("db backup onto a full disk", lambda w: ["db", "backup", "--db", f"{w}/study.sqlite", "--out",
                                                  f"{w}/full/b.tar.gz"], "The disk is full", 3, "full"),
]


def _mount(path: Path, *options: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    return subprocess.run(["mount", "-t", "tmpfs", "-o", ",".join(options), "tmpfs", str(path)],
                          capture_output=True).returncode == 0


@contextlib.contextmanager
def _environment(work: Path, where: str) -> Iterator[Path]:
    """``work`` with ``ro/`` (a read-only file system holding the study) or ``full/`` (a full tmpfs)."""
    target = work / where
    if where == "work":
        yield work
        return
    if not _mount(target, "size=600k" if where == "full" else "size=8m"):
        if where == "ro" and subprocess.run(["id", "-u"], capture_output=True, text=True).stdout.strip() != "0":
            support.copy_db(work / "study.sqlite", target)
            for p in [target, *target.rglob("*")]:
                p.chmod(0o555 if p.is_dir() else 0o444)
            yield target
            return
        pytest.skip(f"cannot mount a tmpfs here to make a {where} file system")
    try:
        support.copy_db(work / "study.sqlite", target)
        if where == "ro":
            subprocess.run(["mount", "-o", "remount,ro", str(target)], check=True)
        else:
            with contextlib.suppress(OSError), open(target / "filler", "wb") as fh:
                while True:  # fill the disk to the last block
                    fh.write(b"\0" * 4096)
                    fh.flush()
        yield target
    finally:
        subprocess.run(["umount", "-l", str(target)], capture_output=True)


def _one_line(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.strip()]


RESULTS: dict[str, str | None] = {}  # case name -> None (handled) or what went wrong; filled by the tests below


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_gives_one_line_exit_3_and_changes_nothing(base: Path, tmp_path: Path, case: Case,
                                                              capsys) -> None:  # noqa: ANN001
    RESULTS[case.name] = "did not finish"
    RESULTS[case.name] = _run_case(base, tmp_path, case, capsys)
    assert RESULTS[case.name] is None


def _run_case(base: Path, tmp_path: Path, case: Case, capsys) -> str | None:  # noqa: ANN001
    """None when the case is handled; otherwise what went wrong."""
    work = tmp_path / "w"
    shutil.copytree(base, work)
    (work / "p.toml").write_text(support.PLAIN)
    support.tiny_sources(work / "img2", 3, seed=1)
    with _environment(work, case.where) as env:
        before = _tree(env, case.where == "full")
        capsys.readouterr()
        rc = main(case.argv(work))
        out, err = capsys.readouterr()
        after = _tree(env, case.where == "full")
    lines = _one_line(err)
    if rc != case.rc:
        return f"exit code {rc}, expected {case.rc}; stderr: {err[-500:]}"
    if case.rc == 0:
        return None if "Traceback" not in err else err
    if len(lines) != 1 or not lines[0].startswith("readerstudy: error: ") or case.expect not in lines[0]:
        return f"stderr is not one clear line with {case.expect!r}: {err[-800:]}"
    if case.where == "work":
        after.pop("out/", None)
    if before != after:
        changed = sorted(set(before.items()) ^ set(after.items()))
        return f"changed: {changed[:4]}"
    return None


def test_report_of_bad_inputs_tried_and_handled(base: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    """The figures: every case of the table (those the parametrized test did not run are run here)."""
    skipped = []
    for i, case in enumerate(CASES):
        if case.name in RESULTS:
            continue
        try:
            RESULTS[case.name] = _run_case(base, tmp_path / str(i), case, capsys)
        except pytest.skip.Exception:
            skipped.append(case.name)
    failures = {k: v for k, v in RESULTS.items() if v is not None}
    predictions = _prediction_inputs(tmp_path / "pred")
    tried = len(CASES) - len(skipped) + len(predictions)
    handled = tried - len(failures) - sum(1 for ok in predictions.values() if not ok)
    with capsys.disabled():
        print(f"\nbad inputs tried: {tried}, handled: {handled}" + (f" (skipped: {skipped})" if skipped else ""))
    assert failures == {} and all(predictions.values()), (failures, predictions)


def _prediction_inputs(folder: Path) -> dict[str, bool]:
    """Model predictions are validated like reads: NaN, -1, 101, 'x', True refused with a clear message."""
    ctx = support.build(folder / "s.sqlite", n_cases=1, readers=["alice"], tiny_in=folder / "img")
    out = {}
    with ctx.uow() as uow:
        study = uow.studies.by_name(STUDY)
        bot = uow.readers.add(study.id, "m", support.Role.MODEL)
        model = uow.models.add(study.id, bot.id, name="m", version="1")
        run = uow.models.start_run(model.id)
        case_id = uow.cases.list(study.id)[0].id
        for bad in (math.nan, -1, 101, "x", True, math.inf):
            try:
                uow.models.add_prediction(run, model.id, case_id, bad)
                out[repr(bad)] = False
            except ValidationError as exc:
                out[repr(bad)] = "is not a number from 0 to 1" in str(exc)
        uow.commit()
        out["nothing stored"] = uow.models.predictions(model.id) == []
    ctx.close()
    return out


def test_model_predictions_are_validated_like_reads(tmp_path: Path) -> None:
    results = _prediction_inputs(tmp_path)
    assert results == dict.fromkeys(results, True)


def test_the_real_cli_prints_one_line_for_bad_input(base: Path, tmp_path: Path) -> None:
    """Through a real process (logging configured, no capsys): one line, exit 3, no traceback."""
    for argv in (["report", "--db", str(base / "adir"), "--study", STUDY, "--out", str(tmp_path / "o")],
                 ["import", "--db", str(base / "study.sqlite"), "--study", STUDY, "--manifest",
                  str(base / "latin1.csv")],
                 ["protocol", "show", "--db", str(tmp_path / "nonexistent" / "x.sqlite"), "--study", STUDY]):
        p = subprocess.run([sys.executable, "-m", "readerstudy", *argv], capture_output=True, text=True, timeout=120)
        assert p.returncode == 3 and len(_one_line(p.stderr)) == 1, p.stderr
        assert "Traceback" not in p.stderr
    assert not (tmp_path / "nonexistent").exists()
