"""Import never aborts: each file is imported or refused on its own; cancel and failures write nothing."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pydicom
import pytest
from fuzz_corpus import build_fuzz_corpus
from PIL import Image
from pydicom.data import get_testdata_file

from readerstudy.core.errors import Cancelled, ConflictError
from readerstudy.core.models import Role
from readerstudy.imaging import loaders
from readerstudy.services.auth import add_participant, local_session, sign_in, system_session
from readerstudy.services.deid_policy import DeidRequest
from readerstudy.services.importing import CaseSource, import_cases, sources_from_folder

LOCAL = local_session("test")  # the CLI's local coordinator session (reaches every study)


def _case_dirs(ctx) -> list[Path]:  # noqa: ANN001
    return [p for d in ctx.store.root.iterdir() if d.is_dir() and d.name != ".staging" for p in d.iterdir()]


def _nothing_written(ctx, study: str) -> None:  # noqa: ANN001
    with ctx.uow() as uow:
        assert uow.studies.find(study) is None
        assert uow.audit.list() == []
    assert _case_dirs(ctx) == []
    assert not any((ctx.store.root / ".staging").iterdir())


def test_fuzz_corpus_every_file_imported_or_refused_none_crashes(ctx, tmp_path: Path) -> None:  # noqa: ANN001
    files = build_fuzz_corpus(tmp_path / "fuzz", seed=17)
    assert len(files) >= 80
    report = import_cases(ctx, LOCAL, "fuzz", [CaseSource(f.name, f) for f in files])
    assert len(report.files) == len(files)
    assert len(report.imported) + len(report.refused) == len(files)
    assert report.crashed == 0, [f for f in report.files if f.unexpected]
    for f in report.files:
        assert f.status == "imported" or (f.reason and "\n" not in f.reason and len(f.reason) <= 400)
    refused = dict(report.refused)
    assert all(k in refused for k in (f.name for f in files if f.name.startswith(("raster_trunc",))))
    assert len(_case_dirs(ctx)) == len(report.imported)
    assert not any((ctx.store.root / ".staging").iterdir())


def test_one_bad_file_does_not_stop_the_files_after_it(ctx, tmp_path: Path) -> None:  # noqa: ANN001
    src = tmp_path / "in"
    src.mkdir()
    grey = np.zeros((8, 8), np.uint8)
    Image.fromarray(grey).save(src / "a.png")
    Image.fromarray(np.stack([grey, grey + 255], -1), "LA").save(src / "b.png")
    (src / "c.dcm").write_bytes(Path(get_testdata_file("CT_small.dcm")).read_bytes()[:3000])  # truncated
    Image.fromarray(grey).save(src / "d.png")
    report = import_cases(ctx, LOCAL, "mixed", sources_from_folder(src))
    assert report.imported == ["a.png", "b.png", "d.png"]
    assert [c for c, _ in report.refused] == ["c.dcm"] and report.crashed == 0


def test_an_unexpected_exception_becomes_that_files_refusal(ctx, tmp_path: Path,  # noqa: ANN001
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("a", "b", "c"):
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / f"{name}.png")
    real = loaders.load_image

    def flaky(path: Path):  # noqa: ANN202 - a bug inside one file's processing
        if path.name == "b.png":
            raise KeyError("boom")
        return real(path)

    monkeypatch.setattr(loaders, "load_image", flaky)
    report = import_cases(ctx, LOCAL, "flaky", [CaseSource(n, tmp_path / n) for n in ("a.png", "b.png", "c.png")])
    assert report.imported == ["a.png", "c.png"] and report.crashed == 1
    (bad,) = [f for f in report.files if f.status == "refused"]
    assert bad.unexpected and bad.reason.startswith("unexpected error KeyError") and "\n" not in bad.reason


def test_a_run_where_every_file_is_refused_writes_no_study_and_no_audit_event(ctx, tmp_path: Path) -> None:  # noqa: ANN001
    (tmp_path / "in").mkdir()
    for i in range(3):
        (tmp_path / "in" / f"junk{i}.dcm").write_bytes(b"not dicom" * i)
    report = import_cases(ctx, LOCAL, "empty", sources_from_folder(tmp_path / "in"))
    assert report.imported == [] and len(report.refused) == 3 and not report.created_study
    _nothing_written(ctx, "empty")


def _pngs(folder: Path, n: int) -> list[CaseSource]:
    folder.mkdir()
    for i in range(n):
        Image.fromarray(np.full((8, 8), i, np.uint8)).save(folder / f"{i}.png")
    return sources_from_folder(folder)


def test_cancel_from_progress_writes_nothing(ctx, tmp_path: Path) -> None:  # noqa: ANN001
    def progress(step: int, total: int, message: str) -> None:
        if step == 3:
            raise Cancelled("stop")

    with pytest.raises(Cancelled):
        import_cases(ctx, LOCAL, "cancelled", _pngs(tmp_path / "in", 5), progress=progress)
    _nothing_written(ctx, "cancelled")


def test_cancel_token_set_before_the_write_writes_nothing(ctx, tmp_path: Path) -> None:  # noqa: ANN001
    token = threading.Event()
    seen: list[str] = []

    def progress(step: int, total: int, message: str) -> None:
        seen.append(message)
        if step == total - 2:  # the last file is staged next; cancel before the database write
            token.set()

    with pytest.raises(Cancelled, match="nothing of this run was written"):
        import_cases(ctx, LOCAL, "token", _pngs(tmp_path / "in", 4), progress=progress, cancel=token)
    assert "writing to the database" not in seen
    _nothing_written(ctx, "token")


def test_a_failing_final_write_leaves_nothing_behind(ctx, tmp_path: Path,  # noqa: ANN001
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"n": 0}
    real = ctx.store.place

    def place(staged: Path, rel: str) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk full")
        real(staged, rel)

    monkeypatch.setattr(ctx.store, "place", place)
    with pytest.raises(ConflictError, match="nothing of this run was stored"):
        import_cases(ctx, LOCAL, "full", _pngs(tmp_path / "in", 4))
    _nothing_written(ctx, "full")


def test_per_file_report_carries_pseudonym_and_deidentification_counts(ctx, tmp_path: Path) -> None:  # noqa: ANN001
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.BurnedInAnnotation = "YES"
    ds.save_as(tmp_path / "burned.dcm")
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "plain.png")
    report = import_cases(ctx, LOCAL, "deid", [CaseSource("burned", tmp_path / "burned.dcm"),
                                        CaseSource("plain", tmp_path / "plain.png")],
                          deid=DeidRequest(burned_in="flag"))
    burned, plain = report.files
    with ctx.uow() as uow:
        pseudonyms = {c.source_ref: c.pseudonym for c in uow.cases.list(uow.studies.by_name("deid").id)}
    assert burned.pseudonym == pseudonyms["burned"] and plain.pseudonym == pseudonyms["plain"]
    assert burned.deid.files == 1 and burned.deid.instances == 1 and burned.deid.burned_in == 1
    assert burned.deid.removed >= 5 and burned.deid.replaced >= 5  # names, UIDs, dates, institution...
    assert plain.deid.files == 0
    assert report.deid_totals().files == 1
    assert any("burned-in annotation" in n for n in burned.notes)


def test_new_study_from_a_coordinator_session_gets_that_coordinator(ctx, tmp_path: Path) -> None:  # noqa: ANN001
    import_cases(ctx, LOCAL, "first", _pngs(tmp_path / "a", 1))
    boss = add_participant(ctx, system_session(ctx, "first"), "Dr Coord", Role.COORDINATOR, "4321")
    session = sign_in(ctx, "first", boss.name, "4321")
    report = import_cases(ctx, session, "second", _pngs(tmp_path / "b", 2))
    assert report.created_study and len(report.imported) == 2
    again = sign_in(ctx, "second", "Dr Coord", "4321")  # same name and PIN in the new study
    assert again.role == Role.COORDINATOR and again.study_name == "second"
    with ctx.uow() as uow:
        actions = [e.action for e in uow.audit.list()]
    assert actions.count("study.create") == 2 and "participant.add" in actions and "import.run" in actions
