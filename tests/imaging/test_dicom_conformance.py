"""Every DICOM object the app writes passes dciodvfy (Debian dicom3tools) with 0 errors.

Objects: the de-identified DICOM stored at import, the Secondary Capture and CT-like source images
written for PNG/NIfTI cases, and the exported (BINARY) SEG over each source kind.
dciodvfy is installed by ``.ci/system-deps.sh``; without it these tests fail (they do not skip).
"""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest
from dicom_objects import BUILDERS
from pydicom.data import get_testdata_files

from readerstudy.cli.app import main
from readerstudy.core.annotation import LabelSet
from readerstudy.core.errors import ValidationError
from readerstudy.imaging.deid import DeidOptions, PixelRect, deidentify
from readerstudy.imaging.mask_io import MaskGeometry, write_dicom_seg, write_source_dicom
from readerstudy.services.auth import local_session  # noqa: E402
from readerstudy.services.deid_policy import DeidRequest
from readerstudy.services.importing import CaseSource, import_cases

LOCAL = local_session("test")  # the CLI's local coordinator session (reaches every study)

LIVER = LabelSet.preset("liver_tumour")
DICOMDIR_WARNING = "Warning - Missing attribute or value that would be needed to build DICOMDIR"


def dciodvfy(path: Path) -> tuple[list[str], list[str]]:
    """(errors, warnings) that dciodvfy reports for one file."""
    exe = shutil.which("dciodvfy")
    if exe is None:
        pytest.fail("dciodvfy is not installed: run `bash .ci/system-deps.sh` (Debian package dicom3tools)")
    out = subprocess.run([exe, str(path)], capture_output=True, text=True, timeout=60)
    lines = (out.stdout + out.stderr).splitlines()
    return [ln for ln in lines if ln.startswith("Error")], [ln for ln in lines if ln.startswith("Warning")]


def assert_conformant(path: Path) -> list[str]:
    errors, warnings = dciodvfy(path)
    assert errors == [], f"{path.name}: {errors}"
    return warnings


@pytest.mark.parametrize("kind", sorted(BUILDERS))
def test_test_objects_are_conformant_as_built(kind: str, tmp_path: Path) -> None:
    path = tmp_path / f"{kind}.dcm"
    BUILDERS[kind]().save_as(path, enforce_file_format=True)
    assert assert_conformant(path) == []  # not even a warning: any finding later is ours


@pytest.mark.parametrize("modified_dates", [True, False], ids=["modified-dates", "basic-only"])
@pytest.mark.parametrize("kind", sorted(BUILDERS))
def test_deidentified_objects_are_conformant(kind: str, modified_dates: bool, tmp_path: Path) -> None:
    ds = BUILDERS[kind]()
    rects = (PixelRect(0, 0, 8, 4),) if kind == "US" else ()
    deidentify(ds, secret="s3cret", pseudonym="RS-00C0FFEE", shift_days=-40,
               options=DeidOptions(retain_longitudinal_modified_dates=modified_dates, clean_pixel_data=rects))
    path = tmp_path / "deid.dcm"
    ds.save_as(path, enforce_file_format=True)
    warnings = assert_conformant(path)
    # without the dates option Study Date/Time are emptied (Z), which a DICOMDIR builder would miss
    expected = [] if modified_dates else [f"{DICOMDIR_WARNING} - Study {w}" for w in ("Date", "Time")]
    assert warnings == expected


@pytest.mark.parametrize("laterality", [None, "R"])
def test_secondary_capture_source_is_conformant(laterality: str | None, tmp_path: Path) -> None:
    img = (np.arange(30 * 40) % 251).reshape(30, 40).astype(np.uint8)
    files = write_source_dicom(img, tmp_path, patient_id="RS-1", laterality=laterality, body_part="BREAST")
    warnings = assert_conformant(files[0].path)
    ds = pydicom.dcmread(files[0].path)
    assert ds.Laterality == (laterality or "") and ds.BodyPartExamined == "BREAST"
    # unknown side: dciodvfy warns that empty is only for "unknown", which is what it is
    assert len([w for w in warnings if "Laterality" in w]) == (0 if laterality else 1)


def test_ct_like_source_series_is_conformant(tmp_path: Path) -> None:
    vol = np.random.default_rng(0).normal(0, 300, (4, 12, 14))
    files = write_source_dicom(vol, tmp_path, geometry=MaskGeometry((2.5, 0.8, 0.7), (1.0, 2.0, 3.0)),
                               patient_id="RS-2")
    assert len(files) == 4
    for f in files:
        assert_conformant(f.path)


