"""Mask files: compressed NIfTI, PNG (BUSI style), DICOM SEG; sha256 of what is written.

Conventions (the same as :mod:`readerstudy.imaging.loaders`, i.e. ITK/LPS):
label volumes are (z, y, x); ``spacing`` is (z, y, x) in mm; ``origin`` is the
(x, y, z) patient position of voxel (0, 0, 0) in mm; ``direction`` is the row-major
3x3 matrix whose columns are the patient directions of the x, y and z index axes.

DICOM SEG needs the source image as DICOM. For a case that came from PNG or NIfTI,
:func:`write_source_dicom` writes it first (Secondary Capture for 2D, a CT Image
series for 3D) so that the SEG has a valid reference; keep those files with the case.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from readerstudy.core.annotation import LabelSet
from readerstudy.core.errors import UnsupportedFileError, ValidationError
from readerstudy.imaging.nifti import from_sitk, write_nifti
from readerstudy.imaging.raster import strict_decoding

__all__ = [
    "MaskGeometry",
    "WrittenFile",
    "sha256_file",
    "write_nifti_mask",
    "read_nifti_mask",
    "busi_mask_paths",
    "read_png_mask",
    "read_busi_mask",
    "write_png_mask",
    "read_png_labels",
    "write_source_dicom",
    "write_dicom_seg",
    "read_dicom_seg",
]

IDENTITY = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
SOFTWARE = "readerstudy"


@dataclass(frozen=True)
class MaskGeometry:
    """Where a (z, y, x) voxel grid lies in patient space (ITK/LPS conventions, mm)."""

    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    direction: tuple[float, ...] = IDENTITY

    def __post_init__(self) -> None:
        sp = tuple(float(v) for v in self.spacing)
        org = tuple(float(v) for v in self.origin)
        d = tuple(float(v) for v in self.direction)
        if len(sp) != 3 or min(sp) <= 0 or len(org) != 3 or len(d) != 9:
            raise ValidationError(f"invalid geometry: spacing {self.spacing}, origin {self.origin}, direction {self.direction}")
        object.__setattr__(self, "spacing", sp)
        object.__setattr__(self, "origin", org)
        object.__setattr__(self, "direction", d)

    @classmethod
    def of(cls, image: Any) -> MaskGeometry:
        """Geometry of anything with ``spacing``, ``origin``, ``direction`` (e.g. ``LoadedImage``)."""
        return cls(tuple(image.spacing), tuple(image.origin), tuple(image.direction))

    def to_dict(self) -> dict[str, list[float]]:
        return {"spacing": list(self.spacing), "origin": list(self.origin), "direction": list(self.direction)}


@dataclass(frozen=True)
class WrittenFile:
    """A file this module wrote, with its sha256 (hex) and size in bytes."""

    path: Path
    sha256: str
    nbytes: int

    def to_dict(self) -> dict[str, object]:
        return {"path": str(self.path), "sha256": self.sha256, "nbytes": self.nbytes}


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _written(path: Path) -> WrittenFile:
    return WrittenFile(path, sha256_file(path), path.stat().st_size)


def _volume(labels: np.ndarray, label_set: LabelSet | None = None) -> np.ndarray:
    arr = np.asarray(labels)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3 or not (np.issubdtype(arr.dtype, np.integer) or arr.dtype == bool):
        raise ValidationError(f"a mask must be an integer (z, y, x) array, got {arr.dtype} {arr.shape}")
    if arr.size and (int(arr.min()) < 0 or int(arr.max()) > 65535):
        raise ValidationError("mask values must lie in 0..65535")
    if label_set is not None:
        label_set.check_values(np.unique(arr).tolist())
    return arr.astype(np.uint8 if arr.size == 0 or int(arr.max()) <= 255 else np.uint16)


# ----------------------------------------------------------------------------- NIfTI
def write_nifti_mask(
    path: str | Path, labels: np.ndarray, geometry: MaskGeometry | None = None, *,
    label_set: LabelSet | None = None,
) -> WrittenFile:
    """Write a label volume as NIfTI (gzip-compressed when the name ends in ``.nii.gz``)."""
    p = Path(path)
    if not p.name.endswith((".nii", ".nii.gz")):
        raise ValidationError(f"{p.name}: a NIfTI mask name must end in .nii.gz (or .nii)")
    vol = _volume(labels, label_set)
    g = geometry or MaskGeometry()
    write_nifti(vol, p, spacing=g.spacing, origin=g.origin, direction=g.direction)
    return _written(p)


def read_nifti_mask(path: str | Path, *, label_set: LabelSet | None = None) -> tuple[np.ndarray, MaskGeometry]:
    """Read a NIfTI label volume -> ((z, y, x) uint8/uint16 labels, geometry)."""
    import SimpleITK as sitk

    try:
        img = sitk.ReadImage(str(path))
    except RuntimeError as exc:
        raise UnsupportedFileError(f"{Path(path).name}: not a readable NIfTI file ({str(exc).strip()[:120]})") from exc
    arr = sitk.GetArrayFromImage(img)
    if np.issubdtype(arr.dtype, np.floating):
        if not np.all(arr == np.round(arr)):
            raise ValidationError(f"{Path(path).name}: a mask must hold integer labels, found fractions")
        arr = arr.astype(np.int64)
    if img.GetDimension() not in (2, 3):
        raise UnsupportedFileError(f"{Path(path).name}: {img.GetDimension()}D NIfTI masks are not supported")
    _, g = from_sitk(img)
    return _volume(arr, label_set), MaskGeometry(g["spacing"], g["origin"], g["direction"])


# ----------------------------------------------------------------------------- PNG
def busi_mask_paths(image_path: str | Path) -> list[Path]:
    """The BUSI mask files of an image: ``<stem>_mask.png`` and ``<stem>_mask_N.png``, sorted."""
    p = Path(image_path)
    pattern = re.compile(re.escape(p.stem) + r"_mask(_\d+)?\.png$", re.IGNORECASE)
    return sorted(q for q in p.parent.iterdir() if pattern.match(q.name))


def read_png_mask(paths: Sequence[str | Path]) -> np.ndarray:
    """OR of PNG masks: any non-zero pixel (any channel) is foreground. Bool (y, x)."""
    from PIL import Image

    if not paths:
        raise ValidationError("no mask files given")
    out: np.ndarray | None = None
    for path in paths:
        try:
            with strict_decoding(), Image.open(path) as im:
                arr = np.asarray(im)
        except OSError as exc:
            raise UnsupportedFileError(f"{Path(path).name}: not a readable image ({exc})") from exc
        m = arr.any(axis=-1) if arr.ndim == 3 else arr != 0
        if out is None:
            out = m
        elif m.shape != out.shape:
            raise ValidationError(f"{Path(path).name}: mask shape {m.shape} differs from {out.shape}")
        else:
            out = out | m
    assert out is not None
    return out


def read_busi_mask(image_path: str | Path, label: int = 1) -> np.ndarray:
    """The lesion mask of a BUSI image as a (1, y, x) uint8 volume (``label`` on lesion)."""
    paths = busi_mask_paths(image_path)
    if not paths:
        raise ValidationError(f"{Path(image_path).name}: no <name>_mask.png next to the image")
    return (read_png_mask(paths)[None] * np.uint8(label)).astype(np.uint8)


def write_png_mask(path: str | Path, labels: np.ndarray, *, binary: bool = False) -> WrittenFile:
    """Write a 2D mask as an 8-bit greyscale PNG: label ids, or 0/255 with ``binary``."""
    from PIL import Image

    vol = _volume(labels)
    if vol.shape[0] != 1:
        raise ValidationError(f"PNG holds one 2D slice; this mask has {vol.shape[0]} slices (use NIfTI)")
    if int(vol.max(initial=0)) > 255:
        raise ValidationError("PNG label masks hold ids up to 255")
    img = np.where(vol[0] > 0, 255, 0).astype(np.uint8) if binary else vol[0].astype(np.uint8)
    p = Path(path)
    Image.fromarray(img, mode="L").save(p)
    return _written(p)


def read_png_labels(path: str | Path, *, label_set: LabelSet | None = None) -> np.ndarray:
    """Read a PNG written by :func:`write_png_mask` (label ids) -> (1, y, x) uint8."""
    from PIL import Image

    with Image.open(path) as im:
        arr = np.asarray(im.convert("L"))
    return _volume(arr[None], label_set)


# ----------------------------------------------------------------------------- DICOM
def _uid() -> str:
    from pydicom.uid import generate_uid

    return str(generate_uid())


def _person(name: str) -> str:
    return name if "^" in name else f"{name}^"


def _to_int16(image: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Stored int16 pixels plus (slope, intercept) so that slope * stored + intercept ~= image."""
    img = np.asarray(image, dtype=np.float64)
    if not np.isfinite(img).all():
        raise ValidationError("the image holds NaN or infinite values; it cannot be written as DICOM")
    lo, hi = float(img.min()), float(img.max())
    if np.all(img == np.round(img)) and lo >= -32768 and hi <= 32767:
        return img.astype(np.int16), 1.0, 0.0
    slope = (hi - lo) / 65535.0 if hi > lo else 1.0
    intercept = lo + 32768.0 * slope
    return np.round((img - intercept) / slope).clip(-32768, 32767).astype(np.int16), slope, intercept


