"""The BUSI demo asks BI-RADS: simulated readers answer it, reads.csv carries it, the report shows its agreement."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from pypdf import PdfReader
from sklearn.metrics import cohen_kappa_score

from readerstudy.core.questions import BIRADS_CATEGORIES
from readerstudy.services.auth import local_session
from readerstudy.services.context import open_context
from readerstudy.services.demo import BUSI_STUDY
from readerstudy.services.reporting import export_report
from readerstudy.services.simulate import BIRADS_CUTS, simulate_readers

LOCAL = local_session("test")
ARMS = ("unaided", "AI-aided (pre-AI)", "AI-aided")


@pytest.fixture(scope="module")
def demo_report(fresh_demo_db, copy_db, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN001, ANN201
    root = tmp_path_factory.mktemp("birads")
    ctx = open_context(copy_db(fresh_demo_db, root))
    try:
        sim = simulate_readers(ctx, LOCAL, BUSI_STUDY, 3, seed=4)
        files = export_report(ctx, LOCAL, BUSI_STUDY, root / "out")
    finally:
        ctx.close()
    return {"sim": sim, "csv": pd.read_csv(files.csv, dtype={"answer_birads": str}),
            "json": json.loads(files.json.read_text()), "html": files.html.read_text(encoding="utf-8"),
            "pdf": "\n".join(p.extract_text() for p in PdfReader(str(files.pdf)).pages)}


def test_every_simulated_read_answers_birads_plausibly(demo_report):
    reads = demo_report["csv"][demo_report["csv"]["arm"].isin(ARMS)]
    assert len(reads) == demo_report["sim"].reads == 711
    assert reads["answer_birads"].isin(BIRADS_CATEGORIES).all() and (reads["answers_schema"] == 1).all()
    assert reads["answer_birads"].nunique() >= 5  # the readers use the scale, not one category
    rank = {c: i for i, c in enumerate(BIRADS_CATEGORIES)}
    score = reads["answer_birads"].map(rank)
    assert score.corr(reads["probability"], method="spearman") > 0.8  # follows the reader's probability
    assert score[reads["truth"] == 1].mean() > score[reads["truth"] == 0].mean() + 0.5  # carries the truth
    assert [cat for _, cat in BIRADS_CUTS] == ["1", "2", "3", "4a", "4b", "4c", "5"]


def test_birads_agreement_in_the_report_equals_sklearn_weighted_kappa(demo_report):
    (table,) = demo_report["json"]["tables"]["questions"]
    assert table["question"] == "birads" and table["columns"][-3:] == ["kappa", "kappa_linear", "kappa_quadratic"]
    assert len(table["rows"]) == 3 * 3  # three reader pairs in each of three arms
    csv = demo_report["csv"]
    for row in table["rows"]:
        wide = csv[csv["arm"] == row["arm"]].pivot_table(index="case", columns="reader", values="answer_birads",
                                                         aggfunc="first")
        both = wide[[row["a"], row["b"]]].dropna()
        assert row["n"] == len(both) == 79
        for key, weights in (("kappa", None), ("kappa_linear", "linear"), ("kappa_quadratic", "quadratic")):
            expected = cohen_kappa_score(both[row["a"]], both[row["b"]], labels=list(BIRADS_CATEGORIES),
                                         weights=weights)
            assert row[key]["value"] == pytest.approx(expected, abs=1e-12)
            assert row[key]["ci_low"] < row[key]["value"] < row[key]["ci_high"]


def test_the_report_shows_the_birads_section_and_cites_its_methods(demo_report):
    html, pdf = demo_report["html"], demo_report["pdf"]
    assert 'id="sec-ordinal"' in html and "Agreement on &#39;BI-RADS assessment&#39;" in html
    assert "Quadratic weighted κ" in html and "Cohen J. Weighted kappa" in html and "ACR BI-RADS Atlas" in html
    assert "Agreement on the study-defined questions (BI-RADS)" in pdf and "Linear weighted" in pdf

