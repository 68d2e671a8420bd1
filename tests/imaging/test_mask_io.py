"""Round trips of mask files: NIfTI, PNG (BUSI), DICOM SEG over SC and CT sources."""

from __future__ import annotations

from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from readerstudy.core.annotation import LabelSet
from readerstudy.core.errors import ValidationError
from readerstudy.imaging.mask_io import (
    MaskGeometry,
    busi_mask_paths,
    read_busi_mask,
    read_dicom_seg,
    read_nifti_mask,
    read_png_labels,
    read_png_mask,
    sha256_file,
    write_dicom_seg,
    write_nifti_mask,
    write_png_mask,
    write_source_dicom,
)

BUSI = Path(__file__).resolve().parents[2] / "resources" / "demo" / "busi"
LIVER = LabelSet.preset("liver_tumour")
GLEASON = LabelSet.preset("gleason")
OBLIQUE = (0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0)  # a rotation (columns are unit and orthogonal)


def blob_volume(shape=(6, 20, 24)) -> np.ndarray:
    lab = np.zeros(shape, np.uint8)
    lab[1:5, 3:15, 4:20] = 1
    lab[2:4, 6:10, 8:12] = 2
    return lab


def geometry_affine(g: MaskGeometry) -> np.ndarray:
    """4x4 affine from (z, y, x) voxel index to patient (x, y, z) mm."""
    d = np.asarray(g.direction).reshape(3, 3)
    aff = np.eye(4)
    aff[:3, :3] = (d * np.asarray(g.spacing[::-1]))[:, ::-1]  # columns for the z, y, x index
    aff[:3, 3] = g.origin
    return aff


def patient_points(arr: np.ndarray, affine: np.ndarray) -> list[tuple[float, float, float, int]]:
    idx = np.argwhere(arr > 0)
    pos = (affine[:3, :3] @ idx.T).T + affine[:3, 3]
    return sorted((*np.round(p, 3).tolist(), int(arr[tuple(i)])) for p, i in zip(pos, idx, strict=True))


def test_nifti_round_trip_voxels_and_geometry(tmp_path: Path) -> None:
    lab = blob_volume()
    geom = MaskGeometry((2.5, 0.7, 0.6), (-10.0, 20.5, 30.25), OBLIQUE)
    written = write_nifti_mask(tmp_path / "m.nii.gz", lab, geom, label_set=LIVER)
    assert written.sha256 == sha256_file(tmp_path / "m.nii.gz") and len(written.sha256) == 64
    with open(tmp_path / "m.nii.gz", "rb") as fh:
        assert fh.read(2) == b"\x1f\x8b"  # gzip
    img = sitk.ReadImage(str(tmp_path / "m.nii.gz"))
    np.testing.assert_array_equal(sitk.GetArrayFromImage(img), lab)
    np.testing.assert_allclose(img.GetSpacing(), (0.6, 0.7, 2.5))
    np.testing.assert_allclose(img.GetOrigin(), geom.origin, atol=1e-5)
    np.testing.assert_allclose(img.GetDirection(), OBLIQUE, atol=1e-6)
    back, g2 = read_nifti_mask(tmp_path / "m.nii.gz", label_set=LIVER)
    np.testing.assert_array_equal(back, lab)
    np.testing.assert_allclose(g2.spacing, geom.spacing, rtol=1e-6)
    with pytest.raises(ValidationError):
        read_nifti_mask(tmp_path / "m.nii.gz", label_set=LabelSet.preset("tumour"))
    with pytest.raises(ValidationError):
        write_nifti_mask(tmp_path / "m.png", lab)


def test_busi_masks_are_ored_and_png_round_trip(tmp_path: Path) -> None:
    img = BUSI / "benign" / "benign (4).png"
    paths = busi_mask_paths(img)
    assert [p.name for p in paths] == ["benign (4)_mask.png", "benign (4)_mask_1.png"]
    first, second = read_png_mask(paths[:1]), read_png_mask(paths[1:])
    both = read_busi_mask(img)
    assert both.shape == (1, *first.shape) and both.dtype == np.uint8
    np.testing.assert_array_equal(both[0].astype(bool), first | second)
    assert second.sum() > 0 and (first | second).sum() > first.sum()
    assert read_busi_mask(BUSI / "normal" / "normal (1).png").sum() == 0
    lab = np.zeros((30, 40), np.uint8)
    lab[5:10, 5:25] = 3
    lab[12:20, 8:30] = 4
    w = write_png_mask(tmp_path / "m.png", lab)
    np.testing.assert_array_equal(read_png_labels(w.path, label_set=GLEASON)[0], lab)
    b = write_png_mask(tmp_path / "b.png", lab, binary=True)
    np.testing.assert_array_equal(read_png_mask([b.path]), lab > 0)
    with pytest.raises(ValidationError):
        write_png_mask(tmp_path / "x.png", np.zeros((2, 4, 4), np.uint8))


