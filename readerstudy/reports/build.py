"""Write a whole report from a :class:`ReportInput`: statistics, figures, HTML, PDF, JSON, CSV, figure files.

Everything is written into a staging folder first and moved into ``out_dir`` at the end, so a
cancelled or failed export leaves the folder as it was (no half-written report).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from readerstudy.core.errors import ValidationError

from .document import ReportOptions, ReportParts, build_tables, sections
from .figures import draw_figures
from .model import MODEL_SENIORITY, ReportInput
from .render import data_uri, render_html, write_pdf
from .writers import jsonable, write_csv, write_json

__all__ = ["ReportFiles", "report_meta", "write_report"]

Progress = Callable[[int, int, str], None]
Typeset = Callable[[str, Path, str], Path]
STEPS = 6


@dataclass(frozen=True)
class ReportFiles:
    """The files of one report; ``figures`` maps a figure key to its PNG, ``captions`` to its title."""

    html: Path
    pdf: Path
    json: Path
    csv: Path
    figures: dict[str, Path] = field(default_factory=dict)
    captions: dict[str, str] = field(default_factory=dict)


def _status(data: ReportInput) -> str:
    m = data.missing
    expected = int(m["expected"].sum()) if len(m) else 0
    done = int(m["read"].sum()) if len(m) else 0
    if expected == 0:
        return "No reading assignments yet" if data.table.empty else "Report on the reads stored"
    if done >= expected:
        return f"Final report: all {expected} assigned reads made"
    return f"Interim report: {done} of {expected} assigned reads made ({100 * done / expected:.0f}%)"


def report_meta(data: ReportInput, tables: dict[str, Any]) -> dict[str, Any]:
    t = data.table
    return {
        "study": data.study, "status": _status(data), "focus_arm": tables["focus_arm"],
        "reference": tables["reference"], "reference_how": tables["reference_how"],
        "arms": list(data.arms), "models": list(data.models),
        "n_reads": int((t["seniority"] != MODEL_SENIORITY).sum()),
        "n_model_predictions": int((t["seniority"] == MODEL_SENIORITY).sum()),
        "n_model_predictions_on_training_cases": 0 if data.training_predictions is None
        else int(len(data.training_predictions)),
        "n_missing_reads": int(data.missing["missing"].sum()) if len(data.missing) else 0,
        "n_corrections": 0 if data.corrections is None else int(len(data.corrections)),
        "conventions": list(data.conventions), "provenance": jsonable(data.provenance),
        "generated_at": data.provenance.generated_at, "app_version": data.provenance.app_version,
    }


def _publish(staging: Path, out: Path) -> None:
    """Move every staged file into ``out`` (replacing older report files of the same name)."""
    for src in sorted(staging.rglob("*")):
        if src.is_file():
            dest = out / src.relative_to(staging)
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, dest)


def write_report(data: ReportInput, out_dir: str | os.PathLike[str], options: ReportOptions | None = None,
                 progress: Progress | None = None, *, pdf: bool = True,
                 typeset: Typeset | None = None, parallel_figures: bool = False) -> ReportFiles:
    """Write ``report.html``, ``report.pdf``, ``report.json``, ``reads.csv`` and ``figures/*.png`` into ``out_dir``.

    ``progress(step, total, message)`` is called before each step and may raise
    :class:`~readerstudy.core.errors.Cancelled`; nothing is then left in ``out_dir``.
    ``typeset(html, path, title)`` writes the PDF (default :func:`~.render.write_pdf`, in process;
    :meth:`~.pdf_process.PdfTypesetter.write` in a child started earlier). ``parallel_figures``:
    draw half the figures in a forked child (command-line processes only; see
    :func:`~.figures.draw_figures`).
    """
    opts = options or ReportOptions()

    def tick(i: int, msg: str) -> None:
        if progress is not None:
            progress(i, STEPS, msg)

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValidationError(f"{out} is a file, not a folder; choose a folder for the report.")
    out.mkdir(parents=True, exist_ok=True)
    tick(0, "computing statistics")
    tables = build_tables(data, opts)
    meta = report_meta(data, tables)
    tick(1, "drawing figures")
    figs, pngs = draw_figures(data, tables, parallel=parallel_figures)
    parts = ReportParts(data, opts, tables, {s.key: s for s in figs}, meta)
    secs = sections(parts)
    tick(2, "writing HTML")
    html = render_html(meta, data.provenance, secs, {k: data_uri(v) for k, v in pngs.items()})
    staging = Path(tempfile.mkdtemp(prefix=".report-", dir=out))
    try:
        names = ReportFiles(staging / "report.html", staging / "report.pdf", staging / "report.json",
                            staging / "reads.csv")
        names.html.write_text(html, encoding="utf-8")
        (staging / "figures").mkdir()
        for key, png in pngs.items():
            (staging / "figures" / f"{key}.png").write_bytes(png)
        tick(3, "writing JSON and CSV")
        write_json(names.json, meta, tables)
        write_csv(names.csv, data.export_table)  # training-case predictions marked, out of the statistics
        tick(4, "typesetting the PDF")
        if pdf:
            (typeset or write_pdf)(html, names.pdf, f"Reader study report: {data.study}")
        tick(5, "saving")
        _publish(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    files = ReportFiles(out / "report.html", out / "report.pdf", out / "report.json", out / "reads.csv",
                        {k: out / "figures" / f"{k}.png" for k in pngs},
                        {s.key: s.title for s in figs if s.key in pngs})
    tick(6, "done")
    return replace(files)
