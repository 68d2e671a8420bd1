"""De-identification beyond single attributes: groups, private data, preamble, pixel bits, options."""

from __future__ import annotations

import copy
import io

import numpy as np
import pydicom
import pytest
from dicom_objects import ct_image, us_image
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import EnhancedCTImageStorage

from readerstudy.core.errors import ValidationError
from readerstudy.imaging.deid import DeidOptions, PixelRect, deidentify
from readerstudy.imaging.deid_pixels import clear_unused_bits, mask_array


def run(ds: Dataset, **options) -> Dataset:  # noqa: ANN003
    deidentify(ds, secret="k", pseudonym="RS-1", shift_days=-10, options=DeidOptions(**options))
    return ds


def written(ds: Dataset) -> bytes:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def test_issue_examples_are_gone() -> None:
    """The attributes the issue found kept: free text of Table E.1-1, overlays, curves."""
    ds = ct_image()
    free_text = {"StudyComments": "Pt Jane Doe", "ReasonForTheRequestedProcedure": "lump, Jane Doe",
                 "RequestedProcedureComments": "call Dr House", "MedicalAlerts": "pacemaker JD",
                 "Allergies": "penicillin JD", "AdmissionID": "ADM-5521", "PatientState": "sedated JD",
                 "TextComments": "JD notes", "RequestingService": "Oncology St Elsewhere",
                 "PerformedStationAETitle": "CT7ELSEWHERE", "PerformedLocation": "Rm4 Elsewhere"}
    for k, v in free_text.items():
        setattr(ds, k, v)
    ds.add_new(0x60000010, "US", 16)  # Overlay Rows
    ds.add_new(0x60000011, "US", 16)
    ds.add_new(0x60000050, "SS", [1, 1])
    ds.add_new(0x60000100, "US", 1)
    ds.add_new(0x60003000, "OW", b"\xff" * 32)  # Overlay Data
    ds.add_new(0x60024000, "LT", "overlay: Jane Doe")  # Overlay Comments
    ds.add_new(0x50000010, "US", 2)  # Number of Points (curve)
    ds.add_new(0x50003000, "OB", b"JaneDoe!")  # Curve Data
    run(ds)
    for k in free_text:
        assert k not in ds
    assert not any(0x5000 <= e.tag.group <= 0x50FF or 0x6000 <= e.tag.group <= 0x60FF for e in ds)
    data = written(ds)
    assert b"Jane" not in data and b"Elsewhere" not in data and b"JD" not in data


def test_private_attributes_are_removed_everywhere() -> None:
    ds = ct_image()
    block = ds.private_block(0x0029, "ACME 1.0", create=True)
    block.add_new(0x10, "LO", "private Jane Doe")
    item = Dataset()
    item.ReferencedSOPClassUID, item.ReferencedSOPInstanceUID = ds.SOPClassUID, pydicom.uid.generate_uid()
    item.add_new(0x00230010, "LO", "ACME")
    item.add_new(0x00231001, "LO", "nested Jane Doe")
    ds.ReferencedImageSequence = Sequence([item])
    run(ds)
    assert not any(e.tag.is_private for e in ds.iterall())
    assert b"Jane" not in written(ds)


def test_preamble_and_file_meta_name_no_system() -> None:
    ds = ct_image()
    ds.preamble = b"PHI:" + b"J" * 124
    ds.file_meta.SourceApplicationEntityTitle = "ELSEWHERE_PACS"
    ds.file_meta.SendingApplicationEntityTitle = "ELSEWHERE_GW"
    run(ds)
    data = written(ds)
    assert data[:128] == b"\x00" * 128 and data[128:132] == b"DICM"
    assert b"ELSEWHERE" not in data
    assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID


def test_bits_above_bits_stored_are_cleared_values_kept() -> None:
    ds = ct_image()
    raw = np.frombuffer(ds.PixelData, "<u2").copy()
    before = ds.pixel_array.copy()
    raw[:40] |= 0xF000  # an overlay hidden in bits 12-15, as old devices wrote
    ds.PixelData = raw.tobytes()
    run(ds)
    stored = np.frombuffer(ds.PixelData, "<u2")
    assert not np.any(stored & 0xF000)
    np.testing.assert_array_equal(ds.pixel_array, before)


