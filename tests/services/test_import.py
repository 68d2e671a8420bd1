"""Import: every pydicom test file imports or is refused cleanly; de-identification; masks; manifests."""

from __future__ import annotations

import copy
import csv
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_file, get_testdata_files

from readerstudy.core.errors import ValidationError
from readerstudy.imaging.nifti import read_nifti, write_nifti
from readerstudy.services.auth import local_session  # noqa: E402
from readerstudy.services.importing import (
    CaseSource,
    import_cases,
    sources_from_folder,
    sources_from_manifest,
)

LOCAL = local_session("test")  # the CLI's local coordinator session (reaches every study)


def _store_case_dirs(ctx) -> set[str]:  # noqa: ANN001
    return {p.name for d in ctx.store.root.iterdir() if d.is_dir() and d.name != ".staging" for p in d.iterdir()}


def test_every_pydicom_file_imports_or_is_refused_in_one_line(ctx) -> None:  # noqa: ANN001
    files = [Path(f) for f in get_testdata_files()]
    report = import_cases(ctx, LOCAL, "pydicom", [CaseSource(f"{i}:{f.name}", f) for i, f in enumerate(files)])
    assert len(report.imported) + len(report.refused) == len(files)
    assert report.crashed == 0, [f for f in report.files if f.unexpected]
    assert len(report.imported) >= 89  # all decodable image objects (89 of the 176 files here)
    for _case, reason in report.refused:
        assert reason and "\n" not in reason
    with ctx.uow() as uow:
        study = uow.studies.by_name("pydicom")
        cases = uow.cases.list(study.id)
        assert sorted(c.source_ref for c in cases) == sorted(report.imported)
        for c in cases[:20]:
            asset = uow.assets.image(c.id)
            assert ctx.store.verify(asset.path, asset.checksum)
    # refused files left nothing behind: one store folder per imported case, empty staging
    assert len(_store_case_dirs(ctx)) == len(report.imported)
    assert not any((ctx.store.root / ".staging").iterdir())
    reasons = " ".join(r for _, r in report.refused)
    assert "no pixel data" in reasons and "not a DICOM file" in reasons and "cannot be decoded" in reasons


def test_dicom_is_deidentified_and_phi_kept_privately(ctx) -> None:  # noqa: ANN001
    src = Path(get_testdata_file("CT_small.dcm"))
    original = pydicom.dcmread(src)
    import_cases(ctx, LOCAL, "deid", [CaseSource("ct", src)])
    with ctx.uow() as uow:
        case = uow.cases.list(uow.studies.by_name("deid").id)[0]
        stored = pydicom.dcmread(ctx.store.path(uow.assets.for_case(case.id, "dicom")[0].path))
        phi = uow.cases.phi(case.id)
    assert stored.PatientName.family_name == case.pseudonym and stored.PatientID == case.pseudonym
    assert stored.PatientIdentityRemoved == "YES"
    assert stored.StudyInstanceUID != original.StudyInstanceUID
    assert stored.SOPInstanceUID != original.SOPInstanceUID
    assert stored.file_meta.MediaStorageSOPInstanceUID == stored.SOPInstanceUID
    assert stored.StudyDate != original.StudyDate and len(stored.StudyDate) == 8
    assert "InstitutionName" not in stored and not any(e.tag.is_private for e in stored)
    assert phi["original"]["instances"][0]["PatientName"] == str(original.PatientName)
    assert -365 <= phi["date_shift_days"] < 0
    np.testing.assert_array_equal(stored.pixel_array, original.pixel_array)  # pixels untouched


def test_multiframe_ultrasound_is_cine(ctx) -> None:  # noqa: ANN001
    import_cases(ctx, LOCAL, "cine", [CaseSource("us", Path(get_testdata_file("examples_ybr_color.dcm")))])
    with ctx.uow() as uow:
        asset = uow.assets.image(uow.cases.list(uow.studies.by_name("cine").id)[0].id)
    assert asset.is_cine and not asset.is_volume
    assert asset.shape == (30, 240, 320) and asset.frame_time_ms == pytest.approx(33.333, abs=1e-3)


def test_dicom_series_becomes_one_sorted_volume(ctx, tmp_path: Path) -> None:  # noqa: ANN001
    base = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    series = tmp_path / "series"
    series.mkdir()
    for i in (3, 0, 2, 1):  # written out of order on purpose
        ds = copy.deepcopy(base)
        ds.ImagePositionPatient = [-158.0, -179.0, -75.0 + 2.5 * i]
        ds.InstanceNumber = i + 1
        ds.SOPInstanceUID = pydicom.uid.generate_uid()
        ds.PixelData = (base.pixel_array + 100 * i).astype(base.pixel_array.dtype).tobytes()
        ds.save_as(series / f"slice{(i * 7) % 4}.dcm")
    import_cases(ctx, LOCAL, "series", [CaseSource("ct-series", series)])
    with ctx.uow() as uow:
        case = uow.cases.list(uow.studies.by_name("series").id)[0]
        asset = uow.assets.image(case.id)
        dicoms = uow.assets.for_case(case.id, "dicom")
    vol = ctx.store.load_array(asset.path)
    assert asset.is_volume and vol.shape == (4, 128, 128)
    assert asset.spacing[0] == pytest.approx(2.5) and asset.spacing[1] == pytest.approx(0.661468)
    assert asset.origin[2] == pytest.approx(-75.0)
    slope = float(base.RescaleSlope)
    assert np.allclose(np.diff(vol.reshape(4, -1).mean(axis=1)), 100 * slope)  # sorted by position
    assert len(dicoms) == 4