def write_source_dicom(
    image: np.ndarray,
    out_dir: str | Path,
    *,
    geometry: MaskGeometry | None = None,
    patient_id: str,
    study_instance_uid: str | None = None,
    series_description: str = "source image",
    laterality: str | None = None,
    body_part: str | None = None,
) -> list[WrittenFile]:
    """Write a PNG/NIfTI-derived image as DICOM so that a SEG can reference it.

    2D (``(y, x)`` or depth 1, grey uint8/uint16): one Secondary Capture image
    (``highdicom.sc.SCImage``). 3D: a CT Image Storage series, one file per z slice,
    with image position/orientation from ``geometry`` (the pixel values are written
    with a rescale slope/intercept; this is "CT-like": the modality is not known).

    ``patient_id`` should be the case pseudonym (it is also used as the patient name).
    ``laterality`` (General Series, Type 2C): ``"R"`` or ``"L"`` when the data says which
    side; ``None`` or ``""`` writes it empty, the standard's "unknown" (a PNG of a breast
    does not say which breast). ``body_part`` is written as Body Part Examined when known.
    Both objects pass ``dciodvfy`` with 0 errors (``tests/imaging/test_dicom_conformance.py``).
    Returns the written files in z order.
    """
    side = (laterality or "").strip().upper()
    if side not in ("", "R", "L"):
        raise ValidationError(f"laterality must be R, L or empty (unknown), got {laterality!r}")
    import highdicom as hd

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    img = np.asarray(image)
    if img.ndim == 3 and img.shape[0] == 1:
        img = img[0]
    g = geometry or MaskGeometry()
    study = study_instance_uid or _uid()
    series = _uid()
    if img.ndim == 2:
        if img.dtype not in (np.uint8, np.uint16):
            raise ValidationError(f"a 2D source image must be grey uint8 or uint16, got {img.dtype}")
        sc = hd.sc.SCImage(
            pixel_array=img, photometric_interpretation="MONOCHROME2", bits_allocated=img.dtype.itemsize * 8,
            coordinate_system="PATIENT", study_instance_uid=study, series_instance_uid=series, series_number=1,
            sop_instance_uid=_uid(), instance_number=1, manufacturer=SOFTWARE, patient_id=patient_id,
            patient_name=_person(patient_id), pixel_spacing=(g.spacing[1], g.spacing[2]),
            patient_orientation=("L", "F"), series_description=series_description,
            laterality=side or None, study_id=patient_id[:16],
        )
        _series_laterality(sc, side, body_part)
        path = out / "source_sc.dcm"
        sc.save_as(path, enforce_file_format=True)
        return [_written(path)]
    if img.ndim != 3:
        raise ValidationError(f"a source image must be 2D or 3D, got shape {img.shape}")
    return _write_ct_series(img, out, g, patient_id, study, series, series_description, side, body_part)


