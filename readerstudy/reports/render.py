"""Render the report document: Jinja2 templates in ``resources/report/`` -> one HTML -> the PDF (WeasyPrint).

The HTML is self-contained (CSS inline, figures as PNG data URIs) and the PDF is WeasyPrint's
rendering of the very same HTML with the print rules of ``report.css`` (A4, running headers,
"Page n of N", the reproducibility line in every footer). Fonts: DejaVu Sans/Serif (Debian
``fonts-dejavu-core``, installed by ``.ci/system-deps.sh``), so every machine renders the same.
"""

from __future__ import annotations

import base64
import functools
import logging
import math
import tomllib
from pathlib import Path
from typing import Any

import jinja2
from matplotlib import colormaps
from matplotlib.colors import to_hex

from .format import fixed, fmt_ci, fmt_num, p_text
from .na import is_na

__all__ = ["TEMPLATE_DIR", "figure_numbers", "references", "render_html", "write_pdf"]

TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "resources" / "report"
_CMAP = colormaps["RdBu"]


@functools.lru_cache(maxsize=1)
def references() -> dict[str, dict[str, str]]:
    """The references the methods text cites, by key (``resources/report/references.toml``)."""
    return tomllib.loads((TEMPLATE_DIR / "references.toml").read_text(encoding="utf-8"))


def _cite(key: str) -> str:
    refs = references()
    if key not in refs:
        raise KeyError(f"unknown reference {key!r}; add it to resources/report/references.toml")
    number = list(refs).index(key) + 1
    return f"[{number}]"


def _heat(value: dict[str, Any]) -> str:
    if is_na(value) or value.get("value") is None:
        return "background:#f3f3f3;color:#666"
    v = float(value["value"])
    rgba = _CMAP((max(-1.0, min(1.0, v)) + 1) / 2)
    return f"background:{to_hex(rgba)};color:{'#fff' if abs(v) > 0.6 else '#111'}"


def _pair(kappa: dict[str, Any], i: int, j: int) -> dict[str, Any]:
    a, b = kappa["names"][i], kappa["names"][j]
    for p in kappa["rows"]:
        if {p["a"], p["b"]} == {a, b}:
            return p
    return {"n": 0, "p_value": None, "agreement": None}


def _design_text(p: dict[str, Any]) -> str:
    arms = [a["name"] for a in p.get("arms", [])]
    if p.get("design") == "counterbalanced" and len(arms) == 2:
        return (f"counterbalanced crossover: half the readers read {arms[0]} in session 1 and {arms[1]} in session 2, "
                "the other half the reverse")
    return f"every reader reads every arm ({', '.join(arms)}) in every session"


def _estimate(e: Any) -> str | None:
    """An estimate dict of a model card as ``0.629 (95% CI 0.500–0.759)`` (with ``k/n`` when stored)."""
    if not isinstance(e, dict):
        return None
    v = e.get("value", e.get("auc"))
    if not isinstance(v, int | float) or not math.isfinite(v):
        return None
    text = fixed(v)
    if e.get("ci_low") is not None and e.get("ci_high") is not None:
        text += f" (95% CI {fmt_ci(max(0.0, float(e['ci_low'])), float(e['ci_high']))})"
    if e.get("denominator"):
        text += f", {e.get('numerator')}/{e['denominator']}"
    return text


def _held_out(h: dict[str, Any]) -> list[tuple[str, str]]:
    rows = []
    what = f"{h.get('model', 'the model')} on {h.get('n', '?')} held-out images"
    g = h.get("groups")
    if isinstance(g, dict) and g.get("test_groups") is not None:
        what += f" ({g.get('test_positives')} positive, {g.get('test_negatives')} negative; split by near-duplicate group)"
    rows.append(("Held-out evaluation", what))
    if (auc := _estimate(h.get("auc"))) is not None:
        rows.append(("Held-out AUC", auc))
    acc = h.get("accuracy") if isinstance(h.get("accuracy"), dict) else {}
    for key, label in (("sensitivity", "Held-out sensitivity"), ("specificity", "Held-out specificity"),
                       ("accuracy", "Held-out accuracy")):
        if (text := _estimate(acc.get(key))) is not None:
            rows.append((label, text))
    return rows


def _model_items(config: dict[str, Any]) -> list[tuple[str, str]]:
    """A model's card as (label, text) rows: what a methods section states about the model.

    Provenance cards (``config["card"]``) give the training data, time, seed, command and the
    held-out metrics with CIs; the rest of the record (per-ablation metrics, versions, wall
    times) stays in the model's ``provenance.json``, named in the last row. Other configs are
    flattened (``training.seed``), scalars only.
    """
    card = config.get("card") if isinstance(config.get("card"), dict) else None
    if card is None:
        out: list[tuple[str, str]] = []

        def walk(prefix: str, v: Any) -> None:
            if isinstance(v, dict) and v:
                for k, x in v.items():
                    walk(f"{prefix}.{k}" if prefix else str(k), x)
            elif isinstance(v, float):
                out.append((prefix.replace("_", " "), f"{v:.4g}" if math.isfinite(v) else "–"))
            elif not isinstance(v, list | dict):
                out.append((prefix.replace("_", " "), str(v)))

        walk("", config)
        return [(k, v) for k, v in out if k][:40]
    details = card.get("details") if isinstance(card.get("details"), dict) else {}
    rows = [(label, str(v)) for label, v in (("Trained on", card.get("trained_on")),
                                             ("Trained at", card.get("trained_at")),
                                             ("Preset, seed", ", ".join(str(details[k]) for k in ("preset", "seed")
                                                                         if k in details) or None))
            if v]
    if isinstance(card.get("held_out"), dict):
        rows += _held_out(card["held_out"])
    command = card.get("command")
    if command:
        rows.append(("Command", " && ".join(command) if isinstance(command, list) else str(command)))
    if card.get("source"):
        rows.append(("Full record", f"{Path(str(card['source'])).name} beside the model's checkpoint (every "
                                    "ablation, versions, times); not part of this report's folder"))
    return rows


@functools.lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)), autoescape=True,
                             trim_blocks=True, lstrip_blocks=True)
    env.globals.update(fmt_num=fmt_num, p_text=p_text, fmt_ci=fmt_ci, cite=_cite, heat=_heat, pair=_pair,
                       design_text=_design_text, model_items=_model_items)
    return env


def figure_numbers(sections: list[dict[str, Any]]) -> dict[str, int]:
    """Figure key -> its number in the order the sections show them."""
    out: dict[str, int] = {}
    for s in sections:
        for fig in s.get("figures", []):
            out.setdefault(fig.key, len(out) + 1)
    return out


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def render_html(meta: dict[str, Any], provenance: Any, sections: list[dict[str, Any]],
                images: dict[str, str]) -> str:
    """The report as one self-contained HTML string (``images``: figure key -> data URI)."""
    template = _environment().get_template("report.html.j2")
    css = (TEMPLATE_DIR / "report.css").read_text(encoding="utf-8")
    return template.render(meta=meta, prov=provenance, sections=sections, images=images, css=css,
                           fig_no=figure_numbers(sections), references=references())


def write_pdf(html: str, path: Path, title: str) -> Path:
    """Typeset ``html`` to a PDF with WeasyPrint (imported here: it loads Pango through cffi)."""
    logging.getLogger("fontTools").setLevel(logging.WARNING)
    import weasyprint

    doc = weasyprint.HTML(string=html, base_url=str(TEMPLATE_DIR)).render()
    doc.metadata.title = title
    doc.write_pdf(path)
    return path
