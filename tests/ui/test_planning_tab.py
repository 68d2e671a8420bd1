"""The coordinator's Planning tab: pilot from the study's reads (background) or entered components."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from readerstudy.services.auth import system_session
from readerstudy.services.demo import BUSI_STUDY
from readerstudy.services.planning import parse_components
from readerstudy.stats import cases_for_power, mrmc_power
from readerstudy.ui.coordinator.planning import PlanningWidget

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reports"))
from simreads import simulate_demo  # noqa: E402

VD = "var_TR=0.000200402,var_error=0.000802288,cov1=0.000346609,cov2=0.000344066,cov3=0.000239034,n_cases=114"


@pytest.fixture
def widget(demo_ctx, qtbot):  # noqa: ANN001, ANN201
    def make() -> PlanningWidget:
        w = PlanningWidget(demo_ctx, system_session(demo_ctx, BUSI_STUDY, actor="test"))
        qtbot.addWidget(w)
        return w
    return make


def test_entered_components_fill_table_plot_and_cases_needed(widget) -> None:  # noqa: ANN001
    w = widget()
    assert w.entered.isChecked()  # a demo study without reads has no pilot yet
    w.components.setText(VD)
    w.effect.setValue(0.044)
    w.readers.setText("6 10")
    w.cases.setText("100 163 251")
    w.compute()
    comps = parse_components(VD)
    assert w.table.rowCount() == 2 and w.table.columnCount() == 3
    assert w.table.item(1, 1).text() == f"{mrmc_power(0.044, 10, 163, comps).power:.3f}"
    assert w.needed.item(0, 1).text().startswith(f"{cases_for_power(0.044, 6, comps).cases} ")
    assert len(w.plot.getPlotItem().listDataItems()) == 2
    w.readers.setText("6, x")
    w.compute()
    assert "whole numbers" in w.error.text()


def test_pilot_from_the_study_runs_in_the_background(demo_ctx, widget, qtbot) -> None:  # noqa: ANN001
    simulate_demo(demo_ctx, seed=3, late_reader=False)
    w = widget()
    assert w.arms.count() >= 1 and w.arms.currentData() is not None
    w.from_study.setChecked(True)
    w.effect.setValue(0.0)  # "observed in the pilot"
    w.compute()
    qtbot.waitUntil(lambda: not w.busy and w.plan is not None, timeout=30000)
    assert w.error.text() == "" and "study" in w.plan.source
    assert w.plan.effect == pytest.approx(abs(w.plan.components.effect))
    assert w.table.rowCount() == len(w.plan.grid["readers"])