def _series_laterality(ds: Any, side: str, body_part: str | None) -> None:
    """Laterality (Type 2C): the side when known, else present and empty (unknown)."""
    ds.Laterality = side
    if body_part:
        ds.BodyPartExamined = body_part.upper()[:16]


def _write_ct_series(
    img: np.ndarray, out: Path, g: MaskGeometry, patient_id: str, study: str, series: str, description: str,
    side: str = "", body_part: str | None = None,
) -> list[WrittenFile]:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

    stored, slope, intercept = _to_int16(img)
    d = np.asarray(g.direction).reshape(3, 3)
    row_dir, col_dir, slice_dir = d[:, 0], d[:, 1], d[:, 2]
    frame_of_reference = _uid()
    files = []
    for k in range(img.shape[0]):
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = _uid()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.SOPClassUID = CTImageStorage
        ds.Modality = "CT"
        ds.ImageType = ["DERIVED", "SECONDARY", "AXIAL"]
        ds.PatientID, ds.PatientName = patient_id, _person(patient_id)
        ds.PatientBirthDate = ds.PatientSex = ds.StudyDate = ds.StudyTime = ""
        ds.StudyID = patient_id[:16]
        ds.ReferringPhysicianName = ds.AccessionNumber = ds.KVP = ""
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.SeriesNumber, ds.InstanceNumber, ds.AcquisitionNumber = 1, k + 1, 1
        ds.SeriesDescription = description
        ds.Manufacturer = SOFTWARE
        ds.FrameOfReferenceUID, ds.PositionReferenceIndicator = frame_of_reference, ""
        ds.PatientPosition = ""  # Type 2C for CT: the patient's position on the table is not known
        _series_laterality(ds, side, body_part)
        pos = np.asarray(g.origin) + k * g.spacing[0] * slice_dir
        ds.ImagePositionPatient = [f"{v:.6g}" for v in pos]
        ds.ImageOrientationPatient = [f"{v:.6g}" for v in (*row_dir, *col_dir)]
        ds.PixelSpacing = [f"{g.spacing[1]:.6g}", f"{g.spacing[2]:.6g}"]
        ds.SliceThickness = f"{g.spacing[0]:.6g}"
        ds.Rows, ds.Columns = int(img.shape[1]), int(img.shape[2])
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleSlope, ds.RescaleIntercept, ds.RescaleType = f"{slope:.10g}", f"{intercept:.10g}", "HU"
        ds.PixelData = np.ascontiguousarray(stored[k]).tobytes()
        path = out / f"source_ct_{k:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        files.append(_written(path))
    return files


