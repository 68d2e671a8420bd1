"""The coordinator's Planning tab: pilot from the study's reads (background) or entered components."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

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
    w.effect.setText("0.044")
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
    assert w.arms.count() == 3 and w.arms.currentData() == ["unaided", "AI-aided"]  # as `readerstudy plan`
    w.from_study.setChecked(True)
    w.effect.clear()  # blank: "observed in the pilot"
    w.compute()
    qtbot.waitUntil(lambda: not w.busy and w.plan is not None, timeout=30000)
    assert w.error.text() == "" and "study" in w.plan.source and "(observed in the pilot)" in w.summary.text()
    assert w.plan.effect == pytest.approx(abs(w.plan.components.effect))
    assert w.table.rowCount() == len(w.plan.grid["readers"])


def _readme_example() -> tuple[list[str], dict[int, int]]:
    """The README's ``readerstudy plan`` example (its arguments) and the cases it says it prints."""
    import re
    import shlex

    text = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    command = re.search(r"^readerstudy (plan --components .+)$", text, re.MULTILINE).group(1)
    figures = re.search(r"(\d+) cases for (\d+) readers and (\d+) for (\d+)", text)
    a, r1, b, r2 = (int(v) for v in figures.groups())
    return shlex.split(command), {r1: a, r2: b}


def _type(qtbot, edit, text: str) -> None:  # noqa: ANN001
    edit.selectAll()
    qtbot.keyClick(edit, Qt.Key.Key_Delete)
    qtbot.keyClicks(edit, text)


def _needed(w: PlanningWidget) -> dict[int, int | str]:
    """Readers -> cases needed (or the cell's text, e.g. "more than 5000")."""
    cells = {int(w.needed.item(i, 0).text()): w.needed.item(i, 1).text() for i in range(w.needed.rowCount())}
    return {r: int(t.split()[0]) if t.split()[0].isdigit() else t for r, t in cells.items()}


def test_the_tab_gives_the_cases_the_plan_command_prints_for_the_readme_example(widget, qtbot, tmp_path) -> None:  # noqa: ANN001
    """Typed 0.0438 was rounded to 0.044 and the pre-filled components to 2 digits: 259 / 164 cases
    where ``readerstudy plan`` (and the README) give 251 / 163."""
    from readerstudy.cli.app import main

    args, readme = _readme_example()
    opts = dict(zip(args[1::2], args[2::2], strict=False))
    w = widget()
    assert w.entered.isChecked() and w.components.text() == opts["--components"]  # pre-filled, to full precision
    _type(qtbot, w.effect, opts["--effect"])
    _type(qtbot, w.readers, "6 10")
    qtbot.mouseClick(w.compute_button, Qt.MouseButton.LeftButton)
    assert w.error.text() == "" and w.plan.effect == float(opts["--effect"])
    assert "Effect 0.0438 " in w.summary.text() and "var_TR 0.000200402" in w.summary.text()
    out = tmp_path / "plan.json"
    assert main([*args, "--json", str(out)]) == 0
    cli = {n["readers"]: n["cases"] for n in json.loads(out.read_text())["needed"]}
    assert _needed(w) == cli == readme == {6: 251, 10: 163}


def test_a_negative_effect_is_taken_as_its_size_and_says_so(widget, qtbot) -> None:  # noqa: ANN001
    w = widget()
    _type(qtbot, w.effect, "-0.05")
    assert w.effect.text() == "-0.05"  # shown as typed (the spin box showed "-0.0", then "observed in the pilot")
    w.compute()
    assert w.error.text() == "" and w.plan.effect == 0.05
    assert "Effect -0.05 taken as its size 0.05" in w.summary.text()
    positive = _needed(w)
    _type(qtbot, w.effect, "0.05")
    w.compute()
    assert _needed(w) == positive and "taken as its size" not in w.summary.text()


@pytest.mark.parametrize(("field", "text", "message"), [
    ("effect", "0,05x", "is not a number"),
    ("effect", "1.5", "is not an AUC difference"),
    ("effect", "0", "effect size is 0"),
    ("readers", "6, x", "whole numbers"),
    ("components", "var_TR=0.0002", "Missing variance component"),
])
def test_an_input_error_clears_the_previous_results(widget, qtbot, field: str, text: str, message: str) -> None:  # noqa: ANN001
    w = widget()
    w.compute()
    assert w.plan is not None and w.table.rowCount() > 0 and w.results.currentIndex() == 1
    _type(qtbot, getattr(w, field), text)
    assert w.stale and "inputs changed" in w.summary.text()  # edited: the results no longer match
    w.compute()
    assert message in w.error.text()
    assert w.plan is None and w.table.rowCount() == 0 and w.needed.rowCount() == 0 and w.summary.text() == ""
    assert w.plot.getPlotItem().listDataItems() == [] and w.results.currentWidget() is w.placeholder


def test_before_the_first_computation_a_placeholder_not_an_empty_chart(widget, qtbot) -> None:  # noqa: ANN001
    w = widget()
    w.resize(1440, 860)
    w.show()
    qtbot.waitExposed(w)
    assert w.results.currentWidget() is w.placeholder and w.placeholder.isVisible() and not w.plot.isVisible()
    assert "Compute power" in w.placeholder.text()
    w.compute()
    assert w.plot.isVisible() and not w.placeholder.isVisible()


def test_column_headers_are_not_clipped(widget, qtbot) -> None:  # noqa: ANN001
    w = widget()
    w.resize(1440, 860)  # the tab in a 1440 x 900 coordinator window
    w.show()
    qtbot.waitExposed(w)
    for computed in (False, True):  # empty, then filled
        for t in (w.needed, w.table):
            h = t.horizontalHeader()
            for j in range(t.columnCount()):
                assert h.sectionSize(j) >= h.sectionSizeHint(j), (computed, t.horizontalHeaderItem(j).text())
            assert h.length() <= t.viewport().width() or t is w.table
        w.compute()
        qtbot.wait(10)
