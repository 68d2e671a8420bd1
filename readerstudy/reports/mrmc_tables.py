"""MRMC comparisons (Obuchowski-Rockette with per-reader differences for the forest plot) and the
effect of the AI reveal on each reader's calls."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from readerstudy import stats
from readerstudy.core.errors import ValidationError

from . import na as NA
from .model import PRE_AI_SUFFIX, ReportInput
from .tables import arm_order, f, judged, model_names, reader_rows

__all__ = ["ai_effect_table", "mrmc_plan", "mrmc_table"]


def mrmc_plan(data: ReportInput, focus: str | None) -> list[tuple[str, str, str]]:
    """The comparisons a reader-study paper reports: ``(label, test 1, test 2)``.

    Unaided arm vs AI-aided arm (primary); pre-AI vs aided read of each sequential arm; the
    focus arm's readers vs the model. Without a protocol, the first two arms with reads.
    """
    arms = arm_order(data)
    plan: list[tuple[str, str, str]] = []
    info = data.info.arms if data.info else ()
    if info:
        plain = [a.name for a in info if not a.shows_ai]
        aided = [a.name for a in info if a.shows_ai]
        if plain and aided:
            plan.append((f"{plain[0]} vs {aided[0]}", plain[0], aided[0]))
        for a in info:
            if a.sequential:
                plan.append((f"{a.name}: before vs after the AI reveal", a.name + PRE_AI_SUFFIX, a.name))
    elif len(arms) >= 2:
        plan.append((f"{arms[0]} vs {arms[1]}", arms[0], arms[1]))
    models = model_names(data.table)
    if models and focus is not None:
        plan.append((f"{focus} readers vs {models[0]}", focus, models[0]))
    return plan


def _long(data: ReportInput, a: str, b: str) -> tuple[pd.DataFrame, list[str]]:
    """Long MRMC table of tests ``a`` and ``b`` (arms, or an arm and a model) over readers who have both."""
    j = judged(data.table)
    reads = reader_rows(j)
    models = model_names(data.table)
    if b in models:
        sub = reads[reads["arm"] == a]
        mod = j[j["reader"] == b].drop_duplicates("case").set_index("case")
        sub = sub[sub["case"].isin(mod.index)]
        rows = [pd.DataFrame({"reader": sub["reader"], "test": a, "case": sub["case"], "truth": sub["truth"],
                              "score": sub["probability"]}),
                pd.DataFrame({"reader": sub["reader"], "test": b, "case": sub["case"],
                              "truth": sub["truth"], "score": mod.loc[sub["case"], "probability"].to_numpy()})]
        readers = sorted(set(sub["reader"]))
    else:
        sub = reads[reads["arm"].isin([a, b])]
        both = sub.groupby("reader")["arm"].nunique()
        readers = sorted(both.index[both == 2])
        sub = sub[sub["reader"].isin(readers)]
        rows = [pd.DataFrame({"reader": sub["reader"], "test": sub["arm"], "case": sub["case"],
                              "truth": sub["truth"], "score": sub["probability"]})]
    long = pd.concat(rows, ignore_index=True)
    long["truth"] = long["truth"].astype(int)
    long["score"] = long["score"].astype(float)
    return long, readers


def _reason(data: ReportInput, long: pd.DataFrame, readers: list[str], a: str, b: str) -> str | None:
    why = NA.class_reason(long["truth"] if len(long) else [], data.has_truth, need="both")
    if why:
        return why
    if NA.few_for_variance(long.drop_duplicates("case")["truth"]):
        return NA.FEW_FOR_VARIANCE
    if len(readers) < 2:
        return f"{NA.FEWER_THAN_2_READERS} have read both {a} and {b}"
    return None


def mrmc_table(data: ReportInput, label: str, a: str, b: str, level: float = 0.95) -> dict[str, Any]:
    """One OR comparison of tests ``a`` - ``b``: RRRC pooled difference, test AUCs and per-reader differences."""
    out: dict[str, Any] = {
        "title": f"MRMC: {label}", "label": label, "tests": [a, b],
        "test": "Obuchowski-Rockette (1995) ANOVA of empirical AUCs with jackknife covariances, random readers "
                f"and cases, Hillis (2007) denominator df; {level:.0%} CI of AUC({a}) - AUC({b}). Per reader: "
                "that reader's own difference with its jackknife SE (fixed-reader analysis). The CIs of the "
                "test AUCs come from the same analysis (random readers and cases above, fixed readers in the "
                "FRRC table), so they differ from the DeLong CIs of the diagnostic-accuracy section.",
        "conventions": f"Readers who read both; cases with truth. Difference = {a} - {b}.",
        "columns": ["reader", "auc_a", "auc_b", "difference", "p_value"], "rows": [],
        "labels": {"auc_a": f"AUC ({a})", "auc_b": f"AUC ({b})", "difference": "Difference (95% CI)"},
    }
    if reader_rows(data.table).empty:
        out["na"] = NA.NO_READS
        return out
    long, readers = (_long(data, a, b) if len(judged(data.table)) else (pd.DataFrame(), []))
    reason = _reason(data, long, readers, a, b) if len(long) else (
        NA.class_reason([], data.has_truth) if judged(data.table).empty else f"no reads of {a} and {b} yet")
    if reason:
        out["na"] = reason
        return out
    try:
        rr = stats.mrmc_or(long, cov="jackknife", analysis="RRRC", level=level)
        fr = stats.mrmc_or(long, cov="jackknife", analysis="FRRC", level=level)
    except ValidationError as exc:  # e.g. every reader with identical AUCs and no error variance
        out["na"] = f"could not be computed on these reads ({exc})"
        return out
    if rr.difference is None or not np.isfinite(rr.difference):
        out["na"] = "the AUC difference is undefined on the reads so far (a reader's AUC cannot be computed)"
        return out
    t1, t2 = rr.tests.index(a), rr.tests.index(b)
    sign = 1.0 if t1 < t2 else -1.0  # the stats order tests by first appearance; we report a - b
    per = fr.reader or {}
    for i, reader in enumerate(rr.readers):
        au = rr.reader_auc
        row = {"reader": reader, "auc_a": f(au[a][i]), "auc_b": f(au[b][i])}
        if per.get("reader"):
            k = list(per["reader"]).index(reader)
            lo, hi = per["ci_low"][k], per["ci_high"][k]
            lo, hi = (lo, hi) if sign > 0 else (-hi, -lo)
            row["difference"] = {"value": f(sign * per["difference"][k]), "ci_low": f(lo), "ci_high": f(hi)}
            row["p_value"] = f(per["p_value"][k])
        out["rows"].append(row)
    lo, hi = (rr.ci_low, rr.ci_high)
    if sign < 0 and lo is not None and hi is not None:
        lo, hi = -hi, -lo
    out.update({
        "auc": {a: f(rr.test_auc[a]), b: f(rr.test_auc[b])},
        "difference": {"value": f(sign * rr.difference) if rr.difference is not None else None,
                       "ci_low": f(lo), "ci_high": f(hi)},
        "F": f(rr.F), "df1": f(rr.df1), "df2": f(rr.df2), "p_value": f(rr.p_value),
        "n_readers": len(rr.readers), "n_cases": rr.n_cases, "n_positive": rr.n_positive,
        "n_negative": rr.n_negative, "design": rr.design,
        "variance": {k: f(getattr(rr, k)) for k in ("var_R", "var_TR", "var_error", "cov1", "cov2", "cov3")},
        "single": {str(t): {k: f(v) for k, v in d.items()} for t, d in rr.single.items()},
        "groups": None if rr.groups is None else [
            {**g, "readers": [str(r) for r in g["readers"]]} for g in rr.groups],
        "frrc": _frrc(fr, a, b, sign),
    })
    return out


def _frrc(fr: Any, a: str, b: str, sign: float) -> dict[str, Any]:
    """The fixed-reader (FRRC) analysis as OR-DBM MRMC lists it: chi-square test, difference and,
    per test, the AUC with its CI, error variance Var(error) and Cov2 of that test alone."""
    lo, hi = fr.ci_low, fr.ci_high
    if sign < 0 and lo is not None and hi is not None:
        lo, hi = -hi, -lo
    return {
        "X2": f(fr.X2), "df": f(fr.df), "p_value": f(fr.p_value),
        "difference": {"value": f(sign * fr.difference) if fr.difference is not None else None,
                       "ci_low": f(lo), "ci_high": f(hi)}, "se": f(fr.se),
        "error_term": f(fr.error_term_MS), "cov1": f(fr.cov1), "cov2": f(fr.cov2), "cov3": f(fr.cov3),
        "var_error": f(fr.var_error),
        "per_test": [{"test": t, "auc": {"value": f(fr.single[t]["auc"]), "ci_low": f(fr.single[t]["ci_low"]),
                                          "ci_high": f(fr.single[t]["ci_high"])},
                      "se": f(fr.single[t]["se"]), "var_error": f(fr.single[t]["var_error"]),
                      "cov2": f(fr.single[t]["cov2"])} for t in (a, b)],
    }


def _ai_calls(pairs: pd.DataFrame, data: ReportInput) -> tuple[pd.Series, str]:
    """The AI's call per pair: from what the reading window logged as shown, else the model's prediction."""
    if "ai_probability_pct" in pairs and pairs["ai_probability_pct"].notna().all():
        return (pairs["ai_probability_pct"].astype(float) >= 50).astype(int), "the AI output logged as shown"
    models = model_names(data.table)
    if not models:
        return pd.Series(np.nan, index=pairs.index), ""
    mod = data.table[data.table["reader"] == models[0]].drop_duplicates("case").set_index("case")["probability"]
    return (pairs["case"].map(mod).astype(float) >= 50).astype(float), f"{models[0]}'s prediction"


def _rate(k: int, n: int, level: float) -> dict[str, Any]:
    if n == 0:
        return NA.na("no such case")
    lo, hi = stats.proportion_ci(k, n, level=level)
    return {"value": k / n, "ci_low": lo, "ci_high": hi, "numerator": k, "denominator": n}


def _flow_row(reader: str, g: pd.DataFrame, has_truth: bool, level: float) -> dict[str, Any]:
    pre, post, ai = g["binary_pre"].astype(int), g["binary_post"].astype(int), g["ai_call"]
    row: dict[str, Any] = {
        "reader": reader, "n": int(len(g)),
        "neg_neg": int(((pre == 0) & (post == 0)).sum()), "neg_pos": int(((pre == 0) & (post == 1)).sum()),
        "pos_neg": int(((pre == 1) & (post == 0)).sum()), "pos_pos": int(((pre == 1) & (post == 1)).sum()),
        "mean_abs_change": f((g["probability_post"] - g["probability_pre"]).abs().mean()),
    }
    known = ai.notna()
    disagree = known & (pre != ai)
    row["disagreed"] = int(disagree.sum())
    row["followed"] = _rate(int((disagree & (post == ai)).sum()), int(disagree.sum()), level)
    truth = g["truth"]
    if not has_truth or truth.isna().all():
        why = NA.NO_TRUTH if not has_truth else NA.NO_TRUTH_READ
        row["followed_ai_right"] = row["followed_ai_wrong"] = NA.na(why)
        return row
    right = disagree & truth.notna() & (ai == truth)
    wrong = disagree & truth.notna() & (ai != truth)
    row["followed_ai_right"] = _rate(int((right & (post == ai)).sum()), int(right.sum()), level)
    row["followed_ai_wrong"] = _rate(int((wrong & (post == ai)).sum()), int(wrong.sum()), level)
    return row


def ai_effect_table(data: ReportInput, arm: str, level: float = 0.95) -> dict[str, Any]:
    """How each reader's binary call changed from the locked pre-AI read to the aided read of ``arm``."""
    t = reader_rows(data.table)
    cols = ["reader", "case", "probability", "binary", "truth"]
    pre = t.loc[t["arm"] == arm + PRE_AI_SUFFIX, cols]
    post_cols = cols + (["ai_probability_pct"] if "ai_probability_pct" in t else [])
    post = t.loc[t["arm"] == arm, post_cols]
    pairs = pre.merge(post.drop(columns="truth"), on=["reader", "case"], suffixes=("_pre", "_post"))
    out: dict[str, Any] = {
        "title": f"Calls before and after the AI reveal ({arm} arm)", "arm": arm,
        "test": f"Counts of unaided -> aided binary calls; shares with Wilson (1927) {level:.0%} CIs.",
        "conventions": "Pairs = a reader's locked pre-AI read and aided read of the same case. Followed the AI = "
                       "the aided call equals the AI's call, among cases where the pre-AI call differed from it. "
                       "AI right/wrong by ground truth.",
        "columns": ["reader", "n", "neg_neg", "neg_pos", "pos_neg", "pos_pos", "followed", "followed_ai_right",
                    "followed_ai_wrong"],
        "rows": [],
    }
    if pairs.empty:
        out["na"] = f"no reader has made both reads of a case in the {arm} arm yet"
        return out
    pairs["ai_call"], source = _ai_calls(pairs, data)
    out["ai_source"] = source
    if not source:
        out["na_follow"] = NA.NO_MODEL
    for reader, g in pairs.groupby("reader", sort=True):
        out["rows"].append(_flow_row(str(reader), g, data.has_truth, level))
    if len(out["rows"]) > 1:
        out["rows"].append(_flow_row("All readers", pairs, data.has_truth, level))
    return out
