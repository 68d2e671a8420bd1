"""Burned-in annotation at import: stored per image, shown to the coordinator, decided by the study."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest

from readerstudy.cli.app import main
from readerstudy.core.errors import ValidationError
from readerstudy.services import browse
from readerstudy.services.auth import local_session
from readerstudy.services.deid_policy import DeidRequest, DeidSettings, PixelRect
from readerstudy.services.importing import CaseSource, import_cases

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "imaging"))
from dicom_objects import ct_image, us_image  # noqa: E402

LOCAL = local_session("test")  # the CLI's local coordinator session (reaches every study)


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    out = {"us_text": tmp_path / "us_text.dcm", "us_clean": tmp_path / "us_clean.dcm", "ct": tmp_path / "ct.dcm"}
    us_image(burned_in=True).save_as(out["us_text"], enforce_file_format=True)
    us_image(burned_in=False).save_as(out["us_clean"], enforce_file_format=True)
    ct_image().save_as(out["ct"], enforce_file_format=True)  # a CT that does not say
    return out


def _rows(ctx, study: str) -> dict[str, browse.CaseRow]:  # noqa: ANN001
    return {r.case.source_ref: r for r in browse.study_cases(ctx, LOCAL, study)}


def test_a_new_study_refuses_flagged_images_by_default(ctx, files) -> None:  # noqa: ANN001
    report = import_cases(ctx, LOCAL, "us", [CaseSource(k, p) for k, p in files.items()])
    assert sorted(report.imported) == ["ct", "us_clean"]
    [(case, reason)] = report.refused
    assert case == "us_text" and "Burned In Annotation is YES" in reason and "--burned-in flag" in reason
    assert "\n" not in reason
    rows = _rows(ctx, "us")
    assert rows["us_clean"].burned_in == "NO" and rows["ct"].burned_in == ""
    with ctx.uow() as uow:
        study = uow.studies.by_name("us")
    assert DeidSettings.of(study) == DeidSettings("refuse", True)
    assert study.protocol["deid"] == {"burned_in": "refuse", "retain_longitudinal_modified_dates": True}


def test_flag_policy_imports_with_the_flag_and_a_warning(ctx, files) -> None:  # noqa: ANN001
    report = import_cases(ctx, LOCAL, "us", [CaseSource("us_text", files["us_text"])], deid=DeidRequest(burned_in="flag"))
    assert report.imported == ["us_text"]
    assert any("WARNING burned-in annotation" in n and n.startswith("us_text") for n in report.notes)
    row = _rows(ctx, "us")["us_text"]
    assert row.burned_in == "YES" and row.burned_in_warning
    with ctx.uow() as uow:
        asset = uow.assets.image(row.case.id)
        events = [e for e in uow.audit.list() if e.action == "study.deid_settings"]
    assert asset.burned_in_annotation == "YES" and asset.clean_pixel_rects == ()
    assert events and events[-1].payload["burned_in"] == "flag"
    # the setting is the study's: the next import without the option still flags
    again = import_cases(ctx, LOCAL, "us", [CaseSource("us_text_2", files["us_text"])])
    assert again.imported == ["us_text_2"]


def test_clean_pixel_rectangles_mask_store_and_dicom(ctx, files) -> None:  # noqa: ANN001
    rect = PixelRect(0, 0, 32, 4)  # the text band of the test image
    report = import_cases(ctx, LOCAL, "us", [CaseSource("us_text", files["us_text"])], deid=DeidRequest(clean_rects=(rect,)))
    assert report.imported == ["us_text"] and not report.refused  # the study refuses, but the text is masked
    assert any("Clean Pixel Data: 1 rectangle(s)" in n for n in report.notes)
    row = _rows(ctx, "us")["us_text"]
    assert row.burned_in == "YES, masked" and not row.burned_in_warning
    original = pydicom.dcmread(files["us_text"]).pixel_array
    with ctx.uow() as uow:
        asset = uow.assets.image(row.case.id)
        dicom = uow.assets.for_case(row.case.id, "dicom")[0]
    pixels = ctx.store.load_array(asset.path)
    assert asset.clean_pixel_rects == ((0, 0, 32, 4),)
    assert np.all(pixels[0, :4] == pixels.min()) and not np.all(original[:4] == pixels.min())
    np.testing.assert_array_equal(pixels[0, 4:], original[4:])
    stored = pydicom.dcmread(ctx.store.path(dicom.path))
    assert np.all(stored.pixel_array[:4] == stored.pixel_array.min())
    assert "113101" in [i.CodeValue for i in stored.DeidentificationMethodCodeSequence]


def test_a_rectangle_outside_an_image_refuses_that_image_only(ctx, files) -> None:  # noqa: ANN001
    report = import_cases(ctx, LOCAL, "mix", [CaseSource("us", files["us_clean"]), CaseSource("ct", files["ct"])],
                          deid=DeidRequest(clean_rects=(PixelRect(0, 0, 20, 20),)))  # US 32x24, CT 16x16
    assert report.imported == ["us"]
    [(case, reason)] = report.refused
    assert case == "ct" and "reaches outside the 16x16 image" in reason


def test_the_dates_option_is_fixed_once_a_study_has_cases(ctx, files) -> None:  # noqa: ANN001
    import_cases(ctx, LOCAL, "dates", [CaseSource("ct", files["ct"])], deid=DeidRequest(retain_longitudinal_modified_dates=False))
    with ctx.uow() as uow:
        case = uow.cases.list(uow.studies.by_name("dates").id)[0]
        stored = pydicom.dcmread(ctx.store.path(uow.assets.for_case(case.id, "dicom")[0].path))
    assert stored.StudyDate == "" and stored.LongitudinalTemporalInformationModified == "REMOVED"
    with pytest.raises(ValidationError, match="dates removed"):
        import_cases(ctx, LOCAL, "dates", [CaseSource("ct2", files["ct"])],
                     deid=DeidRequest(retain_longitudinal_modified_dates=True))


def test_cli_import_options(tmp_path: Path, files, capsys) -> None:  # noqa: ANN001
    db = str(tmp_path / "cli.sqlite")
    folder = tmp_path / "us_only"
    folder.mkdir()
    for k in ("us_text", "us_clean"):
        files[k].rename(folder / files[k].name)
    assert main(["import", "--db", db, "--study", "cli", "--folder", str(folder), "--burned-in", "flag",
                 "--clean-rect", "0,0,32,4", "--dates", "shift"]) == 0
    out = capsys.readouterr().out
    assert "imported 2 case(s)" in out and "refused 0" in out and "Clean Pixel Data" in out
    assert main(["import", "--db", db, "--study", "cli2", "--folder", str(folder), "--clean-rect", "0,0,4"]) == 3
    err = capsys.readouterr().err
    assert "four integers" in err and len(err.strip().splitlines()) == 1
