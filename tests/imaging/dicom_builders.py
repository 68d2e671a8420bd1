"""Small DICOM objects built with pydicom for the imaging and import tests (no files shipped)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
ENHANCED_CT = "1.2.840.10008.5.1.4.1.1.2.1"
CR_IMAGE = "1.2.840.10008.5.1.4.1.1.1"
AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
SAGITTAL = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)


def _base(sop_class: str, pixels: np.ndarray, modality: str, photometric: str = "MONOCHROME2") -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.PatientName, ds.PatientID, ds.Modality = "Test^Patient", "P123", modality
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, photometric
    ds.Rows, ds.Columns = int(pixels.shape[-2]), int(pixels.shape[-1])
    signed = pixels.dtype.kind == "i"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
    ds.PixelRepresentation = int(signed)
    ds.PixelData = np.ascontiguousarray(pixels.astype(np.int16 if signed else np.uint16)).tobytes()
    return ds


def single_slice(pixels: np.ndarray, *, position: Sequence[float] | None = (0.0, 0.0, 0.0),
                 orientation: Sequence[float] | None = AXIAL, spacing: Sequence[float] | None = (0.7, 0.8),
                 thickness: float | None = 2.5, slope: float | None = None, intercept: float | None = None,
                 modality: str = "CT", photometric: str = "MONOCHROME2", window: tuple[float, float] | None = None,
                 series_uid: str | None = None, instance: int = 1, sop_class: str = CT_IMAGE) -> Dataset:
    """A classic single-frame image (rows, cols) with optional geometry, rescale and window."""
    ds = _base(sop_class, pixels, modality, photometric)
    if series_uid:
        ds.SeriesInstanceUID = series_uid
    ds.InstanceNumber = instance
    if position is not None:
        ds.ImagePositionPatient = [float(v) for v in position]
    if orientation is not None:
        ds.ImageOrientationPatient = [float(v) for v in orientation]
    if spacing is not None:
        ds.PixelSpacing = [float(v) for v in spacing]
    if thickness is not None:
        ds.SliceThickness = thickness
    if slope is not None:
        ds.RescaleSlope, ds.RescaleIntercept = slope, intercept or 0.0
    if window is not None:
        ds.WindowCenter, ds.WindowWidth = window
    return ds


def _item(**kw: object) -> Dataset:
    item = Dataset()
    for k, v in kw.items():
        setattr(item, k, v)
    return item


def enhanced_ct(frames: np.ndarray, positions: Sequence[Sequence[float]], *, spacing: Sequence[float] = (0.7, 0.8),
                thickness: float = 2.5, orientation: Sequence[float] = AXIAL, slope: float = 2.0,
                intercept: float = -1024.0, per_frame_rescale: Sequence[tuple[float, float]] | None = None,
                window: tuple[float, float] | None = None) -> Dataset:
    """Enhanced CT (frames, rows, cols): geometry and rescale only in the functional groups."""
    ds = _base(ENHANCED_CT, frames, "CT")
    ds.NumberOfFrames = int(frames.shape[0])
    shared = Dataset()
    shared.PixelMeasuresSequence = DicomSequence([_item(PixelSpacing=[float(v) for v in spacing],
                                                        SliceThickness=thickness)])
    shared.PlaneOrientationSequence = DicomSequence([_item(ImageOrientationPatient=[float(v) for v in orientation])])
    if per_frame_rescale is None:
        shared.PixelValueTransformationSequence = DicomSequence([_item(RescaleSlope=slope, RescaleIntercept=intercept,
                                                                       RescaleType="HU")])
    if window is not None:
        shared.FrameVOILUTSequence = DicomSequence([_item(WindowCenter=window[0], WindowWidth=window[1])])
    ds.SharedFunctionalGroupsSequence = DicomSequence([shared])
    per = []
    for f, pos in enumerate(positions):
        item = Dataset()
        item.PlanePositionSequence = DicomSequence([_item(ImagePositionPatient=[float(v) for v in pos])])
        if per_frame_rescale is not None:
            s, b = per_frame_rescale[f]
            item.PixelValueTransformationSequence = DicomSequence([_item(RescaleSlope=s, RescaleIntercept=b,
                                                                         RescaleType="HU")])
        per.append(item)
    ds.PerFrameFunctionalGroupsSequence = DicomSequence(per)
    return ds


def save(ds: Dataset, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def write_series(folder: Path, zs: Sequence[float], *, rows: int = 4, cols: int = 4,
                 orientations: Sequence[Sequence[float]] | None = None, slope: float = 1.0,
                 intercept: float = -1024.0) -> list[Path]:
    """An axial CT series, one file per z (mm), written in reverse order; slice k holds values 100*k + index."""
    uid = generate_uid()
    out = []
    for k, z in enumerate(zs):
        pix = (np.arange(rows * cols, dtype=np.uint16).reshape(rows, cols) + 100 * k)
        orient = orientations[k] if orientations else AXIAL
        ds = single_slice(pix, position=(-10.0, -20.0, float(z)), orientation=orient, spacing=(0.5, 0.5),
                          thickness=1.0, slope=slope, intercept=intercept, series_uid=uid, instance=k + 1)
        out.append(save(ds, folder / f"slice_{len(zs) - k:03d}.dcm"))
    return out
