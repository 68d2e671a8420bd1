"""The coordinator dashboard widget on the demo study read by seeded simulated readers.

Expected numbers are re-derived from the report's own missing-read table
(:func:`readerstudy.services.report_data.collect_report_data`), not from the dashboard service.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from readerstudy.core.errors import PermissionDenied
from readerstudy.core.reading import ManualClock, ReadingState
from readerstudy.services.auth import local_session, sign_in, system_session
from readerstudy.services.context import open_context
from readerstudy.services.dashboard import dashboard_data
from readerstudy.services.demo import BUSI_STUDY
from readerstudy.services.reading import ReadingService
from readerstudy.services.report_data import PRE_AI_SUFFIX, collect_report_data
from readerstudy.ui.coordinator.dashboard import DashboardWidget

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reports"))
from simreads import simulate_demo  # noqa: E402

FIGURES = {"roc", "kappa", "forest", "ai_flow", "reading_time", "decision_curve", "calibration"}
LATE = "Late reader"


LOCAL = local_session("test")  # the CLI's local coordinator session (reaches every study)


def read_some(ctx, name: str, seconds: list[float], *, last_aided: bool = True) -> None:
    """``name`` reads len(seconds) cases through the reading service, each read taking that long.

    ``last_aided=False`` stops the last case of a sequential arm after its unaided read.
    """
    clock = ManualClock()
    svc = ReadingService(ctx, sign_in(ctx, BUSI_STUDY, name, "0000", now=clock.now), clock=clock.monotonic_ns,
                         wall_clock=clock.now, prefetch=False)
    try:
        flow = svc.open()
        for i, s in enumerate(seconds):
            assert svc.start_case() is not None
            svc.display()
            if flow.state == ReadingState.DISPLAYED:
                clock.advance(s)
                svc.submit(70.0, 1, 3, {"window": None, "zoom": 1.0})
            if flow.state == ReadingState.UNAIDED_LOCKED and (last_aided or i < len(seconds) - 1):
                svc.reveal_ai()
                clock.advance(s)
                svc.submit(70.0, 1, 3, {"window": None, "zoom": 1.0})
    finally:
        svc.close()


@pytest.fixture(scope="module")
def study(copy_demo, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """Simulated demo study: everyone done but a late reader who read 3 cases (one in 1 s) and
    the unaided read only of a 4th (not done: the aided read is the final one)."""
    root = tmp_path_factory.mktemp("dash")
    ctx = open_context(copy_demo(root))
    simulate_demo(ctx, seed=5)
    read_some(ctx, LATE, [1.0, 30.0, 35.0, 28.0], last_aided=False)
    yield ctx
    ctx.close()


@pytest.fixture
def coordinator(study):  # noqa: ANN201
    return sign_in(study, BUSI_STUDY, "Study coordinator", "0000")


class Opener:
    def __init__(self) -> None:
        self.urls: list[str] = []

    def __call__(self, url) -> bool:  # noqa: ANN001
        self.urls.append(url.toLocalFile())
        return True


def make_widget(qtbot, ctx, session, out_dir: Path | None = None):  # noqa: ANN001, ANN201
    opener = Opener()
    w = DashboardWidget(ctx, session, choose_dir=lambda parent: str(out_dir) if out_dir else None, open_url=opener)
    qtbot.addWidget(w)
    w.resize(1500, 950)
    return w, opener


def expected_progress(ctx) -> dict[tuple[str, str], tuple[int, int]]:
    """(reader, arm) -> (read, expected) of the final phase, from the report's missing-read table."""
    m = collect_report_data(ctx, LOCAL, BUSI_STUDY).missing
    m = m[~m["arm"].str.endswith(PRE_AI_SUFFIX)]
    return {(r.reader, r.arm): (int(r.read), int(r.expected)) for r in m.itertuples()}


