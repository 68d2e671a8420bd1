"""Report writers: self-contained HTML, PDF (text pages + figure pages), JSON and CSV."""

from __future__ import annotations

import base64
import html
import io
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402
from matplotlib.backends.backend_pdf import PdfPages  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

__all__ = [
    "CSV_COLUMNS",
    "cell_text",
    "table_lines",
    "write_csv",
    "write_html",
    "write_json",
    "write_pdf",
]

CSV_COLUMNS: tuple[str, ...] = (
    "study", "case", "reader", "seniority", "arm", "session", "probability", "binary",
    "confidence", "time_ms", "active_ms", "submitted_at", "truth",
)
LINES_PER_PAGE = 58
WIDTH = 118


def cell_text(value: Any) -> str:
    """One table cell as text: estimates as ``0.812 (0.71-0.88)``, floats to 3 decimals, None as '-'."""
    if value is None:
        return "-"
    if isinstance(value, dict) and "value" in value:
        v, lo, hi = value.get("value"), value.get("ci_low"), value.get("ci_high")
        if v is None:
            return "-"
        return f"{v:.3f} ({lo:.3f}-{hi:.3f})" if lo is not None and hi is not None else f"{v:.3f}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "-"
        return f"{value:.2e}" if value != 0 and abs(value) < 1e-3 else f"{value:.3f}"
    return str(value)


def _rows_text(tbl: dict[str, Any]) -> list[list[str]]:
    cols = tbl.get("columns") or []
    return [[cell_text(r.get(c)) for c in cols] for r in tbl.get("rows", [])]


def table_lines(tbl: dict[str, Any]) -> list[str]:
    """A table as fixed-width text lines: title, test, conventions, header and rows."""
    import textwrap

    lines = [tbl["title"], "=" * min(len(tbl["title"]), WIDTH)]
    for label in ("test", "conventions", "note"):
        if tbl.get(label):
            lines += textwrap.wrap(f"{label.capitalize()}: {tbl[label]}", WIDTH)
    cols = tbl.get("columns") or []
    body = _rows_text(tbl)
    if cols and body:
        widths = [max(len(c), *(len(r[i]) for r in body)) for i, c in enumerate(cols)]
        for chunk in _column_chunks(widths):
            lines.append("  ".join(cols[i].ljust(widths[i]) for i in chunk))
            lines.append("  ".join("-" * widths[i] for i in chunk))
            lines += ["  ".join(r[i].ljust(widths[i]) for i in chunk) for r in body]
    for key in ("fleiss",):
        for name, f in (tbl.get(key) or {}).items():
            lines.append(f"Fleiss' kappa ({name}, {f['n_raters']} raters, {f['n_subjects']} cases): "
                         f"{cell_text(f['kappa'])}, z = {cell_text(f['z'])}, p = {cell_text(f['p_value'])}")
    if tbl.get("difference") is not None:
        lines.append(f"Difference {tbl.get('difference_of', '')}: {cell_text(tbl['difference'])} "
                     f"({cell_text(tbl.get('ci_low'))} to {cell_text(tbl.get('ci_high'))}), "
                     f"F = {cell_text(tbl.get('F'))}, df = ({cell_text(tbl.get('df1'))}, "
                     f"{cell_text(tbl.get('df2'))}), p = {cell_text(tbl.get('p_value'))}")
    return lines


def _column_chunks(widths: Sequence[int], keep: int = 2) -> list[list[int]]:
    """Column index groups that fit WIDTH characters, each repeating the first ``keep`` (row label) columns."""
    head = list(range(min(keep, len(widths))))
    base = sum(widths[i] + 2 for i in head)
    chunks: list[list[int]] = []
    current: list[int] = []
    used = base
    for i in range(len(head), len(widths)):
        if current and used + widths[i] + 2 > WIDTH:
            chunks.append(head + current)
            current, used = [], base
        current.append(i)
        used += widths[i] + 2
    chunks.append(head + current)
    return chunks


def _header_lines(meta: dict[str, Any]) -> list[str]:
    out = [f"Reader study report: {meta['study']}", ""]
    out += [f"{k}: {v}" for k, v in meta.items() if k not in ("study", "conventions")]
    out += ["", "Conventions:"] + [f"  - {c}" for c in meta.get("conventions", ())]
    return out


