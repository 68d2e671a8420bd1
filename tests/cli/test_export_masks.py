"""``readerstudy export-masks`` and ``readerstudy agreement`` on the demo studies."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from readerstudy.cli.app import main
from readerstudy.core.models import Role
from readerstudy.services import annotation as svc

BUSI = "BUSI benign vs malignant"
PHANTOM = "Phantom liver CT/PET"
EXPERT = "Expert annotator"



def _as(ctx, case, name: str):  # noqa: ANN001, ANN202
    """The session ``name`` would have after signing in to the case's study."""
    from readerstudy.services.auth import UserSession

    with ctx.uow() as uow:
        study = uow.studies.get(case.study_id)
        p = uow.readers.by_name(study.id, name)
    return UserSession(study.id, study.name, p.id, p.name, p.role, p.seniority)

def _db(ctx) -> str:
    return ctx.url.removeprefix("sqlite:///")


def _stored(ctx, study_name: str) -> dict[str, tuple]:
    """pseudonym -> (stored mask (z, y, x), image asset) of the expert's latest version."""
    out = {}
    with ctx.uow() as uow:
        study = uow.studies.by_name(study_name)
        expert = uow.readers.by_name(study.id, EXPERT)
        for case in uow.cases.list(study.id):
            rec = uow.annotations.latest(case.id, expert.id)
            out[case.pseudonym] = (rec, uow.assets.image(case.id))
    return out


def test_export_nifti_round_trips_with_geometry(demo_ctx, tmp_path: Path) -> None:
    import SimpleITK as sitk

    # a second version must be the one exported
    with demo_ctx.uow() as uow:
        study = uow.studies.by_name(PHANTOM)
        case = uow.cases.list(study.id)[0]
    layer, _, _ = svc.open_annotation(demo_ctx, _as(demo_ctx, case, EXPERT), case.id)
    layer.paint((5, 10, 10), radius=3, label=2)
    svc.save_annotation(demo_ctx, _as(demo_ctx, case, EXPERT), case.id, layer)

    out = tmp_path / "nifti"
    assert main(["export-masks", "--db", _db(demo_ctx), "--study", PHANTOM, "--format", "nifti",
                 "--out", str(out)]) == 0
    stored = _stored(demo_ctx, PHANTOM)
    with open(out / "index.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(stored) == 6
    assert set(rows[0]) == {"case", "annotator", "version", "label_set", "file"}
    for row in rows:
        rec, asset = stored[row["case"]]
        assert row["annotator"] == EXPERT and int(row["version"]) == rec.version
        assert row["label_set"] == "liver/tumour"
        assert row["file"] == f"{row['case']}__Expert_annotator.nii.gz"
        img = sitk.ReadImage(str(out / row["file"]))
        ref = sitk.ReadImage(str(demo_ctx.store.path(rec.path)))
        np.testing.assert_array_equal(sitk.GetArrayFromImage(img), sitk.GetArrayFromImage(ref))
        assert img.GetSpacing() == pytest.approx(tuple(reversed(asset.spacing)))
        assert img.GetOrigin() == pytest.approx(asset.origin)
        assert img.GetDirection() == pytest.approx(asset.direction)
    assert {int(r["version"]) for r in rows if r["case"] == case.pseudonym} == {2}
    np.testing.assert_array_equal(
        sitk.GetArrayFromImage(sitk.ReadImage(str(out / f"{case.pseudonym}__Expert_annotator.nii.gz"))),
        layer.data)


def test_export_dicom_seg_reads_back_with_highdicom(demo_ctx, tmp_path: Path) -> None:
    import highdicom as hd
    import pydicom

    out = tmp_path / "seg"
    assert main(["export-masks", "--db", _db(demo_ctx), "--study", PHANTOM, "--format", "dicom-seg",
                 "--out", str(out), "--annotator", EXPERT]) == 0
    stored = _stored(demo_ctx, PHANTOM)
    with open(out / "index.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 6
    for row in rows[:2]:
        rec, _ = stored[row["case"]]
        expected, _ = svc.mask_io.read_nifti_mask(demo_ctx.store.path(rec.path))
        sources = sorted((pydicom.dcmread(p) for p in (out / "source" / row["case"]).glob("*.dcm")),
                         key=lambda d: float(d.ImagePositionPatient[2]))
        assert len(sources) == expected.shape[0] == 48
        seg = hd.seg.segread(str(out / row["file"]))
        assert [str(s.SegmentLabel) for s in seg.SegmentSequence] == ["liver", "tumour"]
        pixels = seg.get_pixels_by_source_instance(
            source_sop_instance_uids=[str(d.SOPInstanceUID) for d in sources], combine_segments=True,
            skip_overlap_checks=True)
        np.testing.assert_array_equal(np.asarray(pixels).reshape(expected.shape), expected)
        assert str(seg.PatientID) == row["case"]


def test_export_png_of_busi_and_refusals(demo_ctx, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from PIL import Image

    out = tmp_path / "png"
    assert main(["export-masks", "--db", _db(demo_ctx), "--study", BUSI, "--format", "png",
                 "--out", str(out)]) == 0
    stored = _stored(demo_ctx, BUSI)
    rows = list(csv.DictReader((out / "index.csv").read_text().splitlines()))
    assert len(rows) == 79
    rec, _ = stored[rows[0]["case"]]
    expected, _ = svc.mask_io.read_nifti_mask(demo_ctx.store.path(rec.path))
    np.testing.assert_array_equal(np.asarray(Image.open(out / rows[0]["file"]))[None], expected)
    # a volume cannot be a PNG; an unknown annotator is refused: exit 3, one line
    assert main(["export-masks", "--db", _db(demo_ctx), "--study", PHANTOM, "--format", "png",
                 "--out", str(tmp_path / "bad")]) == 3
    assert main(["export-masks", "--db", _db(demo_ctx), "--study", BUSI, "--format", "nifti",
                 "--out", str(tmp_path / "bad2"), "--annotator", "Nobody"]) == 3
    assert "Nobody" in capsys.readouterr().err
    assert main(["export-masks", "--db", _db(demo_ctx), "--study", BUSI, "--format", "jpeg",
                 "--out", str(tmp_path / "bad3")]) == 2


def test_agreement_cli_writes_csv(demo_ctx, tmp_path: Path) -> None:
    with demo_ctx.uow() as uow:
        study = uow.studies.by_name(BUSI)
        case = uow.cases.list(study.id)[3]
        uow.readers.add(study.id, "Second", Role.ANNOTATOR)
        uow.commit()
    expert, _, _ = svc.open_annotation(demo_ctx, _as(demo_ctx, case, EXPERT), case.id)
    second, _, _ = svc.open_annotation(demo_ctx, _as(demo_ctx, case, "Second"), case.id)
    second.replace_data(expert.data)  # identical masks: Dice 1, HD95 0
    svc.save_annotation(demo_ctx, _as(demo_ctx, case, "Second"), case.id, second)
    out = tmp_path / "agreement.csv"
    assert main(["agreement", "--db", _db(demo_ctx), "--study", BUSI, "--out", str(out)]) == 0
    rows = list(csv.DictReader(out.read_text().splitlines()))
    assert [r["case"] for r in rows] == [case.pseudonym, "(mean)"]
    assert float(rows[0]["dice"]) == pytest.approx(1.0) and float(rows[0]["hd95_mm"]) == 0.0
    assert rows[0]["a"] == EXPERT and rows[0]["b"] == "Second"