@pytest.mark.parametrize("seg_type", ["BINARY", "LABELMAP"])
def test_dicom_seg_of_2d_png_case_over_secondary_capture(tmp_path: Path, seg_type: str) -> None:
    image = (np.random.default_rng(0).random((40, 50)) * 255).astype(np.uint8)
    src_files = write_source_dicom(image, tmp_path / "src", geometry=MaskGeometry((1.0, 0.3, 0.3)),
                                   patient_id="CASE-0007")
    src = [pydicom.dcmread(f.path) for f in src_files]
    assert src[0].SOPClassUID == pydicom.uid.SecondaryCaptureImageStorage
    assert src[0].PatientID == "CASE-0007"
    np.testing.assert_array_equal(src[0].pixel_array, image)
    lab = np.zeros((40, 50), np.uint8)
    lab[5:15, 5:20] = 2
    lab[20:30, 20:40] = 4
    w = write_dicom_seg(tmp_path / "seg.dcm", lab, GLEASON, src, segmentation_type=seg_type, content_creator="ann1")
    assert w.sha256 == sha256_file(w.path)
    seg = hd.seg.segread(str(w.path))
    assert seg.SegmentationType == seg_type
    names = {int(s.SegmentNumber): str(s.SegmentLabel) for s in seg.SegmentSequence if int(s.SegmentNumber)}
    assert names == {1: "GG3", 2: "GG5"}
    item = next(s for s in seg.SegmentSequence if s.SegmentLabel == "GG5")
    assert item.SegmentedPropertyTypeCodeSequence[0].CodeValue == GLEASON.get(4).type.value
    assert seg.StudyInstanceUID == src[0].StudyInstanceUID and seg.PatientID == "CASE-0007"
    raw = seg.get_pixels_by_source_instance([src[0].SOPInstanceUID], combine_segments=True)
    np.testing.assert_array_equal(raw[0], np.select([lab == 2, lab == 4], [1, 2], 0))
    np.testing.assert_array_equal(read_dicom_seg(w.path, src, GLEASON)[0], lab)


def test_dicom_seg_of_3d_nifti_case_over_ct_series(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    image = rng.normal(40, 200, size=(6, 20, 24)).astype(np.float32)
    geom = MaskGeometry((2.5, 0.7, 0.6), (-10.0, 20.5, 30.25), OBLIQUE)
    files = write_source_dicom(image, tmp_path / "ct", geometry=geom, patient_id="CASE-0042")
    src = [pydicom.dcmread(f.path) for f in files]
    assert len(src) == 6 and src[0].SOPClassUID == pydicom.uid.CTImageStorage
    # intensities survive the int16 rescale (to within one stored step)
    slope = float(src[0].RescaleSlope)
    hu = src[3].pixel_array * slope + float(src[3].RescaleIntercept)
    np.testing.assert_allclose(hu, image[3], atol=slope)
    # SimpleITK reads the series back on the same grid
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames([str(f.path) for f in files])
    vol = reader.Execute()
    np.testing.assert_allclose(vol.GetSpacing(), (0.6, 0.7, 2.5), rtol=1e-5)
    np.testing.assert_allclose(vol.GetOrigin(), geom.origin, atol=1e-4)
    np.testing.assert_allclose(vol.GetDirection(), OBLIQUE, atol=1e-6)
    lab = blob_volume()
    shuffled = [src[i] for i in (3, 0, 5, 1, 4, 2)]  # sources are put in position order
    w = write_dicom_seg(tmp_path / "seg.dcm", lab, LIVER, shuffled)
    seg = hd.seg.segread(str(w.path))
    assert seg.FrameOfReferenceUID == src[0].FrameOfReferenceUID
    seg_vol = seg.get_volume(combine_segments=True)
    assert sorted(seg_vol.spacing) == pytest.approx(sorted((2.5, 0.7, 0.6)))
    # every labelled voxel lies at the same patient position (mm) with the same label
    assert patient_points(seg_vol.array, seg_vol.affine) == patient_points(lab, geometry_affine(geom))
    uids = [d.SOPInstanceUID for d in src]
    raw = seg.get_pixels_by_source_instance(uids, combine_segments=True)
    np.testing.assert_array_equal(raw, lab)
    np.testing.assert_array_equal(read_dicom_seg(w.path, shuffled, LIVER), lab)


def test_dicom_seg_rejects_mismatch_and_empty(tmp_path: Path) -> None:
    image = np.zeros((10, 12), np.uint8)
    src = [pydicom.dcmread(f.path) for f in write_source_dicom(image, tmp_path, patient_id="C1")]
    with pytest.raises(ValidationError):
        write_dicom_seg(tmp_path / "s.dcm", np.ones((10, 13), np.uint8), LIVER, src)
    with pytest.raises(ValidationError):
        write_dicom_seg(tmp_path / "s.dcm", np.zeros((10, 12), np.uint8), LIVER, src)
    with pytest.raises(ValidationError):
        write_dicom_seg(tmp_path / "s.dcm", np.full((10, 12), 7, np.uint8), LIVER, src)
    assert not (tmp_path / "s.dcm").exists()
