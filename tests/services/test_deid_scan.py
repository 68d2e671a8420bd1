"""Scan test: identifiers planted in every attribute of PS3.15 Table E.1-1 appear nowhere the app writes.

A corpus of CT, MR, CR and US files, each carrying a unique value in every attribute of the table,
is imported, read by simulated readers and annotated; then the pixel store (every file, gzip and
zip members opened), the database (every table but the private ``phi_mapping``) and every export
(reads CSV, report HTML/PDF/JSON/CSV, iMRMC, RJafroc, MRMCaov, masks as NIfTI, DICOM SEG and PNG)
are searched for every planted string, date and UID.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import sqlite3
import sys
import zipfile
from datetime import date, timedelta
from pathlib import Path

import pytest
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from readerstudy.core.models import Role
from readerstudy.core.protocol import parse_protocol
from readerstudy.services import annotation as ann_svc
from readerstudy.services.assignments import apply_protocol
from readerstudy.services.auth import add_participant, local_session, system_session
from readerstudy.services.deid_policy import DeidRequest
from readerstudy.services.importing import CaseSource, import_cases
from readerstudy.services.reporting import export_reads, export_report
from readerstudy.services.simulate import simulate_readers

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "imaging"))
from dicom_objects import BUILDERS  # noqa: E402

DEID = Path(__file__).resolve().parents[2] / "resources" / "deid"
with open(DEID / "ps3_15_table_e1_1.csv", newline="", encoding="utf-8") as _fh:
    ROWS = list(csv.DictReader(_fh))
TEXT_VRS = {"AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UT", "UR"}
BYTES_VRS = {"OB", "OW", "OD", "OF", "OL", "OV", "UN"}
STUDY = "scan"
PROTOCOL = 'seed = 7\nsessions = 1\ndesign = "all-arms-each-session"\n[[arms]]\nname = "unaided"\n'


LOCAL = local_session("test")  # the CLI's local coordinator session (reaches every study)


def _as(ctx, case, name: str):  # noqa: ANN001, ANN202
    """The session ``name`` would have after signing in to the case's study."""
    from readerstudy.services.auth import UserSession

    with ctx.uow() as uow:
        study = uow.studies.get(case.study_id)
        p = uow.readers.by_name(study.id, name)
    return UserSession(study.id, study.name, p.id, p.name, p.role, p.seniority)

def _tag(row: dict) -> int:
    return int(row["tag"].strip("()").replace(",", "").replace("xxxx", "3000").replace("x", "0"), 16)


def _vr(row: dict) -> str:
    if row["vr"]:
        return row["vr"].split(" or ")[0]
    name = row["name"]
    return "SQ" if name.endswith("Sequence") else "DT" if name.endswith("DateTime") else \
        "UR" if name.endswith("URI") else "OB" if row["tag"].startswith("(50") else "LO"


class Planted:
    """Unique values: text tokens, dates 400 days apart (a shift of at most 365 days cannot make one
    date into another), UIDs under 2.25."""

    def __init__(self) -> None:
        self.tokens: list[str] = []
        self.dates: list[str] = []
        self.uids: list[str] = []
        self.attributes: set[str] = set()

    def value(self, vr: str, f: int, i: int, row: dict) -> object:
        tok = f"ZQ{chr(65 + f)}{i:04d}X"
        n = f * 1000 + i
        if vr in TEXT_VRS | BYTES_VRS or vr == "SQ":
            self.tokens.append(tok)
            self.attributes.add(row["tag"])
        if vr in ("DA", "DT"):
            d = (date(1000, 1, 1) + timedelta(days=400 * n)).strftime("%Y%m%d")
            self.dates.append(d)
            self.attributes.add(row["tag"])
            return d + ("101112" if vr == "DT" else "")
        if vr == "UI":
            uid = f"2.25.{31415926000 + n}"
            self.uids.append(uid)
            self.attributes.add(row["tag"])
            return uid
        if vr == "PN":
            return f"{tok}^Y"
        if vr == "UR":
            return f"http://{tok.lower()}.example/"
        if vr in TEXT_VRS:
            return tok
        if vr in BYTES_VRS:
            return tok.encode()
        if vr == "SQ":
            item = Dataset()
            item.TextValue = tok
            item.PatientComments = tok
            uid = f"2.25.{271828000 + n}"
            self.uids.append(uid)
            item.ReferencedSOPInstanceUID = uid
            return Sequence([item])
        return {"TM": "101112", "AS": "041Y", "IS": "7", "DS": "7.5", "AT": 0x00100010,
                "FL": 7.5, "FD": 7.5}.get(vr, 7)