def test_progress_bars_show_done_over_total(qtbot, study, coordinator):
    w, _ = make_widget(qtbot, study, coordinator)
    expected = expected_progress(study)
    # counterbalanced: each reader reads each arm in exactly one session, so (reader, arm) is a bar
    assert {(r, a) for r, a, _ in w.bars} == set(expected)
    assert len(w.bars) == len(expected) == 8
    for (reader, arm, _session), bar in w.bars.items():
        done, total = expected[(reader, arm)]
        assert (bar.value(), bar.maximum(), bar.format()) == (done, total, f"{done} / {total}")
    late = [(b.value(), b.maximum()) for (r, _, s), b in w.bars.items() if r == LATE]
    assert sorted(late) == [(0, 79), (3, 79)]
    done = sum(v[0] for v in expected.values())
    assert f"completion {100 * done / (79 * 8):.1f}%" in w.summary.text()


def test_missing_table_matches_the_service(qtbot, study, coordinator):
    w, _ = make_widget(qtbot, study, coordinator)
    data = dashboard_data(study, coordinator)
    t = w.missing_table
    rows = [tuple(t.item(i, j).text() for j in range(3)) for i in range(t.rowCount())]
    assert rows == [(m.pseudonym, str(len(m.missing)), m.describe()) for m in data.missing]
    expected = expected_progress(study)
    assert sum(int(r[1]) for r in rows) == sum(e - d for d, e in expected.values()) == 2 * 79 - 3
    assert sum(int(r[1]) for r in rows) == sum(len(m.missing) for m in data.missing)
    assert len(rows) == 79 and all(LATE in r[2] for r in rows)  # the late reader misses every case once


def test_fast_read_is_an_outlier_on_screen(qtbot, study, coordinator):
    w, _ = make_widget(qtbot, study, coordinator)
    t = w.outlier_table
    rows = [[t.item(i, j).text() for j in range(t.columnCount())] for i in range(t.rowCount())]
    fast = [r for r in rows if r[0] == LATE]
    assert len(fast) >= 1 and all(r[6] == "under 2 s" for r in fast)
    assert "1.0" in {r[5] for r in fast}
    assert "Q3 + 3 x IQR" in w.rule.text() and "under 2 s" in w.rule.text()


def test_reader_is_refused(qtbot, study):
    reader = sign_in(study, BUSI_STUDY, LATE, "0000")
    with pytest.raises(PermissionDenied):
        dashboard_data(study, reader)
    w, _ = make_widget(qtbot, study, reader)  # the widget says so inline instead of crashing
    assert "coordinator" in w.error.text() and w.bars == {}


def test_export_writes_the_report_and_shows_its_figures(qtbot, study, coordinator, tmp_path):
    w, opener = make_widget(qtbot, study, coordinator, tmp_path / "out")
    seen: list[int] = []
    w.export_bar.valueChanged.connect(seen.append)
    w.export_button.click()
    assert w.exporting and w.cancel_button.isEnabled() and not w.export_button.isEnabled()
    qtbot.waitUntil(lambda: not w.exporting, timeout=60000)
    assert w.error.text() == ""
    for name in ("report.html", "report.pdf", "report.json", "reads.csv"):
        assert (tmp_path / "out" / name).stat().st_size > 0
    assert w.findChildren(type(w.export_status), "") and "ROC curves per arm" in {
        lbl.text().replace("<b>", "").replace("</b>", "") for lbl in w.findChildren(type(w.export_status))}
    assert opener.urls == [str(tmp_path / "out" / "report.html")]
    assert str(tmp_path / "out") in w.export_status.text()
    assert set(w.figure_labels) == FIGURES
    assert all(lbl.pixmap().width() > 200 for lbl in w.figure_labels.values())
    assert len(set(seen)) >= 4 and w.export_bar.value() == w.export_bar.maximum()
    assert w.export_button.isEnabled() and not w.cancel_button.isEnabled()


def test_cancel_stops_the_export(qtbot, study, coordinator, tmp_path):
    w, opener = make_widget(qtbot, study, coordinator, tmp_path / "out")
    w.export_button.click()
    w.cancel_button.click()  # the worker raises Cancelled at its next progress step
    qtbot.waitUntil(lambda: not w.exporting, timeout=60000)
    assert "cancelled" in w.export_status.text()
    assert not (tmp_path / "out" / "report.pdf").exists() and opener.urls == [] and w.figure_labels == {}
    assert w.error.text() == "" and w.export_button.isEnabled()