def test_png_and_nifti_with_masks(ctx, tmp_path: Path) -> None:  # noqa: ANN001
    tmp_path = tmp_path / "in"
    tmp_path.mkdir()
    img = (np.arange(40 * 60) % 251).reshape(40, 60).astype(np.uint8)
    Image.fromarray(np.stack([img] * 3, -1)).save(tmp_path / "a.png")
    m1 = np.zeros((40, 60), np.uint8)
    m1[5:10, 5:10] = 255
    m2 = np.zeros((40, 60), np.uint8)
    m2[20:25, 30:40] = 1
    Image.fromarray(m1).save(tmp_path / "a_mask.png")
    Image.fromarray(m2).save(tmp_path / "a_mask_1.png")
    vol = np.random.default_rng(0).integers(-100, 100, (6, 20, 30)).astype(np.int16)
    lab = np.zeros_like(vol, dtype=np.uint8)
    lab[2:4, 5:10, 5:10] = 2
    write_nifti(vol, tmp_path / "v.nii.gz", spacing=(3.0, 0.8, 0.7), origin=(1.0, 2.0, 3.0))
    write_nifti(lab, tmp_path / "v_mask.nii.gz", spacing=(3.0, 0.8, 0.7), origin=(1.0, 2.0, 3.0))
    sources = sources_from_folder(tmp_path)
    assert sorted(s.case_id for s in sources) == ["a.png", "v.nii.gz"]
    report = import_cases(ctx, LOCAL, "mixed", sources)
    assert report.masks == 2 and not report.refused
    with ctx.uow() as uow:
        cases = {c.source_ref: c for c in uow.cases.list(uow.studies.by_name("mixed").id)}
        png_ann = uow.annotations.list(cases["a.png"].id)[0]
        vol_asset = uow.assets.image(cases["v.nii.gz"].id)
        vol_ann = uow.annotations.list(cases["v.nii.gz"].id)[0]
    np.testing.assert_array_equal(ctx.store.load_array(uow.assets.image(cases["a.png"].id).path)[0], img)
    png_mask, _ = read_nifti(ctx.store.path(png_ann.path))
    assert png_mask.sum() == 25 + 50 and png_ann.version == 1
    vol_mask, geo = read_nifti(ctx.store.path(vol_ann.path))
    np.testing.assert_array_equal(vol_mask, lab)
    assert geo["spacing"] == pytest.approx((3.0, 0.8, 0.7)) and vol_asset.spacing == pytest.approx((3.0, 0.8, 0.7))
    assert vol_asset.origin == pytest.approx((1.0, 2.0, 3.0))


def test_mask_of_wrong_shape_is_refused_and_nothing_written(ctx, tmp_path: Path) -> None:  # noqa: ANN001
    tmp_path = tmp_path / "in"
    tmp_path.mkdir()
    Image.fromarray(np.zeros((40, 60), np.uint8)).save(tmp_path / "b.png")
    Image.fromarray(np.zeros((41, 60), np.uint8)).save(tmp_path / "b_mask.png")
    report = import_cases(ctx, LOCAL, "bad", sources_from_folder(tmp_path))
    assert report.imported == [] and "does not match the image shape (1, 40, 60)" in report.refused[0][1]
    with ctx.uow() as uow:  # every file refused: no study row, no audit event
        assert uow.studies.find("bad") is None
        assert uow.audit.list() == []
    assert _store_case_dirs(ctx) == set()


def _manifest(tmp_path: Path, rows: list[dict]) -> Path:
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "x.png")
    path = tmp_path / "m.csv"
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["case_id", "image", "truth", "site"])
        w.writeheader()
        w.writerows(rows)
    return path


def test_manifest_reads_truth_and_site(ctx, tmp_path: Path) -> None:  # noqa: ANN001
    path = _manifest(tmp_path, [{"case_id": "p1", "image": "x.png", "truth": "1", "site": "North"},
                                {"case_id": "p2", "image": "x.png", "truth": "0", "site": "South"}])
    import_cases(ctx, LOCAL, "man", sources_from_manifest(path))
    with ctx.uow() as uow:
        got = {c.source_ref: (c.truth, c.site) for c in uow.cases.list(uow.studies.by_name("man").id)}
    assert got == {"p1": (1, "North"), "p2": (0, "South")}


@pytest.mark.parametrize(("rows", "message"), [
    ([{"case_id": "a", "image": "x.png"}, {"case_id": "a", "image": "x.png"}], "duplicate case_id 'a'"),
    ([{"case_id": "a", "image": "missing.png"}], "missing.png does not exist"),
    ([{"case_id": "a", "image": "x.png", "truth": "maybe"}], "truth 'maybe' is not 0/1"),
    ([], "lists no cases"),
])
def test_bad_manifest_is_refused_whole(tmp_path: Path, rows: list[dict], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        sources_from_manifest(_manifest(tmp_path, rows))


def test_reimporting_a_case_id_is_refused(ctx, tmp_path: Path) -> None:  # noqa: ANN001
    path = _manifest(tmp_path, [{"case_id": "p1", "image": "x.png"}])
    import_cases(ctx, LOCAL, "twice", sources_from_manifest(path))
    again = import_cases(ctx, LOCAL, "twice", sources_from_manifest(path))
    assert again.imported == [] and "already in study" in again.refused[0][1]
