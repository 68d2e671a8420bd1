"""Use case: export a study's report (HTML, PDF, JSON, CSV) and its reads in MRMC software formats."""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from readerstudy.core.errors import ValidationError
from readerstudy.reports.build import STEPS, ReportFiles, write_report
from readerstudy.reports.document import ReportOptions
from readerstudy.reports.model import MODEL_SENIORITY
from readerstudy.reports.pdf_process import PdfTypesetter
from readerstudy.reports.writers import write_csv
from readerstudy.services.auth import UserSession, require_study
from readerstudy.services.context import AppContext
from readerstudy.services.report_data import ReportData, collect_report_data
from readerstudy.services.report_provenance import safe_url

__all__ = ["EXPORT_FORMATS", "REPORT_STEPS", "ReportFiles", "export_reads", "export_report", "imrmc_table",
           "mrmcaov_table", "report_command"]

Progress = Callable[[int, int, str], None]
EXPORT_FORMATS = ("imrmc", "rjafroc", "mrmcaov", "csv")
REPORT_STEPS = STEPS + 1


def report_command(ctx: AppContext, study_name: str, out_dir: str | os.PathLike[str], reference: str | None,
                   arm: str | None) -> str:
    """The ``readerstudy report`` command line that writes the same report."""
    args = ["readerstudy", "report", "--db", safe_url(ctx.url), "--study", study_name, "--out", str(out_dir)]
    if reference:
        args += ["--reference", reference]
    if arm:
        args += ["--arm", arm]
    return shlex.join(args)


def export_report(ctx: AppContext, session: UserSession, study_name: str, out_dir: str | os.PathLike[str],
                  reference: str | None = None, arm: str | None = None, progress: Progress | None = None, *,
                  command: str | None = None, pdf: bool = True,
                  typesetter: PdfTypesetter | None = None) -> ReportFiles:
    """Write ``report.html``, ``report.pdf``, ``report.json``, ``reads.csv`` and ``figures/`` into ``out_dir``.

    Works on any state of a study (no reads, interim, no ground truth): what cannot be computed
    is "n/a" with the reason. ``reference`` is a reader's name, ``"model"`` or
    ``"senior-consensus"`` (default: the protocol's ``reference``, else the most senior reader);
    ``arm`` the arm compared with it. ``command`` is printed in the reproducibility footer
    (default: the equivalent ``readerstudy report`` command). Raises
    :class:`~readerstudy.core.errors.ValidationError` for an unknown arm or reference, and
    :class:`~readerstudy.core.errors.Cancelled` when ``progress`` raises it (nothing is written then).
    ``typesetter``: a :class:`~readerstudy.reports.pdf_process.PdfTypesetter` the caller started
    early (a fresh process: WeasyPrint's start-up overlaps the statistics and its layout the
    figures); default in process.
    """
    require_study(session, study_name, "exporting a study's report")
    if progress is not None:
        progress(0, REPORT_STEPS, "collecting reads")
    cmd = command or report_command(ctx, study_name, out_dir, reference, arm)
    data = collect_report_data(ctx, session, study_name, command=cmd)
    shifted = None if progress is None else (lambda i, n, m: progress(i + 1, n + 1, m))
    return write_report(data, out_dir, ReportOptions(arm=arm, reference=reference), shifted, pdf=pdf,
                        typesetter=typesetter)


def _prepared(ctx: AppContext, session: UserSession, study_name: str) -> ReportData:
    data = collect_report_data(ctx, session, study_name)
    if data.table.empty:
        raise ValidationError(f"Study {study_name!r} has no reads or model predictions to export yet.")
    return data


def _head_text(ctx: AppContext) -> str:
    """``seq:hash (N events)`` of the audit chain now (``audit verify --expect-head`` takes it)."""
    from readerstudy.storage.audit import chain_head

    with ctx.uow(read=True) as uow:
        assert uow.session is not None
        head = chain_head(uow.session)
    return "none (no audit events)" if head is None else f"{head.seq}:{head.hash} ({head.events} events)"


def _provenance(ctx: AppContext, study_name: str, fmt: str, path: Path) -> None:
    """``<export>.provenance.json`` next to an export: what it is and the audit chain head it was made at
    (the formats R reads have no room for a footer)."""
    import json
    from datetime import UTC, datetime

    from readerstudy import __version__

    info = {"study": study_name, "format": fmt, "file": path.name, "app_version": __version__,
            "generated_at": datetime.now(UTC).isoformat(timespec="seconds"), "audit_chain_head": _head_text(ctx)}
    path.with_name(path.name + ".provenance.json").write_text(json.dumps(info, indent=2), encoding="utf-8")


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


def export_reads(ctx: AppContext, session: UserSession, study_name: str, fmt: str,
                 out_file: str | os.PathLike[str]) -> Path:
    """Write the study's reads as ``fmt`` (one of :data:`EXPORT_FORMATS`) to ``out_file`` (coordinators).

    ``<out_file>.provenance.json`` next to it records the audit chain head it was made at.
    """
    require_study(session, study_name, "exporting a study's reads")
    if fmt not in EXPORT_FORMATS:
        raise ValidationError(f"Unknown export format {fmt!r}; choose one of {', '.join(EXPORT_FORMATS)}.")
    path = Path(out_file)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = _prepared(ctx, session, study_name)
    if fmt == "csv":
        write_csv(path, data.export_table)
    elif fmt == "imrmc":
        imrmc_table(data).to_csv(path, index=False)
    elif fmt == "mrmcaov":
        mrmcaov_table(data).to_csv(path, index=False)
    else:
        write_rjafroc(path, data)
    _provenance(ctx, study_name, fmt, path)
    return path
