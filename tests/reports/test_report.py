"""Report on the demo study read by seeded simulated readers: every number re-derived independently."""

from __future__ import annotations

import json
from itertools import combinations

import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook
from pypdf import PdfReader
from simreads import MODEL_NAME, simulate_demo
from sklearn.metrics import cohen_kappa_score, roc_auc_score
from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar
from statsmodels.stats.inter_rater import aggregate_raters
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss

from readerstudy.reports.writers import CSV_COLUMNS, text_page_lines
from readerstudy.services.context import open_context
from readerstudy.services.demo import BUSI_STUDY
from readerstudy.services.reporting import export_reads, export_report

N_CASES = 79


@pytest.fixture(scope="module")
def report(copy_demo, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """One simulated demo study, its report and all four exports (built once for the module)."""
    root = tmp_path_factory.mktemp("report")
    ctx = open_context(copy_demo(root))
    info = simulate_demo(ctx, seed=11)
    steps: list[tuple[int, int, str]] = []
    files = export_report(ctx, BUSI_STUDY, root / "out", progress=lambda i, n, m: steps.append((i, n, m)))
    exports = {fmt: export_reads(ctx, BUSI_STUDY, fmt, root / f"reads_{fmt}.{'xlsx' if fmt == 'rjafroc' else 'csv'}")
               for fmt in ("imrmc", "rjafroc", "mrmcaov", "csv")}
    with ctx.uow() as uow:
        corrected = uow.reads.get(info["corrected"])
        original = uow.reads.get(info["original"])
    ctx.close()
    return {"files": files, "exports": exports, "steps": steps, "corrected": corrected, "original": original,
            "json": json.loads(files.json.read_text()), "csv": pd.read_csv(files.csv)}


def _arm(df: pd.DataFrame, arm: str) -> pd.DataFrame:
    return df[(df["arm"] == arm) | (df["reader"] == MODEL_NAME)]


def test_reads_csv_is_the_tidy_table(report):
    df = report["csv"]
    assert tuple(df.columns) == CSV_COLUMNS
    readers = ["Junior radiologist", "Mid-level radiologist", "Senior radiologist"]
    for arm in ("unaided", "AI-aided", "AI-aided (pre-AI)"):
        sub = df[df["arm"] == arm]
        assert sorted(sub["reader"].unique()) == readers and len(sub) == 3 * N_CASES
    model = df[df["reader"] == MODEL_NAME]
    assert len(model) == N_CASES and (model["seniority"] == "model").all() and (model["arm"] == "model").all()
    assert ((model["probability"] >= 50).astype(int) == model["binary"]).all()
    assert not df.duplicated(["reader", "arm", "case"]).any()
    assert set(df["truth"]) == {0, 1}
    # the coordinator's correction (revision 1) replaces the reader's read, and only it is reported
    c = report["corrected"]
    rows = df[(df["probability"] == c.probability) & (df["time_ms"] == c.time_ms)]
    assert len(rows) == 1 and rows["binary"].iloc[0] == c.binary
    assert c.probability != report["original"].probability and c.revision == 1


def test_missing_reads_are_counted_not_dropped(report):
    d = report["json"]
    late = [r for r in d["tables"]["missing"]["rows"] if r["reader"] == "Late reader"]
    assert sorted((r["arm"], r["missing"]) for r in late) == [
        ("AI-aided", N_CASES), ("AI-aided (pre-AI)", N_CASES), ("unaided", N_CASES)]
    others = [r for r in d["tables"]["missing"]["rows"] if r["reader"] != "Late reader"]
    assert others and all(r["missing"] == 0 and r["expected"] == N_CASES for r in others)
    assert d["meta"]["n_missing_reads"] == 3 * N_CASES
    assert "Late reader" not in set(report["csv"]["reader"])


def test_auc_and_accuracy_match_sklearn(report):
    df, rows = report["csv"], report["json"]["tables"]["accuracy"]["rows"]
    assert len(rows) == 3 * 3 + 1
    for r in rows:
        g = df[(df["reader"] == r["reader"]) & (df["arm"] == r["arm"])]
        assert r["auc"]["value"] == pytest.approx(roc_auc_score(g["truth"], g["probability"]), abs=1e-12)
        assert r["auc"]["ci_low"] < r["auc"]["value"] < r["auc"]["ci_high"]
        ok = (g["binary"] == g["truth"]).mean()
        assert r["accuracy"]["value"] == pytest.approx(ok)
        sens = g.loc[g["truth"] == 1, "binary"].mean()
        assert r["sensitivity"]["value"] == pytest.approx(sens)
        assert r["tp"] + r["fp"] + r["fn"] + r["tn"] == N_CASES


def test_kappa_matches_sklearn_and_statsmodels(report):
    d = report["json"]["tables"]["kappa"]
    wide = _arm(report["csv"], "unaided").pivot(index="case", columns="reader", values="binary")
    assert d["n_cases"] == N_CASES and MODEL_NAME in d["names"]
    for p in d["rows"]:
        assert p["kappa"] == pytest.approx(cohen_kappa_score(wide[p["a"]], wide[p["b"]]), abs=1e-12)
    assert len(d["rows"]) == len(list(combinations(d["names"], 2)))
    readers = [n for n in d["names"] if n != MODEL_NAME]
    for label, cols in (("readers", readers), ("readers+model", d["names"])):
        table, _ = aggregate_raters(wide[cols].to_numpy())
        assert d["fleiss"][label]["kappa"] == pytest.approx(sm_fleiss(table, method="fleiss"), abs=1e-12)


def test_mcnemar_and_delong_against_the_model(report):
    tabs = report["json"]["tables"]
    assert tabs["mcnemar"]["rows"] and report["json"]["meta"]["reference"] == MODEL_NAME
    wide = _arm(report["csv"], "unaided").pivot(index="case", columns="reader", values="binary")
    truth = report["csv"].groupby("case")["truth"].first()
    ref_ok = wide[MODEL_NAME] == truth
    for r in tabs["mcnemar"]["rows"]:
        other_ok = wide[r["reader"]] == truth
        t = pd.crosstab(ref_ok, other_ok).reindex(index=[True, False], columns=[True, False], fill_value=0)
        exact = r["b"] + r["c"] < 25
        assert r["method"] == ("exact" if exact else "chi2")
        sm = sm_mcnemar(t.to_numpy(), exact=exact, correction=True)
        assert (r["b"], r["c"]) == (t.iloc[0, 1], t.iloc[1, 0])
        assert r["p_value"] == pytest.approx(sm.pvalue, rel=1e-9)
    prob = _arm(report["csv"], "unaided").pivot(index="case", columns="reader", values="probability")
    for r in tabs["delong"]["rows"]:
        assert r["auc_reference"] == pytest.approx(roc_auc_score(truth.loc[prob.index], prob[MODEL_NAME]))
        assert r["auc_reader"] == pytest.approx(roc_auc_score(truth.loc[prob.index], prob[r["reader"]]))
        assert r["difference"] == pytest.approx(r["auc_reference"] - r["auc_reader"])
        assert 0 <= r["p_value"] <= 1


def test_mrmc_compares_the_arms_and_tables_state_their_tests(report):
    tabs = report["json"]["tables"]
    m = tabs["mrmc"]
    assert set(m["tests"]) == {"unaided", "AI-aided"}
    df = report["csv"]
    for row in m["rows"]:
        g = df[df["arm"] == row["test"]]
        mean_auc = np.mean([roc_auc_score(x["truth"], x["probability"]) for _, x in g.groupby("reader")])
        assert row["auc"] == pytest.approx(mean_auc, abs=1e-12)
    a, b = m["tests"]
    assert m["difference"] == pytest.approx(m["result"]["test_auc"][a] - m["result"]["test_auc"][b])
    for name, t in tabs.items():
        if isinstance(t, dict) and "title" in t:
            assert t["test"] and isinstance(t["conventions"], str), name
    times = tabs["reading_time"]["rows"]
    for r in times:
        g = df[(df["reader"] == r["reader"]) & (df["arm"] == r["arm"])]
        assert r["median_s"] == pytest.approx(np.median(g["time_ms"]) / 1000)
    disc = tabs["discordant"]
    wide = df[df["arm"] == "unaided"].pivot(index="case", columns="reader", values="binary")
    assert sorted(disc["cases"]) == sorted(wide.index[wide.nunique(axis=1) > 1])
    dca = tabs["decision_curve"]
    assert set(dca["curves"]) == {*wide.columns, MODEL_NAME} and len(dca["thresholds"]) == 19


def test_pdf_html_and_progress(report):
    files, d = report["files"], report["json"]
    pdf = PdfReader(str(files.pdf))
    from readerstudy.reports.writers import _ordered_tables  # the same page packing as the writer

    n_text = len(text_page_lines(d["meta"], {k: v for k, v in d["tables"].items()}))
    assert len(_ordered_tables(d["tables"])) == 9
    assert len(pdf.pages) == n_text + 6  # text pages, then six figure pages
    text = "".join(p.extract_text() for p in pdf.pages[:n_text])
    for needle in ("Reader study report: BUSI benign vs malignant", "McNemar", "DeLong", "Fleiss",
                   "Obuchowski-Rockette", "Missing reads", "Late reader", "Wilson"):
        assert needle in text, needle
    assert "ROC curves" in pdf.pages[n_text].extract_text()
    html = files.html.read_text()
    assert html.count("data:image/png;base64,") == 6 and "http" not in html.replace("http-equiv", "")
    assert report["steps"][-1][0] == report["steps"][-1][1]


def test_exports_match_reads_csv_cell_by_cell(report):
    df = report["csv"]
    reads = df[df["seniority"] != "model"]
    ex = report["exports"]
    im = pd.read_csv(ex["imrmc"], dtype={"readerID": str})
    assert list(im.columns) == ["readerID", "caseID", "modalityID", "score"]
    truth_rows = im[im["readerID"] == "-1"]
    assert (truth_rows["modalityID"] == "truth").all() and len(truth_rows) == N_CASES
    truth = df.groupby("case")["truth"].first()
    assert (truth_rows.set_index("caseID")["score"].astype(int) == truth.loc[truth_rows["caseID"]]).all()
    body = im[im["readerID"] != "-1"].reset_index(drop=True)
    ref = df.reset_index(drop=True)
    assert len(body) == len(ref)
    for (_, a), (_, b) in zip(body.iterrows(), ref.iterrows(), strict=True):
        assert (a["readerID"], a["caseID"], a["modalityID"], a["score"]) == (
            b["reader"], b["case"], b["arm"], b["probability"])
    mv = pd.read_csv(ex["mrmcaov"])
    assert list(mv.columns) == ["reader", "treatment", "case", "truth", "rating"]
    assert mv.to_numpy().tolist() == reads[["reader", "arm", "case", "truth", "probability"]].to_numpy().tolist()
    csv = pd.read_csv(ex["csv"])
    pd.testing.assert_frame_equal(csv, df)
    wb = load_workbook(ex["rjafroc"])
    assert wb.sheetnames[:3] == ["TRUTH", "NL", "LL"]
    cases = {row[0]: row[1] for row in wb["CASES"].iter_rows(min_row=2, values_only=True)}
    truth_sheet = list(wb["TRUTH"].iter_rows(values_only=True))
    assert truth_sheet[0] == ("CaseID", "LesionID", "Weight") and len(truth_sheet) == N_CASES + 1
    for case_id, lesion, weight in truth_sheet[1:]:
        assert lesion == weight == truth[cases[case_id]]
    nl = list(wb["NL"].iter_rows(values_only=True))
    ll = list(wb["LL"].iter_rows(values_only=True))
    assert nl[0] == ("ReaderID", "ModalityID", "CaseID", "NL_Rating")
    assert ll[0] == ("ReaderID", "ModalityID", "CaseID", "LesionID", "LL_Rating")
    got = {(r[0], r[1], cases[r[2]]): (0, r[3]) for r in nl[1:]} | {(r[0], r[1], cases[r[2]]): (1, r[4])
                                                                     for r in ll[1:]}
    want = {(r.reader, r.arm, r.case): (r.truth, r.probability) for r in reads.itertuples()}
    assert got == want
