"""Report tables: pure functions from the tidy read table to JSON-ready dicts.

The tidy table has the columns ``study, case, reader, seniority, arm, session, probability
(0-100), binary (0/1), confidence, time_ms, active_ms, submitted_at, truth (0/1)``; model rows
have ``seniority == "model"``. Every table is a dict with ``title``, ``test``, ``conventions``,
``columns`` and ``rows`` (a list of dicts), so writers can render any of them the same way.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from readerstudy import stats
from readerstudy.core.errors import ValidationError

__all__ = [
    "MODEL_SENIORITY",
    "ReportOptions",
    "build_tables",
    "focus_arm",
    "rater_matrix",
]

MODEL_SENIORITY = "model"
MCNEMAR_EXACT_BELOW = 25
DCA_THRESHOLDS = tuple(round(0.05 * i, 2) for i in range(1, 20))


class ReportOptions:
    """Which arm the reader-vs-reference comparisons use, and who the reference is."""

    def __init__(self, arm: str | None = None, reference: str | None = None, level: float = 0.95) -> None:
        self.arm = arm
        self.reference = reference
        self.level = level


def _f(x: Any) -> float | None:
    """Float, with NaN/inf as None (JSON has neither)."""
    if x is None:
        return None
    v = float(x)
    return v if math.isfinite(v) else None


def _judged(table: pd.DataFrame) -> pd.DataFrame:
    return table[table["truth"].notna()]


def _models(table: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(table.loc[table["seniority"] == MODEL_SENIORITY, "reader"]))


def _reader_rows(table: pd.DataFrame) -> pd.DataFrame:
    return table[table["seniority"] != MODEL_SENIORITY]


def focus_arm(table: pd.DataFrame, arm: str | None) -> str:
    """The arm whose readers are compared with the reference: ``arm`` or the first arm with reads."""
    arms = list(dict.fromkeys(_reader_rows(table)["arm"]))
    if arm is not None:
        if arm not in arms:
            raise ValidationError(f"Arm {arm!r} has no reads in this study; arms with reads: {arms}.")
        return arm
    if not arms:
        raise ValidationError("The study has no reads yet: simulate or collect reads before reporting.")
    order = [a for a in _arm_order(table) if a in arms]
    return order[0]


def _arm_order(table: pd.DataFrame) -> list[str]:
    order = table.attrs.get("arms")
    arms = list(dict.fromkeys(_reader_rows(table)["arm"]))
    if order:
        return [a for a in order if a in arms] + [a for a in arms if a not in order]
    return arms


def rater_matrix(table: pd.DataFrame, arm: str, value: str) -> pd.DataFrame:
    """Cases x raters (readers of ``arm`` then models) of ``value``; cases with truth only."""
    sub = _judged(table)
    sub = sub[(sub["arm"] == arm) | (sub["seniority"] == MODEL_SENIORITY)]
    wide = sub.pivot_table(index="case", columns="reader", values=value, aggfunc="first", observed=True)
    readers = list(dict.fromkeys(_reader_rows(sub)["reader"]))
    return wide[[*readers, *[m for m in _models(sub) if m in wide.columns]]]


def _truth_by_case(table: pd.DataFrame) -> pd.Series:
    return _judged(table).groupby("case")["truth"].first().astype(int)


def _est(e: Any) -> dict[str, Any]:
    return {"value": _f(e.value), "ci_low": _f(e.ci_low), "ci_high": _f(e.ci_high),
            "numerator": e.numerator, "denominator": e.denominator}


def accuracy_table(table: pd.DataFrame, level: float = 0.95) -> dict[str, Any]:
    rows = []
    for (reader, arm), g in _judged(table).groupby(["reader", "arm"], sort=False):
        y, pred, prob = g["truth"].astype(int).to_numpy(), g["binary"].astype(int).to_numpy(), g["probability"].to_numpy(float)
        da = stats.diagnostic_accuracy.from_labels(y, pred, level=level)
        try:
            auc = stats.auc_delong(y, prob, level=level).to_dict()
        except ValidationError as exc:
            auc = {"auc": None, "ci_low": None, "ci_high": None, "note": str(exc)}
        rows.append({
            "reader": reader, "arm": arm, "seniority": g["seniority"].iloc[0], "n": int(len(g)),
            "tp": da.tp, "fp": da.fp, "fn": da.fn, "tn": da.tn,
            **{k: _est(getattr(da, k)) for k in ("accuracy", "sensitivity", "specificity", "ppv", "npv", "f1")},
            "auc": {"value": _f(auc.get("auc")), "ci_low": _f(auc.get("ci_low")), "ci_high": _f(auc.get("ci_high"))},
        })
    return {
        "title": "Diagnostic accuracy per reader, arm and model",
        "test": f"Proportions with Wilson score {level:.0%} CIs (F1: Wilson interval of the Jaccard index "
                f"mapped to F1); AUC: empirical (trapezoidal) with DeLong {level:.0%} CI.",
        "conventions": "Positive = malignant (truth 1); a reader's binary call, a model's probability >= 50. "
                       "AUC uses the 0-100 probability.",
        "columns": ["reader", "arm", "n", "accuracy", "sensitivity", "specificity", "ppv", "npv", "f1", "auc"],
        "rows": rows,
    }


def kappa_table(table: pd.DataFrame, arm: str, level: float = 0.95) -> dict[str, Any]:
    wide = rater_matrix(table, arm, "binary").dropna()
    names = list(wide.columns)
    matrix: list[list[float | None]] = []
    pairs = []
    for a in names:
        row: list[float | None] = []
        for b in names:
            if a == b:
                row.append(1.0)
                continue
            k = stats.cohen_kappa(wide[a].astype(int).to_numpy(), wide[b].astype(int).to_numpy(),
                                  categories=[0, 1], level=level)
            row.append(_f(k.kappa))
            if names.index(a) < names.index(b):
                pairs.append({"a": a, "b": b, "kappa": _f(k.kappa), "ci_low": _f(k.ci_low),
                              "ci_high": _f(k.ci_high), "p_value": _f(k.p_value), "n": k.n})
        matrix.append(row)
    models = _models(table)
    readers = [n for n in names if n not in models]
    fleiss = {}
    for label, cols in (("readers", readers), ("readers+model", names)):
        if len(cols) >= 2 and (label == "readers" or len(cols) > len(readers)):
            f = stats.fleiss_kappa(wide[cols].astype(int).to_numpy(), categories=[0, 1])
            fleiss[label] = {"kappa": _f(f.kappa), "z": _f(f.z), "p_value": _f(f.p_value),
                             "n_subjects": f.n_subjects, "n_raters": f.n_raters, "raters": cols}
    return {
        "title": f"Agreement of binary calls ({arm} arm readers and model)",
        "test": "Cohen's unweighted kappa per pair (Fleiss-Cohen-Everitt SE, Wald CI); Fleiss' kappa of "
                "the readers, with and without the model (z test of kappa = 0).",
        "conventions": f"Cases with truth read by every rater in the matrix ({len(wide)} cases); "
                       "binary calls 0/1; model call = probability >= 50.",
        "columns": ["a", "b", "kappa", "ci_low", "ci_high", "p_value", "n"],
        "names": names, "matrix": matrix, "rows": pairs, "fleiss": fleiss, "n_cases": int(len(wide)),
    }


def _reference(table: pd.DataFrame, arm: str, reference: str | None) -> str:
    models = _models(table)
    names = list(rater_matrix(table, arm, "binary").columns)
    if reference is not None:
        if reference not in names:
            raise ValidationError(f"Reference {reference!r} is neither a model nor a reader of arm {arm!r}; "
                                  f"choose one of {names}.")
        return reference
    if models:
        return models[0]
    order = {"senior": 0, "mid": 1, "junior": 2}
    sen = _reader_rows(table).groupby("reader")["seniority"].first()
    return min((n for n in names), key=lambda n: (order.get(str(sen.get(n, "")), 3), names.index(n)))


def mcnemar_table(table: pd.DataFrame, arm: str, reference: str) -> dict[str, Any]:
    wide = rater_matrix(table, arm, "binary")
    truth = _truth_by_case(table)
    rows = []
    for other in wide.columns:
        if other == reference:
            continue
        pair = wide[[reference, other]].dropna()
        y = truth.loc[pair.index].to_numpy()
        a_ok = pair[reference].astype(int).to_numpy() == y
        b_ok = pair[other].astype(int).to_numpy() == y
        b, c = int(np.sum(a_ok & ~b_ok)), int(np.sum(~a_ok & b_ok))
        method = "exact" if b + c < MCNEMAR_EXACT_BELOW else "chi2"
        r = stats.mcnemar(a_ok, b_ok, method=method, correction=True)
        rows.append({"reference": reference, "reader": other, "n": int(len(pair)), "b": r.b, "c": r.c,
                     "method": r.method, "statistic": _f(r.statistic), "df": r.df, "p_value": _f(r.p_value),
                     "reference_correct": int(a_ok.sum()), "reader_correct": int(b_ok.sum())})
    return {
        "title": f"McNemar test: {reference} vs each rater ({arm} arm)",
        "test": f"McNemar's test of paired correctness; exact binomial when b + c < {MCNEMAR_EXACT_BELOW}, "
                "otherwise chi-square (1 df) with Edwards' continuity correction. Two-sided.",
        "conventions": "b = reference correct and rater wrong, c = reference wrong and rater correct; "
                       "cases with truth read by both.",
        "columns": ["reference", "reader", "n", "b", "c", "method", "statistic", "p_value"],
        "rows": rows,
    }


def delong_table(table: pd.DataFrame, arm: str, reference: str, level: float = 0.95) -> dict[str, Any]:
    wide = rater_matrix(table, arm, "probability")
    truth = _truth_by_case(table)
    rows = []
    for other in wide.columns:
        if other == reference:
            continue
        pair = wide[[reference, other]].dropna()
        y = truth.loc[pair.index].to_numpy()
        try:
            r = stats.delong_test(y, pair[reference].to_numpy(float), pair[other].to_numpy(float), level=level)
        except ValidationError as exc:
            rows.append({"reference": reference, "reader": other, "n": int(len(pair)), "note": str(exc)})
            continue
        rows.append({"reference": reference, "reader": other, "n": int(len(pair)), "auc_reference": _f(r.auc1),
                     "auc_reader": _f(r.auc2), "difference": _f(r.difference), "se": _f(r.se), "z": _f(r.z),
                     "p_value": _f(r.p_value), "ci_low": _f(r.ci_low), "ci_high": _f(r.ci_high)})
    return {
        "title": f"DeLong test of AUC: {reference} vs each rater ({arm} arm)",
        "test": f"Paired DeLong test (Z, two-sided) with {level:.0%} CI of AUC(reference) - AUC(rater).",
        "conventions": "Empirical AUCs of the 0-100 probability on cases with truth read by both.",
        "columns": ["reference", "reader", "n", "auc_reference", "auc_reader", "difference", "ci_low",
                    "ci_high", "p_value"],
        "rows": rows,
    }


def mrmc_table(table: pd.DataFrame, level: float = 0.95) -> dict[str, Any]:
    judged = _reader_rows(_judged(table))
    per_arm = judged.groupby("arm")["reader"].nunique()
    arms = [a for a in _arm_order(table) if per_arm.get(a, 0) >= 2]
    models = _models(table)
    if "unaided" in arms and "AI-aided" in arms:
        tests = ["unaided", "AI-aided"]
    elif len(arms) >= 2:
        tests = arms[:2]
    else:
        tests = []
    if tests:
        sub = judged[judged["arm"].isin(tests)]
        data = pd.DataFrame({"reader": sub["reader"], "test": sub["arm"], "case": sub["case"],
                             "truth": sub["truth"].astype(int), "score": sub["probability"].astype(float)})
        design = f"Arms compared: {tests[0]} vs {tests[1]} (test = arm)."
    elif models and arms:
        arm = arms[0]
        sub = judged[judged["arm"] == arm]
        mod = _judged(table)
        mod = mod[mod["reader"] == models[0]].set_index("case")
        rows = [pd.DataFrame({"reader": sub["reader"], "test": "readers", "case": sub["case"],
                              "truth": sub["truth"].astype(int), "score": sub["probability"].astype(float)})]
        for reader, g in sub.groupby("reader"):
            cases = [c for c in g["case"] if c in mod.index]
            rows.append(pd.DataFrame({"reader": reader, "test": models[0], "case": cases,
                                      "truth": mod.loc[cases, "truth"].astype(int).to_numpy(),
                                      "score": mod.loc[cases, "probability"].astype(float).to_numpy()}))
        data = pd.concat(rows, ignore_index=True)
        tests = ["readers", models[0]]
        design = (f"Readers of the {arm} arm vs {models[0]} (no second arm with reads): the model's scores "
                  "are paired with each reader as a reader-invariant test.")
    else:
        return {"title": "MRMC analysis", "test": "not run", "conventions": "",
                "columns": [], "rows": [], "note": "Needs two arms with at least two readers each, or "
                                                    "readers and a model."}
    try:
        res = stats.mrmc_or(data, cov="jackknife", analysis="RRRC", level=level)
    except ValidationError as exc:
        return {"title": "MRMC analysis", "test": "not run", "conventions": design, "columns": [],
                "rows": [], "note": str(exc)}
    d = res.to_dict()
    rows = [{"test": t, "auc": _f(d["test_auc"][str(t)] if str(t) in d["test_auc"] else d["test_auc"].get(t))}
            for t in res.tests]
    return {
        "title": "MRMC analysis (Obuchowski-Rockette, random readers and cases)",
        "test": "Obuchowski-Rockette ANOVA of empirical AUCs with jackknife covariances, Hillis (2007) "
                f"denominator df; {level:.0%} CI of the difference.",
        "conventions": design,
        "columns": ["test", "auc"],
        "rows": rows,
        "difference_of": f"{res.tests[0]} - {res.tests[1]}" if len(res.tests) == 2 else None,
        "difference": _f(res.difference), "ci_low": _f(res.ci_low), "ci_high": _f(res.ci_high),
        "F": _f(getattr(res, "F", None)), "df1": _f(getattr(res, "df1", None)), "df2": _f(getattr(res, "df2", None)),
        "p_value": _f(res.p_value), "tests": [str(t) for t in res.tests], "result": d,
    }


def time_table(table: pd.DataFrame) -> dict[str, Any]:
    rows = []
    for (reader, arm), g in _reader_rows(table).groupby(["reader", "arm"], sort=False):
        t = g["time_ms"].dropna().astype(float).to_numpy() / 1000.0
        a = g["active_ms"].dropna().astype(float).to_numpy() / 1000.0
        if len(t) == 0:
            continue
        q1, med, q3 = np.percentile(t, [25, 50, 75])
        rows.append({"reader": reader, "arm": arm, "n": int(len(t)), "median_s": _f(med), "q1_s": _f(q1),
                     "q3_s": _f(q3), "iqr_s": _f(q3 - q1),
                     "median_active_s": _f(np.median(a)) if len(a) else None})
    return {
        "title": "Reading time per reader and arm",
        "test": "Descriptive: median and interquartile range (numpy linear percentiles).",
        "conventions": "time = case shown to read submitted; active = time with the window focused; seconds.",
        "columns": ["reader", "arm", "n", "median_s", "q1_s", "q3_s", "iqr_s", "median_active_s"],
        "rows": rows,
    }


def discordant_table(table: pd.DataFrame, arm: str, level: float = 0.95) -> dict[str, Any]:
    wide = rater_matrix(table, arm, "binary")
    models = _models(table)
    readers = [c for c in wide.columns if c not in models]
    calls = wide[readers].dropna()
    disc = calls.index[calls.astype(int).nunique(axis=1) > 1]
    truth = _truth_by_case(table)
    rows = []
    for name in wide.columns:
        col = wide.loc[disc, name].dropna()
        if len(col) == 0:
            rows.append({"reader": name, "n": 0, "correct": 0, "accuracy": None, "ci_low": None, "ci_high": None})
            continue
        ok = int((col.astype(int).to_numpy() == truth.loc[col.index].to_numpy()).sum())
        lo, hi = stats.proportion_ci(ok, len(col), level=level)
        rows.append({"reader": name, "n": int(len(col)), "correct": ok, "accuracy": ok / len(col),
                     "ci_low": lo, "ci_high": hi})
    return {
        "title": f"Discordant cases ({arm} arm): accuracy where the readers disagree",
        "test": f"Proportion correct with Wilson {level:.0%} CI.",
        "conventions": f"Discordant = cases with truth read by all {len(readers)} readers of the arm whose "
                       f"binary calls differ ({len(disc)} of {len(calls)} cases).",
        "columns": ["reader", "n", "correct", "accuracy", "ci_low", "ci_high"],
        "rows": rows, "cases": [str(c) for c in disc],
    }


def decision_table(table: pd.DataFrame, arm: str, thresholds: Sequence[float] = DCA_THRESHOLDS) -> dict[str, Any]:
    wide = rater_matrix(table, arm, "probability")
    truth = _truth_by_case(table)
    curves: dict[str, Any] = {}
    treat_all = None
    for name in wide.columns:
        col = wide[name].dropna()
        y = truth.loc[col.index].to_numpy()
        try:
            nb = stats.net_benefit(y, col.to_numpy(float) / 100.0, list(thresholds))
        except ValidationError:
            continue
        curves[name] = [_f(v) for v in nb.model]
        if treat_all is None:
            treat_all = [_f(v) for v in nb.treat_all]
    rows = [{"threshold": t, **{n: c[i] for n, c in curves.items()},
             "treat_all": treat_all[i] if treat_all else None, "treat_none": 0.0}
            for i, t in enumerate(thresholds)]
    return {
        "title": f"Decision curve: net benefit ({arm} arm readers and model)",
        "test": "Net benefit = TP/n - FP/n * pt/(1 - pt) (Vickers & Elkin 2006) at threshold probability pt.",
        "conventions": "Risk = probability / 100; treat when risk >= pt; treat-all uses the prevalence of "
                       "each rater's cases (all raters read the same cases here).",
        "columns": ["threshold", *curves, "treat_all", "treat_none"],
        "rows": rows, "curves": curves, "thresholds": list(thresholds), "treat_all": treat_all,
    }


def missing_table(missing: pd.DataFrame) -> dict[str, Any]:
    return {
        "title": "Missing reads per reader and arm",
        "test": "Counts (no imputation).",
        "conventions": "expected = cases assigned (x2 phases for sequential arms); read = latest reads present.",
        "columns": ["reader", "arm", "expected", "read", "missing"],
        "rows": [{k: (int(v) if isinstance(v, (int, np.integer)) else v) for k, v in r.items()}
                 for r in missing.to_dict("records")],
    }


def build_tables(table: pd.DataFrame, missing: pd.DataFrame | None = None,
                 options: ReportOptions | None = None) -> dict[str, Any]:
    """Every report table, keyed by name, plus the arm and reference used."""
    opts = options or ReportOptions()
    arm = focus_arm(table, opts.arm)
    reference = _reference(table, arm, opts.reference)
    out: dict[str, Any] = {
        "focus_arm": arm,
        "reference": reference,
        "accuracy": accuracy_table(table, opts.level),
        "kappa": kappa_table(table, arm, opts.level),
        "mcnemar": mcnemar_table(table, arm, reference),
        "delong": delong_table(table, arm, reference, opts.level),
        "mrmc": mrmc_table(table, opts.level),
        "reading_time": time_table(table),
        "discordant": discordant_table(table, arm, opts.level),
        "decision_curve": decision_table(table, arm),
    }
    if missing is not None:
        out["missing"] = missing_table(missing)
    return out
