"""The dashboard knows the AI: alert with its fix when outputs are missing, model + metrics when not;
the washout calendar."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from test_ai_status import _evaluation, _student
from test_reading_support import COUNTERBALANCED, PIN, SEQUENTIAL, build_study

from readerstudy.core.reading import ManualClock
from readerstudy.paths import resources_dir
from readerstudy.services.assignments import apply_protocol, load_protocol_file
from readerstudy.services.auth import (
    local_session,
    sign_in,
    system_session,
)
from readerstudy.services.demo import BUSI_STUDY
from readerstudy.services.engine_adapter import predict_study
from readerstudy.services.reading import ReadingService
from readerstudy.ui.coordinator.dashboard import DashboardWidget
from readerstudy.ui.coordinator.dashboard_ai import AI_COLUMNS

LOCAL = local_session("test")  # the CLI's local coordinator session (reaches every study)


def _dashboard(qtbot, ctx, session) -> DashboardWidget:  # noqa: ANN001
    w = DashboardWidget(ctx, session, choose_dir=lambda _: None, open_url=lambda _: None)
    qtbot.addWidget(w)
    return w


def test_demo_dashboard_alerts_that_the_ai_arm_cannot_be_read(qtbot, demo_ctx):
    system = system_session(demo_ctx, BUSI_STUDY)
    apply_protocol(demo_ctx, system, load_protocol_file(resources_dir() / "protocols" / "demo_busi.toml"))
    w = _dashboard(qtbot, demo_ctx, system)
    (box,) = w.ai.alerts.boxes
    assert box.problem.text() == "<b>The AI-aided arm cannot be read: no model output for 79 cases.</b>"
    assert "Engine tab → Add model as reader" in box.action.text()
    assert "readerstudy engine predict --db" in box.action.text()
    qtbot.mouseClick(box.copy_button, Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == box.command
    assert box.command.startswith("readerstudy engine predict --db ") and "--study 'BUSI benign vs malignant'" in \
        box.command
    t = w.ai.arms.table
    row = {AI_COLUMNS[j]: t.item(0, j).text() for j in range(len(AI_COLUMNS))}
    assert row["Arm"] == "AI-aided" and row["Reading"] == "sequential" and row["Cases with output"] == "0 / 79"
    assert row["Model shown"] == "none yet (protocol: 'DiffKD-student (busi-train)')"
    assert not w.ai.alerts.isHidden()


def test_with_model_output_no_alert_and_the_model_and_metrics_are_shown(qtbot, tmp_path):
    ctx = build_study(tmp_path, n_cases=6, protocol=SEQUENTIAL)
    system = system_session(ctx, "Pilot")
    w = _dashboard(qtbot, ctx, system)
    assert len(w.ai.alerts.boxes) == 1
    out = tmp_path / "engine"
    _evaluation(ctx, out)
    predict_study(ctx, LOCAL, "Pilot", _student(out))
    qtbot.mouseClick(w.refresh_button, Qt.MouseButton.LeftButton)
    assert w.ai.alerts.boxes == [] and w.ai.alerts.isHidden()
    t = w.ai.arms.table
    row = {AI_COLUMNS[j]: t.item(0, j).text() for j in range(len(AI_COLUMNS))}
    (shown,) = w.ai.status.arms[0].shown
    assert row["Cases with output"] == "6 / 6"
    assert row["Model shown"] == f"DiffKD-student {shown.version} (protocol: latest of any model)"
    assert row["Held-out metrics"] == f"DiffKD-student: {shown.metrics.summary()}"
    assert row["Held-out metrics"].startswith("DiffKD-student: AUC ") and "n = 6 held-out cases" in row["Held-out metrics"]
    ctx.close()


def test_washout_calendar_lists_each_readers_sessions(qtbot, tmp_path):
    ctx = build_study(tmp_path, n_cases=2, protocol=COUNTERBALANCED.replace("shows_ai = true", "shows_ai = false"))
    clock = ManualClock(datetime.now(UTC) - timedelta(days=2))
    svc = ReadingService(ctx, sign_in(ctx, "Pilot", "alice", PIN, now=clock.now), clock=clock.monotonic_ns,
                         wall_clock=clock.now, prefetch=False)
    svc.open()
    while svc.start_case() is not None:
        svc.display()
        clock.advance(10)
        svc.submit(50.0, 0, 3)
    svc.close()
    opens = clock.now() + timedelta(days=28)
    w = _dashboard(qtbot, ctx, system_session(ctx, "Pilot"))
    t = w.ai.calendar.table
    assert [t.horizontalHeaderItem(j).text() for j in range(t.columnCount())] == ["Reader", "Session 1", "Session 2"]
    cells = {t.item(i, 0).text(): [t.item(i, j).text() for j in (1, 2)] for i in range(t.rowCount())}
    alice_first = next(r for r in w.ai.calendar.calendar if r.reader == "alice").sessions[0].arms[0]
    assert cells["alice (senior)"][0] == f"{alice_first}: finished {clock.now():%Y-%m-%d}"
    assert cells["alice (senior)"][1].endswith(f"opens {opens:%Y-%m-%d %H:%M} UTC")
    assert cells["bob (junior)"][0].endswith("open, not started")
    assert cells["bob (junior)"][1].endswith("opens 28 d after session 1 ends")
    ctx.close()


def _rows_fit(t) -> list[tuple[int, int, int]]:  # noqa: ANN001
    """(row, height, height its text needs at the present column widths) of each row that does not
    fit: a row sized while the columns were still narrow stays tall and shows its text below the view."""
    bad = []
    for i in range(t.rowCount()):
        need = max(t.sizeHintForRow(i), t.verticalHeader().sectionSizeHint(i))
        if t.rowHeight(i) > need + 1:
            bad.append((i, t.rowHeight(i), need))
    return bad


def test_the_ai_arms_and_calendar_rows_are_readable_when_the_dashboard_is_first_shown(qtbot, tmp_path):
    """The table was filled (and its wrapped rows sized) before the window was laid out: the row stayed
    ~200 px tall in an 85 px view, its text centred out of sight; only Refresh showed it."""
    from readerstudy.ui.coordinator.home import CoordinatorHomeWindow
    from readerstudy.ui.shell import window_size_for

    ctx = build_study(tmp_path, n_cases=6, protocol=SEQUENTIAL)
    out = tmp_path / "engine"
    _evaluation(ctx, out)
    predict_study(ctx, LOCAL, "Pilot", _student(out))
    home = CoordinatorHomeWindow(ctx, system_session(ctx, "Pilot"))
    qtbot.addWidget(home)
    home.resize(*window_size_for((1600, 1000)))  # the reporter's screen
    home.show()
    qtbot.waitExposed(home)
    arms, calendar = home.dashboard.ai.arms.table, home.dashboard.ai.calendar.table
    assert arms.rowCount() == 1 and arms.item(0, 3).text() == "6 / 6"
    qtbot.waitUntil(lambda: _rows_fit(arms) == [] and _rows_fit(calendar) == [], timeout=3000)  # no Refresh
    assert 0 < arms.rowHeight(0) <= arms.viewport().height()  # the whole row is in view, no Refresh needed
    rect = arms.visualRect(arms.model().index(0, 4))
    assert arms.viewport().rect().contains(rect.center())
    size = home.size()
    for width in (1100, size.width()):  # narrower and back: the rows follow the columns each time
        home.resize(width, size.height())
        qtbot.wait(300)
        qtbot.waitUntil(lambda: _rows_fit(arms) == [] and _rows_fit(calendar) == [], timeout=3000)
    home.close()
    ctx.close()
