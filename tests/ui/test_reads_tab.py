"""The coordinator's Reads tab driven with qtbot: a reader's reads with truth, a correction refused
without a reason then stored as a new revision, reopening a washout-locked session, unlock."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from PySide6.QtCore import Qt
from test_reading_admin import WASHOUT, _read
from test_reading_support import COORD_PIN, build_study

from readerstudy.core.errors import AuthenticationError
from readerstudy.core.reading import ManualClock
from readerstudy.services import auth
from readerstudy.services import reading_admin as admin
from readerstudy.ui.app import ensure_app
from readerstudy.ui.coordinator.reads import READ_COLUMNS, ReadsWidget

LEFT = Qt.MouseButton.LeftButton


@pytest.fixture(autouse=True)
def _app(qapp):
    ensure_app()


def _widget(qtbot, ctx):
    w = ReadsWidget(ctx, auth.sign_in(ctx, "Pilot", "carol", COORD_PIN))
    qtbot.addWidget(w)
    w.show()
    return w


def _rows(w):
    return [{c: w.read_table.item(i, j).text() for j, c in enumerate(READ_COLUMNS)}
            for i in range(w.read_table.rowCount())]


def test_reads_with_truth_and_a_correction_with_and_without_reason(qtbot, tmp_path):
    ctx = build_study(tmp_path, n_cases=3)
    _read(ctx, "alice", [(80, 1, 4), (15, 0, 5)])
    w = _widget(qtbot, ctx)
    assert [w.reader.itemData(i) for i in range(w.reader.count())] == ["alice", "bob"]
    w.select_reader("alice")
    rows = _rows(w)
    with ctx.uow() as uow:
        truth = {c.pseudonym: c.truth for c in uow.cases.list(uow.studies.by_name("Pilot").id)}
    assert [(r["Probability"], r["Call"], r["Confidence"], r["Revision"], r["Time (s)"]) for r in rows] == [
        ("80", "positive", "4", "0", "20.0"), ("15", "negative", "5", "0", "20.0")]
    assert all(r["Truth"] == ("positive" if truth[r["Case"]] else "negative") for r in rows)
    assert [(s.session, s.state, s.done) for s in w.sessions] == [(1, "open", 2)]
    assert not w.correct_button.isEnabled()

    w.read_table.selectRow(0)
    qtbot.mouseClick(w.correct_button, LEFT)
    d = w.dialog
    assert d.values()["probability"] == 80 and d.values()["binary"] == 1 and d.values()["confidence"] == 4
    d.set_values(probability=20, binary=0)
    qtbot.mouseClick(d.ok_button, LEFT)  # no reason
    assert "needs a reason" in d.error.text() and d.isVisible()
    assert len(admin.reader_reads(ctx, w.session, "alice")) == 2  # nothing stored
    qtbot.keyClicks(d.fields["reason"], "reader phoned: pressed Y instead of N")
    qtbot.mouseClick(d.ok_button, LEFT)
    assert not d.isVisible() and "revision 1" in w.status.text()

    rows = _rows(w)
    assert [(r["Probability"], r["Revision"], r["Corrected by"]) for r in rows] == [
        ("80", "0 (superseded)", ""), ("20", "1", "carol"), ("15", "0", "")]
    assert rows[1]["Reason"] == "reader phoned: pressed Y instead of N" and rows[1]["Call"] == "negative"
    assert w.selected_read.revision == 1
    w.history.setChecked(False)
    assert [r["Probability"] for r in _rows(w)] == ["20", "15"]
    stored = admin.reader_reads(ctx, w.session, "alice")
    assert [(r.revision, r.probability, r.current) for r in stored][:2] == [(0, 80.0, False), (1, 20.0, True)]
    ctx.close()


def test_reopen_a_washout_session_and_unlock_the_reader(qtbot, tmp_path):
    ctx = build_study(tmp_path, n_cases=2, readers=(("alice", "senior"),), protocol=WASHOUT)
    clock = ManualClock(datetime.now(UTC))  # reads "now", so the washout is still running
    _read(ctx, "alice", [(70, 1, 3), (30, 0, 3)], clock)
    w = _widget(qtbot, ctx)
    assert [(s.session, s.state) for s in w.sessions] == [(1, "complete"), (2, "waiting")]
    assert "washout: opens" in w.session_table.item(1, 4).text()
    w.session_table.selectRow(0)
    assert not w.reopen_button.isEnabled()
    w.session_table.selectRow(1)
    assert w.reopen_button.isEnabled()
    qtbot.mouseClick(w.reopen_button, LEFT)
    d = w.dialog
    qtbot.mouseClick(d.ok_button, LEFT)
    assert "needs a reason" in d.error.text()
    qtbot.keyClicks(d.fields["reason"], "reader leaves on Friday")
    qtbot.mouseClick(d.ok_button, LEFT)
    assert not d.isVisible() and [(s.session, s.state) for s in w.sessions] == [(1, "complete"), (2, "open")]
    assert "reopened by carol" in w.session_table.item(1, 4).text()

    assert not w.unlock_button.isEnabled()
    for _ in range(5):
        with pytest.raises(AuthenticationError):
            auth.sign_in(ctx, "Pilot", "alice", "0000")
    w.refresh()
    assert "locked until" in w.account.text() and w.unlock_button.isEnabled()
    qtbot.mouseClick(w.unlock_button, LEFT)
    assert "not locked" in w.account.text() and "alice is unlocked" in w.status.text()
    ctx.close()
