"""Agreement on the study-defined categorical questions (BI-RADS, Likert, single choice).

For each categorical question of the protocol (:mod:`readerstudy.core.questions`) and each arm,
every pair of readers is compared on the cases both answered: Cohen's (1960) unweighted kappa,
and for ordinal questions Cohen's (1968) weighted kappa with linear (Cicchetti-Allison) and
quadratic (Fleiss-Cohen) weights over the categories in their order (BI-RADS 0, 1, 2, 3, 4a, 4b,
4c, 5, 6 equally spaced), from :func:`readerstudy.stats.cohen_kappa`. Multiple-choice, number,
text and location answers are listed in ``reads.csv`` only.
"""

from __future__ import annotations

import itertools
from typing import Any

import pandas as pd

from readerstudy import stats
from readerstudy.core.errors import ValidationError
from readerstudy.core.questions import QuestionSpec, parse_questions

from . import na as NA
from .model import ReportInput
from .tables import _seniority_key, arm_order, f, reader_rows

__all__ = ["categorical_questions", "question_agreement_tables"]

WEIGHTS = (("kappa", None), ("kappa_linear", "linear"), ("kappa_quadratic", "quadratic"))


def categorical_questions(data: ReportInput) -> list[QuestionSpec]:
    """The protocol's categorical questions (those agreement applies to), in protocol order."""
    proto = (data.info.protocol if data.info else None) or {}
    questions = parse_questions(proto.get("questions") or None, lambda _path, _message: None)
    return [q for q in questions if q.categories]


def _kappa(a: pd.Series, b: pd.Series, q: QuestionSpec, weights: str | None, level: float) -> dict[str, Any]:
    try:
        k = stats.cohen_kappa(a.to_numpy(), b.to_numpy(), categories=list(q.categories), weights=weights,
                              level=level)
    except (ValidationError, ZeroDivisionError, FloatingPointError):
        return NA.na(NA.ONE_CATEGORY)
    if f(k.kappa) is None:
        return NA.na(NA.ONE_CATEGORY)
    return {"value": f(k.kappa), "ci_low": f(k.ci_low), "ci_high": f(k.ci_high)}


def _answers(data: ReportInput, q: QuestionSpec, arm: str) -> pd.DataFrame:
    """Cases x readers of ``arm`` (most senior first): the answers to ``q`` as category strings."""
    col = f"answer_{q.key}"
    t = reader_rows(data.table)
    t = t[(t["arm"] == arm) & t[col].notna()] if col in t else t.iloc[0:0]
    if t.empty:
        return pd.DataFrame()
    key = _seniority_key(data.table)
    wide = t.assign(**{col: t[col].map(lambda v: str(int(v)) if isinstance(v, float) else str(v))}).pivot_table(
        index="case", columns="reader", values=col, aggfunc="first")
    return wide.reindex(columns=sorted(wide.columns, key=lambda n: key.get(n, (9, n))))


def _table(data: ReportInput, q: QuestionSpec, level: float) -> dict[str, Any]:
    cols = [k for k, w in WEIGHTS if w is None or q.is_ordinal]
    rows = []
    for arm in arm_order(data):
        wide = _answers(data, q, arm)
        for a, b in itertools.combinations(list(wide.columns), 2):
            both = wide[[a, b]].dropna()
            row: dict[str, Any] = {"arm": arm, "a": a, "b": b, "n": int(len(both))}
            for key, weights in WEIGHTS:
                if key in cols:
                    row[key] = (_kappa(both[a], both[b], q, weights, level) if len(both)
                                else NA.na(NA.NO_COMMON_CASES))
            rows.append(row)
    kind = "ordinal" if q.is_ordinal else "nominal"
    out = {
        "title": f"Agreement on {q.label!r} ({kind}: {', '.join(q.categories)})",
        "question": q.key,
        "test": ("Cohen's (1960) unweighted and Cohen's (1968) weighted kappa per reader pair, linear "
                 "(Cicchetti-Allison) and quadratic (Fleiss-Cohen) weights over the ordered categories, "
                 "equally spaced; Fleiss-Cohen-Everitt (1969) SE, Wald CI.") if q.is_ordinal else
                ("Cohen's (1960) unweighted kappa per reader pair (Fleiss-Cohen-Everitt 1969 SE, Wald CI)."),
        "conventions": "Each pair on the cases both readers answered; latest revision of each read; "
                       "unanswered optional questions are left out.",
        "columns": ["arm", "a", "b", "n", *cols],
        "labels": {"kappa_linear": "Linear weighted κ", "kappa_quadratic": "Quadratic weighted κ",
                   "kappa": "Unweighted κ"},
        "rows": rows,
    }
    if not rows:
        out["na"] = NA.NO_READS if reader_rows(data.table).empty else NA.FEWER_THAN_2_READERS
    return out


def question_agreement_tables(data: ReportInput, level: float = 0.95) -> list[dict[str, Any]]:
    """One table per categorical question: pairwise (weighted) kappa per arm; empty without such questions."""
    return [_table(data, q, level) for q in categorical_questions(data)]
