"""De-identification on import: the DICOM PS3.15 Basic Application Level Confidentiality Profile.

Table-driven: every attribute of PS3.15 Table E.1-1 gets the action the table gives it (the table
is data, see :mod:`readerstudy.imaging.deid_table`); combined actions are resolved by the
attribute's type in the object's IOD. Beyond the table the profile also removes every private
attribute, the curve groups (50xx) and the overlay groups (6000-60FF, whole: an overlay without
its Overlay Data would be malformed), zeroes a non-zero 128-byte preamble, and clears the bits of
Pixel Data above Bits Stored (where overlays used to hide). As safety nets, any person name the
table does not list is emptied and any UID that is not a registry UID is replaced.

Options (PS3.15 E.3), as :class:`DeidOptions` switches:

* ``retain_longitudinal_modified_dates`` (default on; DCM 113107): every date is shifted by a
  per-patient number of days (:func:`date_shift_days`), times kept, so intervals survive.
* ``clean_pixel_data`` (DCM 113101): rectangles of pixels the coordinator marks as holding burned-in
  text are overwritten in every frame (:mod:`readerstudy.imaging.deid_pixels`).

UIDs are replaced by UIDs derived from a per-database secret (the same original UID always maps to
the same new UID inside one database, so series stay consistent). The method is recorded in the
object (Patient Identity Removed, De-identification Method and its Code Sequence, Longitudinal
Temporal Information Modified). The original identifiers go to a mapping returned to the caller,
which stores it in the private ``phi_mapping`` table that the reader role can never reach.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import UID_dictionary, generate_uid

from readerstudy.core.errors import ValidationError
from readerstudy.imaging.deid_pixels import PixelRect, clean_rectangles, clear_unused_bits
from readerstudy.imaging.deid_table import ConfidentialityProfile, load_profile, resolve

__all__ = ["DeidOptions", "PixelRect", "METHOD_CODES", "date_shift_days", "deidentify"]

METHOD_CODES = {  # PS3.16 CID 7050 De-identification Method
    "basic": ("113100", "Basic Application Confidentiality Profile"),
    "modified_dates": ("113107", "Retain Longitudinal Temporal Information Modified Dates Option"),
    "clean_pixel": ("113101", "Clean Pixel Data Option"),
}
_DUMMY: dict[str, Any] = {
    "AE": "ANONYMOUS", "AS": "000Y", "CS": "ANONYMOUS", "DA": "19000101", "DS": "0", "DT": "19000101",
    "IS": "0", "LO": "ANONYMOUS", "LT": "ANONYMOUS", "PN": "ANONYMOUS", "SH": "ANONYMOUS",
    "ST": "ANONYMOUS", "TM": "000000", "UC": "ANONYMOUS", "UR": "urn:x-anonymous", "UT": "ANONYMOUS",
    "FL": 0.0, "FD": 0.0, "SL": 0, "SS": 0, "SV": 0, "UL": 0, "US": 0, "UV": 0, "AT": 0,
}
_TEXT_VRS = {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UI", "UR", "UT"}
_BYTES_VRS = {"OB", "OD", "OF", "OL", "OV", "OW", "UN"}
_KEPT_IN_DUMMY_ITEMS = {"CS", "US", "SS", "UL", "SL", "UV", "SV", "FL", "FD", "IS", "DS", "AT"}
# File meta attributes that name the sending or receiving system (not in Table E.1-1).
_FILE_META_REMOVE = (0x00020016, 0x00020017, 0x00020018, 0x00020100, 0x00020102)
# Z or Z/D attributes given the case pseudonym as their dummy value (PN in the family-name component,
# since a name without "^" is the retired form; Study ID so that a DICOMDIR can still be built).
_PSEUDONYM_KEYWORDS = {"PatientName", "PatientID", "StudyID"}


@dataclass(frozen=True)
class DeidOptions:
    """Confidentiality profile options (PS3.15 E.3) applied on top of the Basic Profile."""

    retain_longitudinal_modified_dates: bool = True
    clean_pixel_data: tuple[PixelRect, ...] = ()

    def method_codes(self) -> list[tuple[str, str]]:
        """(code value, code meaning) of DCM CID 7050 for the profile and each option applied."""
        codes = [METHOD_CODES["basic"]]
        if self.retain_longitudinal_modified_dates:
            codes.append(METHOD_CODES["modified_dates"])
        if self.clean_pixel_data:
            codes.append(METHOD_CODES["clean_pixel"])
        return codes


def _uid_mapper(secret: str) -> Callable[[str], str]:
    cache: dict[str, str] = {}

    def new_uid(old: str) -> str:
        if not old or old in UID_dictionary:  # registry UIDs (classes, frames of reference) identify no one
            return old
        if old not in cache:
            cache[old] = str(generate_uid(entropy_srcs=[secret, old]))
        return cache[old]

    return new_uid


def date_shift_days(patient_key: str, secret: str) -> int:
    """Per-patient shift in days, -365..-1 (dates move back), stable for the patient in one database."""
    h = int(hashlib.sha256((secret + "|" + patient_key).encode()).hexdigest(), 16)
    return -(1 + h % 365)


def _shift_da(value: str, days: int) -> str:
    try:
        d = datetime.strptime(value.strip()[:8], "%Y%m%d").date()
    except ValueError:
        return ""
    return (d + timedelta(days=days)).strftime("%Y%m%d")


def _shift_dt(value: str, days: int) -> str:
    shifted = _shift_da(value[:8], days)
    return shifted + value.strip()[8:] if shifted else ""


def _is_class_uid(keyword: str) -> bool:
    return keyword.endswith("ClassUID") or "TransferSyntax" in keyword or keyword in {
        "CodingSchemeUID", "MappingResourceUID", "ContextGroupExtensionCreatorUID", "PrivateInformationCreatorUID",
        "SOPClassesInStudy", "RelatedGeneralSOPClassUID", "OriginalSpecializedSOPClassUID"}


class _Walker:
    """Applies the table to a dataset and, recursively, to every sequence item."""

    def __init__(self, profile: ConfidentialityProfile, sop_class_uid: str, options: DeidOptions,
                 new_uid: Callable[[str], str], shift_days: int, pseudonym: str) -> None:
        self.profile, self.sop, self.options = profile, sop_class_uid, options
        self.new_uid, self.shift, self.pseudonym = new_uid, shift_days, pseudonym

    def dataset(self, ds: Dataset, *, top_level: bool) -> None:
        for elem in list(ds):
            tag = elem.tag
            if tag.is_private or 0x6000 <= tag.group <= 0x60FF:
                del ds[tag]
                continue
            if elem.keyword in _PSEUDONYM_KEYWORDS:  # Z (Z/D): a dummy value, the case pseudonym
                elem.value = f"{self.pseudonym}^" if elem.VR == "PN" else self.pseudonym[:16]
                continue
            attr = self.profile.lookup(tag)
            if attr is None:
                self._unlisted(elem)
                continue
            action = resolve(attr, vr=elem.VR, top_level=top_level, sop_class_uid=self.sop,
                             profile=self.profile, modified_dates=self.options.retain_longitudinal_modified_dates)
            if action == "X":
                del ds[tag]
            else:
                self._apply(elem, action)

    def _items(self, elem: DataElement) -> None:
        for item in elem.value or []:
            self.dataset(item, top_level=False)

    def _apply(self, elem: DataElement, action: str) -> None:
        if elem.VR == "SQ":
            if action == "Z":
                elem.value = Sequence()
            elif action == "D":  # a dummy sequence: the same items, every value in them a dummy
                for item in elem.value or []:
                    self._dummy_dataset(item)
            else:  # K, C, U, U*: keep the items, de-identified item by item
                self._items(elem)
        elif action == "Z":
            elem.value = "" if elem.VR in _TEXT_VRS else None
        elif action == "K":
            pass
        elif action == "C":
            self._clean_date(elem)
        elif elem.VR == "UI":  # U, U*, or D of a UID: a consistent replacement
            self._remap(elem)
        else:  # D (and U of a non-UID VR)
            elem.value = self._dummy(elem.VR)

    def _dummy_dataset(self, ds: Dataset) -> None:
        """Inside a D sequence: text, names, bytes become dummies; UIDs replaced; dates cleaned or
        dummied; coded strings and numbers (structure, not identity) kept."""
        for elem in list(ds):
            if elem.tag.is_private or 0x6000 <= elem.tag.group <= 0x60FF:
                del ds[elem.tag]
            elif elem.VR == "SQ":
                for item in elem.value or []:
                    self._dummy_dataset(item)
            elif elem.VR == "UI":
                if not _is_class_uid(elem.keyword):
                    self._remap(elem)
            elif elem.VR in _KEPT_IN_DUMMY_ITEMS:
                continue
            elif elem.VR in ("DA", "DT", "TM") and self.options.retain_longitudinal_modified_dates:
                self._clean_date(elem)
            else:
                elem.value = self._dummy(elem.VR)

    def _dummy(self, vr: str) -> Any:
        if vr in _BYTES_VRS:
            return b"\x00" * 8
        return _DUMMY.get(vr, "ANONYMOUS")

    def _remap(self, elem: DataElement) -> None:
        if elem.VM > 1:
            elem.value = [self.new_uid(str(v)) for v in elem.value]
        elif elem.value:
            elem.value = self.new_uid(str(elem.value))

    def _clean_date(self, elem: DataElement) -> None:
        """C of the modified-dates option: DA/DT shifted by whole days, TM kept (a day shift keeps times)."""
        if elem.VR == "TM" or not elem.value:
            return
        shift = _shift_da if elem.VR == "DA" else _shift_dt
        values = list(elem.value) if elem.VM > 1 else [elem.value]
        shifted = [shift(str(v), self.shift) for v in values]
        elem.value = shifted if len(shifted) > 1 else shifted[0]

    def _unlisted(self, elem: DataElement) -> None:
        if elem.VR == "SQ":
            self._items(elem)
        elif elem.VR == "UI" and not _is_class_uid(elem.keyword):
            self._remap(elem)
        elif elem.VR == "PN":
            elem.value = ""  # a name the table does not list: no names survive
        elif elem.VR in ("DA", "DT") and self.options.retain_longitudinal_modified_dates:
            self._clean_date(elem)


def _originals(ds: Dataset) -> dict[str, Any]:
    keys = ("PatientName", "PatientID", "PatientBirthDate", "AccessionNumber", "StudyInstanceUID",
            "SeriesInstanceUID", "SOPInstanceUID", "StudyDate", "InstitutionName")
    return {k: str(ds.get(k, "")) for k in keys}


def _record_method(ds: Dataset, options: DeidOptions) -> None:
    ds.PatientIdentityRemoved = "YES"
    methods = ["PS3.15 Table E.1-1 (2026c) Basic Profile"]
    if options.retain_longitudinal_modified_dates:
        methods.append("Retain Longitudinal Modified Dates (day shift)")
    if options.clean_pixel_data:
        methods.append("Clean Pixel Data (coordinator rectangles)")
    ds.DeidentificationMethod = methods
    items = []
    for value, meaning in options.method_codes():
        item = Dataset()
        item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, "DCM", meaning
        items.append(item)
    ds.DeidentificationMethodCodeSequence = Sequence(items)
    ds.LongitudinalTemporalInformationModified = (
        "MODIFIED" if options.retain_longitudinal_modified_dates else "REMOVED")


def _file_level(ds: Dataset) -> None:
    if getattr(ds, "preamble", None) is not None:
        ds.preamble = b"\x00" * 128
    meta = getattr(ds, "file_meta", None)
    if meta is None:
        return
    for tag in _FILE_META_REMOVE:
        if tag in meta:
            del meta[tag]
    if "SOPInstanceUID" in ds:
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID


def deidentify(ds: Dataset, *, secret: str, pseudonym: str, shift_days: int,
               options: DeidOptions | None = None) -> dict[str, Any]:
    """De-identify ``ds`` in place; return the original identifiers (for the private mapping).

    Parameters
    ----------
    ds : pydicom Dataset (a FileDataset from ``dcmread`` or one built in memory).
    secret : the database's de-identification secret (UID replacement is keyed by it).
    pseudonym : the case pseudonym written as Patient's Name and Patient ID.
    shift_days : whole days added to every date under the modified-dates option (negative: back).
    options : the profile options (default: modified dates on, no pixel cleaning).

    Raises
    ------
    readerstudy.core.errors.ValidationError
        When an element cannot be parsed (unknown VR, bad value), or pixel cleaning or clearing of
        unused bits needs a decoder that fails, or a rectangle lies outside the image.
    """
    options = options or DeidOptions()
    try:
        original = _originals(ds)
        sop = str(ds.get("SOPClassUID", ""))
        walker = _Walker(load_profile(), sop, options, _uid_mapper(secret), shift_days, pseudonym)
        walker.dataset(ds, top_level=True)
        if options.clean_pixel_data:
            clean_rectangles(ds, options.clean_pixel_data)
        clear_unused_bits(ds)
    except ValidationError:
        raise
    except (NotImplementedError, ValueError, TypeError, KeyError, OverflowError, AttributeError) as exc:
        # pydicom parses elements lazily: a malformed one (unknown VR, bad length) fails here. An
        # element that cannot be read cannot be judged, so the object is refused, not half cleaned.
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ValidationError(f"cannot de-identify: a malformed element ({msg}); the file is refused.") from exc
    _record_method(ds, options)
    _file_level(ds)
    return original

