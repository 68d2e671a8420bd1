"""Study planning from a pilot study of the database, through the service and the ``plan`` CLI."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import pytest

from readerstudy.cli.app import main
from readerstudy.core.errors import ValidationError
from readerstudy.reports.mrmc_tables import mrmc_plan, mrmc_table
from readerstudy.services import planning
from readerstudy.services.auth import local_session
from readerstudy.services.context import open_context
from readerstudy.services.demo import BUSI_STUDY
from readerstudy.services.report_data import collect_report_data
from readerstudy.stats import mrmc_or, mrmc_power

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reports"))
from simreads import simulate_demo  # noqa: E402

LOCAL = local_session("test")  # the CLI's local coordinator session (reaches every study)


@pytest.fixture(scope="module")
def pilot_db(copy_demo, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pilot")
    db = copy_demo(root)
    ctx = open_context(db)
    simulate_demo(ctx, seed=5, late_reader=False)
    ctx.close()
    return db


def test_pilot_arms_start_with_the_primary_comparison(pilot_db: Path) -> None:
    # the Planning page lists pairs in this order: its first pair is what `readerstudy plan` compares by default
    ctx = open_context(pilot_db)
    try:
        arms = planning.pilot_arms(ctx, LOCAL, BUSI_STUDY)
    finally:
        ctx.close()
    assert arms == ["unaided", "AI-aided", "AI-aided (pre-AI)"]


def test_pilot_components_are_the_mrmc_of_the_two_arms(pilot_db: Path) -> None:
    ctx = open_context(pilot_db)
    try:
        arms = planning.pilot_arms(ctx, LOCAL, BUSI_STUDY)
        comps, source = planning.pilot_components(ctx, LOCAL, BUSI_STUDY, arms[:2])
        t = collect_report_data(ctx, LOCAL, BUSI_STUDY).table
    finally:
        ctx.close()
    sub = t[t["arm"].isin(arms[:2]) & (t["seniority"] != "model")]
    direct = mrmc_or(pd.DataFrame({"reader": sub["reader"], "test": sub["arm"], "case": sub["case"],
                                   "truth": sub["truth"].astype(int), "score": sub["probability"]}))
    assert (comps.var_TR, comps.var_error, comps.cov1, comps.cov2, comps.cov3) == (
        direct.var_TR, direct.var_error, direct.cov1, direct.cov2, direct.cov3)
    assert comps.n_cases == 79 and comps.n_readers == 3 and str(arms[0]) in source
    plan = planning.make_plan(comps, source, effect=0.05, readers=[3, 6], cases=[79, 200])
    assert plan.grid["power"][1][1] == mrmc_power(0.05, 6, 200, comps).power
    for need in plan.needed:
        if need.cases is not None:
            assert need.power >= 0.8 > mrmc_power(0.05, need.readers, need.cases - 1, comps).power
    ctx = open_context(pilot_db)
    try:
        with pytest.raises(ValidationError, match="choose from"):
            planning.pilot_components(ctx, LOCAL, BUSI_STUDY, ["unaided", "nope"])
    finally:
        ctx.close()


def test_plan_cli_from_entered_components_reproduces_rjafroc(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # Van Dyke OR components (OR-DBM MRMC 2.51), effect 0.0438003: RJafroc vignette K = 251 for
    # 6 readers and 163 for 10 (see tests/stats/test_stats_power.py)
    comps = "var_TR=0.000200402,var_error=0.000802288,cov1=0.000346609,cov2=0.000344066,cov3=0.000239034,n_cases=114"
    out = tmp_path / "plan.json"
    assert main(["plan", "--components", comps, "--effect", "0.0438003", "--readers", "6", "10",
                 "--cases", "100", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert " 6 readers: 251 cases" in text and " 10 readers: 163 cases" in text
    saved = json.loads(out.read_text())
    assert [n["cases"] for n in saved["needed"]] == [251, 163]


@pytest.mark.parametrize("args", [
    ["plan", "--components", "var_TR=0.1"],  # incomplete components
    ["plan", "--components", "var_TR=x,var_error=1,cov1=0,cov2=0,cov3=0,n_cases=5", "--effect", "0.05"],
    ["plan", "--components", "var_TR=0,var_error=0.001,cov1=0,cov2=0,cov3=0,n_cases=50"],  # no effect given
    ["plan", "--components", "var_TR=0,var_error=0.001,cov1=0,cov2=0,cov3=0,n_cases=50", "--effect", "0.05",
     "--readers", "1"],
])
def test_plan_cli_bad_input_exits_3(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(args) == 3
    err = capsys.readouterr().err
    assert err.startswith("readerstudy: error: ") and "Traceback" not in err


VD = "var_TR=0.000200402,var_error=0.000802288,cov1=0.000346609,cov2=0.000344066,cov3=0.000239034"


def test_default_comparison_is_the_reports_primary_one(pilot_db: Path) -> None:
    # the report's MRMC section: "unaided vs AI-aided" (the AI-aided arm's final read), unaided - AI-aided;
    # it used to be the first two arms read ("unaided", "AI-aided (pre-AI)"), printed in stats order
    ctx = open_context(pilot_db)
    try:
        data = collect_report_data(ctx, LOCAL, BUSI_STUDY)
        comps, source = planning.pilot_components(ctx, LOCAL, BUSI_STUDY)
        given, _ = planning.pilot_components(ctx, LOCAL, BUSI_STUDY, ["AI-aided", "unaided"])
    finally:
        ctx.close()
    label, a, b = mrmc_plan(data, None)[0]
    assert (label, a, b) == ("unaided vs AI-aided", "unaided", "AI-aided")
    assert comps.tests == (a, b) and f": {label} (" in source
    table = mrmc_table(data, label, a, b)
    assert comps.aucs == pytest.approx((float(table["auc"][a]), float(table["auc"][b])), abs=5e-5)
    assert comps.effect == pytest.approx(float(table["difference"]["value"]), abs=5e-5)
    assert given.tests == (b, a) and given.effect == -comps.effect and given.var_TR == comps.var_TR


@pytest.mark.parametrize("arms", [["unaided", "AI-aided"], ["AI-aided", "unaided"]])
def test_plan_cli_prints_the_arms_in_the_order_given(arms: list[str], pilot_db: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--db", str(pilot_db), "--study", BUSI_STUDY, "--arms", *arms, "--effect", "0.05",
                 "--readers", "3", "--cases", "100"]) == 0
    text = capsys.readouterr().out
    assert f": {arms[0]} vs {arms[1]} (3 readers" in text and f"Pilot AUCs: {arms[0]} " in text


def test_plan_cli_says_which_negative_estimates_are_set_to_zero(capsys: pytest.CaptureFixture[str],
                                                               tmp_path: Path) -> None:
    comps = "var_TR=-0.00018,var_error=0.0008,cov1=0.0003,cov2=0.0001,cov3=0.0002,n_cases=100"
    out = tmp_path / "plan.json"
    assert main(["plan", "--components", comps, "--effect", "0.05", "--readers", "6", "--cases", "100",
                 "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "var(TR)     = -0.00018 (negative estimate: set to 0 for the power calculation, Hillis 2011)" in text
    assert "cov2 - cov3 = -0.0001 (negative: set to 0 for the power calculation, Hillis 2011)" in text
    assert "var(error)  = 0.0008\n" in text  # the others as estimated, without a note
    saved = json.loads(out.read_text())
    assert saved["set_to_zero"] == {"var_TR": -0.00018, "cov2 - cov3": pytest.approx(-0.0001)}
    zero = planning.parse_components(comps.replace("var_TR=-0.00018", "var_TR=0").replace("cov3=0.0002", "cov3=0.0001"))
    assert saved["grid"]["power"][0][0] == pytest.approx(mrmc_power(0.05, 6, 100, zero).power, rel=1e-12)


def test_a_negative_effect_is_powered_by_its_size_with_a_note(capsys: pytest.CaptureFixture[str]) -> None:
    comps = planning.parse_components(VD + ",n_cases=114")
    neg = planning.make_plan(comps, "entered", effect=-0.0438003, readers=[6, 10], cases=[100])
    pos = planning.make_plan(comps, "entered", effect=0.0438003, readers=[6, 10], cases=[100])
    assert neg.effect == pos.effect == 0.0438003 and neg.grid == pos.grid and neg.needed == pos.needed
    assert neg.notes == ("power is two-sided; |effect| used (the effect given = -0.0438)",) and pos.notes == ()
    assert main(["plan", "--components", VD + ",n_cases=114", "--effect", "-0.0438003", "--readers", "6"]) == 0
    text = capsys.readouterr().out
    assert "Effect (AUC difference) 0.0438," in text and "Note: power is two-sided; |effect| used" in text
    assert " 6 readers: 251 cases" in text  # the RJafroc number, as for +0.0438


def test_entered_aucs_give_the_observed_effect() -> None:
    comps = planning.parse_components(VD + ",n_cases=114,auc1=0.897,auc2=0.941")
    assert comps.aucs == (0.897, 0.941) and comps.effect == pytest.approx(-0.044)
    plan = planning.make_plan(comps, "entered", effect=None, readers=[6], cases=[100])
    assert plan.effect == pytest.approx(0.044) and "|effect| used" in plan.notes[0]


@pytest.mark.parametrize(("args", "message"), [
    (["--components", VD + ",n_cases=114", "--effect", "1.5"], r"0 < |effect| < 1"),
    (["--components", VD + ",n_cases=114", "--effect", "-1"], r"0 < |effect| < 1"),
    (["--components", VD + ",n_cases=114", "--effect", "nan"], r"0 < |effect| < 1"),
    (["--components", VD + ",n_cases=114", "--effect", "0.05", "--cases", "3"], "cases must be a whole number >= 10"),
    (["--components", VD + ",n_cases=5", "--effect", "0.05"], "The pilot needs at least 10 cases"),
    (["--components", VD + ",n_cases=114,auc1=0.9,auc2=1.2"], "A pilot AUC must lie in [0, 1], got 1.2"),
    (["--components", VD + ",n_cases=114,auc1=0.9", "--effect", "0.05"], "auc1 and auc2"),
    (["--components", VD.replace("var_TR=0.000200402", "var_TR=inf") + ",n_cases=114", "--effect", "0.05"],
     "var_TR must be a finite number"),
    (["--components", VD.replace("cov1=0.000346609", "cov1=0.00346609") + ",n_cases=114", "--effect", "0.05"],
     "|cov1| = 0.00346609 exceeds var_error"),
    (["--components", VD + ",n_cases=nan", "--effect", "0.05"], "n_cases (cases of the pilot) must be a whole"),
])  # fmt: skip
def test_plan_cli_refuses_impossible_input_in_one_line(args: list[str], message: str, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "plan.json"
    assert main(["plan", *args, "--json", str(out)]) == 3
    captured = capsys.readouterr()
    assert captured.err.startswith("readerstudy: error: ") and captured.err.count("\n") == 1
    assert message in captured.err and captured.out == "" and not out.exists()  # nothing printed or written


def test_plan_cli_refuses_too_few_cases_for_a_study_pilot(pilot_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = pilot_db.read_bytes()
    assert main(["plan", "--db", str(pilot_db), "--study", BUSI_STUDY, "--effect", "1.5"]) == 3
    assert main(["plan", "--db", str(pilot_db), "--study", BUSI_STUDY, "--cases", "3"]) == 3
    err = capsys.readouterr().err
    assert "0 < |effect| < 1" in err and "cases must be a whole number >= 10" in err
    assert pilot_db.read_bytes() == before  # the pilot's database is not changed
