"""The realism section of the report, checked against direct computations on reads.csv.

A small realism study (6 BUSI cases, two accepted synthetic images each from two generators, and
the 6 real images) read by three simulated readers with the realism protocol; the section's
accuracy, Wilson CIs, DeLong AUCs, realism means and Fleiss' kappa are recomputed here with
statsmodels, scikit-learn, scipy and a hand-written DeLong variance.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pypdf import PdfReader
from scipy import stats as sps
from sklearn.metrics import roc_auc_score
from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa
from statsmodels.stats.proportion import proportion_confint

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "services"))
from realism_support import GEN_A, GEN_B, REALISM, SOURCE, realism_protocol, source_study  # noqa: E402

from readerstudy.reports.document import SECTIONS, ReportOptions, ReportParts, build_tables  # noqa: E402
from readerstudy.services.assignments import apply_protocol  # noqa: E402
from readerstudy.services.auth import local_session, scope  # noqa: E402
from readerstudy.services.realism_study import build_realism_study, parse_origin  # noqa: E402
from readerstudy.services.report_data import collect_report_data  # noqa: E402
from readerstudy.services.reporting import export_report  # noqa: E402
from readerstudy.services.simulate import simulate_readers  # noqa: E402

LOCAL = local_session("test")


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    root = tmp_path_factory.mktemp("realism-report")
    ctx = source_study(root / "r.db", n_cases=6)
    try:
        build_realism_study(ctx, LOCAL, SOURCE, REALISM, seed=2)
        apply_protocol(ctx, scope(ctx, LOCAL, REALISM), realism_protocol())
        sim = simulate_readers(ctx, LOCAL, REALISM, 3, seed=8)
        files = export_report(ctx, LOCAL, REALISM, root / "out")
        source_data = collect_report_data(ctx, LOCAL, SOURCE)
        with ctx.uow(read=True) as uow:
            s = uow.studies.by_name(REALISM)
            origins = {c.pseudonym: parse_origin(c.source_ref) for c in uow.cases.list(s.id)}
    finally:
        ctx.close()
    doc = json.loads(files.json.read_text())
    return {"sim": sim, "csv": pd.read_csv(files.csv), "tables": doc["tables"]["realism"], "origins": origins,
            "html": files.html.read_text(encoding="utf-8"), "source": source_data, "pdf": files.pdf}


def _delong_ci(y: np.ndarray, s: np.ndarray) -> tuple[float, float]:
    """DeLong (1988) variance by its definition (placements with ties 1/2), Wald 95 % CI clipped to [0, 1]."""
    pos, neg = s[y == 1], s[y == 0]
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    auc = psi.mean()
    var = psi.mean(axis=1).var(ddof=1) / len(pos) + psi.mean(axis=0).var(ddof=1) / len(neg)
    z = sps.norm.ppf(0.975)
    return max(0.0, auc - z * np.sqrt(var)), min(1.0, auc + z * np.sqrt(var))


def test_simulated_readers_answer_the_realism_form(report):
    csv = report["csv"]
    assert report["sim"].reads == len(csv) == 3 * 18 and csv["case"].nunique() == 18
    assert csv["answer_realism"].between(1, 5).all() and csv["answer_realism"].nunique() >= 3
    # realism runs against "probably synthetic"
    assert csv["answer_realism"].corr(csv["probability"], method="spearman") < -0.8
    # reads.csv (the coordinator's) names each read's origin, class and generator, as the truth says
    assert (csv["truth"] == (csv["origin"] == "synthetic").astype(int)).all()
    assert set(csv["origin_generator"]) == {GEN_A[:12], GEN_B[:12]} and set(csv["origin_class"]) == {0, 1}
    assert all(report["origins"][c]["generator"] == g for c, g in zip(csv["case"], csv["origin_generator"],
                                                                     strict=True))


def test_accuracy_wilson_and_delong_auc_per_reader(report):
    telling, _, _ = report["tables"]
    assert telling["title"].startswith("Telling real from synthetic")
    csv = report["csv"]
    assert len(telling["rows"]) == 3
    for row in telling["rows"]:
        g = csv[csv["reader"] == row["reader"]]
        y, call, p = g["truth"].to_numpy(int), g["binary"].to_numpy(int), g["probability"].to_numpy(float)
        assert (row["n"], row["n_synthetic"], row["n_real"]) == (18, 12, 6)
        assert y.sum() == 12 and all((report["origins"][c]["origin"] == "synthetic") == t
                                     for c, t in zip(g["case"], y, strict=True))
        for key, sel, hit in (("accuracy", np.ones_like(y, bool), call == y), ("synthetic_called", y == 1, call == 1),
                              ("real_called", y == 0, call == 0)):
            k, n = int(hit[sel].sum()), int(sel.sum())
            lo, hi = proportion_confint(k, n, alpha=0.05, method="wilson")
            cell = row[key]
            assert (cell["numerator"], cell["denominator"]) == (k, n)
            assert cell["value"] == pytest.approx(k / n) and cell["ci_low"] == pytest.approx(lo, abs=1e-9)
            assert cell["ci_high"] == pytest.approx(hi, abs=1e-9)
        assert row["auc"]["value"] == pytest.approx(roc_auc_score(y, p))
        lo, hi = _delong_ci(y, p)
        assert (row["auc"]["ci_low"], row["auc"]["ci_high"]) == (pytest.approx(lo), pytest.approx(hi))
    assert np.mean([r["auc"]["value"] for r in telling["rows"]]) > 0.7  # the simulated readers tell them apart


def test_realism_by_origin_generator_and_class_over_images(report):
    _, realism, _ = report["tables"]
    assert "clearly synthetic" in realism["title"] and "indistinguishable" in realism["title"]
    csv = report["csv"]
    per_image = csv.groupby("case")["answer_realism"].mean()
    o = pd.DataFrame(report["origins"]).T.loc[per_image.index]
    rows = {(r["group"], r["subgroup"], r["origin"]): r for r in realism["rows"]}

    def check(key, sel):
        x = per_image[sel].to_numpy(float)
        half = sps.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x))
        r = rows[key]
        assert r["images"] == len(x) and r["n"] == 3 * len(x)
        assert r["mean"]["value"] == pytest.approx(x.mean())
        assert (r["mean"]["ci_low"], r["mean"]["ci_high"]) == (pytest.approx(max(1, x.mean() - half)),
                                                               pytest.approx(min(5, x.mean() + half)))

    for origin in ("real", "synthetic"):
        check(("all images", "–", origin), (o["origin"] == origin).to_numpy())
        for cls, text in ((0, "0 (benign)"), (1, "1 (malignant)")):
            check(("class", text, origin), ((o["origin"] == origin) & (o["class_label"] == cls)).to_numpy())
    check(("generator", GEN_A[:12], "synthetic"), ((o["origin"] == "synthetic") & (o["generator"] == GEN_A[:12])).to_numpy())
    check(("generator", GEN_B[:12], "synthetic"), ((o["origin"] == "synthetic") & (o["generator"] == GEN_B[:12])).to_numpy())
    check(("generator", GEN_A[:12], "real"), (o["origin"] == "real").to_numpy())
    assert ("generator", GEN_B[:12], "real") not in rows  # real images are kept under their first generator
    assert len(rows) == 2 + 3 + 4
    assert rows[("all images", "–", "real")]["mean"]["value"] > rows[("all images", "–", "synthetic")]["mean"]["value"]


def test_fleiss_kappa_between_readers(report):
    _, _, agreement = report["tables"]
    csv = report["csv"]
    by = {r["answer"]: r for r in agreement["rows"]}
    for answer, col in (("real/synthetic call", "binary"), ("realism (realism)", "answer_realism")):
        wide = csv.pivot_table(index="case", columns="reader", values=col, aggfunc="first").to_numpy()
        counts, _ = aggregate_raters(wide)
        expected = fleiss_kappa(counts, method="fleiss")
        assert by[answer]["kappa"]["value"] == pytest.approx(expected)
        assert (by[answer]["raters"], by[answer]["n"]) == (3, 18)


def test_the_section_is_in_the_html_and_pdf_and_only_for_realism_studies(report):
    html = report["html"]
    assert "Real or synthetic? (visual Turing test)" in html and "Synthetic called synthetic" in html
    assert "Chuquicusma" in html and "truth 1 = synthetic image" in html
    assert "more likely malignant" not in html and "positive (malignant)" not in html  # realism conventions
    assert "Positive = synthetic (truth 1)" in html and "Positive = malignant" not in html
    assert "12 synthetic, 6 real" in html and "stored by the realism-study builder" in html
    pdf = "\n".join(p.extract_text() for p in PdfReader(str(report["pdf"])).pages)
    assert "Real or synthetic?" in pdf and "Telling real from synthetic images" in pdf
    data = report["source"]  # the source study: no origins, no section
    assert data.origins is None
    tables = build_tables(data)
    assert tables["realism"] == []
    spec = next(s for s in SECTIONS if s.key == "realism")
    assert spec.build(ReportParts(data, ReportOptions(), tables, {})) is None