def _corpus(folder: Path, planted: Planted) -> list[CaseSource]:
    sources = []
    for f, kind in enumerate(["CT", "MR", "CR", "US", "CT", "MR"]):
        ds = BUILDERS[kind]()
        for i, row in enumerate(ROWS):
            tag, vr = _tag(row), _vr(row)
            if tag >> 16 == 0x0000:
                continue  # command-set elements cannot be written into a file
            target = ds.file_meta if tag >> 16 == 0x0002 else ds
            target[tag] = DataElement(tag, vr, planted.value(vr, f, i, row))
        path = folder / f"case{f}.dcm"
        ds.save_as(path, enforce_file_format=False)
        sources.append(CaseSource(f"case{f}", path, truth=f % 2))
    return sources


def _contents(path: Path) -> bytes:
    raw = path.read_bytes()
    if path.suffix == ".gz":
        return raw + gzip.decompress(raw)
    if path.suffix in (".xlsx", ".zip"):
        with zipfile.ZipFile(path) as z:
            return raw + b"".join(z.read(n) for n in z.namelist())
    if path.suffix == ".pdf":
        from pypdf import PdfReader

        return raw + "".join(p.extract_text() or "" for p in PdfReader(path).pages).encode()
    return raw


def _database_rows(db: Path) -> bytes:
    con = sqlite3.connect(db)
    tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    out = io.StringIO()
    for t in tables:
        if t == "phi_mapping":
            continue
        for row in con.execute(f'SELECT * FROM "{t}"'):
            out.write(repr(row))
    con.close()
    return out.getvalue().encode()


def _find(planted: Planted, blob: bytes) -> list[str]:
    low = blob.lower()
    found = [t for t in planted.tokens if t.lower().encode() in low]
    found += [d for d in planted.dates if re.search(rb"(?<!\d)" + d.encode() + rb"(?!\d)", blob)]
    found += [u for u in planted.uids if re.search(re.escape(u.encode()) + rb"(?![\d.])", blob)]
    return found


def _annotate(ctx) -> None:  # noqa: ANN001
    add_participant(ctx, system_session(ctx, STUDY, actor="test"), "Expert", Role.ANNOTATOR, "0000")
    with ctx.uow() as uow:
        cases = uow.cases.list(uow.studies.by_name(STUDY).id)
    for c in cases:
        layer, _, _ = ann_svc.open_annotation(ctx, _as(ctx, c, "Expert"), c.id)
        layer.paint((0, 8, 8), radius=3, label=1)
        ann_svc.save_annotation(ctx, _as(ctx, c, "Expert"), c.id, layer)


@pytest.mark.timeout(900)
def test_no_planted_identifier_survives_anywhere(ctx, tmp_path: Path) -> None:  # noqa: ANN001
    planted = Planted()
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    sources = _corpus(corpus, planted)
    assert _find(planted, b"".join(_contents(s.image) for s in sources))  # the scanner finds what is there
    report = import_cases(ctx, LOCAL, STUDY, sources, deid=DeidRequest(burned_in="flag"))
    assert sorted(report.imported) == sorted(s.case_id for s in sources), report.refused
    apply_protocol(ctx, system_session(ctx, STUDY, actor="test"), parse_protocol(PROTOCOL))
    assert simulate_readers(ctx, LOCAL, STUDY, 3, seed=5).reads == 3 * len(sources)
    _annotate(ctx)
    out = tmp_path / "exports"
    for fmt, name in (("csv", "reads.csv"), ("imrmc", "imrmc.csv"), ("mrmcaov", "mrmcaov.csv"),
                      ("rjafroc", "rjafroc.xlsx")):
        export_reads(ctx, LOCAL, STUDY, fmt, out / name)
    export_report(ctx, LOCAL, STUDY, out / "report")
    for fmt in ("nifti", "dicom-seg", "png"):  # every image is one slice, so PNG masks apply too
        ann_svc.export_masks(ctx, LOCAL, STUDY, fmt, out / fmt)
    written = {"store": sorted(p for p in ctx.store.root.rglob("*") if p.is_file()),
               "exports": sorted(p for p in out.rglob("*") if p.is_file())}
    assert len(written["store"]) >= 3 * len(sources)
    kinds = {p.suffix for p in written["exports"]}
    assert {".csv", ".xlsx", ".html", ".pdf", ".json", ".gz", ".dcm", ".png"} <= kinds
    leaks = {str(p.relative_to(tmp_path)): _find(planted, _contents(p)) for ps in written.values() for p in ps}
    db = Path(ctx.url.removeprefix("sqlite:///"))
    leaks["database"] = _find(planted, _database_rows(db))
    assert {k: v for k, v in leaks.items() if v} == {}
    # the private mapping does hold the originals (so the scan of the database could have found them)
    con = sqlite3.connect(db)
    phi = "".join(repr(r) for r in con.execute("SELECT * FROM phi_mapping"))
    con.close()
    assert "ZQA" in phi
    print(f"scanned {len(planted.attributes)} attributes x {len(sources)} files: {len(planted.tokens)} tokens, "
          f"{len(planted.dates)} dates, {len(planted.uids)} UIDs in {sum(map(len, written.values()))} files + database")
