"""The one pixels + geometry reader: each input of issue 17 ("What was seen") with the right value."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from dicom_builders import SAGITTAL, enhanced_ct, save, single_slice, write_series
from PIL import Image

from readerstudy.core.errors import UnsupportedFileError
from readerstudy.imaging.geometry import Grid
from readerstudy.imaging.image_reader import read_dicom_series, read_image
from readerstudy.imaging.nifti import write_nifti
from readerstudy.imaging.raster import grey_of
from readerstudy.imaging.windowing import to_display

IDENTITY = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)


# ----------------------------------------------------------------------------- enhanced multi-frame
def test_enhanced_ct_takes_rescale_spacing_and_positions_from_the_functional_groups(tmp_path: Path) -> None:
    raw = np.arange(48, dtype=np.uint16).reshape(3, 4, 4)
    ds = enhanced_ct(raw, [(-5.0, -6.0, 10.0 + 2.5 * k) for k in range(3)], window=(-980.0, 100.0))
    img = read_image(save(ds, tmp_path / "enhanced.dcm"))
    assert img.pixels.min() == -1024 and img.pixels.max() == -930  # HU, not the stored 0..47
    np.testing.assert_array_equal(img.pixels, raw.astype(np.int32) * 2 - 1024)
    assert img.spacing == pytest.approx((2.5, 0.7, 0.8))
    assert img.origin == pytest.approx((-5.0, -6.0, 10.0))  # the first frame's ImagePositionPatient
    assert img.direction == pytest.approx(IDENTITY)
    assert img.is_volume and not img.is_cine and img.placed
    assert img.window == (-980.0, 100.0)


def test_enhanced_frames_are_ordered_along_the_slice_normal(tmp_path: Path) -> None:
    raw = np.stack([np.full((4, 4), v, np.uint16) for v in (30, 10, 20)])
    ds = enhanced_ct(raw, [(0.0, 0.0, 15.0), (0.0, 0.0, 10.0), (0.0, 0.0, 12.5)], slope=1.0, intercept=0.0)
    img = read_image(save(ds, tmp_path / "e.dcm"))
    assert [int(f[0, 0]) for f in img.pixels] == [10, 20, 30]
    assert img.origin == pytest.approx((0.0, 0.0, 10.0)) and img.spacing[0] == pytest.approx(2.5)


def test_enhanced_per_frame_rescale_gives_every_frame_its_own_slope_and_intercept(tmp_path: Path) -> None:
    raw = np.arange(48, dtype=np.uint16).reshape(3, 4, 4)
    rescale = [(1.0, 0.0), (2.0, -1000.0), (0.5, 10.25)]
    ds = enhanced_ct(raw, [(0.0, 0.0, 2.5 * k) for k in range(3)], per_frame_rescale=rescale)
    img = read_image(save(ds, tmp_path / "e.dcm"))
    expected = np.stack([raw[f] * s + b for f, (s, b) in enumerate(rescale)])
    np.testing.assert_allclose(img.pixels, expected)
    assert img.pixels.dtype == np.float32  # 0.5 and 10.25 are not integral


def test_enhanced_frames_that_share_positions_are_refused(tmp_path: Path) -> None:
    raw = np.zeros((3, 4, 4), np.uint16)
    ds = enhanced_ct(raw, [(0.0, 0.0, 0.0), (0.0, 0.0, 2.5), (0.0, 0.0, 2.5)])
    with pytest.raises(UnsupportedFileError, match="share a position"):
        read_image(save(ds, tmp_path / "e.dcm"))


# ----------------------------------------------------------------------------- series
def test_series_is_sorted_by_position_with_each_slice_rescaled(tmp_path: Path) -> None:
    files = write_series(tmp_path / "s", [0.0, 1.0, 2.0, 3.0])
    img = read_dicom_series(files)
    assert img.pixels.shape == (4, 4, 4) and img.is_volume and img.placed
    assert [int(f[0, 0]) for f in img.pixels] == [100 * k - 1024 for k in range(4)]
    assert img.spacing == pytest.approx((1.0, 0.5, 0.5)) and img.origin == pytest.approx((-10.0, -20.0, 0.0))
    assert len(img.datasets) == 4 and float(img.datasets[0].ImagePositionPatient[2]) == 0.0


def test_series_with_a_missing_slice_is_refused_in_one_line(tmp_path: Path) -> None:
    files = write_series(tmp_path / "s", [0.0, 1.0, 2.0, 4.0, 5.0])
    with pytest.raises(UnsupportedFileError) as err:
        read_dicom_series(files)
    msg = str(err.value)
    assert "not evenly spaced" in msg and "between 2 and 4 mm" in msg and "\n" not in msg


def test_series_mixing_orientations_is_refused(tmp_path: Path) -> None:
    tilted = (1.0, 0.0, 0.0, 0.0, 0.8, 0.6)
    files = write_series(tmp_path / "s", [0.0, 1.0, 2.0], orientations=[(1, 0, 0, 0, 1, 0)] * 2 + [tilted])
    with pytest.raises(UnsupportedFileError, match="2 different orientations"):
        read_dicom_series(files)


def test_series_with_duplicated_positions_is_refused(tmp_path: Path) -> None:
    files = write_series(tmp_path / "s", [0.0, 1.0, 1.0, 2.0])
    with pytest.raises(UnsupportedFileError, match="2 slices share a position"):
        read_dicom_series(files)


def test_sheared_series_is_refused(tmp_path: Path) -> None:
    import pydicom

    files = write_series(tmp_path / "s", [0.0, 1.0, 2.0])
    for k, f in enumerate(sorted(files, key=lambda p: float(pydicom.dcmread(p).ImagePositionPatient[2]))):
        ds = pydicom.dcmread(f)
        ds.ImagePositionPatient = [-10.0, -20.0 + 0.5 * k, float(ds.ImagePositionPatient[2])]  # gantry tilt
        ds.save_as(f)
    with pytest.raises(UnsupportedFileError, match="shifted in-plane"):
        read_dicom_series(files)


# ----------------------------------------------------------------------------- single slice
def test_single_slice_keeps_its_position_and_sagittal_orientation(tmp_path: Path) -> None:
    ds = single_slice(np.zeros((4, 6), np.uint16), position=(10.0, 20.0, 30.0), orientation=SAGITTAL,
                      spacing=(0.5, 0.25))
    img = read_image(save(ds, tmp_path / "sag.dcm"))
    assert img.origin == pytest.approx((10.0, 20.0, 30.0))
    # columns: row cosine (0, 1, 0), column cosine (0, 0, -1), normal = row x col = (-1, 0, 0)
    assert img.direction == pytest.approx((0.0, 0.0, -1.0, 1.0, 0.0, 0.0, 0.0, -1.0, 0.0))
    assert img.spacing[1:] == pytest.approx((0.5, 0.25)) and img.placed
    # pixel (row 3, col 5) lies 5 * 0.25 mm along +y and 3 * 0.5 mm along -z from the origin
    grid = Grid.of(img)
    point = np.asarray(img.origin) + grid.matrix @ np.array([5 * 0.25, 3 * 0.5, 0.0])
    assert point == pytest.approx((10.0, 21.25, 28.5))


# ----------------------------------------------------------------------------- MONOCHROME1
def _cr(pixels: np.ndarray) -> object:
    return single_slice(pixels, position=None, orientation=None, spacing=(0.1, 0.1), thickness=None,
                        modality="CR", photometric="MONOCHROME1", window=(1000.0, 400.0),
                        sop_class="1.2.840.10008.5.1.4.1.1.1")


def test_monochrome1_keeps_stored_values_and_window_and_inverts_after_the_window(tmp_path: Path) -> None:
    stored = np.linspace(100, 3000, 64).astype(np.uint16).reshape(8, 8)
    stored[0, :3] = (800, 1000, 1200)
    img = read_image(save(_cr(stored), tmp_path / "cr.dcm"))
    np.testing.assert_array_equal(img.pixels[0], stored)  # not max + min - v
    assert img.window == (1000.0, 400.0) and img.invert and img.photometric == "MONOCHROME1"
    shown = to_display(img.pixels[0, 0, :3], img.window, invert=img.invert)
    assert shown == pytest.approx([1.0, 0.5, 0.0])  # 800 white, 1000 mid-grey, 1200 black


def test_monochrome1_series_follows_the_same_rule(tmp_path: Path) -> None:
    import pydicom

    files = write_series(tmp_path / "s", [0.0, 1.0], slope=1.0, intercept=0.0)
    for f in files:
        ds = pydicom.dcmread(f)
        ds.PhotometricInterpretation = "MONOCHROME1"
        ds.WindowCenter, ds.WindowWidth = 50, 20
        ds.save_as(f)
    img = read_dicom_series(files)
    assert img.invert and img.window == (50.0, 20.0)
    assert [int(f[0, 0]) for f in img.pixels] == [0, 100]  # stored values, each slice its own


# ----------------------------------------------------------------------------- PNG / JPEG, every Pillow mode
def _ramp(h: int = 6, w: int = 8) -> np.ndarray:
    return (np.arange(h * w).reshape(h, w) * 5).astype(np.uint8)


def _pillow_l(rgb: np.ndarray) -> np.ndarray:
    return np.asarray(Image.fromarray(rgb[..., :3].astype(np.uint8), "RGB").convert("L")).astype(int)


def test_palette_png_is_stored_as_the_palette_colours_not_the_indices(tmp_path: Path) -> None:
    idx = _ramp()
    im = Image.fromarray(idx, "L").convert("P")
    im.putpalette([v for i in range(256) for v in (255 - i,) * 3])  # a palette that runs backwards
    im.putdata(idx.ravel().tolist())
    im.save(tmp_path / "p.png")
    img = read_image(tmp_path / "p.png")
    np.testing.assert_array_equal(img.pixels[0], 255 - idx.astype(int))
    assert img.photometric == "PALETTE COLOR"


def test_grey_alpha_png_is_read_without_error(tmp_path: Path) -> None:
    grey = _ramp()
    alpha = np.full_like(grey, 255)
    alpha[0, 0] = 0
    Image.fromarray(np.stack([grey, alpha], -1), "LA").save(tmp_path / "la.png")
    img = read_image(tmp_path / "la.png")
    np.testing.assert_array_equal(img.pixels[0], grey)
    assert any("alpha channel was dropped" in n for n in img.notes)


@pytest.mark.parametrize("mode", ["1", "L", "I;16", "RGB", "RGBA"])
def test_png_modes_give_their_grey_values(tmp_path: Path, mode: str) -> None:
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (6, 8, 3)).astype(np.uint8)
    if mode == "1":
        arr = rng.integers(0, 2, (6, 8)).astype(bool)
        Image.fromarray(arr).save(tmp_path / "x.png")
        expected = arr.astype(int) * 255
    elif mode == "L":
        Image.fromarray(_ramp(), "L").save(tmp_path / "x.png")
        expected = _ramp().astype(int)
    elif mode == "I;16":
        arr = (np.arange(48).reshape(6, 8) * 1393).astype(np.uint16)  # up to 65471: a real 16-bit PNG
        Image.fromarray(arr).save(tmp_path / "x.png")
        expected = arr.astype(int)
    else:
        extra = [np.full((6, 8, 1), 200, np.uint8)] if mode == "RGBA" else []
        Image.fromarray(np.concatenate([rgb, *extra], -1), mode).save(tmp_path / "x.png")
        expected = _pillow_l(rgb)
    assert Image.open(tmp_path / "x.png").mode == mode
    img = read_image(tmp_path / "x.png")
    assert img.pixels.shape == (1, 6, 8)
    assert np.abs(img.pixels[0].astype(int) - expected).max() <= (1 if mode in ("RGB", "RGBA") else 0)
    if mode == "I;16":
        assert img.pixels.dtype == np.uint16 and int(img.pixels.max()) == 47 * 1393


def test_cmyk_jpeg_is_its_rgb_luminance(tmp_path: Path) -> None:
    rgb = np.random.default_rng(1).integers(0, 256, (16, 16, 3)).astype(np.uint8)
    Image.fromarray(rgb, "RGB").convert("CMYK").save(tmp_path / "c.jpg", quality=95)
    reopened = Image.open(tmp_path / "c.jpg")
    assert reopened.mode == "CMYK"
    expected = np.asarray(reopened.convert("RGB").convert("L")).astype(int)
    assert np.abs(read_image(tmp_path / "c.jpg").pixels[0].astype(int) - expected).max() <= 1


@pytest.mark.parametrize(("mode", "dtype"), [("PA", np.uint8), ("I", np.int32), ("F", np.float32),
                                             ("La", np.uint8), ("YCbCr", np.uint8), ("HSV", np.uint8)])
def test_modes_that_png_cannot_hold_are_converted_too(mode: str, dtype: type) -> None:
    if mode == "PA":
        im = Image.fromarray(_ramp(), "L").convert("P").convert("PA")
        expected = _ramp().astype(int)
    elif mode == "I":
        arr = (np.arange(48).reshape(6, 8) * 100_000 - 2_000_000).astype(np.int32)
        im, expected = Image.fromarray(arr, "I"), arr
    elif mode == "F":
        arr = (np.arange(48).reshape(6, 8) / 7.0 - 3.0).astype(np.float32)
        im, expected = Image.fromarray(arr, "F"), arr
    elif mode == "La":
        im = Image.fromarray(np.stack([_ramp(), np.full((6, 8), 255, np.uint8)], -1), "LA").convert("La")
        expected = _ramp().astype(int)
    else:
        rgb = np.random.default_rng(2).integers(0, 256, (6, 8, 3)).astype(np.uint8)
        im = Image.fromarray(rgb, "RGB").convert(mode)
        expected = _pillow_l(np.asarray(im.convert("RGB")))
    arr, _, _ = grey_of(im, "x")
    assert arr.dtype == dtype and arr.shape == (6, 8)
    np.testing.assert_allclose(arr.astype(np.float64), np.asarray(expected, np.float64), atol=1)


@pytest.mark.parametrize("damage", ["truncated", "not an image"])
def test_broken_raster_is_refused_in_one_line(tmp_path: Path, damage: str) -> None:
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64)).astype(np.uint8)).save(tmp_path / "b.png")
    data = (tmp_path / "b.png").read_bytes()
    (tmp_path / "b.png").write_bytes(data[: len(data) // 2] if damage == "truncated" else b"hello" * 20)
    with pytest.raises(UnsupportedFileError) as err:
        read_image(tmp_path / "b.png")
    assert str(err.value).startswith("b.png: not a readable PNG/JPEG") and "\n" not in str(err.value)


# ----------------------------------------------------------------------------- NIfTI
def test_nifti_keeps_its_geometry(tmp_path: Path) -> None:
    vol = np.arange(2 * 3 * 4, dtype=np.int16).reshape(2, 3, 4)
    flip = (-1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
    write_nifti(vol, tmp_path / "v.nii.gz", spacing=(3.0, 0.8, 0.7), origin=(1.0, 2.0, 3.0), direction=flip)
    img = read_image(tmp_path / "v.nii.gz")
    np.testing.assert_array_equal(img.pixels, vol)
    assert img.spacing == pytest.approx((3.0, 0.8, 0.7)) and img.origin == pytest.approx((1.0, 2.0, 3.0))
    assert img.direction == pytest.approx(flip) and img.placed and img.is_volume


def test_itk_warnings_become_log_records_and_errors_a_reason(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                                            capfd: pytest.CaptureFixture) -> None:
    import struct

    write_nifti(np.zeros((3, 4, 5), np.int16), tmp_path / "v.nii")
    header = bytearray((tmp_path / "v.nii").read_bytes())
    struct.pack_into("<hh", header, 252, 0, 1)  # qform_code 0, sform_code 1
    struct.pack_into("<12f", header, 280, 1.0, 0.5, 0, 0, 0, 1.0, 0, 0, 0, 0, 1.0, 0)  # a sheared sform
    (tmp_path / "sheared.nii").write_bytes(bytes(header))
    with caplog.at_level("DEBUG", logger="SimpleITK"), pytest.raises(UnsupportedFileError) as err:
        read_image(tmp_path / "sheared.nii")
    assert "orthonormal direction cosines" in str(err.value) and "\n" not in str(err.value)
    assert any(r.name == "SimpleITK" and "sform" in r.getMessage() for r in caplog.records)
    assert "WARNING" not in capfd.readouterr().err  # nothing printed by ITK itself


def test_truncated_raster_is_refused_even_after_weasyprint_was_imported(tmp_path: Path) -> None:
    # WeasyPrint (the report's PDF writer) sets Pillow's LOAD_TRUNCATED_IMAGES = True when imported,
    # after which a half-written PNG decoded as an image; import must refuse it whatever ran before.
    import weasyprint  # noqa: F401
    from PIL import ImageFile

    assert ImageFile.LOAD_TRUNCATED_IMAGES is True
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64)).astype(np.uint8)).save(tmp_path / "b.png")
    data = (tmp_path / "b.png").read_bytes()
    (tmp_path / "b.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(UnsupportedFileError, match="not a readable PNG/JPEG"):
        read_image(tmp_path / "b.png")
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True  # the report's setting is left as it was


# ----------------------------------------------------------------------------- is the spacing real?
def test_spacing_known_only_where_the_file_gives_one(tmp_path: Path) -> None:
    from readerstudy.storage.convert import _spacing_known

    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "a.png")
    png = read_image(tmp_path / "a.png")
    assert png.spacing == (1.0, 1.0, 1.0) and not png.spacing_known and png.meta()["spacing_known"] is False
    with_spacing = read_image(save(single_slice(np.zeros((4, 6), np.uint16)), tmp_path / "a.dcm"))
    assert with_spacing.spacing_known and with_spacing.meta()["spacing_known"] is True
    bare = read_image(save(single_slice(np.zeros((4, 6), np.uint16), spacing=None), tmp_path / "b.dcm"))
    assert not bare.spacing_known and any("1 mm assumed" in n for n in bare.notes)
    # assets stored before the flag: the 1 mm stand-in of an unplaced 2D image is not a spacing
    assert _spacing_known({"spacing": [1.0, 1.0, 1.0], "placed": False}) is False
    assert _spacing_known({"spacing": [1.0, 0.5, 0.5], "placed": False}) is True
    assert _spacing_known({"spacing": [1.0, 1.0, 1.0], "placed": True, "notes": ["x: no pixel spacing in the "
                                                                                  "file; 1 mm assumed"]}) is False
    assert _spacing_known({"spacing": [2.5, 1.0, 1.0], "is_volume": True}) is True
