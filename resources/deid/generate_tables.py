"""Build the de-identification tables shipped in this folder from maintained, cited sources.

Nothing here runs in the app: the app reads the CSV files this script writes.

Sources
-------
* DICOM PS3.15 Table E.1-1 (Application Level Confidentiality Profile Attributes), edition 2026c,
  "Basic Prof." column: ``dicomanonymizer.dicom_anonymization_databases.dicomfields_2026c`` of
  dicom-anonymizer 2.1.0 (KitwareMedical/dicom-anonymizer, BSD-3-Clause), which that project
  scrapes from the standard's published table. Attribute names and VRs from pydicom's data
  dictionary, else from the comment next to the tag in that module.
* The "Rtn. Long. Modif. Dates Opt." column of Table E.1-1 and the attribute types of the IOD
  modules (PS3.3): dicom-standard 0.1.0 (innolitics/dicom-standard, MIT), the standard parsed to
  JSON (2020 edition; installed under ``<prefix>/standard/``). Attributes added to Table E.1-1
  since 2020 get ``C`` in that column when their VR is DA, DT or TM (the rule the 2020 column
  follows for every date and time attribute, patient birth date/time excepted).

Run (from the repository root)::

    pip install dicom-anonymizer==2.1.0 dicom-standard==0.1.0
    python resources/deid/generate_tables.py

``tests/imaging/test_deid_table.py`` rebuilds both tables in memory and checks that the shipped
files are exactly what this script writes, so a table edited by hand fails the tests.
"""

from __future__ import annotations

import csv
import inspect
import io
import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROFILE_CSV = HERE / "ps3_15_table_e1_1.csv"
IOD_TYPES_CSV = HERE / "iod_attribute_types.csv"
EDITION = "2026c"
CATEGORIES = {  # dicom-anonymizer list name -> Table E.1-1 basic profile action
    "D_TAGS": "D", "Z_TAGS": "Z", "X_TAGS": "X", "U_TAGS": "U", "Z_D_TAGS": "Z/D", "X_Z_TAGS": "X/Z",
    "X_D_TAGS": "X/D", "X_Z_D_TAGS": "X/Z/D", "X_Z_U_STAR_TAGS": "X/Z/U*",
}
PROFILE_COLUMNS = ["tag", "keyword", "name", "vr", "basic", "rtn_long_modif_dates"]
_DATE_VRS = {"DA", "DT", "TM"}


def _standard_dir() -> Path:
    return Path(sys.prefix) / "standard"


def _pattern(entry: tuple[int, ...]) -> str:
    """(group, element[, group mask, element mask]) -> '(gggg,eeee)' with x for free nibbles."""
    group, elem = entry[0], entry[1]
    gmask, emask = (entry[2], entry[3]) if len(entry) == 4 else (0xFFFF, 0xFFFF)

    def hexmask(value: int, mask: int) -> str:
        return "".join(f"{(value >> s) & 0xF:X}" if (mask >> s) & 0xF else "x" for s in (12, 8, 4, 0))

    return f"({hexmask(group, gmask)},{hexmask(elem, emask)})"


def _comments(module: object) -> dict[str, str]:
    """Tag pattern -> the attribute name written as a comment after it in the source module."""
    src = re.sub(r"\(\s*\n\s*", "(", inspect.getsource(module))  # type: ignore[arg-type]
    src = re.sub(r",\s*\n\s*\)", ")", src)
    out: dict[str, str] = {}
    rx = r"\((0x[0-9A-Fa-f]{4}),\s*(0x[0-9A-Fa-f]{4})(?:,\s*(0x[0-9A-Fa-f]{4}),\s*(0x[0-9A-Fa-f]{4}))?\),?\s*#\s*(.+)"
    for m in re.finditer(rx, src):
        nums = tuple(int(v, 16) for v in m.groups()[:4] if v)
        out[_pattern(nums)] = m.group(5).strip()
    return out


