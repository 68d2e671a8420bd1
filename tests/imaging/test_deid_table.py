"""The shipped Table E.1-1 and IOD-type tables are exactly what their cited sources give.

``resources/deid/generate_tables.py`` builds them from dicom-anonymizer (Table E.1-1, 2026c) and
dicom-standard (the 2020 option column and IOD module types); both are test dependencies, so a
table edited by hand, or a source upgraded without regenerating, fails here.
"""

from __future__ import annotations

from readerstudy.imaging.deid_table import load_profile
from resources.deid import generate_tables as gen


def test_shipped_profile_table_is_the_generated_one() -> None:
    profile = gen.build_profile()
    assert gen.PROFILE_CSV.read_text(encoding="utf-8") == gen.render(profile, gen.PROFILE_COLUMNS)
    iod = gen.build_iod_types(profile)
    assert gen.IOD_TYPES_CSV.read_text(encoding="utf-8") == gen.render(iod, ["sop_class_uid", "tag", "type"])


def test_profile_lookup_covers_repeating_groups_and_iod_types() -> None:
    p = load_profile()
    assert len(p) == 655
    assert p.lookup(0x00100010).keyword == "PatientName"
    assert p.lookup(0x50023000).name == "Curve Data" and p.lookup(0x501E0010).name == "Curve Data"
    assert p.lookup(0x60003000).keyword == "OverlayData" and p.lookup(0x601E4000).keyword == "OverlayComments"
    assert p.lookup(0x60000010) is None  # Overlay Rows is not in the table (the whole group goes anyway)
    assert p.lookup(0x00280010) is None  # Rows
    ct, enhanced_ct = "1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.5.1.4.1.1.2.1"
    assert p.iod_type(enhanced_ct, 0x00181000) == 1  # Device Serial Number: Enhanced General Equipment
    assert p.iod_type(ct, 0x00181000) == 3
    assert p.iod_type(ct, 0x00080023) == 2  # Content Date, General Image, 2C