def test_signed_pixels_keep_their_values_when_sign_bits_are_cleared() -> None:
    ds = ct_image()
    ds.PixelRepresentation = 1
    vals = np.arange(-128, 128, dtype=np.int16).reshape(16, 16)
    ds.PixelData = vals.astype("<i2").tobytes()  # sign-extended into bits 12-15
    assert clear_unused_bits(ds)
    np.testing.assert_array_equal(ds.pixel_array, vals)


def test_compressed_pixels_with_unused_bits_are_stored_decoded() -> None:
    ds = pydicom.dcmread(get_testdata_file("JPGExtended.dcm"))
    before = ds.pixel_array.copy()
    assert ds.BitsStored < ds.BitsAllocated and ds.file_meta.TransferSyntaxUID.is_compressed
    run(ds)
    assert not ds.file_meta.TransferSyntaxUID.is_compressed
    np.testing.assert_array_equal(ds.pixel_array, before)
    assert not np.any(np.frombuffer(ds.PixelData, "<u2") >> ds.BitsStored)


def test_method_is_recorded_for_each_option() -> None:
    base = run(ct_image())
    codes = [i.CodeValue for i in base.DeidentificationMethodCodeSequence]
    assert base.PatientIdentityRemoved == "YES" and codes == ["113100", "113107"]
    assert base.LongitudinalTemporalInformationModified == "MODIFIED"
    cleaned = run(us_image(), clean_pixel_data=(PixelRect(0, 0, 32, 4),), retain_longitudinal_modified_dates=False)
    assert [i.CodeValue for i in cleaned.DeidentificationMethodCodeSequence] == ["113100", "113101"]
    assert all(i.CodingSchemeDesignator == "DCM" for i in cleaned.DeidentificationMethodCodeSequence)
    assert cleaned.LongitudinalTemporalInformationModified == "REMOVED"
    assert "StudyDate" in cleaned and cleaned.StudyDate == ""  # Z without the option
    assert "Clean Pixel Data" in " ".join(cleaned.DeidentificationMethod)


def test_dates_shift_by_the_patient_shift_and_times_stay() -> None:
    ds = run(ct_image())
    assert (ds.StudyDate, ds.ContentDate, ds.StudyTime) == ("20230107", "20230107", "101500")
    assert ds.PatientBirthDate == ""  # Z even with the option (the table's column leaves it out)


def test_uids_are_replaced_consistently_and_registry_uids_kept() -> None:
    a, b = ct_image(), ct_image()
    b.StudyInstanceUID = a.StudyInstanceUID
    b.FrameOfReferenceUID = "1.2.840.10008.1.4.1.1"  # Talairach: a well-known frame of reference
    study = a.StudyInstanceUID
    run(a)
    run(b)
    assert a.StudyInstanceUID == b.StudyInstanceUID != study
    assert a.SeriesInstanceUID != b.SeriesInstanceUID and a.SOPInstanceUID != b.SOPInstanceUID
    assert b.FrameOfReferenceUID == "1.2.840.10008.1.4.1.1"
    assert a.SOPClassUID == b.SOPClassUID == "1.2.840.10008.5.1.4.1.1.2"


def test_combined_actions_follow_the_iod() -> None:
    """X/Z/D Device Serial Number: removed from a CT (Type 3), a dummy in an Enhanced CT (Type 1);
    nested in a sequence of unknown type, the least destructive choice that keeps no value."""
    ct = run(ct_image())
    assert "DeviceSerialNumber" not in ct and "InstitutionName" not in ct and "OperatorsName" not in ct
    enhanced = ct_image()
    enhanced.SOPClassUID = EnhancedCTImageStorage
    enhanced.AcquisitionDateTime = "20230117101500"
    run(enhanced, retain_longitudinal_modified_dates=False)
    assert enhanced.DeviceSerialNumber == "ANONYMOUS"  # D
    assert enhanced.AcquisitionDateTime == "19000101"  # X/Z/D, Type 1 in Enhanced CT: D
    nested = ct_image()
    item = Dataset()
    item.InstitutionName = "St Elsewhere"
    nested.ContributingEquipmentSequence = Sequence([item])
    run(nested)
    assert nested.ContributingEquipmentSequence[0].InstitutionName == "ANONYMOUS"


