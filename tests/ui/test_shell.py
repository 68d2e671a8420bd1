"""The app shell with qtbot: first run (empty database -> study + coordinator -> signed in), sign out
back to the sign-in screen for the next person, closing the window ends the app, PIN changes."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from PySide6.QtCore import Qt
from test_reading_support import COORD_PIN, PIN, build_study, busi_sources

from readerstudy.core.models import Role
from readerstudy.services import auth
from readerstudy.services import participants as people
from readerstudy.services.auth import local_session
from readerstudy.services.importing import import_cases
from readerstudy.ui.app import ensure_app
from readerstudy.ui.coordinator.home import CoordinatorHomeWindow
from readerstudy.ui.reading_window import ReadingWindow
from readerstudy.ui.session_menu import SIGN_OUT_SHORTCUT
from readerstudy.ui.shell import AppShell

LEFT = Qt.MouseButton.LeftButton


LOCAL = local_session("test")  # the CLI's local coordinator session (reaches every study)


@pytest.fixture(autouse=True)
def _app(qapp):
    ensure_app()


@pytest.fixture
def make_shell(qtbot):
    shells = []

    def make(ctx, study=None, **kw):
        shell = AppShell(ctx, study, **kw)
        shell.ended = []
        shell.finished.connect(shell.ended.append)
        shell.start()
        shells.append(shell)
        return shell

    yield make
    for shell in shells:
        if shell.window is not None:
            shell._close_window()
        if shell.sign_in is not None:
            shell.sign_in.close()


def _type(qtbot, dialog, **values):
    for key, text in values.items():
        dialog.fields[key].clear()
        qtbot.keyClicks(dialog.fields[key], text)


def _sign_in(qtbot, shell, name, pin):
    d = shell.sign_in
    d.person.setCurrentIndex(d.person.findData(name))
    qtbot.keyClicks(d.pin, pin)
    qtbot.keyClick(d.pin, Qt.Key.Key_Return)
    if shell.window is not None:  # keyboard shortcuts need the active window, as on a real screen
        shell.window.activateWindow()
        qtbot.waitUntil(shell.window.isActiveWindow)
    return shell.window


def _audit(ctx):
    with ctx.uow() as uow:
        return [(e.actor, e.action) for e in uow.audit.list()]


def test_first_run_creates_the_study_and_its_coordinator_and_signs_in(qtbot, ctx, make_shell):
    shell = make_shell(ctx)
    d = shell.sign_in
    assert d.first_run and "no study yet" in d.notice.text()
    assert not d.button.isEnabled() and not d.pin.isEnabled() and d.new_study_button.isDefault()
    qtbot.mouseClick(d.new_study_button, LEFT)
    form = d.subdialog
    assert form.isVisible() and "Welcome" in form.findChildren(type(d.notice))[0].text()
    _type(qtbot, form, study="BUSI pilot", coordinator="Dr Reed", pin="2468", pin_again="2469")
    qtbot.mouseClick(form.ok_button, LEFT)
    assert "two PINs differ" in form.error.text() and form.isVisible() and auth.studies(ctx) == []
    assert form.fields["pin"].text() == "" and form.fields["study"].text() == "BUSI pilot"  # PINs typed again
    _type(qtbot, form, pin="24", pin_again="24")
    qtbot.mouseClick(form.ok_button, LEFT)
    assert "at least 4 digits" in form.error.text() and auth.studies(ctx) == []
    _type(qtbot, form, pin="2468", pin_again="2468")
    qtbot.mouseClick(form.ok_button, LEFT)

    assert isinstance(shell.window, CoordinatorHomeWindow) and shell.window.isVisible()
    assert (shell.session.study_name, shell.session.name, shell.session.role) == ("BUSI pilot", "Dr Reed",
                                                                                  Role.COORDINATOR)
    assert auth.studies(ctx) == ["BUSI pilot"] and shell.sign_in is None and shell.ended == []
    titles = [shell.window.tabs.tabText(i) for i in range(shell.window.tabs.count())]
    assert {"Participants", "Reads"} <= set(titles)
    assert [p.name for p in shell.window.tab("participants").rows] == ["Dr Reed"]
    assert auth.sign_in(ctx, "BUSI pilot", "Dr Reed", "2468").is_coordinator


def test_sign_out_returns_to_the_sign_in_screen_and_closing_ends_the_app(qtbot, tmp_path, make_shell):
    ctx = build_study(tmp_path, n_cases=3)
    shell = make_shell(ctx, "Pilot")
    w = _sign_in(qtbot, shell, "alice", PIN)
    assert isinstance(w, ReadingWindow)
    qtbot.waitUntil(lambda: w.page == "reading")
    for key in ("5", "0", "1", "3"):  # one read: 50 %, positive, confidence 3
        qtbot.keyClick(w, getattr(Qt.Key, f"Key_{key}"))
    qtbot.keyClick(w, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: w.service.flow.index == 1)
    qtbot.keyClick(w, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert SIGN_OUT_SHORTCUT == "Ctrl+Shift+L"
    assert shell.window is None and shell.sign_in is not None and shell.sign_in.isVisible()
    assert shell.sign_in.study.currentText() == "Pilot" and shell.ended == []
    assert ("alice", "auth.sign_out") in _audit(ctx)

    home = _sign_in(qtbot, shell, "carol", COORD_PIN)  # the next person, a coordinator
    assert isinstance(home, CoordinatorHomeWindow)
    assert [a.text() for a in home.menuBar().actions()] == ["&Session"]
    shell.session_menu.actions["sign_out"].trigger()
    assert shell.window is None and shell.sign_in.isVisible()

    w = _sign_in(qtbot, shell, "alice", PIN)  # alice resumes at her second case
    qtbot.waitUntil(lambda: w.page == "reading")
    assert w.progress.text().startswith("Case 2 of 3")
    qtbot.keyClick(w, Qt.Key.Key_Escape)  # a break, then sign out from the break page
    assert w.page == "break"
    qtbot.mouseClick(w.signout_button, LEFT)
    assert shell.window is None and shell.sign_in.isVisible()

    w = _sign_in(qtbot, shell, "bob", PIN)
    w.close()  # closing the window (not signing out) ends the app
    assert shell.ended == [0]
    assert _audit(ctx)[-1] == ("bob", "auth.sign_out")


def test_quit_from_the_menu_and_closing_the_sign_in_screen_end_the_app(qtbot, tmp_path, make_shell):
    ctx = build_study(tmp_path, n_cases=2)
    shell = make_shell(ctx, "Pilot")
    _sign_in(qtbot, shell, "carol", COORD_PIN)
    shell.session_menu.actions["quit"].trigger()  # asks first (Sign out is the default answer)
    assert shell.ended == [] and shell.quit_question.isVisible()
    next(b for b in shell.quit_question.buttons() if b.text() == "Quit").click()
    qtbot.waitUntil(lambda: shell.ended == [0])
    other = make_shell(ctx, "Pilot")
    qtbot.keyClick(other.sign_in, Qt.Key.Key_Escape)  # Escape only clears the PIN: the next person is not locked out
    assert other.ended == [] and not other.sign_in.isHidden()
    qtbot.mouseClick(other.sign_in.quit_button, LEFT)
    assert other.ended == [0]


def test_a_reset_pin_is_replaced_at_sign_in(qtbot, tmp_path, make_shell):
    ctx = build_study(tmp_path, n_cases=2)
    coord = auth.sign_in(ctx, "Pilot", "carol", COORD_PIN)
    temporary = people.reset_pin(ctx, coord, "alice")
    shell = make_shell(ctx, "Pilot")
    assert _sign_in(qtbot, shell, "alice", temporary) is None
    form = shell.sign_in.subdialog
    assert form.isVisible() and "reset" in form.findChildren(type(shell.sign_in.notice))[0].text()
    assert form.error.text() == ""  # the Enter that signed in did not also press "Save PIN"
    form.reject()  # not now: stays on the sign-in screen, still with the temporary PIN
    assert shell.window is None and "choose a new PIN" in shell.sign_in.error.text()
    _sign_in(qtbot, shell, "alice", temporary)
    form = shell.sign_in.subdialog
    _type(qtbot, form, pin=temporary, pin_again=temporary)
    qtbot.mouseClick(form.ok_button, LEFT)
    assert "same as the current" in form.error.text() and shell.window is None
    _type(qtbot, form, pin="7777", pin_again="7777")
    qtbot.mouseClick(form.ok_button, LEFT)
    assert isinstance(shell.window, ReadingWindow)
    assert not auth.sign_in(ctx, "Pilot", "alice", "7777").must_change_pin


def test_change_my_pin_on_the_sign_in_screen_and_in_the_menu(qtbot, tmp_path, make_shell):
    ctx = build_study(tmp_path, n_cases=2)
    shell = make_shell(ctx, "Pilot")
    d = shell.sign_in
    d.person.setCurrentIndex(d.person.findData("bob"))
    qtbot.mouseClick(d.change_pin_button, LEFT)
    form = d.subdialog
    _type(qtbot, form, current="0000", pin="1357", pin_again="1357")
    qtbot.mouseClick(form.ok_button, LEFT)
    assert "Wrong name or PIN" in form.error.text() and form.isVisible()
    _type(qtbot, form, current=PIN, pin="1357", pin_again="1357")
    qtbot.mouseClick(form.ok_button, LEFT)
    assert not form.isVisible() and "PIN was changed" in d.notice.text() and shell.window is None
    w = _sign_in(qtbot, shell, "bob", "1357")
    assert isinstance(w, ReadingWindow)
    shell.session_menu.actions["change_pin"].trigger()  # the reader's window menu
    form = shell.session_menu.dialog
    _type(qtbot, form, current="1357", pin="2580", pin_again="2580")
    qtbot.mouseClick(form.ok_button, LEFT)
    assert not form.isVisible()
    assert auth.sign_in(ctx, "Pilot", "bob", "2580").name == "bob"


def test_new_study_and_first_coordinator_from_the_sign_in_screen(qtbot, tmp_path, make_shell):
    ctx = build_study(tmp_path, n_cases=2)
    import_cases(ctx, LOCAL, "Imported", busi_sources(2))  # created on the command line, no coordinator yet
    shell = make_shell(ctx, "Imported")
    d = shell.sign_in
    assert not d.first_run and d.first_coordinator_button.isVisibleTo(d) and "no coordinator" in d.notice.text()
    d.study.setCurrentText("Pilot")
    assert not d.first_coordinator_button.isVisibleTo(d)
    qtbot.mouseClick(d.new_study_button, LEFT)
    form = d.subdialog
    _type(qtbot, form, study="pilot", coordinator="Dr New", pin="4444", pin_again="4444")
    qtbot.mouseClick(form.ok_button, LEFT)
    assert "already exists" in form.error.text()
    form.reject()
    d.study.setCurrentText("Imported")
    qtbot.mouseClick(d.first_coordinator_button, LEFT)
    form = d.subdialog
    _type(qtbot, form, coordinator="Dr Imp", pin="4444", pin_again="4444")
    qtbot.mouseClick(form.ok_button, LEFT)
    assert isinstance(shell.window, CoordinatorHomeWindow) and shell.session.study_name == "Imported"


def test_a_coordinator_creates_and_opens_another_study(qtbot, tmp_path, make_shell):
    ctx = build_study(tmp_path, n_cases=2)
    shell = make_shell(ctx, "Pilot")
    _sign_in(qtbot, shell, "carol", COORD_PIN)
    shell.session_menu.actions["new_study"].trigger()
    form = shell.session_menu.dialog
    _type(qtbot, form, study="Pilot 2")
    qtbot.mouseClick(form.ok_button, LEFT)
    assert isinstance(shell.window, CoordinatorHomeWindow) and shell.session.study_name == "Pilot 2"
    assert "Pilot 2" in shell.window.windowTitle() and shell.ended == []
    assert auth.sign_in(ctx, "Pilot 2", "carol", COORD_PIN).is_coordinator


def test_signing_out_with_an_unsaved_mask_asks_first(qtbot, tmp_path, make_shell):
    ctx = build_study(tmp_path, n_cases=2)
    people.add_participant(ctx, auth.system_session(ctx, "Pilot"), "ann", Role.ANNOTATOR, pin="5555")
    asked = []
    answer = [False]
    shell = make_shell(ctx, "Pilot", confirm=lambda parent, q: asked.append(q) or answer[0])
    w = _sign_in(qtbot, shell, "ann", "5555")
    assert w.unsaved_work() is None
    assert shell.sign_out() and asked == []  # nothing unsaved: no question
    w = _sign_in(qtbot, shell, "ann", "5555")
    layer = w.editor.layer
    data = layer.data.copy()
    data[0, :4, :4] = 1
    layer.replace_data(data)
    assert not shell.sign_out() and shell.window is w and "unsaved changes" in asked[0]
    answer[0] = True
    assert shell.sign_out() and shell.window is None and len(asked) == 2
    assert np.count_nonzero(data) == 16


def test_one_wrong_pin_with_enter_counts_once(qtbot, tmp_path, make_shell):
    ctx = build_study(tmp_path, n_cases=2)
    shell = make_shell(ctx, "Pilot")
    for attempt in range(1, 4):
        assert _sign_in(qtbot, shell, "alice", "0000") is None
        assert f"{5 - attempt} attempt(s) left" in shell.sign_in.error.text()
        coord = auth.system_session(ctx, "Pilot")
        assert people.get_participant(ctx, coord, "alice").failed_attempts == attempt
    qtbot.keyClick(shell.sign_in.pin, Qt.Key.Key_Return)  # an empty PIN is not an attempt
    assert "Type your PIN" in shell.sign_in.error.text()
    assert people.get_participant(ctx, auth.system_session(ctx, "Pilot"), "alice").failed_attempts == 3
    assert isinstance(_sign_in(qtbot, shell, "alice", PIN), ReadingWindow)


def test_a_reader_added_before_the_protocol_is_told_on_the_sign_in_screen(qtbot, ctx, make_shell):
    from readerstudy.services.studies import create_study

    coord = create_study(ctx, "New", "Dr Reed", "2468")
    import_cases(ctx, LOCAL, "New", busi_sources(2))
    people.add_participant(ctx, coord, "alice", Role.READER, pin=PIN)
    shell = make_shell(ctx, "New")
    assert _sign_in(qtbot, shell, "alice", PIN) is None
    assert "no reading protocol yet" in shell.sign_in.error.text() and shell.sign_in.isVisible()
    assert _audit(ctx)[-2:] == [("alice", "auth.sign_in"), ("alice", "auth.sign_out")]
    assert shell.ended == []


def test_the_sign_in_lists_only_who_can_sign_in(qtbot, ctx, make_shell):
    """The annotator "import" (author of the imported masks) and a reader without a PIN yet are not
    offered: picking them could only end in "No PIN is set"."""
    from readerstudy.services.studies import create_study

    coord = create_study(ctx, "New", "Dr Reed", "2468")
    src = busi_sources(1)[0]
    mask = src.image.with_name(src.image.stem + "_mask.png")
    import_cases(ctx, coord, "New", [replace(src, masks=(mask,))])  # its mask is by the annotator "import"
    people.add_participant(ctx, coord, "alice", Role.READER, pin=PIN)
    people.add_participant(ctx, coord, "bob", Role.READER)  # no PIN yet
    d = make_shell(ctx, "New").sign_in
    names = [d.person.itemData(i) for i in range(d.person.count())]
    assert sorted(names) == ["Dr Reed", "alice"]
    assert {p.name for p in auth.participants(ctx, "New")} == {"Dr Reed", "alice", "bob", "import"}
    people.set_pin(ctx, coord, "bob", "1357")
    d.study.currentTextChanged.emit("New")  # the list is read when the screen opens or the study changes
    assert "bob" in [d.person.itemData(i) for i in range(d.person.count())]
