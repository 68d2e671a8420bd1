"""The app shell inside a running ``QApplication.exec()``, as the ``gui`` command runs it.

Qt ends ``exec()`` by itself when the last visible window closes (``quitOnLastWindowClosed``, true
by default) and a dialog's Escape rejects it; neither shows in tests that never enter the event
loop. Here every role signs out by the Session menu and by Ctrl+Shift+L, and the app must still be
running at the sign-in screen afterwards; only the sign-in screen's Quit ends it.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication
from test_reading_support import COORD_PIN, PIN, build_study

from readerstudy.core.models import Role
from readerstudy.services import auth
from readerstudy.services import participants as people
from readerstudy.ui.annotation_workspace import AnnotationWorkspaceWindow
from readerstudy.ui.app import ensure_app
from readerstudy.ui.coordinator.home import CoordinatorHomeWindow
from readerstudy.ui.reading_window import ReadingWindow
from readerstudy.ui.shell import AppShell

ANNOTATOR_PIN = "5555"
DONE, FAILED, TIMED_OUT = 41, 42, 43  # exit codes of the driver; the app's own end is 0
Step = tuple[int, Callable[[], None]]  # (ms to wait first, what to do or check)
RETRY_MS = 10_000  # a step whose check fails (AssertionError, raised before it acts) is tried again for this long


class Driver:
    """Runs ``steps`` one after the other inside ``app.exec()``; records how far it got. ``exec``
    returns :data:`DONE` a second after the last step unless the app ended before (0)."""

    def __init__(self, app: QApplication, steps: list[Step], timeout_ms: int = 90_000) -> None:
        self.app, self.steps, self.done, self.waited = app, steps, 0, 0
        self.error: BaseException | None = None
        self.timer = QTimer()
        self.timer.setSingleShot(True)
        self.timer.timeout.connect(self._run)
        self.guard = QTimer()
        self.guard.setSingleShot(True)
        self.guard.timeout.connect(lambda: app.exit(TIMED_OUT))
        self.guard.start(timeout_ms)
        self.after = QTimer()
        self.after.setSingleShot(True)
        self.after.timeout.connect(lambda: app.exit(DONE))

    def _next(self) -> None:
        if self.done == len(self.steps):
            self.after.start(1000)
            return
        self.waited = 0
        self.timer.start(self.steps[self.done][0])

    def _run(self) -> None:
        try:
            self.steps[self.done][1]()
        except AssertionError as exc:  # not yet (a loaded machine): check again, for up to RETRY_MS
            if self.waited < RETRY_MS:
                self.waited += 50
                self.timer.start(50)
                return
            self.error = exc
            self.app.exit(FAILED)
            return
        except BaseException as exc:  # noqa: BLE001 - reported by exec() below, after the loop ends
            self.error = exc
            self.app.exit(FAILED)
            return
        self.done += 1
        self._next()

    def exec(self) -> int:
        QTimer.singleShot(0, self._next)
        code = self.app.exec()
        for t in (self.timer, self.guard, self.after):
            t.stop()
        if self.error is not None:
            raise self.error
        return code


@pytest.fixture
def qt_default_app(qapp):  # noqa: ANN001, ANN201
    """The QApplication with Qt's defaults (as any code that did not configure it leaves it)."""
    app = ensure_app()
    before = app.quitOnLastWindowClosed()
    app.setQuitOnLastWindowClosed(True)
    yield app
    app.setQuitOnLastWindowClosed(before)


def _study(tmp_path):  # noqa: ANN001, ANN202
    ctx = build_study(tmp_path, n_cases=2)
    people.add_participant(ctx, auth.system_session(ctx, "Pilot"), "ann", Role.ANNOTATOR, pin=ANNOTATOR_PIN)
    return ctx


def _sign_in(shell: AppShell, name: str, pin: str) -> None:
    d = shell.sign_in
    d.person.setCurrentIndex(d.person.findData(name))
    QTest.keyClicks(d.pin, pin)
    QTest.keyClick(d.pin, Qt.Key.Key_Return)


def _shortcut(shell: AppShell) -> None:
    """Ctrl+Shift+L, as the keyboard sends it: to the active window (only there do its shortcuts work)."""
    assert shell.window.isActiveWindow(), "the window does not have the keyboard"
    QTest.keyClick(shell.window, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)


def _at_sign_in(shell: AppShell) -> None:
    assert shell.window is None and shell.session is None
    assert shell.sign_in is not None and shell.sign_in.isVisible(), "the sign-in screen is not shown"


ROLES = [("alice", PIN, ReadingWindow), ("ann", ANNOTATOR_PIN, AnnotationWorkspaceWindow),
         ("carol", COORD_PIN, CoordinatorHomeWindow)]


