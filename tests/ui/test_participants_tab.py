"""The coordinator's Participants tab driven with qtbot: add with inline errors, edit, deactivate,
reactivate, set/reset PIN, unlock; every check on the stored state."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from test_reading_support import COORD_PIN, PIN, build_study

from readerstudy.core.errors import AuthenticationError
from readerstudy.core.models import Role
from readerstudy.services import auth
from readerstudy.services import participants as people
from readerstudy.ui.app import ensure_app
from readerstudy.ui.coordinator.home import CoordinatorHomeWindow
from readerstudy.ui.coordinator.participants import COLUMNS, ParticipantsWidget

LEFT = Qt.MouseButton.LeftButton


@pytest.fixture(autouse=True)
def _app(qapp):
    ensure_app()


@pytest.fixture
def setup(qtbot, tmp_path):
    ctx = build_study(tmp_path, n_cases=2, predictions=True)
    coord = auth.sign_in(ctx, "Pilot", "carol", COORD_PIN)
    w = ParticipantsWidget(ctx, coord)
    qtbot.addWidget(w)
    w.show()
    yield ctx, coord, w
    ctx.close()


def _table(w):
    return {w.table.item(i, 0).text(): {COLUMNS[j]: w.table.item(i, j).text() for j in range(len(COLUMNS))}
            for i in range(w.table.rowCount())}


def _add(qtbot, w, name, role, seniority, pin, pin2):
    w.add_name.clear()
    qtbot.keyClicks(w.add_name, name)
    w.add_role.setCurrentIndex(w.add_role.findData(role))
    w.add_seniority.setCurrentIndex(w.add_seniority.findData(seniority))
    w.add_pin.clear()
    w.add_pin2.clear()
    qtbot.keyClicks(w.add_pin, pin)
    qtbot.keyClicks(w.add_pin2, pin2)
    qtbot.mouseClick(w.add_button, LEFT)


def test_table_lists_participants_but_not_the_model(setup):
    _, _, w = setup
    rows = _table(w)
    assert list(rows) == ["carol", "alice", "bob"]  # the DiffKD-student model reader is not a participant
    assert rows["alice"] == {"Name": "alice", "Role": "reader", "Seniority": "senior", "Active": "yes",
                             "Sign-in": "ok", "PIN": "set", "Reads": "0"}
    assert rows["carol"]["Seniority"] == "—"


def test_add_shows_errors_inline_and_stores_nothing_until_valid(qtbot, setup):
    ctx, coord, w = setup
    _add(qtbot, w, "Dr Mid", Role.READER, "mid", "1234", "1243")
    assert "two PINs differ" in w.add_error.text() and w.add_pin.text() == "" and w.add_name.text() == "Dr Mid"
    assert "Dr Mid" not in _table(w)
    w.add_role.setCurrentIndex(w.add_role.findData(Role.ANNOTATOR))
    assert not w.add_seniority.isEnabled() and w.add_seniority.currentData() == ""
    w.add_role.setCurrentIndex(w.add_role.findData(Role.READER))
    _add(qtbot, w, "Dr Mid", Role.READER, "mid", "12ab", "12ab")
    assert "digits only" in w.add_error.text()
    _add(qtbot, w, "ALICE", Role.READER, "mid", "1234", "1234")
    assert "already exists" in w.add_error.text() and w.add_pin.text() == "1234"  # a name error keeps the PINs
    _add(qtbot, w, "Dr Mid", Role.READER, "mid", "1234", "1234")
    assert w.add_error.text() == "" and w.add_name.text() == "" and "Added Dr Mid" in w.status.text()
    assert _table(w)["Dr Mid"]["Seniority"] == "mid" and w.selected.name == "Dr Mid"
    assert auth.sign_in(ctx, "Pilot", "Dr Mid", "1234").seniority == "mid"
    _add(qtbot, w, "Ann", Role.ANNOTATOR, "", "", "")  # no PIN yet is allowed, and said
    assert _table(w)["Ann"]["PIN"] == "not set" and "No PIN yet" in w.status.text()


def test_edit_deactivate_reactivate(qtbot, setup):
    ctx, _, w = setup
    w.select("bob")
    assert w.buttons["deactivate"].isEnabled() and not w.buttons["reactivate"].isEnabled()
    qtbot.mouseClick(w.buttons["edit"], LEFT)
    d = w.dialog
    d.set_values(name="Dr Robert", seniority="mid")
    qtbot.mouseClick(d.ok_button, LEFT)
    assert not d.isVisible() and _table(w)["Dr Robert"]["Seniority"] == "mid" and w.selected.name == "Dr Robert"

    qtbot.mouseClick(w.buttons["deactivate"], LEFT)
    d = w.dialog
    assert "0 read(s)" in d.findChildren(type(w.status))[0].text()
    qtbot.mouseClick(d.ok_button, LEFT)
    row = _table(w)["Dr Robert"]
    assert (row["Active"], row["Sign-in"]) == ("no", "deactivated")
    assert w.buttons["reactivate"].isEnabled() and not w.buttons["set_pin"].isEnabled()
    assert "Dr Robert" not in [p.name for p in auth.participants(ctx, "Pilot")]
    with pytest.raises(AuthenticationError, match="deactivated"):
        auth.sign_in(ctx, "Pilot", "Dr Robert", PIN)
    qtbot.mouseClick(w.buttons["reactivate"], LEFT)
    assert _table(w)["Dr Robert"]["Active"] == "yes" and auth.sign_in(ctx, "Pilot", "Dr Robert", PIN)

    w.select("carol")  # oneself: no deactivate, no reset
    assert not w.buttons["deactivate"].isEnabled() and not w.buttons["reset_pin"].isEnabled()


def test_set_pin_reset_pin_and_unlock(qtbot, setup):
    ctx, coord, w = setup
    for _ in range(5):
        with pytest.raises(AuthenticationError):
            auth.sign_in(ctx, "Pilot", "alice", "0000")
    w.refresh()
    assert _table(w)["alice"]["Sign-in"].startswith("locked until")
    w.select("alice")
    assert w.buttons["unlock"].isEnabled()
    qtbot.mouseClick(w.buttons["unlock"], LEFT)
    assert _table(w)["alice"]["Sign-in"] == "ok" and "unlocked" in w.status.text()
    assert auth.sign_in(ctx, "Pilot", "alice", PIN).name == "alice"

    w.select("alice")
    qtbot.mouseClick(w.buttons["set_pin"], LEFT)
    d = w.dialog
    d.set_values(pin="13579", pin_again="1357")
    qtbot.mouseClick(d.ok_button, LEFT)
    assert "two PINs differ" in d.error.text() and d.isVisible()
    d.set_values(pin="13579", pin_again="13579")
    qtbot.mouseClick(d.ok_button, LEFT)
    assert not d.isVisible() and auth.sign_in(ctx, "Pilot", "alice", "13579").name == "alice"

    qtbot.mouseClick(w.buttons["reset_pin"], LEFT)
    qtbot.mouseClick(w.dialog.ok_button, LEFT)
    temporary = w.dialog.result_value
    assert temporary in w.status.text() and _table(w)["alice"]["PIN"] == "temporary (to change)"
    assert auth.sign_in(ctx, "Pilot", "alice", temporary).must_change_pin
    assert people.get_participant(ctx, coord, "alice").must_change_pin


def test_the_tab_is_in_the_coordinator_home(qtbot, setup):
    ctx, coord, _ = setup
    home = CoordinatorHomeWindow(ctx, coord)
    qtbot.addWidget(home)
    assert isinstance(home.tab("participants"), ParticipantsWidget)
    titles = [home.tabs.tabText(i) for i in range(home.tabs.count())]
    assert titles.index("Participants") < titles.index("Reads")