def _ordered_tables(tables: dict[str, Any]) -> list[dict[str, Any]]:
    return [v for v in tables.values() if isinstance(v, dict) and "title" in v]


def write_json(path: Path, meta: dict[str, Any], tables: dict[str, Any]) -> Path:
    def clean(o: Any) -> Any:
        if isinstance(o, float) and not math.isfinite(o):
            return None
        if isinstance(o, dict):
            return {str(k): clean(v) for k, v in o.items()}
        if isinstance(o, (list, tuple)):
            return [clean(v) for v in o]
        if hasattr(o, "item"):
            return clean(o.item())
        return o

    path.write_text(json.dumps(clean({"meta": meta, "tables": tables}), indent=2, allow_nan=False))
    return path


def write_csv(path: Path, table: pd.DataFrame) -> Path:
    table.loc[:, list(CSV_COLUMNS)].to_csv(path, index=False)
    return path


def _png_b64(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def write_html(path: Path, meta: dict[str, Any], tables: dict[str, Any], figures: dict[str, Figure]) -> Path:
    e = html.escape
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{e(meta['study'])}</title>",
             "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}table{border-collapse:collapse;"
             "font-size:12px}td,th{border:1px solid #bbb;padding:2px 6px}p.test{color:#444}</style></head><body>",
             f"<h1>Reader study report: {e(meta['study'])}</h1><ul>"]
    parts += [f"<li>{e(str(k))}: {e(str(v))}</li>" for k, v in meta.items() if k not in ("study", "conventions")]
    parts.append("</ul><h2>Conventions</h2><ul>")
    parts += [f"<li>{e(c)}</li>" for c in meta.get("conventions", ())]
    parts.append("</ul>")
    for tbl in _ordered_tables(tables):
        parts.append(f"<h2>{e(tbl['title'])}</h2>")
        for label in ("test", "conventions", "note"):
            if tbl.get(label):
                parts.append(f"<p class='test'><b>{label.capitalize()}:</b> {e(str(tbl[label]))}</p>")
        extra = [ln for ln in table_lines(tbl) if ln.startswith(("Fleiss", "Difference"))]
        parts += [f"<p>{e(ln)}</p>" for ln in extra]
        cols = tbl.get("columns") or []
        if cols and tbl.get("rows"):
            parts.append("<table><tr>" + "".join(f"<th>{e(c)}</th>" for c in cols) + "</tr>")
            parts += ["<tr>" + "".join(f"<td>{e(v)}</td>" for v in r) + "</tr>" for r in _rows_text(tbl)]
            parts.append("</table>")
    parts.append("<h2>Figures</h2>")
    for name, fig in figures.items():
        parts.append(f"<figure><img alt='{e(name)}' src='data:image/png;base64,{_png_b64(fig)}'>"
                     f"<figcaption>{e(name)}</figcaption></figure>")
    parts.append("</body></html>")
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


def _text_pages(lines: Sequence[str]) -> list[list[str]]:
    return [list(lines[i:i + LINES_PER_PAGE]) for i in range(0, max(len(lines), 1), LINES_PER_PAGE)]


def text_page_lines(meta: dict[str, Any], tables: dict[str, Any]) -> list[list[str]]:
    """The PDF's text pages: the header page, then tables packed onto pages (never split across)."""
    pages = _text_pages(_header_lines(meta))
    current: list[str] = []
    for tbl in _ordered_tables(tables):
        block = [*table_lines(tbl), ""]
        if current and len(current) + len(block) > LINES_PER_PAGE:
            pages.append(current)
            current = []
        if len(block) > LINES_PER_PAGE:
            pages += _text_pages(block)
        else:
            current += block
    if current:
        pages.append(current)
    return pages


def write_pdf(path: Path, meta: dict[str, Any], tables: dict[str, Any], figures: dict[str, Figure]) -> Path:
    with PdfPages(path) as pdf:
        for lines in text_page_lines(meta, tables):
            fig = Figure(figsize=(8.27, 11.69))
            fig.text(0.04, 0.97, "\n".join(lines), family="monospace", fontsize=6.2, va="top", ha="left")
            pdf.savefig(fig)
        for fig in figures.values():
            pdf.savefig(fig)
        info = pdf.infodict()
        info["Title"] = f"Reader study report: {meta['study']}"
    return path
