"""The coordinator's import tab on real widgets: BUSI PNGs with a broken file, cancel, DICOM manifest."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_file

from readerstudy.core.errors import PermissionDenied
from readerstudy.core.models import Role
from readerstudy.paths import demo_dir
from readerstudy.services.auth import add_participant, local_session, sign_in, system_session
from readerstudy.services.importing import CaseSource, import_cases
from readerstudy.ui.coordinator.home import CoordinatorHomeWindow
from readerstudy.ui.coordinator.import_dialog import ImportDialog, ImportWidget

PIN = "2468"


LOCAL = local_session("test")  # the CLI's local coordinator session (reaches every study)


@pytest.fixture
def coordinator(ctx, tmp_path: Path):  # noqa: ANN001, ANN201
    """A study "Current" (one PNG case) and its coordinator, signed in."""
    seed = tmp_path / "seed.png"
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(seed)
    import_cases(ctx, LOCAL, "Current", [CaseSource("seed", seed)])
    add_participant(ctx, system_session(ctx, "Current"), "Dr Coord", Role.COORDINATOR, PIN)
    return sign_in(ctx, "Current", "Dr Coord", PIN)


def _busi_folder(tmp_path: Path, per_class: int = 3) -> Path:
    """A few BUSI images (with their masks) per class, 2 normal images and one broken PNG."""
    out = tmp_path / "busi"
    for label, n in (("benign", per_class), ("malignant", per_class), ("normal", 2)):
        (out / label).mkdir(parents=True)
        for i in range(1, n + 1):
            for f in (demo_dir() / label).glob(f"{label} ({i})*.png"):
                shutil.copy(f, out / label / f.name)
    data = (demo_dir() / "benign" / "benign (1).png").read_bytes()
    (out / "benign" / "broken.png").write_bytes(data[:2000])
    return out


def _wait(qtbot, widget: ImportWidget) -> None:  # noqa: ANN001
    qtbot.waitUntil(lambda: not widget.running, timeout=120_000)


def test_folder_import_into_a_new_study_lists_every_file(qtbot, ctx, coordinator, tmp_path: Path) -> None:  # noqa: ANN001
    widget = ImportWidget(ctx, coordinator)
    qtbot.addWidget(widget)
    widget.set_folder(_busi_folder(tmp_path))
    rows = {widget.labels_table.item(i, 0).text(): widget.labels_table.cellWidget(i, 2).currentText()
            for i in range(widget.labels_table.rowCount())}
    assert rows == {"benign": "negative (0)", "malignant": "positive (1)", "normal": "no truth"}
    widget.set_truth("normal", "skip")
    widget.new_name.setText("BUSI small")
    widget.new_radio.setChecked(True)
    with qtbot.waitSignal(widget.import_finished, timeout=120_000) as blocker:
        widget.import_button.click()
    report = blocker.args[0]
    assert widget.results.rowCount() == 7 == len(report.files)
    statuses = {widget.results.item(i, 0).text(): (widget.results.item(i, 1).text(), widget.results.item(i, 3).text())
                for i in range(7)}
    assert statuses["benign/broken.png"][0] == "refused" and "not a readable PNG/JPEG" in statuses["benign/broken.png"][1]
    assert sum(s == "imported" for s, _ in statuses.values()) == 6
    assert "created" in widget.status.text() and widget.new_button.isVisibleTo(widget)
    assert "no DICOM file" in widget.deid_summary.text()
    with ctx.uow() as uow:
        study = uow.studies.by_name("BUSI small")
        cases = uow.cases.list(study.id)
        truths = sorted((c.source_ref.split("/")[0], c.truth) for c in cases)
        masks = uow.annotations.count_for_study(study.id)
    assert truths == [("benign", 0)] * 3 + [("malignant", 1)] * 3 and masks == 6
    assert sign_in(ctx, "BUSI small", "Dr Coord", PIN).role == Role.COORDINATOR
    widget.refused_only.setChecked(True)
    assert widget.results.rowCount() == 1
    widget.new_button.click()
    assert widget.results.rowCount() == 0 and widget.import_button.isEnabled()


def test_cancel_writes_nothing(qtbot, ctx, coordinator, tmp_path: Path) -> None:  # noqa: ANN001
    widget = ImportWidget(ctx, coordinator)
    qtbot.addWidget(widget)
    widget.set_folder(_busi_folder(tmp_path, per_class=8))
    widget.new_radio.setChecked(True)
    widget.new_name.setText("Never")
    widget.import_button.click()
    assert widget.running and widget.cancel_button.isEnabled()
    widget.cancel_button.click()
    _wait(qtbot, widget)
    assert "cancelled" in widget.status.text() and widget.import_button.isEnabled()
    with ctx.uow() as uow:
        assert uow.studies.find("Never") is None
    assert not any((ctx.store.root / ".staging").iterdir())


def test_manifest_of_dicom_shows_the_deidentification_summary(qtbot, ctx, coordinator, tmp_path: Path) -> None:  # noqa: ANN001
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.BurnedInAnnotation = "YES"
    ds.save_as(tmp_path / "burned.dcm")
    shutil.copy(get_testdata_file("MR_small.dcm"), tmp_path / "mr.dcm")
    with open(tmp_path / "m.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerows([("case_id", "image", "truth"), ("ct", "burned.dcm", "1"), ("mr", "mr.dcm", "0")])
    widget = ImportWidget(ctx, coordinator)
    qtbot.addWidget(widget)
    widget.set_manifest(tmp_path / "m.csv")
    assert not widget.labels_table.isVisibleTo(widget) and "manifest's columns" in widget.labels_hint.text()
    with qtbot.waitSignal(widget.import_finished, timeout=60_000) as first:  # the study refuses burned-in images
        widget.import_button.click()
    assert [(f.file, "Burned In Annotation is YES" in f.reason) for f in first.args[0].files if f.reason] == \
        [("ct", True)]
    widget.new_button.click()
    widget.set_manifest(tmp_path / "m.csv")
    widget.burned_in.setCurrentIndex(2)  # import them flagged, with a warning
    with qtbot.waitSignal(widget.import_finished, timeout=60_000):
        widget.import_button.click()
    text = widget.deid_summary.text()
    assert "1 file(s) de-identified (1 DICOM object(s))" in text and "1 flagged as burned-in annotation" in text
    assert "ct" in text.split("annotation")[-1]
    with ctx.uow() as uow:  # into the current study
        refs = {c.source_ref: c.truth for c in uow.cases.list(coordinator.study_id)}
    assert refs == {"seed": None, "ct": 1, "mr": 0}


def test_form_errors_are_shown_inline_and_nothing_starts(qtbot, ctx, coordinator) -> None:  # noqa: ANN001
    widget = ImportWidget(ctx, coordinator)
    qtbot.addWidget(widget)
    widget.import_button.click()
    assert not widget.running and "Choose a folder or a manifest" in widget.status.text()
    widget.set_folder(demo_dir())
    widget.new_radio.setChecked(True)
    widget.import_button.click()
    assert not widget.running and "Give the new study a name" in widget.status.text()
    widget.new_name.setText("current")  # "Current" exists: names are unique ignoring case
    widget.import_button.click()
    _wait(qtbot, widget)
    assert "A study named 'Current' already exists" in widget.status.text()
    with ctx.uow() as uow:
        assert [s.name for s in uow.studies.list()] == ["Current"]


def test_only_a_coordinator_gets_the_import(qtbot, ctx, coordinator) -> None:  # noqa: ANN001
    reader = add_participant(ctx, coordinator, "Reader", Role.READER, PIN)
    with pytest.raises(PermissionDenied):
        ImportWidget(ctx, sign_in(ctx, "Current", reader.name, PIN))
    home = CoordinatorHomeWindow(ctx, coordinator)
    qtbot.addWidget(home)
    assert isinstance(home.tab("import"), ImportWidget)
    dialog = ImportDialog(ctx, coordinator)
    qtbot.addWidget(dialog)
    assert isinstance(dialog.widget, ImportWidget)


def test_files_listed_in_natural_order_and_browse_starts_where_the_coordinator_was(qtbot, ctx, coordinator,
                                                                                   tmp_path: Path) -> None:  # noqa: ANN001
    from PySide6.QtCore import QSettings

    src = tmp_path / "src" / "benign"
    src.mkdir(parents=True)
    for i in (10, 2, 1):
        shutil.copy(demo_dir() / "benign" / f"benign ({i}).png", src / f"benign ({i}).png")
    asked: list[tuple[str, str]] = []

    def choose(parent, kind: str, start: str) -> str:  # noqa: ANN001
        asked.append((kind, start))
        return str(tmp_path / "src")

    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    widget = ImportWidget(ctx, coordinator, choose_path=choose, settings=settings)
    qtbot.addWidget(widget)
    widget.browse_button.click()  # nothing typed, nothing remembered: the home folder, not the working directory
    assert asked == [("folder", str(Path.home()))] and widget.path_edit.text() == str(tmp_path / "src")
    widget.path_edit.clear()
    widget.browse_button.click()  # then next to the folder chosen last
    assert asked[-1] == ("folder", str(tmp_path))
    widget.browse_button.click()  # a typed folder wins
    assert asked[-1] == ("folder", str(tmp_path / "src"))
    with qtbot.waitSignal(widget.import_finished, timeout=120_000):
        widget.import_button.click()
    files = [widget.results.item(i, 0).text() for i in range(widget.results.rowCount())]
    assert files == ["benign/benign (1).png", "benign/benign (2).png", "benign/benign (10).png"]
