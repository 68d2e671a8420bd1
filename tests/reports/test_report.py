"""Report on the demo study read by seeded simulated readers: every number re-derived independently."""

from __future__ import annotations

import json
import re
from itertools import combinations

import numpy as np
import pandas as pd
import pytest
import tinyhtml5
from openpyxl import load_workbook
from pypdf import PdfReader
from simreads import MODEL_NAME
from sklearn.metrics import cohen_kappa_score, roc_auc_score
from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar
from statsmodels.stats.inter_rater import aggregate_raters
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss

from readerstudy import __version__, stats
from readerstudy.reports.model import READ_COLUMNS
from readerstudy.services.auth import local_session
from readerstudy.services.context import open_context
from readerstudy.services.demo import BUSI_STUDY
from readerstudy.services.reporting import REPORT_STEPS, export_reads, export_report

LOCAL = local_session("test")  # the CLI's local coordinator session (reaches every study)

N_CASES = 79
READERS = ["Junior radiologist", "Mid-level radiologist", "Senior radiologist"]
NS = "{http://www.w3.org/1999/xhtml}"


@pytest.fixture(scope="module")
def report(sim_copy, sim_db, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """The simulated demo's report and all four exports (built once for the module)."""
    root = tmp_path_factory.mktemp("report")
    ctx = open_context(sim_copy(root))
    steps: list[tuple[int, int, str]] = []
    files = export_report(ctx, LOCAL, BUSI_STUDY, root / "out", progress=lambda i, n, m: steps.append((i, n, m)))
    exports = {fmt: export_reads(ctx, LOCAL, BUSI_STUDY, fmt, root / f"reads_{fmt}.{'xlsx' if fmt == 'rjafroc' else 'csv'}")
               for fmt in ("imrmc", "rjafroc", "mrmcaov", "csv")}
    with ctx.uow() as uow:
        s = uow.studies.by_name(BUSI_STUDY)
        reads = uow.reads.for_study(s.id)
        head = uow.audit.head()
        coordinator = {r.id: r.name for r in uow.readers.list(s.id)}
    ctx.close()
    return {"files": files, "exports": exports, "steps": steps, "reads": reads, "head": head, "names": coordinator,
            "info": sim_db, "json": json.loads(files.json.read_text()), "csv": pd.read_csv(files.csv),
            "html": files.html.read_text(encoding="utf-8"), "pdf": PdfReader(str(files.pdf))}


def _arm(df: pd.DataFrame, arm: str) -> pd.DataFrame:
    return df[(df["arm"] == arm) | (df["reader"] == MODEL_NAME)]


def test_reads_csv_carries_every_stored_field(report):
    df = report["csv"].set_index("read_id")
    assert list(report["csv"].columns[:len(READ_COLUMNS)]) == list(READ_COLUMNS)
    latest: dict = {}
    for r in report["reads"]:
        k = (r.assignment_id, r.case_id, str(r.phase))
        if k not in latest or r.revision > latest[k].revision:
            latest[k] = r
    assert len(df[df["seniority"] != "model"]) == len(latest) == 3 * 3 * N_CASES
    renames = {"model_name": "ai_model", "probability_pct": "ai_probability_pct"}
    for r in latest.values():
        row = df.loc[r.id]
        assert (row["revision"], row["phase"], row["time_ms"], row["active_ms"]) == (
            r.revision, str(r.phase), r.time_ms, r.active_ms)
        assert row["started_at"] == r.started_at.isoformat() and row["app_version"] == r.app_version
        for k, v in r.view_state.items():
            if k != "window":  # the simulated readers store window None (no W/L change)
                assert row[f"view_{k}"] == v, k
        for k, v in (r.ai_shown or {}).items():
            col = renames.get(k, f"ai_{k}")
            assert (str(row[col]) == v if isinstance(v, str) else row[col] == v) or (pd.isna(row[col]) and v in (None, "")), k
        assert pd.isna(row["ai_shown_at"]) == (r.ai_shown is None)
    # the coordinator's correction (revision 1) replaces the reader's read, with its reason
    corr = df.loc[report["info"]["corrected"]]
    assert corr["revision"] == 1 and corr["correction_reason"] == "entry error"
    assert corr["corrected_by"] == "system:test"  # simreads corrects through a system session
    assert report["info"]["original"] not in df.index
    model = df[df["reader"] == MODEL_NAME]
    assert len(model) == N_CASES and (model["arm"] == "model").all()
    assert ((model["probability"] >= 50).astype(int) == model["binary"]).all()
    assert not df.duplicated(["reader", "arm", "case"]).any()


def test_missing_reads_and_corrections_are_listed(report):
    d = report["json"]
    late = [r for r in d["tables"]["missing"]["rows"] if r["reader"] == "Late reader"]
    assert sorted((r["arm"], r["missing"]) for r in late) == [
        ("AI-aided", N_CASES), ("AI-aided (pre-AI)", N_CASES), ("unaided", N_CASES)]
    assert d["meta"]["n_missing_reads"] == 3 * N_CASES
    assert d["meta"]["status"].startswith("Interim report: 711 of 948 assigned reads made")
    (c,) = d["tables"]["corrections"]["rows"]
    orig = next(r for r in report["reads"] if r.id == report["info"]["original"])
    assert c["reason"] == "entry error" and c["before"].startswith(f"p = {orig.probability:g}, call {orig.binary}")


def test_auc_and_accuracy_match_sklearn(report):
    df, rows = report["csv"], report["json"]["tables"]["accuracy"]["rows"]
    assert len(rows) == 3 * 3 + 1
    for r in rows:
        g = df[(df["reader"] == r["reader"]) & (df["arm"] == r["arm"])]
        assert r["auc"]["value"] == pytest.approx(roc_auc_score(g["truth"], g["probability"]), abs=1e-12)
        assert r["auc"]["ci_low"] < r["auc"]["value"] < r["auc"]["ci_high"]
        assert r["accuracy"]["value"] == pytest.approx((g["binary"] == g["truth"]).mean())
        assert r["sensitivity"]["value"] == pytest.approx(g.loc[g["truth"] == 1, "binary"].mean())
        assert r["tp"] + r["fp"] + r["fn"] + r["tn"] == N_CASES


def test_kappa_per_arm_matches_sklearn_and_statsmodels(report):
    df = report["csv"]
    by_arm = report["json"]["tables"]["kappa_by_arm"]
    assert list(by_arm) == ["unaided", "AI-aided (pre-AI)", "AI-aided"]
    for arm, d in by_arm.items():
        wide = _arm(df, arm).pivot(index="case", columns="reader", values="binary")
        assert d["names"] == ["Senior radiologist", "Mid-level radiologist", "Junior radiologist", MODEL_NAME]
        assert len(d["rows"]) == len(list(combinations(d["names"], 2)))
        for p in d["rows"]:
            assert p["kappa"]["value"] == pytest.approx(cohen_kappa_score(wide[p["a"]], wide[p["b"]]), abs=1e-12)
            assert p["n"] == N_CASES
        for label, cols in (("readers", READERS), ("readers+model", d["names"])):
            table, _ = aggregate_raters(wide[cols].to_numpy())
            assert d["fleiss"][label]["kappa"] == pytest.approx(sm_fleiss(table, method="fleiss"), abs=1e-12)


def test_reference_defaults_to_the_most_senior_reader(report):
    tabs = report["json"]["tables"]
    assert tabs["reference"] == "Senior radiologist" and "most senior" in tabs["reference_how"]
    wide = _arm(report["csv"], "unaided").pivot(index="case", columns="reader", values="binary")
    truth = report["csv"].groupby("case")["truth"].first()
    ref_ok = wide["Senior radiologist"] == truth
    assert [r["reader"] for r in tabs["mcnemar"]["rows"]] == ["Mid-level radiologist", "Junior radiologist", MODEL_NAME]
    for r in tabs["mcnemar"]["rows"]:
        t = pd.crosstab(ref_ok, wide[r["reader"]] == truth).reindex(index=[True, False], columns=[True, False],
                                                                   fill_value=0)
        exact = r["b"] + r["c"] < 25
        assert r["method"] == ("exact" if exact else "chi2") and (r["b"], r["c"]) == (t.iloc[0, 1], t.iloc[1, 0])
        assert r["p_value"] == pytest.approx(sm_mcnemar(t.to_numpy(), exact=exact, correction=True).pvalue, rel=1e-9)
    prob = _arm(report["csv"], "unaided").pivot(index="case", columns="reader", values="probability")
    for r in tabs["delong"]["rows"]:
        ref_auc = roc_auc_score(truth.loc[prob.index], prob["Senior radiologist"])
        assert r["auc_reference"] == pytest.approx(ref_auc)
        assert r["difference"]["value"] == pytest.approx(ref_auc - roc_auc_score(truth.loc[prob.index], prob[r["reader"]]))


def test_mrmc_comparisons_equal_the_stats_package(report):
    df = report["csv"]
    mrmc = report["json"]["tables"]["mrmc"]
    assert [(m["tests"][0], m["tests"][1]) for m in mrmc] == [
        ("unaided", "AI-aided"), ("AI-aided (pre-AI)", "AI-aided"), ("unaided", MODEL_NAME)]
    for m in mrmc[:2]:
        a, b = m["tests"]
        sub = df[df["arm"].isin([a, b])]
        long = pd.DataFrame({"reader": sub["reader"], "test": sub["arm"], "case": sub["case"],
                             "truth": sub["truth"], "score": sub["probability"]})
        direct = stats.mrmc_or(long, cov="jackknife", analysis="RRRC")
        sign = 1 if direct.tests.index(a) == 0 else -1
        assert m["difference"]["value"] == pytest.approx(sign * direct.difference, abs=1e-12)
        assert m["p_value"] == pytest.approx(direct.p_value, abs=1e-12) and m["df2"] == pytest.approx(direct.df2)
        for t in (a, b):
            g = df[df["arm"] == t]
            assert m["auc"][t] == pytest.approx(np.mean([roc_auc_score(x["truth"], x["probability"])
                                                        for _, x in g.groupby("reader")]), abs=1e-12)
        for r in m["rows"]:
            assert r["difference"]["value"] == pytest.approx(r["auc_a"] - r["auc_b"], abs=1e-12)
            assert r["difference"]["ci_low"] < r["difference"]["value"] < r["difference"]["ci_high"]


def test_ai_effect_counts_every_pre_to_post_change(report):
    df = report["csv"]
    (eff,) = report["json"]["tables"]["ai_effect"]
    pre = df[df["arm"] == "AI-aided (pre-AI)"].set_index(["reader", "case"])
    post = df[df["arm"] == "AI-aided"].set_index(["reader", "case"])
    both = pre[["binary"]].join(post[["binary", "ai_probability_pct", "truth"]], suffixes=("_pre", "_post"))
    assert eff["ai_source"] == "the AI output logged as shown"
    for r in eff["rows"]:
        g = both if r["reader"] == "All readers" else both.loc[r["reader"]]
        assert r["n"] == len(g)
        assert r["neg_pos"] == int(((g["binary_pre"] == 0) & (g["binary_post"] == 1)).sum())
        assert r["pos_neg"] == int(((g["binary_pre"] == 1) & (g["binary_post"] == 0)).sum())
        ai = (g["ai_probability_pct"] >= 50).astype(int)
        dis = g["binary_pre"] != ai
        wrong = dis & (ai != g["truth"])
        if wrong.any():
            assert r["followed_ai_wrong"]["value"] == pytest.approx((g.loc[wrong, "binary_post"] == ai[wrong]).mean())


def test_pdf_is_typeset_with_page_numbers_summary_methods_and_footer(report):
    pdf, d = report["pdf"], report["json"]
    pages = [p.extract_text() for p in pdf.pages]
    assert 8 <= len(pages) <= 16
    for i, text in enumerate(pages, start=1):
        assert f"Page {i} of {len(pages)}" in text
        assert f"readerstudy {__version__}" in text and d["meta"]["provenance"]["data_checksum"][:16] in text
        assert f"#{report['head'][0]} {report['head'][1][:12]}" in text  # audit chain head on every page
    first = pages[0]
    for needle in ("Reader study report: BUSI benign vs malignant", "counterbalanced crossover", "washout 1 day ",
                   "Senior radiologist", "senior", "junior", "Model card", "DemoNet", "40 positive", "39 negative",
                   "Interim report"):
        assert needle in first, needle
    text = "\n".join(pages)
    for cite in ("DeLong ER", "Obuchowski NA, Rockette HE", "Hillis SL", "Fleiss JL. Measuring nominal",
                 "McNemar Q", "Edwards AL", "Wilson EB", "Vickers AJ, Elkin EB"):
        assert cite in text, cite
    assert "readerstudy report --db" in text and report["head"][1] in text.replace("\n", "")
    assert pdf.metadata.title == "Reader study report: BUSI benign vs malignant"


def test_html_structure(report):
    html = report["html"]
    assert "Positive = malignant (truth 1)" in html and "Positive = synthetic" not in html  # not a realism study
    root = tinyhtml5.parse(html)
    titles = [h.text for h in root.iter(f"{NS}h2")]
    assert [re.sub(r"^\d+\. ", "", t) for t in titles] == [
        "Study summary", "Statistical methods", "Diagnostic accuracy", "Agreement between raters",
        "Each rater against the reference", "Multi-reader multi-case ROC analysis",
        "Effect of the AI reveal on the readers' calls", "Reading time", "Decision curves and calibration",
        "Missing and corrected reads", "References"]
    figures = list(root.iter(f"{NS}figure"))
    assert len(figures) == 6  # the kappa heat maps are tables (CIs in the cells, hover for p and n)
    for i, fig in enumerate(figures, start=1):
        img = fig.find(f"{NS}img")
        caption = "".join(fig.find(f"{NS}div").itertext())
        assert img is not None and img.get("src").startswith("data:image/png;base64,")
        assert caption.startswith(f"Figure {i}. ") and len(caption) > 80
    heat = [t for t in root.iter(f"{NS}table") if t.get("class") == "heat"]
    assert len(heat) == 3 and all("95% CI" in (td.get("title") or "") for td in heat[0].iter(f"{NS}td")
                                  if td.get("class") != "self")
    num = [td for td in root.iter(f"{NS}td") if td.get("class") == "num"]
    assert len(num) > 200 and "http" not in html.replace("http-equiv", "").replace("http://www.w3.org", "")
    assert not re.search(r"(?<![\d.])-0\.0+(?!\d)", html)  # a value that rounds to zero has no sign


def test_progress_and_figure_files(report):
    steps, files = report["steps"], report["files"]
    assert steps[0] == (0, REPORT_STEPS, "collecting reads") and steps[-1][0] == steps[-1][1] == REPORT_STEPS
    assert set(files.figures) == {"roc", "kappa", "forest", "ai_flow", "reading_time", "decision_curve",
                                  "calibration"}
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in files.figures.values())
    assert files.captions["forest"] == "MRMC forest plot"
    assert not [p for p in files.html.parent.iterdir() if p.name.startswith(".report-")]


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
    assert body[["readerID", "caseID", "modalityID"]].to_numpy().tolist() == \
        df[["reader", "case", "arm"]].to_numpy().tolist()
    assert body["score"].astype(float).tolist() == df["probability"].tolist()
    mv = pd.read_csv(ex["mrmcaov"])
    assert list(mv.columns) == ["reader", "treatment", "case", "truth", "rating"]
    assert mv.to_numpy().tolist() == reads[["reader", "arm", "case", "truth", "probability"]].to_numpy().tolist()
    pd.testing.assert_frame_equal(pd.read_csv(ex["csv"]), df)
    wb = load_workbook(ex["rjafroc"])
    assert wb.sheetnames[:3] == ["TRUTH", "NL", "LL"]
    cases = {row[0]: row[1] for row in wb["CASES"].iter_rows(min_row=2, values_only=True)}
    truth_sheet = list(wb["TRUTH"].iter_rows(values_only=True))
    assert truth_sheet[0] == ("CaseID", "LesionID", "Weight") and len(truth_sheet) == N_CASES + 1
    for case_id, lesion, weight in truth_sheet[1:]:
        assert lesion == weight == truth[cases[case_id]]
    nl = list(wb["NL"].iter_rows(values_only=True))
    ll = list(wb["LL"].iter_rows(values_only=True))
    got = {(r[0], r[1], cases[r[2]]): (0, r[3]) for r in nl[1:]} | {(r[0], r[1], cases[r[2]]): (1, r[4])
                                                                     for r in ll[1:]}
    want = {(r.reader, r.arm, r.case): (r.truth, r.probability) for r in reads.itertuples()}
    assert got == want
