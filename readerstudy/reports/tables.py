"""Report tables: pure functions from a :class:`~readerstudy.reports.model.ReportInput` to JSON-ready dicts.

Every table is a dict with ``title``, ``test`` (the method, with its source), ``conventions``,
``columns`` and ``rows`` (a list of dicts), so the writers render any of them the same way. A
value that cannot be computed is ``{"na": reason}`` (:mod:`readerstudy.reports.na`); a table
that cannot be computed at all has ``"na": reason`` and no rows. Nothing here raises for a
study's state (no reads, one class, no truth, one reader): only for a wrong request (an arm
or reference that the study does not have).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from readerstudy import stats
from readerstudy.core.errors import ValidationError

from . import na as NA
from .model import MODEL_SENIORITY, SENIORITY_ORDER, ReportInput

__all__ = [
    "accuracy_table",
    "auc_se_table",
    "arm_order",
    "corrections_table",
    "empirical_auc",
    "f",
    "focus_arm",
    "judged",
    "kappa_table",
    "missing_table",
    "model_names",
    "rater_matrix",
    "raters_of_arm",
    "reader_rows",
    "time_table",
    "truth_by_case",
]


def f(x: Any) -> float | None:
    """Float, with NaN/inf as None (JSON has neither)."""
    if x is None:
        return None
    v = float(x)
    return v if math.isfinite(v) else None


def judged(table: pd.DataFrame) -> pd.DataFrame:
    return table[table["truth"].notna()]


def model_names(table: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(table.loc[table["seniority"] == MODEL_SENIORITY, "reader"]))


def reader_rows(table: pd.DataFrame) -> pd.DataFrame:
    return table[table["seniority"] != MODEL_SENIORITY]


def arm_order(data: ReportInput) -> list[str]:
    """Report arms with reader reads, in protocol order (arms the protocol does not name last)."""
    present = list(dict.fromkeys(reader_rows(data.table)["arm"]))
    return [a for a in data.arms if a in present] + [a for a in present if a not in data.arms]


def focus_arm(data: ReportInput, arm: str | None) -> str | None:
    """The arm whose readers are compared with the reference: ``arm``, else the first with reads (None: no reads)."""
    arms = arm_order(data)
    if arm is not None:
        if arm not in arms:
            known = [a for a in data.arms] or arms
            if arm in known:
                return arm  # an arm of the protocol not read yet: its tables say so
            raise ValidationError(f"Arm {arm!r} has no reads in this study; arms with reads: {', '.join(arms) or 'none'}.")
        return arm
    return arms[0] if arms else None


def _seniority_key(table: pd.DataFrame) -> dict[str, tuple[int, str]]:
    sen = reader_rows(table).groupby("reader")["seniority"].first()
    return {str(n): (SENIORITY_ORDER.get(str(s), 3), str(n)) for n, s in sen.items()}


def raters_of_arm(table: pd.DataFrame, arm: str | None) -> list[str]:
    """Readers of ``arm`` (most senior first), then the models."""
    key = _seniority_key(table)
    readers = sorted(set(reader_rows(table).loc[lambda t: t["arm"] == arm, "reader"]), key=lambda n: key[n])
    return readers + model_names(table)


def rater_matrix(table: pd.DataFrame, arm: str | None, value: str, *, with_truth: bool = False) -> pd.DataFrame:
    """Cases x raters (readers of ``arm`` then models) of ``value``; NaN where a rater did not read a case."""
    sub = table[(table["arm"] == arm) | (table["seniority"] == MODEL_SENIORITY)]
    names = raters_of_arm(sub, arm)
    if with_truth:
        sub = judged(sub)
    if sub.empty:
        return pd.DataFrame(columns=names, dtype=float)
    wide = sub.pivot_table(index="case", columns="reader", values=value, aggfunc="first", observed=True)
    return wide.reindex(columns=names).astype(float)


def truth_by_case(table: pd.DataFrame) -> pd.Series:
    return judged(table).groupby("case")["truth"].first().astype(int)


def _est(e: Any) -> dict[str, Any]:
    return {"value": f(e.value), "ci_low": f(e.ci_low), "ci_high": f(e.ci_high),
            "numerator": e.numerator, "denominator": e.denominator}


def _accuracy_cells(y: np.ndarray, pred: np.ndarray, has_truth: bool, level: float) -> dict[str, Any]:
    any_reason = NA.class_reason(y, has_truth, need="any")
    keys = ("accuracy", "sensitivity", "specificity", "ppv", "npv", "f1")
    if any_reason:
        return {"tp": None, "fp": None, "fn": None, "tn": None, **{k: NA.na(any_reason) for k in keys}}
    tp, fp = int(np.sum((y == 1) & (pred == 1))), int(np.sum((y == 0) & (pred == 1)))
    fn, tn = int(np.sum((y == 1) & (pred == 0))), int(np.sum((y == 0) & (pred == 0)))
    da = stats.diagnostic_accuracy(tp, fp, fn, tn, level=level)
    out: dict[str, Any] = {"tp": tp, "fp": fp, "fn": fn, "tn": tn}
    why = {"sensitivity": None if tp + fn else "no positive cases read so far",
           "specificity": None if tn + fp else "no negative cases read so far",
           "ppv": None if tp + fp else NA.NO_POSITIVE_CALLS, "npv": None if tn + fn else NA.NO_NEGATIVE_CALLS,
           "f1": None if tp + fp + fn else "no positive cases and no positive calls", "accuracy": None}
    for k in keys:
        out[k] = NA.na(why[k]) if why[k] else _est(getattr(da, k))
    return out


def empirical_auc(y: np.ndarray, score: np.ndarray) -> float:
    """Mann-Whitney AUC (ties count 1/2); y holds both classes."""
    y = np.asarray(y, dtype=int)
    s = np.asarray(score, dtype=float)
    pos, neg = s[y == 1], s[y == 0]
    return float(((pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum())
                 / (len(pos) * len(neg)))


def _auc_cell(y: np.ndarray, prob: np.ndarray, has_truth: bool, level: float) -> dict[str, Any]:
    reason = NA.class_reason(y, has_truth, need="both")
    if reason:
        return NA.na(reason)
    if NA.few_for_variance(y):
        return {"value": empirical_auc(y, prob), "ci_low": None, "ci_high": None, "ci_na": NA.FEW_FOR_VARIANCE}
    r = stats.auc_delong(y, prob, level=level)
    return {"value": f(r.auc), "ci_low": f(r.ci_low), "ci_high": f(r.ci_high), "se": f(r.se)}


def accuracy_table(data: ReportInput, level: float = 0.95) -> dict[str, Any]:
    """Per reader x arm and per model: accuracy, sensitivity, specificity, PPV, NPV, F1 and AUC."""
    table = data.table
    rows = []
    order = {a: i for i, a in enumerate(arm_order(data))}
    key = _seniority_key(table)
    groups = sorted(table.groupby(["reader", "arm"], sort=False),
                    key=lambda kv: (kv[0][1] == "model", order.get(kv[0][1], 99), key.get(kv[0][0], (9, kv[0][0]))))
    for (reader, arm), g in groups:
        j = judged(g)
        y = j["truth"].astype(int).to_numpy()
        rows.append({
            "reader": reader, "arm": arm, "seniority": g["seniority"].iloc[0], "n": int(len(g)), "n_truth": int(len(j)),
            **_accuracy_cells(y, j["binary"].astype(int).to_numpy(), data.has_truth, level),
            "auc": _auc_cell(y, j["probability"].to_numpy(float), data.has_truth, level),
        })
    realism = data.origins is not None and not data.origins.empty  # a real-vs-synthetic study (reports.realism)
    positive = "synthetic" if realism else "malignant"
    out = {
        "title": "Diagnostic accuracy per reader, arm and model",
        "test": f"Proportions with Wilson (1927) score {level:.0%} CIs (F1: Wilson interval of the Jaccard "
                f"index mapped to F1); AUC: empirical (trapezoidal) with DeLong (1988) {level:.0%} CI.",
        "conventions": f"Positive = {positive} (truth 1); a reader's binary call, a model's probability >= 50. "
                       "AUC uses the 0-100 probability; n = reads; every statistic on the reads of cases with ground truth.",
        "columns": ["reader", "arm", "n", "accuracy", "sensitivity", "specificity", "ppv", "npv", "f1", "auc"],
        "rows": rows,
    }
    if not rows:
        out["na"] = NA.NO_READS
    return out


def auc_se_table(data: ReportInput, level: float = 0.95) -> dict[str, Any]:
    """Per reader x arm and per model: empirical AUC with DeLong's and Hanley & McNeil's standard errors."""
    table = data.table
    order = {a: i for i, a in enumerate(arm_order(data))}
    key = _seniority_key(table)
    groups = sorted(table.groupby(["reader", "arm"], sort=False),
                    key=lambda kv: (kv[0][1] == "model", order.get(kv[0][1], 99), key.get(kv[0][0], (9, kv[0][0]))))
    rows = []
    for (reader, arm), g in groups:
        j = judged(g)
        y = j["truth"].astype(int).to_numpy()
        row: dict[str, Any] = {"reader": reader, "arm": arm, "n_positive": int((y == 1).sum()),
                               "n_negative": int((y == 0).sum())}
        reason = NA.class_reason(y, data.has_truth, need="both") or (
            NA.FEW_FOR_VARIANCE if NA.few_for_variance(y) else None)
        if reason:
            rows.append({**row, "auc": NA.na(reason), "se": NA.na(reason), "se_hanley_mcneil": NA.na(reason)})
            continue
        r = stats.auc_delong(y, j["probability"].to_numpy(float), level=level)
        rows.append({**row, "auc": {"value": f(r.auc), "ci_low": f(r.ci_low), "ci_high": f(r.ci_high)},
                     "se": f(r.se), "se_hanley_mcneil": f(r.se_hanley_mcneil)})
    out = {
        "title": "AUC per reader, arm and model with two standard errors",
        "test": f"Empirical AUC with DeLong et al. (1988) SE and {level:.0%} CI; beside it the Hanley & McNeil "
                "(1982, eq. 2) SE, which assumes exponential score distributions.",
        "conventions": "Cases with truth; n+ / n− = positive / negative cases read.",
        "columns": ["reader", "arm", "n_positive", "n_negative", "auc", "se", "se_hanley_mcneil"],
        "labels": {"n_positive": "n+", "n_negative": "n−", "se": "SE (DeLong)",
                   "se_hanley_mcneil": "SE (Hanley-McNeil)"},
        "rows": rows,
    }
    if not rows:
        out["na"] = NA.NO_READS
    return out


def _pair_kappa(x: pd.Series, y: pd.Series, level: float) -> dict[str, Any]:
    both = pd.concat([x, y], axis=1).dropna()
    if both.empty:
        return {"kappa": NA.na(NA.NO_COMMON_CASES), "n": 0}
    try:
        k = stats.cohen_kappa(both.iloc[:, 0].astype(int).to_numpy(), both.iloc[:, 1].astype(int).to_numpy(),
                              categories=[0, 1], level=level)
    except ValidationError:
        return {"kappa": NA.na(NA.ONE_CATEGORY), "n": int(len(both))}
    if both.nunique().min() == 1:  # p_o = p_e: kappa is exactly 0 and its asymptotic variance 0 (Fleiss 1969)
        return {"kappa": {"value": 0.0, "ci_low": None, "ci_high": None, "ci_na": NA.CONSTANT_RATER},
                "p_value": NA.na(NA.CONSTANT_RATER), "n": k.n, "agreement": f(k.p_observed)}
    return {"kappa": {"value": f(k.kappa), "ci_low": f(k.ci_low), "ci_high": f(k.ci_high)},
            "p_value": f(k.p_value), "n": k.n, "agreement": f(k.p_observed)}


def _fleiss(wide: pd.DataFrame, cols: list[str]) -> dict[str, Any]:
    complete = wide[cols].dropna()
    base = {"raters": cols, "n_raters": len(cols), "n_subjects": int(len(complete))}
    if len(cols) < 2:
        return {**base, "kappa": NA.na(NA.FEWER_THAN_2_READERS)}
    if complete.empty:
        return {**base, "kappa": NA.na("no case read by every one of them")}
    try:
        r = stats.fleiss_kappa(complete.astype(int).to_numpy(), categories=[0, 1])
    except ValidationError:
        return {**base, "kappa": NA.na(NA.ONE_CATEGORY)}
    return {**base, "kappa": f(r.kappa), "z": f(r.z), "p_value": f(r.p_value),
            "percent_agreement": f(r.percent_agreement), "kappa_free": f(r.kappa_free)}


def kappa_table(data: ReportInput, arm: str | None, level: float = 0.95) -> dict[str, Any]:
    """Pairwise Cohen kappa (each pair on the cases both read) and Fleiss kappa (cases all read)."""
    wide = rater_matrix(data.table, arm, "binary")
    names = list(wide.columns)
    models = model_names(data.table)
    readers = [n for n in names if n not in models]
    matrix: list[list[Any]] = []
    pairs = []
    for i, a in enumerate(names):
        row: list[Any] = []
        for j, b in enumerate(names):
            if i == j:
                row.append({"value": 1.0})
                continue
            k = _pair_kappa(wide[a], wide[b], level)
            row.append(k["kappa"])
            if i < j:
                pairs.append({"a": a, "b": b, **k})
        matrix.append(row)
    fleiss = {"readers": _fleiss(wide, readers)}
    if models and readers:
        fleiss["readers+model"] = _fleiss(wide, names)
    out = {
        "title": f"Agreement of binary calls: {arm} arm" + (" readers and model" if models else " readers"),
        "arm": arm,
        "test": "Cohen's (1960) unweighted kappa per pair (Fleiss-Cohen-Everitt 1969 SE, Wald CI); Fleiss' "
                "(1971) kappa of the readers, with and without the model (z test of kappa = 0), and Randolph's "
                "(2005) free-marginal multirater kappa (chance agreement 1/2 for two categories).",
        "conventions": "Each pair on the cases both raters read; Fleiss' kappa on the cases every rater read. "
                       "Binary calls 0/1; model call = probability >= 50. Ground truth is not needed.",
        "columns": ["a", "b", "n", "kappa", "p_value"],
        "names": names, "matrix": matrix, "rows": pairs, "fleiss": fleiss,
        "constant": [n for n in names if wide[n].dropna().nunique() == 1],  # kappa with them: 0, no CI
    }
    if len(names) < 2:
        out["na"] = NA.NO_READS if not names else NA.FEWER_THAN_2_READERS
    return out


def time_table(data: ReportInput) -> dict[str, Any]:
    rows = []
    order = {a: i for i, a in enumerate(arm_order(data))}
    key = _seniority_key(data.table)
    groups = sorted(reader_rows(data.table).groupby(["reader", "arm"], sort=False),
                    key=lambda kv: (order.get(kv[0][1], 99), key.get(kv[0][0], (9, kv[0][0]))))
    for (reader, arm), g in groups:
        t = g["time_ms"].dropna().astype(float).to_numpy() / 1000.0
        a = g["active_ms"].dropna().astype(float).to_numpy() / 1000.0
        if len(t) == 0:
            continue
        q1, med, q3 = np.percentile(t, [25, 50, 75])
        rows.append({"reader": reader, "arm": arm, "n": int(len(t)), "median_s": f(med), "q1_s": f(q1),
                     "q3_s": f(q3), "iqr_s": f(q3 - q1),
                     "median_active_s": f(np.median(a)) if len(a) else None})
    out = {
        "title": "Reading time per reader and arm",
        "test": "Descriptive: median and interquartile range (numpy linear percentiles).",
        "conventions": "Time = case shown to read submitted; active = time with input and the window focused "
                       "(pauses when idle); seconds.",
        "columns": ["reader", "arm", "n", "median_s", "q1_s", "q3_s", "iqr_s", "median_active_s"],
        "rows": rows,
    }
    if not rows:
        out["na"] = NA.NO_TIMES if len(reader_rows(data.table)) else NA.NO_READS
    return out


def missing_table(missing: pd.DataFrame) -> dict[str, Any]:
    return {
        "title": "Missing reads per reader and arm",
        "test": "Counts (no imputation).",
        "conventions": "Expected = cases assigned; read = latest reads present. Missing reads are left out "
                       "of every statistic, never imputed.",
        "columns": ["reader", "arm", "expected", "read", "missing"],
        "rows": [{k: (int(v) if isinstance(v, (int, np.integer)) else v) for k, v in r.items()}
                 for r in missing.to_dict("records")],
    }


def corrections_table(corrections: pd.DataFrame | None) -> dict[str, Any]:
    rows = [] if corrections is None else corrections.to_dict("records")
    return {
        "title": "Reads corrected by a coordinator",
        "empty": "None: no read has been corrected.",
        "test": "Listing (audited; the reader's original read is kept in the database).",
        "conventions": "The final revision is the one every statistic uses; before = the reader's original answers.",
        "columns": ["reader", "case", "arm", "revision", "before", "after", "reason", "corrected_by", "corrected_at"],
        "rows": [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()} for r in rows],
    }
