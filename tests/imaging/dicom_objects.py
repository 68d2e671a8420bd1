"""Small, conformant DICOM objects built in memory (CT, MR, CR, US), as an acquisition device writes them.

Each passes ``dciodvfy`` with 0 errors as built (checked in ``test_dicom_conformance.py``), so any
error after de-identification is ours. They carry the usual identifying attributes.
"""

from __future__ import annotations

import numpy as np
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import (
    ComputedRadiographyImageStorage,
    CTImageStorage,
    ExplicitVRLittleEndian,
    MRImageStorage,
    UltrasoundImageStorage,
    generate_uid,
)

IDENTIFIERS = {
    "PatientName": "Doe^Jane", "PatientID": "MRN-4471", "PatientBirthDate": "19610304", "PatientSex": "F",
    "AccessionNumber": "ACC-99812", "StudyID": "ST-7781", "ReferringPhysicianName": "House^Gregory",
    "InstitutionName": "St Elsewhere Hospital", "StationName": "CTSTATION7", "OperatorsName": "Tech^Tina",
    "StudyDescription": "CHEST ABD PELVIS for Jane Doe", "DeviceSerialNumber": "SN-00042",
}


def _base(sop_class: str, modality: str, rows: int, cols: int) -> FileDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = generate_uid()
    ds = FileDataset("", Dataset(), file_meta=meta, preamble=b"\x00" * 128)
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, meta.MediaStorageSOPInstanceUID
    for k, v in IDENTIFIERS.items():
        setattr(ds, k, v)
    ds.StudyDate, ds.StudyTime, ds.SeriesDate, ds.ContentDate, ds.ContentTime = (
        "20230117", "101500", "20230117", "20230117", "101502")
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Modality, ds.Manufacturer = modality, "ACME"
    ds.SeriesNumber, ds.InstanceNumber = 1, 1
    ds.Rows, ds.Columns = rows, cols
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    pixels = (np.arange(rows * cols, dtype=np.uint16).reshape(rows, cols) * 7) % 4096
    ds.PixelData = pixels.astype("<u2").tobytes()
    return ds


def _patient_frame(ds: Dataset) -> None:
    ds.FrameOfReferenceUID, ds.PositionReferenceIndicator = generate_uid(), ""
    ds.ImagePositionPatient = [-80.0, -80.0, 12.5]
    ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    ds.PixelSpacing = [0.7, 0.7]
    ds.SliceThickness = 2.5
    ds.PatientPosition = "HFS"


def ct_image(rows: int = 16, cols: int = 16) -> FileDataset:
    """A CT Image: General/CT Image, Image Plane, VOI LUT; Hounsfield rescale."""
    ds = _base(CTImageStorage, "CT", rows, cols)
    _patient_frame(ds)
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.AcquisitionNumber, ds.KVP = 1, "120"
    ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = "-1024", "1", "HU"
    ds.WindowCenter, ds.WindowWidth = "40", "400"
    ds.BodyPartExamined = "CHEST"
    return ds


def mr_image(rows: int = 16, cols: int = 16) -> FileDataset:
    ds = _base(MRImageStorage, "MR", rows, cols)
    _patient_frame(ds)
    ds.ImageType = ["ORIGINAL", "PRIMARY", "OTHER"]
    ds.ScanningSequence, ds.SequenceVariant, ds.ScanOptions, ds.MRAcquisitionType = "SE", "NONE", "", "2D"
    ds.RepetitionTime, ds.EchoTime, ds.EchoTrainLength = "500", "15", "1"
    ds.AcquisitionNumber = 1
    ds.BodyPartExamined = "HEAD"
    return ds


def cr_image(rows: int = 16, cols: int = 16) -> FileDataset:
    """A CR image in MONOCHROME1 (high values dark), as many CR/DX devices write."""
    ds = _base(ComputedRadiographyImageStorage, "CR", rows, cols)
    ds.PhotometricInterpretation = "MONOCHROME1"
    ds.BodyPartExamined, ds.ViewPosition = "CHEST", "PA"
    ds.ImagerPixelSpacing = [0.2, 0.2]
    ds.PatientOrientation = ["L", "F"]
    return ds


def us_image(rows: int = 24, cols: int = 32, burned_in: bool = True) -> FileDataset:
    """An 8-bit ultrasound image whose top rows carry burned-in text (BurnedInAnnotation YES)."""
    ds = _base(UltrasoundImageStorage, "US", rows, cols)
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
    pixels = (np.arange(rows * cols).reshape(rows, cols) % 200 + 20).astype(np.uint8)
    pixels[:4, :] = 255  # the "text" band
    ds.PixelData = pixels.tobytes()
    ds.ImageType = ["ORIGINAL", "PRIMARY", "ABDOMINAL"]
    ds.BurnedInAnnotation = "YES" if burned_in else "NO"
    ds.PatientOrientation = ""
    ds.BodyPartExamined, ds.Laterality = "BREAST", "R"
    region = Dataset()
    region.RegionSpatialFormat, region.RegionDataType, region.RegionFlags = 1, 1, 0
    region.RegionLocationMinX0, region.RegionLocationMinY0 = 0, 4
    region.RegionLocationMaxX1, region.RegionLocationMaxY1 = cols - 1, rows - 1
    region.PhysicalUnitsXDirection = region.PhysicalUnitsYDirection = 3
    region.PhysicalDeltaX = region.PhysicalDeltaY = 0.02
    ds.SequenceOfUltrasoundRegions = Sequence([region])
    return ds


BUILDERS = {"CT": ct_image, "MR": mr_image, "CR": cr_image, "US": us_image}
