"""Report tables as display rows: aligned numbers, CIs, p-values and "n/a" with lettered footnotes.

The templates only lay out what :func:`display_table` returns, so HTML and PDF show the same
text and the formatting is tested once, here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from .na import is_na

__all__ = ["COLUMN_LABELS", "Cell", "DisplayTable", "display_table", "fixed", "fmt_ci", "fmt_num", "fmt_p", "p_text"]

COLUMN_LABELS = {
    "reader": "Reader", "arm": "Arm", "n": "n", "n_truth": "n (truth)", "accuracy": "Accuracy",
    "sensitivity": "Sensitivity", "specificity": "Specificity", "ppv": "PPV", "npv": "NPV", "f1": "F1",
    "auc": "AUC", "a": "Rater A", "b": "Rater B", "kappa": "Cohen's κ", "p_value": "p", "method": "Method",
    "statistic": "Statistic", "auc_reference": "AUC (reference)", "auc_reader": "AUC (rater)",
    "difference": "Difference", "correct": "Correct", "median_s": "Median (s)", "q1_s": "Q1 (s)",
    "q3_s": "Q3 (s)", "iqr_s": "IQR (s)", "median_active_s": "Median active (s)", "expected": "Expected",
    "read": "Read", "missing": "Missing", "auc_a": "AUC (first)", "auc_b": "AUC (second)",
    "neg_neg": "Kept −", "neg_pos": "− → +", "pos_neg": "+ → −", "pos_pos": "Kept +",
    "followed": "Followed AI", "followed_ai_right": "Followed, AI right", "followed_ai_wrong": "Followed, AI wrong",
    "revision": "Revision", "before": "Before", "after": "After", "reason": "Reason", "corrected_by": "By",
    "corrected_at": "When", "case": "Case", "threshold": "Threshold", "treat_all": "Treat all",
    "treat_none": "Treat none",
}
PERCENT = {"accuracy", "sensitivity", "specificity", "ppv", "npv", "followed", "followed_ai_right",
           "followed_ai_wrong", "synthetic_called", "real_called"}
TEXT = {"reader", "arm", "a", "b", "method", "reason", "corrected_by", "corrected_at", "case", "before", "after",
        "group", "subgroup", "origin", "answer"}


@dataclass(frozen=True)
class Cell:
    text: str
    ci: str = ""
    numeric: bool = True
    note: str = ""  # footnote letter of an n/a reason
    title: str = ""  # hover text (HTML)


@dataclass
class DisplayTable:
    header: list[str]
    rows: list[list[Cell]]
    notes: list[tuple[str, str]] = field(default_factory=list)  # (letter, reason)
    numeric: list[bool] = field(default_factory=list)


def fixed(v: float, digits: int = 3) -> str:
    """``v`` with ``digits`` decimals; a value that rounds to zero is printed without a sign.

    ``f"{-1e-17:.3f}"`` is ``"-0.000"``: floating-point noise around an exact zero (a kappa of a
    constant rater, a CI of zero width) or a difference too small for the digits shown. Journals
    print such a value as ``0.000`` (AMA Manual of Style 19.4), so the report does too.
    """
    text = f"{v:.{digits}f}"
    return text[1:] if text.startswith("-") and not text.strip("-0.") else text


def fmt_num(v: Any, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return fixed(v, digits)
    return str(v)


def fmt_p(p: Any) -> str:
    if p is None:
        return "–"
    p = float(p)
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def p_text(p: Any) -> str:
    """A p-value in running text: ``p = 0.087``, ``p < 0.001``, or ``p n/a`` (None or an n/a dict)."""
    if p is None or is_na(p):
        return "p n/a"
    text = fmt_p(p)
    return f"p {text[0]} {text[1:]}" if text.startswith("<") else f"p = {text}"


def fmt_ci(lo: Any, hi: Any, percent: bool = False) -> str:
    if lo is None or hi is None:
        return ""
    if percent:
        return f"{fixed(100 * lo, 1)}–{fixed(100 * hi, 1)}"
    a, b = fixed(lo), fixed(hi)
    return f"{a} to {b}" if a.startswith("-") or b.startswith("-") else f"{a}–{b}"


class _Notes:
    def __init__(self) -> None:
        self.letters: dict[str, str] = {}

    def mark(self, reason: str) -> str:
        if reason not in self.letters:
            self.letters[reason] = "abcdefghijklmnopqrstuvwxyz"[len(self.letters) % 26]
        return self.letters[reason]


def cell(key: str, value: Any, notes: _Notes) -> Cell:
    """One value as a cell: estimates as value + CI, proportions in percent, p-values, n/a with a note."""
    if is_na(value):
        return Cell("n/a", note=notes.mark(value["na"]), title=value["na"])
    if isinstance(value, dict) and "value" in value:
        v = value["value"]
        if v is None:
            return Cell("–")
        pct = key in PERCENT
        text = f"{fixed(100 * v, 1)}%" if pct else fixed(v)
        title = ""
        if "numerator" in value and value.get("denominator"):
            title = f"{value['numerator']} / {value['denominator']}"
        if value.get("ci_na"):
            return Cell(text, "CI n/a", note=notes.mark(value["ci_na"]), title=value["ci_na"])
        return Cell(text, fmt_ci(value.get("ci_low"), value.get("ci_high"), pct), title=title)
    if key == "p_value":
        return Cell(fmt_p(value))
    if isinstance(value, str) or (key in TEXT and not isinstance(value, int | float)):
        return Cell("–" if value is None else str(value), numeric=False)
    if isinstance(value, float) and key.endswith("_s"):
        return Cell(fixed(value, 1))
    if isinstance(value, float) and (key == "se" or key.startswith("se_")):
        return Cell(fixed(value, 4))  # standard errors: one digit more than the estimates
    return Cell(fmt_num(value))


def display_table(tbl: dict[str, Any], columns: list[str] | None = None) -> DisplayTable:
    """The rows of a report table dict as cells, with the table's n/a reasons as lettered footnotes."""
    cols = columns or list(tbl.get("columns") or [])
    notes = _Notes()
    rows = [[cell(c, r.get(c), notes) for c in cols] for r in tbl.get("rows", [])]
    # a column is text when its key is (reader, arm, ...) unless every value is a number (McNemar's b)
    numeric = [c not in TEXT or (bool(rows) and all(r[i].numeric for r in rows)) for i, c in enumerate(cols)]
    labels = {**COLUMN_LABELS, **(tbl.get("labels") or {})}
    return DisplayTable([labels.get(c, c.replace("_", " ")) for c in cols], rows,
                        [(letter, reason) for reason, letter in notes.letters.items()], numeric)