def test_export_error_is_shown_inline(qtbot, demo_ctx, tmp_path):
    coord = system_session(demo_ctx, BUSI_STUDY, actor="test")
    (tmp_path / "out").write_text("a file where the folder should be")
    w, opener = make_widget(qtbot, demo_ctx, coord, tmp_path / "out")
    w.export_button.click()
    qtbot.waitUntil(lambda: not w.exporting, timeout=30000)
    assert "is a file, not a folder" in w.error.text() and opener.urls == [] and "failed" in w.export_status.text()


def test_an_empty_study_still_gets_its_report(qtbot, demo_ctx, tmp_path):
    coord = system_session(demo_ctx, BUSI_STUDY, actor="test")  # no reads, no model: everything n/a
    w, opener = make_widget(qtbot, demo_ctx, coord, tmp_path / "out")
    w.export_button.click()
    qtbot.waitUntil(lambda: not w.exporting, timeout=60000)
    assert w.error.text() == "" and opener.urls == [str(tmp_path / "out" / "report.html")]
    assert "no reads yet" in (tmp_path / "out" / "report.html").read_text(encoding="utf-8")


def test_every_progress_bar_of_a_small_study_is_in_view(qtbot, tmp_path):
    """Three readers' bars in a window of the app's size: the progress box was squeezed to one row."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "services"))
    from test_reading_support import COORD_PIN, build_study

    ctx = build_study(tmp_path, n_cases=2, readers=(("alice", "senior"), ("bob", "mid"), ("carla", "junior")))
    w = DashboardWidget(ctx, sign_in(ctx, "Pilot", "carol", COORD_PIN))
    qtbot.addWidget(w)
    w.resize(1500, 900)
    w.show()
    qtbot.waitExposed(w)
    qtbot.wait(50)  # the layout of the refreshed rows
    assert len(w.bars) == 3
    for bar in w.bars.values():
        viewport = bar.parentWidget().parentWidget()  # the box inside the scroll area's viewport
        top = bar.mapTo(viewport, bar.rect().topLeft()).y()
        assert 0 <= top and top + bar.height() <= viewport.height(), (top, viewport.height())
    ctx.close()


def _clipped_headers(t) -> list[str]:  # noqa: ANN001
    """Headers cut off: narrower than their text, or past the right edge of the table's view."""
    h = t.horizontalHeader()
    return [t.horizontalHeaderItem(j).text() for j in range(t.columnCount())
            if h.sectionSize(j) < h.sectionSizeHint(j) or h.sectionViewportPosition(j) + h.sectionSize(j)
            > t.viewport().width()]


def test_table_headers_are_readable_in_the_coordinator_window(qtbot, study, coordinator):
    """The outliers' last header read "eader medi": the table was wider than its view."""
    from readerstudy.ui.coordinator.home import CoordinatorHomeWindow
    from readerstudy.ui.shell import window_size_for

    home = CoordinatorHomeWindow(study, coordinator)
    qtbot.addWidget(home)
    home.resize(*window_size_for((1600, 1000)))
    home.show()
    qtbot.waitExposed(home)
    w = home.dashboard
    assert w.outlier_table.rowCount() >= 1 and w.missing_table.rowCount() >= 1
    qtbot.waitUntil(lambda: _clipped_headers(w.outlier_table) == [] and _clipped_headers(w.missing_table) == [],
                    timeout=3000)
    t = w.outlier_table
    assert t.horizontalScrollBar().maximum() == 0  # every column in view
    why = next(j for j in range(t.columnCount()) if t.horizontalHeaderItem(j).text() == "Why")
    for i in range(t.rowCount()):  # the wrapped "Why" text is whole: its row is as tall as it needs
        assert t.rowHeight(i) >= t.sizeHintForRow(i) - 1, (i, t.item(i, why).text())
    home.close()
