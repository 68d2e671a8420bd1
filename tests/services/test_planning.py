"""Study planning from a pilot study of the database, through the service and the ``plan`` CLI."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import pytest

from readerstudy.cli.app import main
from readerstudy.core.errors import ValidationError
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
