"""Use case: export a study's report (HTML, PDF, JSON, CSV) and its reads in MRMC software formats."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from readerstudy import __version__
from readerstudy.core.errors import ValidationError
from readerstudy.reports.figures import build_figures
from readerstudy.reports.tables import MODEL_SENIORITY, ReportOptions, build_tables
from readerstudy.reports.writers import write_csv, write_html, write_json, write_pdf
from readerstudy.services.context import AppContext
from readerstudy.services.report_data import ReportData, collect_report_data

__all__ = ["EXPORT_FORMATS", "ReportFiles", "export_reads", "export_report", "mrmcaov_table", "imrmc_table"]

Progress = Callable[[int, int, str], None]
EXPORT_FORMATS = ("imrmc", "rjafroc", "mrmcaov", "csv")


@dataclass(frozen=True)
class ReportFiles:
    html: Path
    pdf: Path
    json: Path
    csv: Path


def _prepared(ctx: AppContext, study_name: str) -> ReportData:
    data = collect_report_data(ctx, study_name)
    data.table.attrs["arms"] = list(data.arms)
    if data.table.empty:
        raise ValidationError(f"Study {study_name!r} has no reads or model predictions to report.")
    return data


def export_report(ctx: AppContext, study_name: str, out_dir: str | os.PathLike[str], reference: str | None = None,
                  arm: str | None = None, progress: Progress | None = None) -> ReportFiles:
    """Write ``report.html``, ``report.pdf``, ``report.json`` and ``reads.csv`` into ``out_dir``."""
    steps = 6

    def tick(i: int, msg: str) -> None:
        if progress is not None:
            progress(i, steps, msg)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tick(0, "collecting reads")
    data = _prepared(ctx, study_name)
    tick(1, "computing statistics")
    tables = build_tables(data.table, data.missing, ReportOptions(arm=arm, reference=reference))
    tick(2, "drawing figures")
    figures = build_figures(data.table, tables)
    meta: dict[str, Any] = {
        "study": data.study,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "app_version": __version__,
        "arms": ", ".join(data.arms),
        "models": ", ".join(data.models) or "none",
        "focus_arm": tables["focus_arm"],
        "reference": tables["reference"],
        "n_reads": int((data.table["seniority"] != MODEL_SENIORITY).sum()),
        "n_model_predictions": int((data.table["seniority"] == MODEL_SENIORITY).sum()),
        "n_missing_reads": int(data.missing["missing"].sum()) if len(data.missing) else 0,
        "conventions": list(data.conventions),
    }
    tick(3, "writing JSON and CSV")
    files = ReportFiles(out / "report.html", out / "report.pdf", out / "report.json", out / "reads.csv")
    write_json(files.json, meta, tables)
    write_csv(files.csv, data.table)
    tick(4, "writing HTML")
    write_html(files.html, meta, tables, figures)
    tick(5, "writing PDF")
    write_pdf(files.pdf, meta, tables, figures)
    tick(6, "done")
    return files


def _reads_only(data: ReportData) -> pd.DataFrame:
    t = data.table
    return t[(t["seniority"] != MODEL_SENIORITY) & t["truth"].notna()]


def imrmc_table(data: ReportData) -> pd.DataFrame:
    """iMRMC long format: ``readerID, caseID, modalityID, score``; one truth row per case first
    (readerID ``-1``, modalityID ``truth``, score 0/1). Arms are modalities; models are readers
    in modality ``model``."""
    t = data.table[data.table["truth"].notna()]
    truth = t.groupby("case", sort=True)["truth"].first().astype(int)
    rows = pd.DataFrame({"readerID": "-1", "caseID": truth.index, "modalityID": "truth",
                         "score": pd.Series([int(v) for v in truth.to_numpy()], dtype=object)})
    scores = pd.DataFrame({"readerID": t["reader"].to_numpy(), "caseID": t["case"].to_numpy(),
                           "modalityID": t["arm"].to_numpy(),
                           "score": pd.Series([float(v) for v in t["probability"]], dtype=object)})
    return pd.concat([rows, scores], ignore_index=True)


def mrmcaov_table(data: ReportData) -> pd.DataFrame:
    """MRMCaov long format: ``reader, treatment, case, truth, rating`` (readers only)."""
    t = _reads_only(data)
    return pd.DataFrame({"reader": t["reader"].to_numpy(), "treatment": t["arm"].to_numpy(),
                         "case": t["case"].to_numpy(), "truth": t["truth"].astype(int).to_numpy(),
                         "rating": t["probability"].astype(float).to_numpy()})


def write_rjafroc(path: Path, data: ReportData) -> Path:
    """RJafroc ROC workbook in the original JAFROC layout (``DfReadDataFile(f, newExcelFileFormat =
    FALSE)``): TRUTH (CaseID, LesionID, Weight), NL (ReaderID, ModalityID, CaseID, NL_Rating) and
    LL (ReaderID, ModalityID, CaseID, LesionID, LL_Rating). ROC convention: non-diseased cases
    have LesionID 0, Weight 0 and their rating in NL; diseased cases LesionID 1, Weight 1 and
    their rating in LL. Unread cases have no row (RJafroc then treats them as -Inf).
    RJafroc wants integer case ids: ``CaseID`` is the 1-based rank of the pseudonym (sorted);
    the mapping is in the extra sheet ``CASES``, which RJafroc ignores."""
    from openpyxl import Workbook

    t = _reads_only(data)
    case_ids = {c: i + 1 for i, c in enumerate(sorted(t["case"].unique()))}
    truth = t.groupby("case")["truth"].first().astype(int)
    wb = Workbook()
    ws = wb.active
    ws.title = "TRUTH"
    ws.append(["CaseID", "LesionID", "Weight"])
    for c in sorted(case_ids):
        ws.append([case_ids[c], int(truth[c]), 1 if truth[c] == 1 else 0])
    nl, ll = wb.create_sheet("NL"), wb.create_sheet("LL")
    nl.append(["ReaderID", "ModalityID", "CaseID", "NL_Rating"])
    ll.append(["ReaderID", "ModalityID", "CaseID", "LesionID", "LL_Rating"])
    for r in t.sort_values(["arm", "reader", "case"]).itertuples(index=False):
        if int(r.truth) == 1:
            ll.append([r.reader, r.arm, case_ids[r.case], 1, float(r.probability)])
        else:
            nl.append([r.reader, r.arm, case_ids[r.case], float(r.probability)])
    cases = wb.create_sheet("CASES")
    cases.append(["CaseID", "case"])
    for c, i in sorted(case_ids.items(), key=lambda kv: kv[1]):
        cases.append([i, c])
    wb.save(path)
    return path


def export_reads(ctx: AppContext, study_name: str, fmt: str, out_file: str | os.PathLike[str]) -> Path:
    """Write the study's reads as ``fmt`` (one of :data:`EXPORT_FORMATS`) to ``out_file``."""
    if fmt not in EXPORT_FORMATS:
        raise ValidationError(f"Unknown export format {fmt!r}; choose one of {', '.join(EXPORT_FORMATS)}.")
    path = Path(out_file)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = _prepared(ctx, study_name)
    if fmt == "csv":
        return write_csv(path, data.table)
    if fmt == "imrmc":
        imrmc_table(data).to_csv(path, index=False)
        return path
    if fmt == "mrmcaov":
        mrmcaov_table(data).to_csv(path, index=False)
        return path
    return write_rjafroc(path, data)
