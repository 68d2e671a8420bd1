"""De-identification on import: DICOM PS3.15 Basic Application Level Confidentiality Profile.

Options applied: *Retain Longitudinal Temporal Information with Modified Dates* (every DA/DT
shifted by a per-patient number of days) and *Clean Descriptors* for free text. UIDs are
replaced by new UIDs derived from a per-database secret (the same original UID always maps to
the same new UID inside one database, so series stay consistent). Private tags are removed.
The originals go to a mapping returned to the caller, which stores it in the private
``phi_mapping`` table that the reader role can never reach.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

# keyword -> action: X remove, Z empty, D dummy value. Subset of PS3.15 Table E.1-1
# covering every attribute that names, identifies or locates a patient, operator or institution.
_ACTIONS: dict[str, str] = {
    "PatientName": "D", "PatientID": "D", "PatientBirthDate": "Z", "PatientBirthTime": "X",
    "PatientSex": "Z", "PatientAge": "X", "PatientSize": "X", "PatientWeight": "X",
    "PatientAddress": "X", "PatientTelephoneNumbers": "X", "PatientMotherBirthName": "X",
    "OtherPatientIDs": "X", "OtherPatientNames": "X", "OtherPatientIDsSequence": "X",
    "PatientBirthName": "X", "MilitaryRank": "X", "BranchOfService": "X", "EthnicGroup": "X",
    "Occupation": "X", "AdditionalPatientHistory": "X", "PatientComments": "X",
    "MedicalRecordLocator": "X", "PatientReligiousPreference": "X", "PatientInsurancePlanCodeSequence": "X",
    "ResponsiblePerson": "X", "ResponsibleOrganization": "X", "CountryOfResidence": "X",
    "RegionOfResidence": "X", "CurrentPatientLocation": "X", "IssuerOfPatientID": "X",
    "AccessionNumber": "Z", "StudyID": "Z", "ReferringPhysicianName": "Z",
    "ReferringPhysicianAddress": "X", "ReferringPhysicianTelephoneNumbers": "X",
    "PerformingPhysicianName": "X", "NameOfPhysiciansReadingStudy": "X", "PhysiciansOfRecord": "X",
    "OperatorsName": "X", "RequestingPhysician": "X", "ScheduledPerformingPhysicianName": "X",
    "InstitutionName": "X", "InstitutionAddress": "X", "InstitutionalDepartmentName": "X",
    "StationName": "X", "DeviceSerialNumber": "X", "PlateID": "X", "DetectorID": "X",
    "StudyDescription": "X", "SeriesDescription": "X", "RequestedProcedureDescription": "X",
    "PerformedProcedureStepDescription": "X", "ImageComments": "X", "DerivationDescription": "X",
    "AdmittingDiagnosesDescription": "X", "ProtocolName": "X", "RequestAttributesSequence": "X",
    "ReferencedPatientSequence": "X", "ReferencedStudySequence": "X", "ReferencedImageSequence": "X",
    "SourceImageSequence": "X", "ReferencedPerformedProcedureStepSequence": "X",
    "RequestedProcedureID": "X", "PerformedProcedureStepID": "X", "ScheduledProcedureStepID": "X",
    "ContentCreatorName": "X", "PersonName": "X", "VerifyingObserverName": "X",
    "InstanceCreatorUID": "X", "IrradiationEventUID": "X", "StorageMediaFileSetUID": "X",
    "DigitalSignaturesSequence": "X", "OriginalAttributesSequence": "X", "FrameComments": "X",
}
_KEPT_UID_KEYWORDS = {"SOPClassUID", "TransferSyntaxUID", "MediaStorageSOPClassUID", "ImplementationClassUID",
                      "ReferencedSOPClassUID", "CodingSchemeUID"}


def _uid_mapper(secret: str):  # noqa: ANN202
    cache: dict[str, str] = {}

    def new_uid(old: str) -> str:
        if old not in cache:
            cache[old] = generate_uid(entropy_srcs=[secret, old])
        return cache[old]

    return new_uid


def date_shift_days(patient_key: str, secret: str) -> int:
    """Per-patient shift in days, -365..-1 (dates move back), stable for the patient in one database."""
    h = int(hashlib.sha256((secret + "|" + patient_key).encode()).hexdigest(), 16)
    return -(1 + h % 365)


def _shift_da(value: str, days: int) -> str:
    try:
        d = datetime.strptime(value[:8], "%Y%m%d").date()
    except ValueError:
        return ""
    return (d + timedelta(days=days)).strftime("%Y%m%d")


def _shift_dt(value: str, days: int) -> str:
    shifted = _shift_da(value[:8], days)
    return shifted + value[8:] if shifted else ""


def deidentify(ds: Dataset, *, secret: str, pseudonym: str, shift_days: int) -> dict[str, Any]:
    """De-identify ``ds`` in place. Returns the original identifiers (for the private mapping)."""
    original = {
        "PatientName": str(ds.get("PatientName", "")),
        "PatientID": str(ds.get("PatientID", "")),
        "PatientBirthDate": str(ds.get("PatientBirthDate", "")),
        "AccessionNumber": str(ds.get("AccessionNumber", "")),
        "StudyInstanceUID": str(ds.get("StudyInstanceUID", "")),
        "SeriesInstanceUID": str(ds.get("SeriesInstanceUID", "")),
        "SOPInstanceUID": str(ds.get("SOPInstanceUID", "")),
        "StudyDate": str(ds.get("StudyDate", "")),
        "InstitutionName": str(ds.get("InstitutionName", "")),
    }
    new_uid = _uid_mapper(secret)
    ds.remove_private_tags()

    def visit(dataset: Dataset) -> None:
        for elem in list(dataset):
            kw = elem.keyword
            action = _ACTIONS.get(kw)
            if action == "X":
                del dataset[elem.tag]
                continue
            if action == "Z":
                elem.value = ""
                continue
            if action == "D":
                elem.value = pseudonym
                continue
            if elem.VR == "SQ":
                for item in elem.value:
                    visit(item)
            elif elem.VR == "UI" and kw not in _KEPT_UID_KEYWORDS and elem.value:
                if elem.VM > 1:
                    elem.value = [new_uid(str(v)) for v in elem.value]
                else:
                    elem.value = new_uid(str(elem.value))
            elif elem.VR == "PN":
                elem.value = ""  # any other person name (basic profile: no names survive)
            elif elem.VR == "DA" and elem.value:
                elem.value = _shift_da(str(elem.value), shift_days)
            elif elem.VR == "DT" and elem.value:
                elem.value = _shift_dt(str(elem.value), shift_days)

    visit(ds)
    if "file_meta" in ds.__dict__ and ds.file_meta is not None and "SOPInstanceUID" in ds:
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = "readerstudy: PS3.15 basic profile; dates shifted; UIDs replaced"
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = "113100", "DCM", "Basic Application Confidentiality Profile"
    shifted = Dataset()
    shifted.CodeValue, shifted.CodingSchemeDesignator = "113107", "DCM"
    shifted.CodeMeaning = "Retain Longitudinal Temporal Information Modified Dates Option"
    ds.DeidentificationMethodCodeSequence = pydicom.Sequence([code, shifted])
    return original