def test_names_not_in_the_table_are_emptied() -> None:
    ds = ct_image()
    ds.NamesOfIntendedRecipientsOfResults = "Doe^John"  # in the table: X
    item = Dataset()
    item.add_new(0x0040A123, "PN", "Doe^Jim")  # Person Name, D
    item.add_new(0x00081060, "PN", "Doe^Jill")  # Name of Physician(s) Reading Study, X
    ds.add_new(0x00400275, "SQ", Sequence([item]))  # Request Attributes Sequence: X (whole)
    run(ds)
    assert b"Doe" not in written(ds)


def test_clean_pixel_data_masks_rectangles_in_every_frame() -> None:
    ds = us_image()
    frames = np.stack([ds.pixel_array, ds.pixel_array[::-1]])
    ds.NumberOfFrames = 2
    ds.PixelData = frames.tobytes()
    ds.FrameTime = 40.0
    run(ds, clean_pixel_data=(PixelRect(0, 0, 32, 4), PixelRect(30, 20, 32, 24)))
    arr = ds.pixel_array
    assert arr.shape == (2, 24, 32) and int(ds.NumberOfFrames) == 2
    assert np.all(arr[:, :4, :] == frames.min()) and np.all(arr[:, 20:, 30:] == frames.min())
    np.testing.assert_array_equal(arr[:, 4:20, :30], frames[:, 4:20, :30])


def test_clean_pixel_data_refuses_a_rectangle_outside_the_image() -> None:
    ds = us_image()
    with pytest.raises(ValidationError, match="reaches outside the 32x24 image"):
        run(ds, clean_pixel_data=(PixelRect(0, 0, 33, 4),))
    with pytest.raises(ValidationError, match="x0 < x1"):
        PixelRect.parse("5,0,5,4")
    with pytest.raises(ValidationError, match="four integers"):
        PixelRect.parse("1,2,3")
    assert PixelRect.parse(" 1, 2 ,3,4") == PixelRect(1, 2, 3, 4)


def test_clean_pixel_data_of_colour_and_compressed_images() -> None:
    ds = pydicom.dcmread(get_testdata_file("SC_rgb_jpeg_dcmtk.dcm"))
    before = ds.pixel_array.copy()
    run(ds, clean_pixel_data=(PixelRect(0, 0, 10, 5),))
    arr = ds.pixel_array
    assert ds.PhotometricInterpretation == "RGB" and not ds.file_meta.TransferSyntaxUID.is_compressed
    assert np.all(arr[:5, :10] == 0)
    assert np.abs(arr[10:, 20:].astype(int) - before[10:, 20:].astype(int)).max() <= 4  # decoded, not re-encoded


def test_mask_array_fills_with_the_minimum() -> None:
    px = np.arange(2 * 4 * 5, dtype=np.float32).reshape(2, 4, 5) + 3
    out = mask_array(px, [PixelRect(1, 1, 3, 2)])
    assert np.all(out[:, 1, 1:3] == 3.0) and out[0, 0, 0] == 3.0 and out[1, 3, 4] == px[1, 3, 4]
    assert px[0, 1, 1] != 3.0  # the input is not modified


def test_deidentify_is_idempotent_on_identifiers() -> None:
    ds = run(ct_image())
    again = run(copy.deepcopy(ds))
    assert again.PatientName == ds.PatientName and again.PatientIdentityRemoved == "YES"


def test_a_malformed_element_refuses_the_object_in_one_line(tmp_path) -> None:  # noqa: ANN001
    buf = io.BytesIO()
    ct_image().save_as(buf, enforce_file_format=True)
    data = bytearray(buf.getvalue())
    at = data.find(b"\x10\x00\x10\x00PN")  # Patient's Name, explicit VR
    data[at + 4:at + 6] = b"ZZ"  # an unknown VR, as fuzzed files have
    (tmp_path / "bad.dcm").write_bytes(bytes(data))
    ds = pydicom.dcmread(tmp_path / "bad.dcm")
    with pytest.raises(ValidationError, match="cannot de-identify: a malformed element") as info:
        run(ds)
    assert "\n" not in str(info.value)
