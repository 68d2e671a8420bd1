"""The statistics added for issue 16 appear in the report's tables, HTML and PDF with their values:
Hanley-McNeil SE beside DeLong's, Randolph's free-marginal kappa, the fixed-reader (FRRC)
per-test error variances, the unpaired DeLong test (D, df) and split-plot reader groups.
Each value is recomputed here from the stats package or from its formula."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.inter_rater import aggregate_raters
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss

from readerstudy import stats
from readerstudy.reports.build import write_report
from readerstudy.reports.document import build_tables

READERS = ["Senior radiologist", "Mid-level radiologist", "Junior radiologist"]


@pytest.fixture(scope="module")
def written(sim_data, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN001, ANN201
    out = tmp_path_factory.mktemp("newstats")
    files = write_report(sim_data, out)
    tables = build_tables(sim_data)
    return {"tables": tables, "html": files.html.read_text(encoding="utf-8"), "pdf": files.pdf}


def _hanley_mcneil(a: float, m: int, n: int) -> float:
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)  # Hanley & McNeil (1982) eq. 2
    return math.sqrt((a * (1 - a) + (m - 1) * (q1 - a * a) + (n - 1) * (q2 - a * a)) / (m * n))


def test_auc_table_has_delong_and_hanley_mcneil_se(sim_data, written):
    rows = written["tables"]["auc_se"]["rows"]
    t = sim_data.table
    assert len(rows) == 3 * 3 + 1
    for r in rows:
        g = t[(t["reader"] == r["reader"]) & (t["arm"] == r["arm"]) & t["truth"].notna()]
        y, p = g["truth"].astype(int).to_numpy(), g["probability"].to_numpy(float)
        direct = stats.auc_delong(y, p)
        assert r["se"] == pytest.approx(direct.se, abs=1e-15)
        assert r["se_hanley_mcneil"] == pytest.approx(_hanley_mcneil(direct.auc, int(y.sum()), int((1 - y).sum())),
                                                      rel=1e-12)
        assert (r["n_positive"], r["n_negative"]) == (40, 39)
        assert f">{r['se']:.4f}<" in written["html"] and f">{r['se_hanley_mcneil']:.4f}<" in written["html"]
    assert "SE (Hanley-McNeil)" in written["html"] and "Hanley &amp; McNeil" in written["html"]


def test_randolph_kappa_in_tables_and_html(sim_data, written):
    t = sim_data.table
    for arm, k in written["tables"]["kappa_by_arm"].items():
        sub = t[(t["arm"] == arm) | (t["seniority"] == "model")]
        wide = sub.pivot_table(index="case", columns="reader", values="binary", aggfunc="first")
        table, _ = aggregate_raters(wide[READERS].dropna().astype(int).to_numpy())
        free = k["fleiss"]["readers"]["kappa_free"]
        assert free == pytest.approx(sm_fleiss(table, method="randolph"), abs=1e-12)
        assert f"Randolph's free-marginal κ = {free:.3f}" in written["html"]


def _long(t: pd.DataFrame, a: str, b: str) -> pd.DataFrame:
    sub = t[t["arm"].isin([a, b]) & (t["seniority"] != "model") & t["truth"].notna()]
    return pd.DataFrame({"reader": sub["reader"], "test": sub["arm"], "case": sub["case"],
                         "truth": sub["truth"].astype(int), "score": sub["probability"].astype(float)})


def test_frrc_error_variances_per_test(sim_data, written):
    m = written["tables"]["mrmc"][0]
    a, b = m["tests"]
    fr = stats.mrmc_or(_long(sim_data.table, a, b), analysis="FRRC")
    frrc = m["frrc"]
    assert frrc["X2"] == pytest.approx(fr.X2, rel=1e-12) and frrc["p_value"] == pytest.approx(fr.p_value)
    for row in frrc["per_test"]:
        assert row["var_error"] == pytest.approx(fr.single[row["test"]]["var_error"], rel=1e-12)
        assert row["cov2"] == pytest.approx(fr.single[row["test"]]["cov2"], rel=1e-12)
        assert f">{row['var_error']:.6f}<" in written["html"]
    assert f"χ² = {fr.X2:.2f}" in written["html"] and "Fixed readers, random cases (FRRC)" in written["html"]


def test_pdf_shows_the_new_statistics(written):
    from pypdf import PdfReader

    text = "\n".join(p.extract_text() for p in PdfReader(str(written["pdf"])).pages)
    for needle in ("SE (Hanley-McNeil)", "Randolph", "Fixed readers, random cases (FRRC)", "Var(error)"):
        assert needle in text, needle


def test_unpaired_delong_when_raters_share_too_few_cases(sim_data):
    """The senior reader reads the odd cases, the junior the even ones (unaided arm): no common
    case, so the report compares them with pROC's unpaired test, D on each one's own cases."""
    t = sim_data.table
    cases = sorted(t["case"].unique())
    odd = set(cases[::2])
    drop = (t["arm"] == "unaided") & (((t["reader"] == "Senior radiologist") & ~t["case"].isin(odd))
                                      | ((t["reader"] == "Junior radiologist") & t["case"].isin(odd)))
    tables = build_tables(sim_data.with_table(t[~drop]))
    assert tables["reference"] == "Senior radiologist"
    row = next(r for r in tables["delong"]["rows"] if r["reader"] == "Junior radiologist")
    kept = t[~drop & (t["arm"] == "unaided")]
    sen, jun = (kept[kept["reader"] == n] for n in ("Senior radiologist", "Junior radiologist"))
    direct = stats.delong_test(sen["truth"].astype(int).to_numpy(), sen["probability"].to_numpy(float),
                               jun["probability"].to_numpy(float), y_true2=jun["truth"].astype(int).to_numpy(),
                               paired=False)
    assert row["n"] == 0 and direct.statistic_name == "D"
    assert row["z"] == pytest.approx(direct.z, rel=1e-12) and row["df"] == pytest.approx(direct.df, rel=1e-12)
    assert row["p_value"] == pytest.approx(direct.p_value, rel=1e-12)
    assert row["statistic"] == f"unpaired: D = {direct.z:.2f}, df = {direct.df:.1f}"
    mid = next(r for r in tables["delong"]["rows"] if r["reader"] == "Mid-level radiologist")
    assert mid["statistic"].startswith("Z = ") and "df" not in mid  # shares cases: paired


def test_split_plot_groups_reach_the_mrmc_table(sim_data):
    """Senior + mid read the odd cases, junior the even ones, in both arms: a split-plot design."""
    t = sim_data.table
    cases = sorted(t["case"].unique())
    odd = set(cases[::2])
    in_g1 = t["reader"].isin(READERS[:2])
    keep = (t["seniority"] == "model") | np.where(in_g1, t["case"].isin(odd), ~t["case"].isin(odd))
    m = build_tables(sim_data.with_table(t[keep]))["mrmc"][0]
    assert m["design"] == "split-plot (cases nested within reader groups)"
    # groups in the order of their first reader (readers sort by name: Junior, Mid-level, Senior)
    assert [g["readers"] for g in m["groups"]] == [["Junior radiologist"],
                                                   ["Mid-level radiologist", "Senior radiologist"]]
    assert [g["n_cases"] for g in m["groups"]] == [len(cases) - len(odd), len(odd)]