def _sorted_sources(source_datasets: Sequence[Any]) -> list[Any]:
    """Source datasets in the label volume's z order (by position along the slice normal)."""
    ds = list(source_datasets)
    if not ds:
        raise ValidationError("a DICOM SEG needs its source image datasets")
    if len(ds) > 1 and all("ImagePositionPatient" in d and "ImageOrientationPatient" in d for d in ds):
        iop = np.asarray(ds[0].ImageOrientationPatient, dtype=float)
        normal = np.cross(iop[:3], iop[3:])
        ds.sort(key=lambda d: float(np.dot(normal, np.asarray(d.ImagePositionPatient, dtype=float))))
    return ds


def write_dicom_seg(
    path: str | Path,
    labels: np.ndarray,
    label_set: LabelSet,
    source_datasets: Sequence[Any],
    *,
    segmentation_type: str = "BINARY",
    series_description: str = "annotation",
    content_creator: str | None = None,
    include_empty_labels: bool = False,
) -> WrittenFile:
    """Write a label volume as a DICOM Segmentation referencing ``source_datasets``.

    ``labels`` (z, y, x) must match the sources voxel by voxel: ``labels[k]`` is the
    k-th source slice in position order (or the single 2D source image). Each label
    becomes a segment (segment label = label name, category/type = the label's
    codes, algorithm type MANUAL). ``segmentation_type`` is ``"BINARY"`` or
    ``"LABELMAP"``. Labels without any voxel are left out unless ``include_empty_labels``.
    """
    import highdicom as hd

    st = segmentation_type.upper()
    if st not in ("BINARY", "LABELMAP"):
        raise ValidationError(f"segmentation type must be BINARY or LABELMAP, got {segmentation_type!r}")
    vol = _volume(labels, label_set)
    sources = _sorted_sources(source_datasets)
    rows, cols = int(sources[0].Rows), int(sources[0].Columns)
    frames = len(sources) if len(sources) > 1 else int(getattr(sources[0], "NumberOfFrames", 1) or 1)
    if vol.shape != (frames, rows, cols):
        raise ValidationError(f"mask shape {vol.shape} does not match the source image ({frames}, {rows}, {cols})")
    present = set(np.unique(vol).tolist())
    chosen = [lab for lab in label_set if include_empty_labels or lab.id in present]
    if not chosen:
        raise ValidationError("the mask is empty; there is no segment to write")
    lut = np.zeros(max(label_set.max_id, int(vol.max())) + 1, dtype=np.uint16)
    descriptions = []
    for number, lab in enumerate(chosen, start=1):
        lut[lab.id] = number
        descriptions.append(hd.seg.SegmentDescription(
            segment_number=number, segment_label=lab.name,
            segmented_property_category=hd.sr.CodedConcept(lab.category.value, lab.category.scheme,
                                                           lab.category.meaning),
            segmented_property_type=hd.sr.CodedConcept(lab.type.value, lab.type.scheme, lab.type.meaning),
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
            display_color=hd.color.CIELabColor.from_rgb(*lab.color),
        ))
    pixel = lut[vol].astype(np.uint8 if len(chosen) < 256 else np.uint16)
    extra: dict[str, Any] = {}
    if "FrameOfReferenceUID" not in sources[0]:
        # Secondary Capture: no patient geometry, but highdicom's reader wants pixel measures.
        spacing = [float(v) for v in getattr(sources[0], "PixelSpacing", [1.0, 1.0])]
        extra["pixel_measures"] = hd.PixelMeasuresSequence(pixel_spacing=spacing, slice_thickness=1.0)
    seg = hd.seg.Segmentation(
        source_images=sources, pixel_array=pixel, segmentation_type=st, segment_descriptions=descriptions,
        series_instance_uid=_uid(), series_number=100, sop_instance_uid=_uid(), instance_number=1,
        manufacturer=SOFTWARE, manufacturer_model_name=SOFTWARE, software_versions=_version(),
        device_serial_number="0", series_description=series_description,
        content_creator_name=_person(content_creator) if content_creator else None,
        omit_empty_frames=False, **extra,
    )
    if "FrameOfReferenceUID" not in sources[0]:
        # General Image, Type 2C: required when there is no Image Orientation (Patient) (a SEG of a
        # Secondary Capture); the segmentation lies on the source's pixel grid, so take its value.
        seg.PatientOrientation = list(getattr(sources[0], "PatientOrientation", None) or [])
    p = Path(path)
    seg.save_as(p, enforce_file_format=True)
    return _written(p)


