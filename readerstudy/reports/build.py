"""Write a whole report from a :class:`ReportInput`: statistics, figures, HTML, PDF, JSON, CSV, figure files.

Everything is written into a staging folder first and moved into ``out_dir`` at the end, so a
cancelled or failed export leaves the folder as it was (no half-written report).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from readerstudy.core.errors import ValidationError

from .document import ReportOptions, ReportParts, build_tables, sections
from .figures import build_figures, pixel_size, png_bytes
from .model import MODEL_SENIORITY, ReportInput
from .pdf_process import PdfTypesetter, placeholder_png, png_format
from .render import data_uri, render_html, write_pdf
from .writers import jsonable, write_csv, write_json

__all__ = ["ReportFiles", "report_meta", "write_report"]

Progress = Callable[[int, int, str], None]
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


def constant_callers(data: ReportInput) -> list[str]:
    """A caution per rater and arm whose binary calls are all the same (at least 10 calls).

    Such a rater's sensitivity or specificity is 0 or 1 by construction and Cohen's kappa with
    it is 0: the summary page says so, so nobody reads those rows as a finding. A model's call
    is its probability >= 50, so an uncalibrated model that never reaches 50 shows up here.
    """
    t = data.table.dropna(subset=["binary"])
    out = []
    for (reader, arm), g in t.groupby(["reader", "arm"], sort=False):
        calls = set(g["binary"].astype(int))
        if len(g) < 10 or len(calls) != 1:
            continue
        call = "positive" if calls == {1} else "negative"
        if (g["seniority"] == MODEL_SENIORITY).all():
            p = g["probability"].astype(float)
            out.append(f"{reader} called every one of its {len(g)} cases {call} at the 50 % threshold (its "
                       f"probabilities run from {p.min():.1f} to {p.max():.1f} %): its sensitivity, specificity, "
                       f"kappa and McNemar rows reflect the threshold, not its ranking of the cases; judge it by its "
                       f"AUC and ROC curve, or recalibrate it.")
        else:
            out.append(f"{reader} called every one of {len(g)} cases {call} in the {arm} arm: sensitivity or "
                       f"specificity is 0 or 1 and kappa with this reader 0 by construction.")
    return out


def report_meta(data: ReportInput, tables: dict[str, Any]) -> dict[str, Any]:
    t = data.table
    return {
        "study": data.study, "status": _status(data), "focus_arm": tables["focus_arm"],
        "cautions": constant_callers(data),
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


def _pdf_title(data: ReportInput) -> str:
    return f"Reader study report: {data.study}"


def write_report(data: ReportInput, out_dir: str | os.PathLike[str], options: ReportOptions | None = None,
                 progress: Progress | None = None, *, pdf: bool = True,
                 typesetter: PdfTypesetter | None = None) -> ReportFiles:
    """Write ``report.html``, ``report.pdf``, ``report.json``, ``reads.csv`` and ``figures/*.png`` into ``out_dir``.

    ``progress(step, total, message)`` is called before each step and may raise
    :class:`~readerstudy.core.errors.Cancelled`; nothing is then left in ``out_dir``.
    The PDF is WeasyPrint's rendering of the same HTML with the figures read from the PNG files
    (:func:`~.render.write_pdf`, in process), or, with ``typesetter`` (a
    :class:`~.pdf_process.PdfTypesetter` started earlier: a fresh command-line process), laid out
    in that child while this process draws the figures (see :mod:`.pdf_process`).
    """
    opts = options or ReportOptions()

    def tick(i: int, msg: str) -> None:
        if progress is not None:
            progress(i, STEPS, msg)

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValidationError(f"{out} is a file, not a folder; choose a folder for the report.")
    tick(0, "computing statistics")
    tables = build_tables(data, opts)  # raises for an unknown arm or reference: nothing is created then
    out.mkdir(parents=True, exist_ok=True)
    meta = report_meta(data, tables)
    figs = build_figures(data, tables)  # planned: matplotlib is imported when the first is drawn
    secs = sections(ReportParts(data, opts, tables, {s.key: s for s in figs}, meta))
    drawn = [s for s in figs if s.drawable]  # each knows its size; none is drawn yet
    staging = Path(tempfile.mkdtemp(prefix=".report-", dir=out))
    early = typesetter if pdf else None
    try:
        names = ReportFiles(staging / "report.html", staging / "report.pdf", staging / "report.json",
                            staging / "reads.csv")
        (staging / "figures").mkdir()
        files = {s.key: staging / "figures" / f"{s.key}.png" for s in drawn}
        source = staging / "pdf-source.html"  # the HTML the PDF is typeset from (figures as files)
        pdf_html = render_html(meta, data.provenance, secs, {k: p.as_uri() for k, p in files.items()})
        source.write_text(pdf_html, encoding="utf-8")
        in_pdf = {s.key for s in drawn if files[s.key].as_uri() in pdf_html}  # the kappa map is a table there
        placeholders = {s.key: placeholder_png(*pixel_size(s.size)) for s in drawn if s.key in in_pdf} if early else {}
        for key, png in placeholders.items():
            files[key].write_bytes(png)
        if early is not None:
            early.begin(source, names.pdf, _pdf_title(data))

        def pdf_figures_drawn() -> None:
            if early is not None:
                early.images_ready(final=all(png_format(pngs[k]) == png_format(v) for k, v in placeholders.items()))

        tick(1, "drawing figures")
        pngs: dict[str, bytes] = {}
        for s in sorted(drawn, key=lambda s: s.key not in in_pdf):  # the PDF's first: it is written meanwhile
            if in_pdf <= pngs.keys():
                pdf_figures_drawn()
            pngs[s.key] = png_bytes(s.figure)
            _replace_bytes(files[s.key], pngs[s.key])
        pdf_figures_drawn()
        tick(2, "writing HTML")
        names.html.write_text(render_html(meta, data.provenance, secs, {s.key: data_uri(pngs[s.key]) for s in drawn}),
                              encoding="utf-8")
        tick(3, "writing JSON and CSV")
        write_json(names.json, meta, tables)
        write_csv(names.csv, data.export_table)  # training-case predictions marked, out of the statistics
        tick(4, "typesetting the PDF")
        if early is not None:
            early.finish()
        elif pdf:
            write_pdf(pdf_html, names.pdf, _pdf_title(data))
        source.unlink()
        tick(5, "saving")
        _publish(staging, out)
    finally:
        if early is not None:
            early.close()  # a cancelled or failed export: the child stops (no-op after finish)
        shutil.rmtree(staging, ignore_errors=True)
    files_out = ReportFiles(out / "report.html", out / "report.pdf", out / "report.json", out / "reads.csv",
                            {s.key: out / "figures" / f"{s.key}.png" for s in drawn}, {s.key: s.title for s in drawn})
    tick(6, "done")
    return files_out


def _replace_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` in one step (a reader sees the old file or the new one, never half)."""
    tmp = path.with_suffix(".partial")
    tmp.write_bytes(data)
    os.replace(tmp, path)
