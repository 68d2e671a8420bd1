"""Import of the inputs of issue 17: what the store and the database hold afterwards is right."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from readerstudy.services.auth import local_session

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "imaging"))
from dicom_builders import SAGITTAL, enhanced_ct, save, single_slice, write_series  # noqa: E402

from readerstudy.imaging.nifti import read_nifti, write_nifti  # noqa: E402
from readerstudy.services.importing import CaseSource, import_cases, sources_from_folder  # noqa: E402

LOCAL = local_session("test")  # the CLI's local coordinator session (reaches every study)


def _only_case(ctx, study: str):  # noqa: ANN001, ANN202
    with ctx.uow() as uow:
        cases = uow.cases.list(uow.studies.by_name(study).id)
        assert len(cases) == 1
        case = cases[0]
        return case, uow.assets.image(case.id), uow.annotations.list(case.id)


def _store_dirs(ctx) -> list[Path]:  # noqa: ANN001
    return [p for d in ctx.store.root.iterdir() if d.is_dir() and d.name != ".staging" for p in d.iterdir()]


def test_enhanced_ct_is_stored_in_hu_with_its_spacing_and_origin(ctx, tmp_path: Path) -> None:  # noqa: ANN001
    raw = np.arange(48, dtype=np.uint16).reshape(3, 4, 4)
    f = save(enhanced_ct(raw, [(-5.0, -6.0, 10.0 + 2.5 * k) for k in range(3)]), tmp_path / "e.dcm")
    import_cases(ctx, LOCAL, "enh", [CaseSource("e", f)])
    _, asset, _ = _only_case(ctx, "enh")
    stored = ctx.store.load_array(asset.path)
    assert int(stored.min()) == -1024 and int(stored.max()) == -930
    assert asset.spacing == pytest.approx((2.5, 0.7, 0.8)) and asset.origin == pytest.approx((-5.0, -6.0, 10.0))
    assert asset.is_volume and asset.shape == (3, 4, 4)


def test_series_with_a_missing_slice_is_refused_and_nothing_is_stored(ctx, tmp_path: Path) -> None:  # noqa: ANN001
    write_series(tmp_path / "in" / "ct", [0.0, 1.0, 2.0, 4.0, 5.0])
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "in" / "ok.png")
    sources = sources_from_folder(tmp_path / "in")
    assert sorted(s.case_id for s in sources) == ["ct", "ok.png"]
    report = import_cases(ctx, LOCAL, "gap", sources)
    assert report.imported == ["ok.png"]
    (case_id, reason), = report.refused
    assert case_id == "ct" and "not evenly spaced" in reason and "between 2 and 4 mm" in reason
    assert len(_store_dirs(ctx)) == 1


def test_mirrored_nifti_mask_is_stored_on_the_image_grid_with_a_note(ctx, tmp_path: Path) -> None:  # noqa: ANN001
    vol = np.random.default_rng(0).integers(0, 100, (3, 4, 5)).astype(np.int16)
    truth = np.zeros((3, 4, 5), np.uint8)
    truth[1, 1:3, 0:2] = 1
    mirror = (-1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
    src = tmp_path / "in"
    src.mkdir()
    write_nifti(vol, src / "v.nii.gz", spacing=(2.0, 1.0, 1.0))
    write_nifti(truth[:, :, ::-1].copy(), src / "v_mask.nii.gz", spacing=(2.0, 1.0, 1.0),
                origin=(4.0, 0.0, 0.0), direction=mirror)
    report = import_cases(ctx, LOCAL, "mirror", sources_from_folder(src))
    assert report.masks == 1 and not report.refused
    _, asset, (ann,) = _only_case(ctx, "mirror")
    stored, geo = read_nifti(ctx.store.path(ann.path))
    np.testing.assert_array_equal(stored, truth)  # not mirrored
    assert geo["direction"] == pytest.approx((1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0))
    assert any(n.startswith("mask resampled onto the image grid") for n in asset.notes)
    assert not any("v_mask" in n or "v.nii" in n for n in asset.notes)  # source names stay out of the case


def test_mask_on_a_grid_that_misses_the_image_is_refused(ctx, tmp_path: Path) -> None:  # noqa: ANN001
    src = tmp_path / "in"
    src.mkdir()
    write_nifti(np.zeros((3, 4, 5), np.int16), src / "v.nii.gz", spacing=(1.0, 1.0, 1.0))
    write_nifti(np.ones((3, 4, 5), np.uint8), src / "v_mask.nii.gz", spacing=(2.0, 2.0, 2.0),
                origin=(50.0, 0.0, 0.0))
    report = import_cases(ctx, LOCAL, "miss", sources_from_folder(src))
    assert report.imported == [] and "does not overlap the image" in report.refused[0][1]
    with ctx.uow() as uow:
        assert uow.studies.find("miss") is None
    assert _store_dirs(ctx) == []


def test_single_sagittal_slice_keeps_position_and_orientation(ctx, tmp_path: Path) -> None:  # noqa: ANN001
    f = save(single_slice(np.zeros((4, 6), np.uint16), position=(10.0, 20.0, 30.0), orientation=SAGITTAL),
             tmp_path / "s.dcm")
    import_cases(ctx, LOCAL, "sag", [CaseSource("s", f)])
    _, asset, _ = _only_case(ctx, "sag")
    assert asset.origin == pytest.approx((10.0, 20.0, 30.0))
    assert asset.direction == pytest.approx((0.0, 0.0, -1.0, 1.0, 0.0, 0.0, 0.0, -1.0, 0.0))


def test_monochrome1_is_stored_as_is_with_its_window_and_the_invert_flag(ctx, tmp_path: Path) -> None:  # noqa: ANN001
    stored = np.linspace(100, 3000, 64).astype(np.uint16).reshape(8, 8)
    ds = single_slice(stored, position=None, orientation=None, spacing=(0.1, 0.1), thickness=None, modality="CR",
                      photometric="MONOCHROME1", window=(1000.0, 400.0), sop_class="1.2.840.10008.5.1.4.1.1.1")
    import_cases(ctx, LOCAL, "cr", [CaseSource("cr", save(ds, tmp_path / "cr.dcm"))])
    _, asset, _ = _only_case(ctx, "cr")
    np.testing.assert_array_equal(ctx.store.load_array(asset.path)[0], stored)
    assert asset.invert and asset.window == (1000.0, 400.0) and asset.photometric == "MONOCHROME1"


def test_palette_and_grey_alpha_pngs_import_in_one_folder_run(ctx, tmp_path: Path) -> None:  # noqa: ANN001
    idx = (np.arange(48).reshape(6, 8) * 5).astype(np.uint8)
    tmp_path = tmp_path / "in"
    tmp_path.mkdir()
    p = Image.fromarray(idx, "L").convert("P")
    p.putpalette([v for i in range(256) for v in (255 - i,) * 3])
    p.putdata(idx.ravel().tolist())
    p.save(tmp_path / "a_palette.png")
    Image.fromarray(np.stack([idx, np.full_like(idx, 128)], -1), "LA").save(tmp_path / "b_la.png")
    Image.fromarray(idx).save(tmp_path / "c_plain.png")
    report = import_cases(ctx, LOCAL, "modes", sources_from_folder(tmp_path))
    assert report.imported == ["a_palette.png", "b_la.png", "c_plain.png"] and not report.refused
    with ctx.uow() as uow:
        cases = {c.source_ref: uow.assets.image(c.id) for c in uow.cases.list(uow.studies.by_name("modes").id)}
    np.testing.assert_array_equal(ctx.store.load_array(cases["a_palette.png"].path)[0], 255 - idx)
    np.testing.assert_array_equal(ctx.store.load_array(cases["b_la.png"].path)[0], idx)