def _version() -> str:
    from readerstudy import __version__

    return __version__


def read_dicom_seg(path: str | Path, source_datasets: Sequence[Any], label_set: LabelSet) -> np.ndarray:
    """Read a DICOM SEG back into a (z, y, x) label volume aligned with ``source_datasets``.

    Segments are matched to labels by segment label (the label name); a segment with
    an unknown name raises :class:`ValidationError`. Where segments overlap (possible
    in BINARY SEGs written elsewhere) the highest segment number wins.
    """
    import highdicom as hd

    try:
        seg = hd.seg.segread(str(path))
    except Exception as exc:  # highdicom raises several types for non-SEG input
        raise UnsupportedFileError(f"{Path(path).name}: not a readable DICOM Segmentation ({exc})") from exc
    sources = _sorted_sources(source_datasets)
    if len(sources) == 1 and int(getattr(sources[0], "NumberOfFrames", 1) or 1) > 1:
        raise UnsupportedFileError("reading a SEG of a multi-frame source is not supported yet")
    uids = [str(d.SOPInstanceUID) for d in sources]
    referenced = {str(item.ReferencedSOPInstanceUID)
                  for s in seg.ReferencedSeriesSequence for item in s.ReferencedInstanceSequence}
    if not referenced & set(uids):
        raise ValidationError(f"{Path(path).name} does not reference the given source images")
    lut = np.zeros(max(int(item.SegmentNumber) for item in seg.SegmentSequence) + 1, dtype=np.uint16)
    for item in seg.SegmentSequence:
        number = int(item.SegmentNumber)
        if number == 0:  # LABELMAP background segment
            continue
        try:
            lut[number] = label_set.by_name(str(item.SegmentLabel)).id
        except LookupError:
            raise ValidationError(f"{Path(path).name}: segment {str(item.SegmentLabel)!r} is not a label of "
                                  f"set {label_set.name!r}; choose the matching label set") from None
    raw = seg.get_pixels_by_source_instance(
        source_sop_instance_uids=uids, combine_segments=True, skip_overlap_checks=True,
        assert_missing_frames_are_empty=True,
    )
    out = lut[raw.reshape(len(uids), int(sources[0].Rows), int(sources[0].Columns))]
    return out.astype(np.uint8) if label_set.max_id <= 255 else out
