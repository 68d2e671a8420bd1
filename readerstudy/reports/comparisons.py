"""Each rater against the chosen reference (McNemar, DeLong), the discordant cases and decision curves.

The reference is chosen, not defaulted to whatever is first (:func:`resolve_reference`): the
export dialog or ``--reference`` names it, else the protocol's ``reference`` key, else the
most senior reader of the arm. It may be a reader's name, ``"model"`` (the study's model) or
``"senior-consensus"``: per case read by every senior reader of the arm, the mean of their
probabilities and the majority of their binary calls (a tie goes to mean probability >= 50).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from readerstudy import stats
from readerstudy.core.errors import ValidationError

from . import na as NA
from .format import fixed
from .model import MODEL_SENIORITY, ReportInput
from .reference_keys import CONSENSUS, MODEL
from .tables import empirical_auc, f, model_names, rater_matrix, raters_of_arm, reader_rows, truth_by_case

__all__ = [
    "CONSENSUS", "MODEL", "SENIOR_CONSENSUS_NAME", "Reference", "decision_table", "delong_table",
    "discordant_table", "mcnemar_table", "resolve_reference",
]

SENIOR_CONSENSUS_NAME = "Senior consensus"
CONSENSUS_SENIORITY = "consensus"
MCNEMAR_EXACT_BELOW = 25
DCA_THRESHOLDS = tuple(round(0.05 * i, 2) for i in range(1, 20))


@dataclass(frozen=True)
class Reference:
    """The rater the others are compared with: ``name`` in ``table`` (None with ``na`` saying why)."""

    name: str | None
    how: str  # how it was chosen, in words
    table: pd.DataFrame  # the read table, with the consensus rows added when the reference is a consensus
    na: str | None = None
    members: tuple[str, ...] = ()  # the readers of a consensus reference (not compared with it)


def _consensus_rows(table: pd.DataFrame, arm: str, seniors: list[str]) -> pd.DataFrame:
    sub = table[(table["arm"] == arm) & table["reader"].isin(seniors)]
    prob = sub.pivot_table(index="case", columns="reader", values="probability", aggfunc="first").dropna()
    calls = sub.pivot_table(index="case", columns="reader", values="binary", aggfunc="first").loc[prob.index]
    mean = prob.mean(axis=1)
    votes = calls.astype(float).mean(axis=1)
    binary = np.where(votes > 0.5, 1, np.where(votes < 0.5, 0, (mean >= 50).astype(int)))
    truth = table.groupby("case")["truth"].first()
    return pd.DataFrame({"study": table["study"].iloc[0] if len(table) else "", "case": prob.index,
                         "reader": SENIOR_CONSENSUS_NAME, "seniority": CONSENSUS_SENIORITY, "arm": arm,
                         "probability": mean.to_numpy(float), "binary": pd.array(binary, dtype="Int64"),
                         "truth": truth.reindex(prob.index).astype("Int64").to_numpy()})


def resolve_reference(data: ReportInput, arm: str | None, requested: str | None) -> Reference:
    """Pick the reference for ``arm``: ``requested``, else the protocol's, else the most senior reader.

    A reader's name matches regardless of case when only one reader has it. Raises
    :class:`ValidationError` for an empty name or one that is no reader or model of the study
    (the message lists the names that are).
    """
    table = data.table
    if requested is not None and not requested.strip():
        raise ValidationError(f"The reference is empty; name a reader, {MODEL!r} or {CONSENSUS!r}, "
                              "or leave it out for the most senior reader.")
    asked = requested or data.reference
    source = "named in the export" if requested else "named in the protocol" if data.reference else None
    everyone = set(table["reader"]) | {r.name for r in (data.info.readers if data.info else ())}
    raters = raters_of_arm(table, arm)
    if asked is None:
        readers = [r for r in raters if r not in model_names(table)]
        if not readers:
            return Reference(None, "the most senior reader, by default", table, NA.NO_READS)
        return Reference(readers[0], "the most senior reader of the arm, by default", table)
    if asked == MODEL:
        models = model_names(table)
        if not models:
            return Reference(None, f"the model, {source}", table, NA.NO_MODEL)
        return Reference(models[0], f"the model, {source}", table)
    if asked == CONSENSUS:
        sen = reader_rows(table)
        seniors = sorted(set(sen.loc[(sen["arm"] == arm) & (sen["seniority"] == "senior"), "reader"]))
        if len(seniors) == 1:
            how = f"consensus of the senior readers, {source}; the only senior reader is {seniors[0]}, so it is their read"
        else:
            how = f"consensus of the senior readers {', '.join(seniors) or '(none)'}, {source}"
        if not seniors:
            return Reference(None, how, table, f"no senior reader has read the {arm} arm yet")
        extra = _consensus_rows(table, str(arm), seniors)
        if extra.empty:
            return Reference(None, how, table, "no case read by every senior reader yet")
        return Reference(SENIOR_CONSENSUS_NAME, how + "; its members are not compared with it",
                         pd.concat([table, extra], ignore_index=True), None, tuple(seniors))
    if asked not in everyone:
        same = [n for n in everyone if n.casefold() == asked.strip().casefold()]
        if len(same) != 1:
            names = ", ".join(sorted(everyone - {SENIOR_CONSENSUS_NAME}))
            raise ValidationError(f"Reference {asked!r} is neither a reader nor a model of this study; name one of: "
                                  f"{names}; or {MODEL!r} or {CONSENSUS!r}.")
        asked = same[0]
    if asked not in raters:
        return Reference(None, f"{asked}, {source}", table, f"{asked} has not read the {arm} arm yet")
    return Reference(asked, str(source), table)


def _others(ref: Reference, arm: str | None) -> list[str]:
    """The raters of ``arm`` compared with ``ref``: everyone but the reference and its consensus members."""
    names = raters_of_arm(ref.table, arm)
    return [n for n in names if n != ref.name and n != SENIOR_CONSENSUS_NAME and n not in ref.members]


def _base(title: str, test: str, conventions: str, columns: list[str], ref: Reference) -> dict[str, Any]:
    out: dict[str, Any] = {"title": title, "test": test, "conventions": conventions, "columns": columns,
                           "rows": [], "reference": ref.name, "reference_how": ref.how}
    if ref.na:
        out["na"] = ref.na
    return out


def mcnemar_table(data: ReportInput, arm: str | None, ref: Reference) -> dict[str, Any]:
    out = _base(f"McNemar test of correctness: {ref.name or 'reference'} vs each rater ({arm} arm)",
                f"McNemar's (1947) test of paired correctness; exact binomial when b + c < {MCNEMAR_EXACT_BELOW}, "
                "otherwise chi-square (1 df) with Edwards' (1948) continuity correction. Two-sided.",
                "b = reference correct and rater wrong, c = reference wrong and rater correct; cases with "
                "truth read by both.", ["reader", "n", "b", "c", "method", "statistic", "p_value"], ref)
    out["labels"] = {"b": "b (only ref. right)", "c": "c (only rater right)"}
    if ref.na:
        return out
    wide = rater_matrix(ref.table, arm, "binary", with_truth=True)
    truth = truth_by_case(ref.table)
    for other in _others(ref, arm):
        pair = wide[[ref.name, other]].dropna()
        row: dict[str, Any] = {"reference": ref.name, "reader": other, "n": int(len(pair))}
        reason = NA.class_reason(truth.loc[pair.index], data.has_truth, need="any")
        if reason or pair.empty:
            out["rows"].append({**row, "p_value": NA.na(reason or NA.NO_COMMON_CASES)})
            continue
        y = truth.loc[pair.index].to_numpy()
        a_ok = pair[ref.name].astype(int).to_numpy() == y
        b_ok = pair[other].astype(int).to_numpy() == y
        b, c = int(np.sum(a_ok & ~b_ok)), int(np.sum(~a_ok & b_ok))
        r = stats.mcnemar(a_ok, b_ok, method="exact" if b + c < MCNEMAR_EXACT_BELOW else "chi2", correction=True)
        out["rows"].append({**row, "b": r.b, "c": r.c, "method": r.method, "statistic": f(r.statistic),
                            "df": r.df, "p_value": f(r.p_value), "reference_correct": int(a_ok.sum()),
                            "reader_correct": int(b_ok.sum())})
    return out


def _unpaired_row(data: ReportInput, ref: Reference, arm: str | None, other: str,
                  level: float) -> dict[str, Any] | None:
    """pROC's unpaired DeLong test of the two raters' AUCs, each on its own cases with truth;
    None when either rater lacks the cases for a variance."""
    sides = []
    for name in (ref.name, other):
        one = rater_matrix(ref.table, arm, "probability", with_truth=True)[name].dropna()
        y = truth_by_case(ref.table).loc[one.index].to_numpy()
        if NA.class_reason(y, data.has_truth, need="both") or NA.few_for_variance(y):
            return None
        sides.append((y, one.to_numpy(float)))
    (y1, s1), (y2, s2) = sides
    r = stats.delong_test(y1, s1, s2, y_true2=y2, paired=False, level=level)
    return {"auc_reference": f(r.auc1), "auc_reader": f(r.auc2),
            "difference": {"value": f(r.difference), "ci_low": f(r.ci_low), "ci_high": f(r.ci_high)},
            "se": f(r.se), "z": f(r.z), "df": f(r.df), "p_value": f(r.p_value),
            "statistic": f"unpaired: D = {fixed(r.z, 2)}, df = {fixed(r.df, 1)}"}


def delong_table(data: ReportInput, arm: str | None, ref: Reference, level: float = 0.95) -> dict[str, Any]:
    out = _base(f"DeLong test of AUC: {ref.name or 'reference'} vs each rater ({arm} arm)",
                f"Paired DeLong (1988) test (Z, two-sided) with {level:.0%} CI of AUC(reference) - AUC(rater). "
                "Raters with too few cases in common for a paired test are compared by pROC's unpaired DeLong "
                "test (Robin et al. 2011): D on each rater's own cases, Student t with Welch-type df.",
                "Empirical AUCs of the 0-100 probability on the cases with truth read by both (unpaired: by each).",
                ["reader", "n", "auc_reference", "auc_reader", "difference", "statistic", "p_value"], ref)
    if ref.na:
        return out
    wide = rater_matrix(ref.table, arm, "probability", with_truth=True)
    truth = truth_by_case(ref.table)
    for other in _others(ref, arm):
        pair = wide[[ref.name, other]].dropna()
        row: dict[str, Any] = {"reference": ref.name, "reader": other, "n": int(len(pair))}
        y = truth.loc[pair.index].to_numpy()
        reason = NA.class_reason(y, data.has_truth, need="both")
        if reason or NA.few_for_variance(y):
            unpaired = _unpaired_row(data, ref, arm, other, level)
            if unpaired is not None:
                out["rows"].append({**row, **unpaired})
                continue
        if reason:
            out["rows"].append({**row, "difference": NA.na(reason), "p_value": NA.na(reason)})
            continue
        if NA.few_for_variance(y):
            a1, a2 = empirical_auc(y, pair[ref.name].to_numpy(float)), empirical_auc(y, pair[other].to_numpy(float))
            out["rows"].append({**row, "auc_reference": a1, "auc_reader": a2,
                                "difference": {"value": a1 - a2, "ci_low": None, "ci_high": None},
                                "p_value": NA.na(NA.FEW_FOR_VARIANCE)})
            continue
        r = stats.delong_test(y, pair[ref.name].to_numpy(float), pair[other].to_numpy(float), level=level)
        out["rows"].append({**row, "auc_reference": f(r.auc1), "auc_reader": f(r.auc2),
                            "difference": {"value": f(r.difference), "ci_low": f(r.ci_low), "ci_high": f(r.ci_high)},
                            "se": f(r.se), "z": f(r.z), "p_value": f(r.p_value), "statistic": f"Z = {fixed(r.z, 2)}"})
    return out


def discordant_table(data: ReportInput, arm: str | None, level: float = 0.95) -> dict[str, Any]:
    wide = rater_matrix(data.table, arm, "binary", with_truth=True)
    models = model_names(data.table)
    readers = [c for c in wide.columns if c not in models]
    calls = wide[readers].dropna()
    disc = calls.index[calls.astype(int).nunique(axis=1) > 1]
    truth = truth_by_case(data.table)
    out: dict[str, Any] = {
        "title": f"Discordant cases ({arm} arm): accuracy where the readers disagree",
        "test": f"Proportion correct with Wilson (1927) {level:.0%} CI.",
        "conventions": f"Discordant = cases with truth read by all {len(readers)} readers of the arm whose binary "
                       f"calls differ ({len(disc)} of {len(calls)} cases).",
        "columns": ["reader", "n", "correct", "accuracy"], "rows": [], "cases": [str(c) for c in disc],
    }
    reason = NA.NO_READS if data.table.empty else NA.class_reason(truth, data.has_truth, need="any")
    if reason or len(readers) < 2:
        out["na"] = reason or NA.FEWER_THAN_2_READERS
        return out
    if len(disc) == 0:
        out["na"] = "the readers agreed on every case read by all of them" if len(calls) else \
            "no case read by every reader yet"
        return out
    for name in wide.columns:
        col = wide.loc[disc, name].dropna()
        if len(col) == 0:
            out["rows"].append({"reader": name, "n": 0, "correct": 0, "accuracy": NA.na(NA.NO_COMMON_CASES)})
            continue
        ok = int((col.astype(int).to_numpy() == truth.loc[col.index].to_numpy()).sum())
        lo, hi = stats.proportion_ci(ok, len(col), level=level)
        out["rows"].append({"reader": name, "n": int(len(col)), "correct": ok,
                            "accuracy": {"value": ok / len(col), "ci_low": lo, "ci_high": hi}})
    return out


def decision_table(data: ReportInput, arm: str | None,
                   thresholds: Sequence[float] = DCA_THRESHOLDS) -> dict[str, Any]:
    wide = rater_matrix(data.table, arm, "probability", with_truth=True)
    truth = truth_by_case(data.table)
    curves: dict[str, Any] = {}
    treat_all = None
    notes: dict[str, str] = {}
    for name in wide.columns:
        col = wide[name].dropna()
        y = truth.loc[col.index].to_numpy()
        reason = NA.class_reason(y, data.has_truth, need="both")
        if reason:
            notes[name] = reason
            continue
        nb = stats.net_benefit(y, col.to_numpy(float) / 100.0, list(thresholds))
        curves[name] = [f(v) for v in nb.model]
        if treat_all is None:
            treat_all = [f(v) for v in nb.treat_all]
    rows = [{"threshold": t, **{n: c[i] for n, c in curves.items()},
             "treat_all": treat_all[i] if treat_all else None, "treat_none": 0.0}
            for i, t in enumerate(thresholds)]
    out: dict[str, Any] = {
        "title": f"Decision curve: net benefit ({arm} arm readers and model)",
        "test": "Net benefit = TP/n - FP/n x pt/(1 - pt) at threshold probability pt (Vickers & Elkin 2006).",
        "conventions": "Risk = probability / 100; treat when risk >= pt; treat-all uses the prevalence of the "
                       "first rater's cases.",
        "columns": ["threshold", *curves, "treat_all", "treat_none"],
        "rows": rows if curves else [], "curves": curves, "thresholds": list(thresholds), "treat_all": treat_all,
        "not_drawn": notes,
    }
    if not curves:
        out["na"] = next(iter(notes.values()), NA.NO_READS)
    return out


def reference_seniority(table: pd.DataFrame, name: str | None) -> str:
    if name == SENIOR_CONSENSUS_NAME:
        return CONSENSUS_SENIORITY
    s = table.loc[table["reader"] == name, "seniority"]
    return str(s.iloc[0]) if len(s) else MODEL_SENIORITY