def _dictionary(pattern: str) -> tuple[str, str, str]:
    """(keyword, name, VR) from pydicom's dictionary ('' where unknown)."""
    from pydicom import datadict

    key = pattern.strip("()").replace(",", "")
    if "x" in key:
        entry = datadict.RepeatersDictionary.get(key.replace("xxxx", "3000")) or \
            datadict.RepeatersDictionary.get(key)
        if entry is None:
            return "", "", ""
        return entry[4], entry[2], entry[0]
    tag = int(key, 16)
    if tag not in datadict.DicomDictionary:
        return "", "", ""
    vr, _vm, name, _retired, keyword = datadict.DicomDictionary[tag]
    return keyword, name, vr


def build_profile() -> list[dict[str, str]]:
    """Rows of Table E.1-1: one per attribute, sorted by tag pattern."""
    from dicomanonymizer.dicom_anonymization_databases import dicomfields_2026c as fields

    names = _comments(fields)
    with open(_standard_dir() / "confidentiality_profile_attributes.json", encoding="utf-8") as fh:
        std2020 = {str(r["id"]).lower(): r for r in json.load(fh)}
    rows: dict[str, dict[str, str]] = {}
    for category, action in CATEGORIES.items():
        for entry in getattr(fields, category):
            pattern = _pattern(entry)
            if pattern in rows:
                raise ValueError(f"{pattern} is listed twice in the source table")
            keyword, name, vr = _dictionary(pattern)
            old = std2020.get(pattern.strip("()").replace(",", "").lower())
            if old is not None:
                modified = old.get("rtnLongModifDatesOpt") or ""
            else:
                modified = "C" if vr in _DATE_VRS else ""
            rows[pattern] = {"tag": pattern, "keyword": keyword, "name": names.get(pattern) or name, "vr": vr,
                             "basic": action, "rtn_long_modif_dates": modified}
    return [rows[k] for k in sorted(rows)]


def build_iod_types(profile: list[dict[str, str]]) -> list[dict[str, str]]:
    """For attributes with a combined action (X/Z, X/D, Z/D, X/Z/D, X/Z/U*): the strictest top-level
    type (1 or 2; 1C counts as 1, 2C as 2) in the modules of each IOD, keyed by SOP Class UID."""
    combined = {r["tag"].strip("()").replace(",", "") for r in profile if "/" in r["basic"] and "x" not in r["tag"]}
    std = _standard_dir()

    def load(name: str) -> list[dict]:
        with open(std / name, encoding="utf-8") as fh:
            return json.load(fh)

    ciod_ids = {c["name"]: c["id"] for c in load("ciods.json")}
    modules: dict[str, set[str]] = {}
    for r in load("ciod_to_modules.json"):
        modules.setdefault(r["ciodId"], set()).add(r["moduleId"])
    types: dict[str, dict[str, int]] = {}
    for a in load("module_to_attributes.json"):
        parts = a["path"].split(":")
        tag = parts[-1].upper()
        if len(parts) != 2 or tag not in combined or a["type"] not in {"1", "1C", "2", "2C"}:
            continue
        t = int(a["type"][0])
        per = types.setdefault(a["moduleId"], {})
        per[tag] = min(t, per.get(tag, 3))
    out = []
    for sop in load("sops.json"):
        best: dict[str, int] = {}
        for module in modules.get(ciod_ids.get(sop["ciod"], ""), ()):
            for tag, t in types.get(module, {}).items():
                best[tag] = min(t, best.get(tag, 3))
        out.extend({"sop_class_uid": sop["id"], "tag": f"({k[:4]},{k[4:]})", "type": str(v)}
                   for k, v in sorted(best.items()))
    return sorted(out, key=lambda r: (r["sop_class_uid"], r["tag"]))


def render(rows: list[dict[str, str]], columns: list[str]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def main() -> None:
    profile = build_profile()
    PROFILE_CSV.write_text(render(profile, PROFILE_COLUMNS), encoding="utf-8")
    iod = build_iod_types(profile)
    IOD_TYPES_CSV.write_text(render(iod, ["sop_class_uid", "tag", "type"]), encoding="utf-8")
    print(f"{PROFILE_CSV.name}: {len(profile)} attributes; {IOD_TYPES_CSV.name}: {len(iod)} rows")


if __name__ == "__main__":
    main()
