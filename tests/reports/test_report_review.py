"""What a statistician's review of the demo report found, each as the value the report must show.

A model that calls every case negative (the shipped demo model's probabilities run 8-17 %), a
senior consensus of one senior reader, a reference that is no reader, McNemar's counts in a text
column, an empty corrections listing and "p = <0.001".
"""

from __future__ import annotations

import re

import pytest
from simreads import MODEL_NAME

from readerstudy.core.errors import ValidationError
from readerstudy.reports import na as NA
from readerstudy.reports.build import constant_callers, write_report
from readerstudy.reports.document import ReportOptions, build_tables
from readerstudy.reports.format import display_table, p_text
from readerstudy.reports.render import _environment
from readerstudy.reports.tables import corrections_table
from readerstudy.services.demo import DemoSummary


@pytest.fixture(scope="module")
def all_negative_model(sim_data):  # noqa: ANN201
    """The simulated demo with the model's probabilities squeezed below 50 (every call negative)."""
    t = sim_data.table.copy()
    model = t["seniority"] == "model"
    t.loc[model, "probability"] = 8.0 + 0.1 * t.loc[model, "probability"]
    t.loc[model, "binary"] = 0
    return sim_data.with_table(t)


def test_kappa_with_a_constant_rater_is_zero_without_a_ci(all_negative_model, tmp_path):
    tables = build_tables(all_negative_model)
    k = tables["kappa_by_arm"]["unaided"]
    assert k["constant"] == [MODEL_NAME]
    with_model = [p for p in k["rows"] if MODEL_NAME in (p["a"], p["b"])]
    assert len(with_model) == 3
    for p in with_model:
        assert p["kappa"] == {"value": 0.0, "ci_low": None, "ci_high": None, "ci_na": NA.CONSTANT_RATER}
        assert p["p_value"] == {"na": NA.CONSTANT_RATER}
    others = [p for p in k["rows"] if MODEL_NAME not in (p["a"], p["b"])]
    assert all(p["kappa"]["ci_low"] < p["kappa"]["value"] < p["kappa"]["ci_high"] for p in others)
    html = write_report(all_negative_model, tmp_path, pdf=False).html.read_text(encoding="utf-8")
    assert "no CI*" in html and f"* No CI: {MODEL_NAME} made the same call on every case of this arm" in html
    assert "0.000–0.000" not in html  # the zero-width interval the formula gives is not printed


def test_the_summary_cautions_about_a_model_that_calls_every_case_negative(all_negative_model, sim_data, tmp_path):
    cautions = constant_callers(all_negative_model)
    assert len(cautions) == 1 and cautions[0].startswith(f"{MODEL_NAME} called every one of its 79 cases negative")
    assert "judge it by its AUC" in cautions[0]
    assert constant_callers(sim_data) == []  # the simulated readers and model call both ways
    html = write_report(all_negative_model, tmp_path, pdf=False).html.read_text(encoding="utf-8")
    assert html.index("<b>Caution.</b>") < html.index("Statistical methods")


def test_a_consensus_of_one_senior_reader_is_not_compared_with_that_reader(sim_data):
    tables = build_tables(sim_data, ReportOptions(reference="senior-consensus"))
    assert tables["reference"] == "Senior consensus"
    assert "the only senior reader is Senior radiologist" in tables["reference_how"]
    assert "its members are not compared with it" in tables["reference_how"]
    for key in ("mcnemar", "delong"):
        compared = {r["reader"] for r in tables[key]["rows"]}
        assert compared == {"Mid-level radiologist", "Junior radiologist", MODEL_NAME}, key


def test_a_named_reference_is_matched_regardless_of_case(sim_data):
    tables = build_tables(sim_data, ReportOptions(reference="junior RADIOLOGIST"))
    assert tables["reference"] == "Junior radiologist" and tables["reference_how"] == "named in the export"
    assert "Junior radiologist" not in {r["reader"] for r in tables["mcnemar"]["rows"]}


@pytest.mark.parametrize(("reference", "arm", "message"), [
    ("Dr Nobody", None, "name one of: DemoNet, Junior radiologist, Late reader, Mid-level radiologist, "
                        "Senior radiologist; or 'model' or 'senior-consensus'."),
    ("  ", None, "The reference is empty"),
    (None, "aided", "arms with reads: unaided, AI-aided (pre-AI), AI-aided"),
])
def test_a_bad_reference_or_arm_creates_nothing(sim_data, tmp_path, reference, arm, message):
    out = tmp_path / "new" / "report"
    with pytest.raises(ValidationError, match=re.escape(message)):
        write_report(sim_data, out, ReportOptions(arm=arm, reference=reference), pdf=False)
    assert not (tmp_path / "new").exists()


def test_mcnemar_counts_are_numbers_in_numeric_columns(sim_data):
    d = display_table(build_tables(sim_data)["mcnemar"])
    cols = dict(zip(build_tables(sim_data)["mcnemar"]["columns"], d.numeric, strict=True))
    assert cols["b"] and cols["c"] and cols["n"] and not cols["reader"]
    b = d.rows[0][list(cols).index("b")]
    assert b.numeric and b.text.isdigit()
    pairs = display_table(build_tables(sim_data)["kappa_by_arm"]["unaided"], ["a", "b", "kappa"])
    assert pairs.numeric == [False, False, True]  # the kappa pairs' "b" is a rater's name


def test_an_empty_corrections_listing_says_none():
    macros = _environment().get_template("macros.html.j2").module
    t = corrections_table(None)
    html = str(macros.data_table({"t": t, "d": display_table(t)}))
    assert "None: no read has been corrected." in html and "<table>" not in html


@pytest.mark.parametrize(("p", "text"), [(0.0871, "p = 0.087"), (0.0004, "p < 0.001"), (None, "p n/a"),
                                         ({"na": "why"}, "p n/a"), (1.0, "p = 1.000")])
def test_p_values_in_running_text(p, text):
    assert p_text(p) == text


def test_the_demo_summary_counts_in_words():
    s = DemoSummary(studies={"Phantom": {"cases": 6, "positives": 3, "masks": 6, "readers": 2, "annotators": 1,
                                         "coordinators": 1, "arms": 1, "assignments": 2}})
    assert s.lines() == ["Phantom: 6 cases (3 positive), 6 masks, 2 readers, 1 annotator, 1 coordinator, 1 arm, "
                         "2 reading assignments"]