@pytest.mark.parametrize(("name", "pin", "kind"), ROLES, ids=["reader", "annotator", "coordinator"])
def test_sign_out_keeps_the_app_running_at_the_sign_in_screen(qt_default_app, tmp_path, name, pin, kind):  # noqa: ANN001
    ctx = _study(tmp_path)
    shell = AppShell(ctx, "Pilot", show=True)  # shown, as on a screen
    shell.finished.connect(qt_default_app.exit)
    ended: list[int] = []
    shell.finished.connect(ended.append)

    def signed_in() -> None:
        assert isinstance(shell.window, kind) and shell.window.isVisible()
        shell.window.activateWindow()  # the Session menu's shortcuts need the active window

    steps: list[Step] = [
        (0, shell.start),
        (100, lambda: _sign_in(shell, name, pin)),
        (300, signed_in),
        (0, lambda: shell.session_menu.actions["sign_out"].trigger()),  # Session -> Sign out
        (500, lambda: _at_sign_in(shell)),  # the event loop ran on: the app did not end
        (0, lambda: QTest.keyClick(shell.sign_in, Qt.Key.Key_Escape)),  # a stray Escape (a reader's break key)
        (300, lambda: _at_sign_in(shell)),
        (0, lambda: _sign_in(shell, name, pin)),  # the next person (the same one) signs in again
        (300, signed_in),
        (300, lambda: _shortcut(shell)),  # Ctrl+Shift+L
        (500, lambda: _at_sign_in(shell)),
        (0, lambda: shell.sign_in.quit_button.click()),  # only Quit on the sign-in screen ends the app
    ]
    driver = Driver(qt_default_app, steps)
    code = _run_and_clear(driver, shell)
    assert driver.done == len(steps), f"the app ended after step {driver.done} of {len(steps)}"
    assert code == 0 and ended == [0]
    actions = [(e.actor, e.action) for e in _audit(ctx)]
    assert actions.count((name, "auth.sign_in")) == 2 and actions.count((name, "auth.sign_out")) == 2


def _run_and_clear(driver: Driver, shell: AppShell) -> int:
    """``driver.exec()``, then close whatever window the shell left open (the next test starts clean)."""
    try:
        return driver.exec()
    finally:
        if shell.window is not None:
            shell._close_window()
        if shell.sign_in is not None and shell.sign_in.isVisible():
            shell.sign_in.hide()


def _audit(ctx):  # noqa: ANN001, ANN202
    with ctx.uow() as uow:
        return uow.audit.list()


def test_quit_in_the_session_menu_asks_and_defaults_to_sign_out(qt_default_app, tmp_path):  # noqa: ANN001
    """Quit is one row (one arrow key) below Sign out: it asks; Cancel gives the keyboard back to the
    window, Enter (the default, Sign out) signs out, and only Quit ends the app."""
    ctx = _study(tmp_path)
    shell = AppShell(ctx, "Pilot", show=True)
    shell.finished.connect(qt_default_app.exit)

    def asked() -> None:
        box = shell.quit_question
        assert box is not None and box.isVisible() and "Quit readerstudy?" in box.text()
        assert box.defaultButton().text() == "Sign out"
        QTest.keyClick(box, Qt.Key.Key_Return)

    def quit_now() -> None:
        box = shell.quit_question
        next(b for b in box.buttons() if b.text() == "Quit").click()

    def cancelled() -> None:
        assert shell.quit_question is None and isinstance(shell.window, CoordinatorHomeWindow)
        assert shell.window.isActiveWindow(), "the keyboard went nowhere after the question closed"

    steps: list[Step] = [
        (0, shell.start),
        (100, lambda: _sign_in(shell, "carol", COORD_PIN)),
        (300, lambda: shell.session_menu.actions["quit"].trigger()),
        (200, lambda: QTest.keyClick(shell.quit_question, Qt.Key.Key_Escape)),  # Cancel
        (300, cancelled),
        (0, lambda: _shortcut(shell)),  # the window's shortcuts work again, without a click
        (500, lambda: _at_sign_in(shell)),
        (0, lambda: _sign_in(shell, "carol", COORD_PIN)),
        (300, lambda: shell.session_menu.actions["quit"].trigger()),
        (200, asked),
        (300, lambda: _at_sign_in(shell)),
        (0, lambda: _sign_in(shell, "carol", COORD_PIN)),
        (300, lambda: shell.session_menu.actions["quit"].trigger()),
        (200, quit_now),  # asked again; this time Quit ends the app
    ]
    driver = Driver(qt_default_app, steps)
    code = _run_and_clear(driver, shell)
    assert code == 0 and driver.done == len(steps)
    assert [(e.actor, e.action) for e in _audit(ctx)][-1] == ("carol", "auth.sign_out")
