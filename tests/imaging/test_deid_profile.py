"""Every attribute of PS3.15 Table E.1-1: plant a value, de-identify, check the table's action was applied.

The expected action is read from the shipped CSV files here (not from the de-identifier), with the
combined actions resolved by the CT Image IOD's attribute types: X unless the IOD requires the
attribute (Type 2: Z; Type 1: D, or U* for a sequence of references).
"""

from __future__ import annotations

import copy
import csv
import io
from datetime import date, timedelta
from pathlib import Path

import pytest
from dicom_objects import ct_image
from pydicom import datadict
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.tag import Tag
from pydicom.uid import CTImageStorage

from readerstudy.imaging.deid import DeidOptions, deidentify

DEID = Path(__file__).resolve().parents[2] / "resources" / "deid"
SHIFT = -37
PSEUDONYM = "RS-0BADCAFE"
PSEUDONYM_KEYWORDS = {"PatientName", "PatientID", "StudyID"}

with open(DEID / "ps3_15_table_e1_1.csv", newline="", encoding="utf-8") as _fh:
    ROWS = list(csv.DictReader(_fh))
with open(DEID / "iod_attribute_types.csv", newline="", encoding="utf-8") as _fh:
    CT_TYPES = {r["tag"]: int(r["type"]) for r in csv.DictReader(_fh) if r["sop_class_uid"] == CTImageStorage}


def plant_tag(row: dict) -> int:
    """A concrete tag for a table pattern: repeating groups take their first group (5000, 6000)."""
    digits = row["tag"].strip("()").replace(",", "")
    return int(digits.replace("xxxx", "3000").replace("x", "0"), 16)


def plant_vr(row: dict) -> str:
    if row["vr"]:
        return row["vr"].split(" or ")[0]
    name = row["name"]
    return "SQ" if name.endswith("Sequence") else "DT" if name.endswith("DateTime") else \
        "UR" if name.endswith("URI") else "OB" if row["tag"].startswith("(50") else "LO"


def token(i: int) -> str:
    return f"PHI{i:04d}Q"


def planted_value(vr: str, i: int) -> object:
    day = date(1850, 1, 1) + timedelta(days=3 * i)
    values = {
        "DA": day.strftime("%Y%m%d"), "DT": day.strftime("%Y%m%d") + "101112", "TM": "101112",
        "UI": f"2.25.{900000000 + i}", "PN": f"{token(i)}^Q", "AS": "077Y", "IS": str(7000 + i),
        "DS": f"{7000 + i}.5", "FL": 7000.5 + i, "FD": 7000.5 + i, "AT": 0x00100010,
        "UR": f"http://{token(i).lower()}.example/",
    }
    if vr in values:
        return values[vr]
    if vr in {"US", "SS", "UL", "SL", "UV", "SV"}:
        return 7000 + i
    if vr in {"OB", "OW", "OD", "OF", "OL", "OV", "UN"}:
        return token(i).encode()
    if vr == "SQ":
        item = Dataset()
        item.TextValue = token(i) + "S"  # (0040,A160) Text Value: free text the table does not list
        item.PatientComments = token(i) + "P"  # (0010,4000): X in the table, wherever it is
        item.ReferencedSOPInstanceUID = f"2.25.{800000000 + i}"  # (0008,1155): U
        return Sequence([item])
    return token(i)  # AE CS LO LT SH ST UC UT


def expected(row: dict, vr: str, modified_dates: bool) -> str:
    if modified_dates and row["rtn_long_modif_dates"] == "C" and vr in {"DA", "DT", "TM"}:
        return "C"
    choices = row["basic"].split("/")
    if len(choices) == 1:
        return choices[0]
    t = CT_TYPES.get(row["tag"], 3)
    if t == 1:
        return "U*" if "U*" in choices else "D" if "D" in choices else "Z"
    if t == 2:
        return "Z" if "Z" in choices else "D"
    return "X" if "X" in choices else "Z"


def _shifted(vr: str, value: str) -> str:
    d = date(int(value[:4]), int(value[4:6]), int(value[6:8])) + timedelta(days=SHIFT)
    return d.strftime("%Y%m%d") + (value[8:] if vr == "DT" else "")


def _is_empty(elem: DataElement) -> bool:
    return elem.value in (None, "", b"") or (elem.VR == "SQ" and len(elem.value) == 0)