# BINARY only: the app exports BINARY SEGs; Debian's dicom3tools (2022) predates the Label Map
# Segmentation IOD (2024), so it cannot judge a LABELMAP one ("Information Object Not found").
@pytest.mark.parametrize("seg_type", ["BINARY"])
@pytest.mark.parametrize("source", ["secondary-capture", "ct-like", "imported-ct"])
def test_segmentation_is_conformant(source: str, seg_type: str, tmp_path: Path) -> None:
    if source == "secondary-capture":
        img = (np.arange(20 * 24) % 200).reshape(20, 24).astype(np.uint8)
        sources = [pydicom.dcmread(f.path) for f in write_source_dicom(img, tmp_path / "src", patient_id="RS-3")]
    elif source == "ct-like":
        vol = np.zeros((3, 20, 24), np.int16)
        files = write_source_dicom(vol, tmp_path / "src", geometry=MaskGeometry((3.0, 0.5, 0.5)), patient_id="RS-3")
        sources = [pydicom.dcmread(f.path) for f in files]
    else:
        ds = BUILDERS["CT"](20, 24)
        deidentify(ds, secret="s", pseudonym="RS-3", shift_days=-3)
        ds.save_as(tmp_path / "ct.dcm", enforce_file_format=True)
        sources = [pydicom.dcmread(tmp_path / "ct.dcm")]
    lab = np.zeros((len(sources), 20, 24), np.uint8)
    lab[:, 4:9, 5:12] = 1
    lab[-1, 12:15, 2:6] = 2
    w = write_dicom_seg(tmp_path / "seg.dcm", lab, LIVER, sources, segmentation_type=seg_type, content_creator="ann")
    assert_conformant(w.path)


def test_import_stores_conformant_deidentified_dicom(ctx, tmp_path: Path) -> None:  # noqa: ANN001
    for kind, build in BUILDERS.items():
        build().save_as(tmp_path / f"{kind}.dcm", enforce_file_format=True)
    report = import_cases(ctx, LOCAL, "conformance", [CaseSource(k, tmp_path / f"{k}.dcm") for k in BUILDERS],
                          deid=DeidRequest(burned_in="flag"))
    assert sorted(report.imported) == sorted(BUILDERS)
    with ctx.uow() as uow:
        study = uow.studies.by_name("conformance")
        stored = [ctx.store.path(a.path) for c in uow.cases.list(study.id) for a in uow.assets.for_case(c.id, "dicom")]
    assert len(stored) == len(BUILDERS)
    for path in stored:
        assert assert_conformant(path) == []


def test_exported_demo_segmentations_and_sources_are_conformant(demo_ctx, tmp_path: Path) -> None:  # noqa: ANN001
    db = demo_ctx.url.removeprefix("sqlite:///")
    written = []
    for study in ("BUSI benign vs malignant", "Phantom liver CT/PET"):
        out = tmp_path / re.sub(r"\W+", "_", study)
        assert main(["export-masks", "--db", db, "--study", study, "--format", "dicom-seg", "--out", str(out)]) == 0
        written += sorted(out.rglob("*.dcm"))
    kinds = {str(pydicom.dcmread(p, stop_before_pixels=True).SOPClassUID.name) for p in written}
    assert kinds == {"Segmentation Storage", "Secondary Capture Image Storage", "CT Image Storage"}
    for path in written:
        assert_conformant(path)


def _normalised(lines: list[str]) -> set[str]:
    return {re.sub(r"<[^>]*>|\[[^\]]*\]|\d+", "#", ln) for ln in lines}


def test_deidentification_adds_no_error_to_the_pydicom_corpus(tmp_path: Path) -> None:
    """Whatever a real-world file's own faults, de-identifying it introduces no new dciodvfy error."""
    checked = 0
    for name in get_testdata_files("*.dcm"):
        before_path, after_path = tmp_path / "before.dcm", tmp_path / "after.dcm"
        try:
            ds = pydicom.dcmread(name)
            if "PixelData" not in ds or "SOPClassUID" not in ds:
                continue
            ds.save_as(before_path, enforce_file_format=False)
        except Exception:  # files pydicom cannot read or write back are the loaders' business
            continue
        after = copy.deepcopy(ds)
        try:
            deidentify(after, secret="s", pseudonym="RS-9", shift_days=-9)
        except ValidationError:  # pixel data no codec here decodes (the import refuses it too)
            continue
        after.save_as(after_path, enforce_file_format=False)
        new = _normalised(dciodvfy(after_path)[0]) - _normalised(dciodvfy(before_path)[0])
        assert not new, f"{Path(name).name}: de-identification added {sorted(new)}"
        checked += 1
    assert checked >= 60, checked
