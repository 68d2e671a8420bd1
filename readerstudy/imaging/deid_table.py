"""PS3.15 Table E.1-1 as data: which action the de-identifier applies to each attribute.

The table ships as ``resources/deid/ps3_15_table_e1_1.csv`` (655 attributes of the 2026c
edition; how it was built, from which packages, is in ``resources/deid/generate_tables.py``),
with the attribute types of each IOD's modules in ``resources/deid/iod_attribute_types.csv``,
used to resolve the combined actions (X/Z, X/D, Z/D, X/Z/D, X/Z/U*) the way the standard
defines them: remove unless the IOD requires the attribute (Type 2: zero length; Type 1: a
dummy value, or for X/Z/U* the sequence kept with its instance UIDs replaced).

Action letters (PS3.15 Table E.1-1 legend): D dummy value, Z zero length (or dummy), X remove,
K keep, C clean (here: dates shifted), U replace UIDs consistently, ``U*`` keep a sequence whose
instance UIDs are replaced.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from readerstudy.paths import resources_dir

DATE_VRS = frozenset({"DA", "DT", "TM"})
SINGLE_ACTIONS = frozenset({"D", "Z", "X", "K", "C", "U", "U*"})


@dataclass(frozen=True)
class ProfileAttribute:
    """One row of Table E.1-1.

    ``tag`` is the table's pattern, e.g. ``(0010,0010)`` or ``(60xx,3000)`` (``x`` = any hex digit);
    ``basic`` the Basic Profile action; ``rtn_long_modif_dates`` is ``C`` when the *Retain
    Longitudinal Temporal Information with Modified Dates* option cleans the attribute.
    """

    tag: str
    keyword: str
    name: str
    vr: str
    basic: str
    rtn_long_modif_dates: str

    @property
    def value_mask(self) -> tuple[int, int]:
        """(value, mask) such that a tag ``t`` (32-bit int) matches when ``t & mask == value``."""
        digits = self.tag.strip("()").replace(",", "")
        value = int(digits.replace("x", "0").replace("X", "0"), 16)
        mask = int("".join("0" if c in "xX" else "F" for c in digits), 16)
        return value, mask

    @property
    def is_repeating(self) -> bool:
        return "x" in self.tag.lower().strip("()").replace(",", "")


class ConfidentialityProfile:
    """Lookup of Table E.1-1 by tag, and of IOD attribute types by SOP Class UID."""

    def __init__(self, attributes: list[ProfileAttribute], iod_types: dict[str, dict[int, int]]) -> None:
        self.attributes = tuple(attributes)
        self._exact = {a.value_mask[0]: a for a in attributes if not a.is_repeating}
        self._repeating = [(a.value_mask, a) for a in attributes if a.is_repeating]
        self._iod = iod_types

    def __len__(self) -> int:
        return len(self.attributes)

    def lookup(self, tag: int) -> ProfileAttribute | None:
        """The row for ``tag`` (a 32-bit group<<16|element int), or None when the table does not list it."""
        row = self._exact.get(int(tag))
        if row is not None:
            return row
        for (value, mask), attr in self._repeating:
            if int(tag) & mask == value:
                return attr
        return None

    def knows_iod(self, sop_class_uid: str) -> bool:
        return sop_class_uid in self._iod

    def iod_type(self, sop_class_uid: str, tag: int) -> int:
        """Top-level type of ``tag`` in the IOD of ``sop_class_uid``: 1 (1/1C), 2 (2/2C), else 3."""
        return self._iod.get(sop_class_uid, {}).get(int(tag), 3)


def resolve(attr: ProfileAttribute, *, vr: str, top_level: bool, sop_class_uid: str,
            profile: ConfidentialityProfile, modified_dates: bool) -> str:
    """The single action (one of :data:`SINGLE_ACTIONS`) to apply to one element.

    ``vr`` is the element's VR. With ``modified_dates`` an attribute whose option column is ``C``
    and whose VR is DA/DT/TM is cleaned (``C``: dates shifted, times kept); any other ``C`` of
    that column falls back to the Basic Profile action. A combined action is resolved by the
    element's type in its IOD when it is a top-level attribute of a known IOD (Type 1 -> D or U*,
    Type 2 -> Z, otherwise X); nested or of an unknown IOD, by the least destructive choice that
    leaves no original value (U*, then D, then Z), which keeps any IOD conformant.
    """
    if modified_dates and attr.rtn_long_modif_dates == "C" and vr in DATE_VRS:
        return "C"
    choices = attr.basic.split("/")
    if len(choices) == 1:
        return choices[0]
    if top_level and profile.knows_iod(sop_class_uid):
        t = profile.iod_type(sop_class_uid, attr.value_mask[0])
        if t == 1:
            return "U*" if "U*" in choices else "D" if "D" in choices else "Z"
        if t == 2:
            return "Z" if "Z" in choices else "D"
        return "X" if "X" in choices else "Z"
    for choice in ("U*", "D", "Z"):
        if choice in choices:
            return choice
    return choices[0]


def _deid_dir() -> Path:
    return resources_dir() / "deid"


@lru_cache(maxsize=1)
def load_profile() -> ConfidentialityProfile:
    """Read the shipped tables (cached). Raises FileNotFoundError if the package data is missing."""
    with open(_deid_dir() / "ps3_15_table_e1_1.csv", newline="", encoding="utf-8") as fh:
        attributes = [ProfileAttribute(**row) for row in csv.DictReader(fh)]
    iod: dict[str, dict[int, int]] = {}
    with open(_deid_dir() / "iod_attribute_types.csv", newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            tag = int(row["tag"].strip("()").replace(",", ""), 16)
            iod.setdefault(row["sop_class_uid"], {})[tag] = int(row["type"])
    bad = {a.basic for a in attributes} - {"D", "Z", "X", "K", "C", "U", "Z/D", "X/Z", "X/D", "X/Z/D", "X/Z/U*"}
    if bad:
        raise ValueError(f"ps3_15_table_e1_1.csv: unknown action(s) {sorted(bad)}")
    return ConfidentialityProfile(attributes, iod)