def check(action: str, row: dict, vr: str, planted: object, ds: Dataset, tag: int) -> None:
    keyword = row["keyword"]
    in_meta = tag >> 16 == 0x0002
    where = ds.file_meta if in_meta else ds
    if action == "X":
        assert tag not in where
        return
    assert tag in where, f"{action}: the attribute must stay"
    elem = where[tag]
    if keyword in PSEUDONYM_KEYWORDS:  # Z / Z/D with the pseudonym as the dummy value
        assert str(elem.value).rstrip("^") == PSEUDONYM[:16]
    elif action == "Z":
        assert _is_empty(elem)
    elif action == "K":
        assert elem.value == planted
    elif action == "C":
        assert elem.value == (planted if vr == "TM" else _shifted(vr, str(planted)))
    elif vr == "SQ":  # U*: items kept, each de-identified by the table; D: every value in them a dummy
        assert len(elem.value) == 1
        item = elem.value[0]
        assert "PatientComments" not in item if action == "U*" else item.PatientComments == "ANONYMOUS"
        if action == "D":
            assert item.TextValue == "ANONYMOUS"
        assert item.ReferencedSOPInstanceUID != planted[0].ReferencedSOPInstanceUID  # type: ignore[index]
    elif action in ("U", "U*") or vr == "UI":
        assert elem.VR == "UI" and elem.value and elem.value != planted
        assert str(elem.value).replace(".", "").isdigit()
        if keyword == "MediaStorageSOPInstanceUID":
            assert elem.value == ds.SOPInstanceUID
    else:  # D: a dummy of the VR, never the planted value
        assert not _is_empty(elem) and elem.value != planted


def _plant(ds: Dataset, tag: int, vr: str, value: object) -> None:
    target = ds.file_meta if tag >> 16 == 0x0002 else ds
    target[tag] = DataElement(tag, vr, value)


@pytest.mark.parametrize("modified_dates", [True, False], ids=["modified-dates", "basic"])
@pytest.mark.parametrize("index", range(len(ROWS)), ids=[r["tag"] + " " + (r["keyword"] or r["name"]) for r in ROWS])
def test_table_attribute_gets_its_action(index: int, modified_dates: bool) -> None:
    row = ROWS[index]
    tag, vr = plant_tag(row), plant_vr(row)
    planted = planted_value(vr, index)
    ds = ct_image()
    _plant(ds, tag, vr, copy.deepcopy(planted))
    action = expected(row, vr, modified_dates)
    deidentify(ds, secret="table-test", pseudonym=PSEUDONYM, shift_days=SHIFT,
               options=DeidOptions(retain_longitudinal_modified_dates=modified_dates))
    check(action, row, vr, planted, ds, tag)
    if tag >> 16 == 0x0000:
        return  # command-set elements cannot be written into a file (pydicom refuses)
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    data = buf.getvalue()
    leftover = token(index) + "S"  # the unlisted Text Value survives only inside a kept U* sequence
    text = data.replace(leftover.encode(), b"") if action == "U*" else data
    assert token(index).encode() not in text and token(index).lower().encode() not in text
    if vr == "UI" and action != "K":
        assert str(planted).encode() not in data


def test_the_table_is_the_whole_of_e_1_1() -> None:
    actions = {r["basic"] for r in ROWS}
    assert len(ROWS) == 655
    assert actions == {"D", "Z", "X", "U", "Z/D", "X/Z", "X/D", "X/Z/D", "X/Z/U*"}
    assert {r["tag"] for r in ROWS} >= {"(50xx,xxxx)", "(60xx,3000)", "(60xx,4000)"}
    named = {r["keyword"] for r in ROWS}
    issue_examples = {"StudyComments", "ReasonForTheRequestedProcedure", "RequestedProcedureComments",
                      "MedicalAlerts", "Allergies", "AdmissionID", "PatientState", "TextComments",
                      "RequestingService", "PerformedStationAETitle", "PerformedLocation"}
    assert issue_examples <= named
    # every row's tag and VR agree with pydicom's dictionary where it knows the attribute
    for r in ROWS:
        if r["keyword"] and "x" not in r["tag"]:
            assert datadict.keyword_for_tag(Tag(plant_tag(r))) == r["keyword"]
