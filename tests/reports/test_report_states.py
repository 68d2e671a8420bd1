"""Reports on any state of a study: random subsets of the demo's reads always give a report whose
numbers equal the same statistics computed directly on that subset (sklearn / statsmodels /
readerstudy.stats), and whatever cannot be computed is n/a with the reason a coordinator reads."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sklearn.metrics import cohen_kappa_score, roc_auc_score
from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar

from readerstudy import stats
from readerstudy.reports import na as NA
from readerstudy.reports.build import write_report
from readerstudy.reports.document import build_tables

READERS = ("Senior radiologist", "Mid-level radiologist", "Junior radiologist")
ARMS = ("unaided", "AI-aided (pre-AI)", "AI-aided")
SENIORITY = {"Senior radiologist": 0, "Mid-level radiologist": 1, "Junior radiologist": 2}


def subset(table: pd.DataFrame, spec: dict) -> pd.DataFrame:
    t = table[table["reader"].isin(spec["readers"]) & table["arm"].isin(spec["arms"])
              | (spec["model"] & (table["seniority"] == "model"))]
    if spec["cls"] is not None:
        t = t[t["truth"] == spec["cls"]]
    # cases in an order that does not depend on their (random) pseudonyms: by their reads' values
    key = t.groupby("case").apply(lambda g: tuple(sorted(zip(g["reader"], g["arm"], g["probability"], strict=True))),
                                  include_groups=False)
    cases = sorted(key.index, key=lambda c: key[c])
    keep = np.random.default_rng(spec["seed"]).random(len(cases)) < spec["frac"]
    return t[t["case"].isin([c for c, k in zip(cases, keep, strict=True) if k])]


SPECS = st.fixed_dictionaries({
    "readers": st.sets(st.sampled_from(READERS)), "arms": st.sets(st.sampled_from(ARMS)), "model": st.booleans(),
    "cls": st.sampled_from([None, None, 0, 1]), "frac": st.sampled_from([0.05, 0.3, 1.0]),
    "seed": st.integers(0, 1000)})
ALL = {"readers": set(READERS), "arms": set(ARMS), "model": True, "cls": None, "frac": 1.0, "seed": 0}


def _why(y) -> str | None:  # noqa: ANN001
    y = list(y)
    if not y:
        return NA.NO_TRUTH_READ
    return NA.ONLY_NEGATIVE if 1 not in y else NA.ONLY_POSITIVE if 0 not in y else None


def check_accuracy(tables: dict, t: pd.DataFrame) -> None:
    rows = {(r["reader"], r["arm"]): r for r in tables["accuracy"]["rows"]}
    assert set(rows) == set(t.groupby(["reader", "arm"]).groups)
    for (reader, arm), g in t.groupby(["reader", "arm"]):
        r = rows[(reader, arm)]
        why = _why(g["truth"])
        if why:
            assert r["auc"] == {"na": why}
        else:
            assert r["auc"]["value"] == pytest.approx(roc_auc_score(g["truth"], g["probability"]), abs=1e-12)
        assert r["accuracy"]["value"] == pytest.approx((g["binary"] == g["truth"]).mean())
        pos = g[g["truth"] == 1]
        if len(pos):
            assert r["sensitivity"]["value"] == pytest.approx(pos["binary"].mean())
        else:
            assert r["sensitivity"] == {"na": "no positive cases read so far"}


def check_kappa(tables: dict, t: pd.DataFrame) -> None:
    for arm, k in tables["kappa_by_arm"].items():
        wide = t[(t["arm"] == arm) | (t["seniority"] == "model")].pivot(index="case", columns="reader",
                                                                         values="binary")
        for p in k["rows"]:
            both = wide[[p["a"], p["b"]]].dropna()
            if both.empty:
                assert p["kappa"] == {"na": NA.NO_COMMON_CASES}
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                want = cohen_kappa_score(both[p["a"]].astype(int), both[p["b"]].astype(int), labels=[0, 1])
            if np.isnan(want):
                assert p["kappa"] == {"na": NA.ONE_CATEGORY}
            else:
                assert p["kappa"]["value"] == pytest.approx(want, abs=1e-12)


def expected_reference(t: pd.DataFrame, arm: str | None) -> str | None:
    readers = sorted(set(t.loc[(t["arm"] == arm) & (t["seniority"] != "model"), "reader"]), key=SENIORITY.get)
    return readers[0] if readers else None


def check_comparisons(tables: dict, t: pd.DataFrame) -> None:
    arm = tables["focus_arm"]
    assert arm == next((a for a in ARMS if a in set(t.loc[t["seniority"] != "model", "arm"])), None)
    ref = expected_reference(t, arm)
    assert tables["reference"] == ref
    if ref is None:
        assert tables["mcnemar"]["na"] == NA.NO_READS
        return
    sub = t[(t["arm"] == arm) | (t["seniority"] == "model")]
    calls = sub.pivot(index="case", columns="reader", values="binary")
    prob = sub.pivot(index="case", columns="reader", values="probability")
    truth = t.groupby("case")["truth"].first()
    for r in tables["mcnemar"]["rows"]:
        pair = calls[[ref, r["reader"]]].dropna()
        assert r["n"] == len(pair)
        if pair.empty:
            continue
        a_ok, b_ok = pair[ref] == truth[pair.index], pair[r["reader"]] == truth[pair.index]
        tab = pd.crosstab(a_ok, b_ok).reindex(index=[True, False], columns=[True, False], fill_value=0).to_numpy()
        exact = tab[0, 1] + tab[1, 0] < 25
        assert r["p_value"] == pytest.approx(sm_mcnemar(tab, exact=exact, correction=True).pvalue, rel=1e-9)
    for r in tables["delong"]["rows"]:
        pair = prob[[ref, r["reader"]]].dropna()
        why = _why(truth[pair.index])
        if why:
            assert r["difference"] == {"na": why}
        else:
            y = truth[pair.index]
            want = roc_auc_score(y, pair[ref]) - roc_auc_score(y, pair[r["reader"]])
            assert r["difference"]["value"] == pytest.approx(want, abs=1e-12)


def check_mrmc(tables: dict, t: pd.DataFrame) -> None:
    for m in tables["mrmc"]:
        a, b = m["tests"]
        if b == "DemoNet":
            continue  # readers vs the model: checked on the full demo in test_report
        sub = t[t["arm"].isin([a, b]) & (t["seniority"] != "model")]
        both = sub.groupby("reader")["arm"].nunique()
        sub = sub[sub["reader"].isin(both.index[both == 2])]
        long = pd.DataFrame({"reader": sub["reader"], "test": sub["arm"], "case": sub["case"],
                             "truth": sub["truth"], "score": sub["probability"]})
        if "undefined" in m.get("na", ""):  # the stats package agrees: no finite difference
            assert not np.isfinite(stats.mrmc_or(long, cov="jackknife", analysis="RRRC").difference)
            continue
        if "na" in m:
            y = sub.drop_duplicates("case")["truth"]
            few = min((y == 1).sum(), (y == 0).sum()) < 2
            assert sub["reader"].nunique() < 2 or _why(sub["truth"]) is not None or (few and m["na"] == NA.FEW_FOR_VARIANCE)
            continue
        direct = stats.mrmc_or(long, cov="jackknife", analysis="RRRC")
        sign = 1 if direct.tests.index(a) == 0 else -1
        assert m["difference"]["value"] == pytest.approx(sign * direct.difference, abs=1e-12)
        assert m["p_value"] == pytest.approx(direct.p_value, abs=1e-12)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=SPECS)
@example(spec={**ALL, "readers": set()} | {"model": False})  # empty
@example(spec={**ALL, "readers": {"Junior radiologist"}})  # one reader
@example(spec={**ALL, "cls": 0})  # one class (only negative cases read)
@example(spec={**ALL, "arms": {"unaided"}})  # one arm
@example(spec={**ALL, "model": False})  # no model
@example(spec={**ALL, "frac": 0.05, "seed": 3})  # a handful of cases
def test_any_subset_reports_the_statistics_of_that_subset(sim_data, spec):
    t = subset(sim_data.table, spec)
    tables = build_tables(sim_data.with_table(t))
    check_accuracy(tables, t)
    check_kappa(tables, t)
    check_comparisons(tables, t)
    check_mrmc(tables, t)


STATES = {
    "empty": lambda t: t.iloc[0:0],
    "one reader": lambda t: t[t["reader"] == "Junior radiologist"],
    "only negatives": lambda t: t[t["truth"] == 0],
    "one arm, no model": lambda t: t[t["arm"] == "unaided"],
    "no truth": lambda t: t.assign(truth=pd.array([None] * len(t), dtype="Int64")),
}


@pytest.mark.parametrize("state", list(STATES))
def test_every_state_writes_the_whole_report(sim_data, tmp_path, state):
    t = STATES[state](sim_data.table)
    files = write_report(sim_data.with_table(t), tmp_path, pdf=state in ("empty", "only negatives"))
    html = files.html.read_text(encoding="utf-8")
    assert "Reader study report: BUSI benign vs malignant" in html and "References" in html
    expected = {"empty": [NA.NO_READS], "one reader": [NA.FEWER_THAN_2_READERS],
                "only negatives": [NA.ONLY_NEGATIVE, "no positive cases read so far"],
                "one arm, no model": ["MRMC: unaided vs AI-aided", "Not computed yet"],
                "no truth": [NA.NO_TRUTH_READ]}[state]
    for reason in expected:
        assert reason in html, reason
    if files.pdf.exists():
        from pypdf import PdfReader

        pages = PdfReader(str(files.pdf)).pages
        assert "Page 1 of" in pages[0].extract_text()
