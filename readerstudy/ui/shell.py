"""The app shell: sign-in, then the window a signed-in person gets (reading window, annotation
workspace or coordinator home), and back to the sign-in screen on sign out.

Entry point of the ``gui`` command: :func:`run_reading_app`. A shared workstation goes
sign-in -> window -> *Sign out* -> sign-in -> ... within one event loop (:class:`AppShell`);
the sign-in screen's *Quit* (or closing it), closing the window or *Quit* in the Session menu (which
asks first, Sign out being the default answer) ends the app. The shell alone decides when the app
ends: it turns Qt's quit-on-last-window-closed off, and shows the next window before it closes
the previous one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import QApplication, QMainWindow, QMessageBox, QWidget

from readerstudy.core.errors import ReaderStudyError
from readerstudy.core.models import Role
from readerstudy.services import auth
from readerstudy.services.auth import UserSession
from readerstudy.services.context import AppContext
from readerstudy.services.reading import ReadingService

log = logging.getLogger(__name__)
WINDOW_SIZE = (1500, 950)  # only where no screen is known (offscreen tests)
SCREEN_FRACTION = 0.9  # a normal (not full-screen) window takes this much of the screen's free area
MIN_SIZE = (1024, 700)


def window_size_for(available: tuple[int, int] | None) -> tuple[int, int]:
    """(width, height) in device-independent pixels of a signed-in window on a screen whose free
    area (without task bars) is ``available``: 90 % of it, at least 1024 x 700 but never more
    than the screen; :data:`WINDOW_SIZE` when no screen is known."""
    if available is None or available[0] <= 0 or available[1] <= 0:
        return WINDOW_SIZE
    w, h = available
    return (min(w, max(MIN_SIZE[0], round(w * SCREEN_FRACTION))),
            min(h, max(MIN_SIZE[1], round(h * SCREEN_FRACTION))))


def _available(window: QWidget) -> tuple[int, int] | None:
    screen = window.screen()
    if screen is None:
        return None
    geo = screen.availableGeometry()
    return geo.width(), geo.height()


def open_window_for(ctx: AppContext, session: UserSession) -> QMainWindow:
    """The window a signed-in person gets: readers read, coordinators get the coordinator page."""
    if session.is_coordinator:
        from readerstudy.ui.coordinator.home import CoordinatorHomeWindow

        return CoordinatorHomeWindow(ctx, session)
    if session.role == Role.ANNOTATOR:
        from readerstudy.ui.annotation_workspace import AnnotationWorkspaceWindow

        return AnnotationWorkspaceWindow(ctx, session)
    from readerstudy.ui.reading_window import ReadingWindow

    return ReadingWindow(ReadingService(ctx, session))


def _ask(parent: QWidget, question: str) -> bool:
    answer = QMessageBox.question(parent, "readerstudy", question,
                                  QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                  QMessageBox.StandardButton.No)
    return answer == QMessageBox.StandardButton.Yes


class AppShell(QObject):
    """Sign-in screen and the signed-in window, one at a time.

    ``finished(code)`` is emitted when the app should end (sign-in closed, window closed, Quit).
    ``confirm(parent, question) -> bool`` is asked before signing out of a window that reports
    unsaved work (``window.unsaved_work() -> str | None``); injectable for tests. Closing such a
    window asks the window itself (``window.confirm_leave(doing) -> bool``: Save / Discard / Cancel).
    """

    finished = Signal(int)

    def __init__(self, ctx: AppContext, study_name: str | None = None, *,
                 confirm: Callable[[QWidget, str], bool] = _ask, show: bool = True) -> None:
        super().__init__()
        self.ctx, self.study_name = ctx, study_name
        self._confirm, self._show = confirm, show
        self.sign_in: Any = None
        self.window: QMainWindow | None = None
        self.session: UserSession | None = None
        self.session_menu: Any = None
        self._leaving = False  # the window is being closed by the shell (sign out / switch), not the user
        self.quit_question: QMessageBox | None = None  # the open "Quit readerstudy?" box
        app = QApplication.instance()
        if app is not None:  # the shell ends the app (``finished``), never Qt: between the sign-in screen and
            app.setQuitOnLastWindowClosed(False)  # the window (either way) no window may be visible
            app.focusChanged.connect(self._on_focus_changed)

    # --- sign-in --------------------------------------------------------------------------------
    def start(self) -> None:
        """Show the sign-in screen (on an empty database it offers "New study…")."""
        from readerstudy.ui.sign_in_dialog import SignInDialog

        dialog = SignInDialog(self.ctx, self.study_name)
        dialog.accepted.connect(self._on_signed_in)
        dialog.rejected.connect(lambda: self.finished.emit(0))
        self.sign_in = dialog
        if self._show:
            self._bring_up(dialog)
            from readerstudy.ui.app import configure_pyqtgraph

            QTimer.singleShot(50, configure_pyqtgraph)  # the image views' import while the PIN is typed

    @staticmethod
    def _bring_up(widget: QWidget) -> None:
        widget.show()
        widget.raise_()
        widget.activateWindow()

    def _on_signed_in(self) -> None:
        dialog = self.sign_in
        assert dialog is not None and dialog.session is not None
        try:
            self._open(dialog.session)
        except ReaderStudyError as exc:  # e.g. no protocol applied yet: say so on the sign-in screen
            auth.sign_out(self.ctx, dialog.session)
            dialog.session = None
            dialog.error.setText(str(exc))
            dialog.show()  # accept() hid it
            return
        self.sign_in = None
        dialog.deleteLater()

    # --- the signed-in window ---------------------------------------------------------------------
    def _open(self, session: UserSession) -> None:
        from readerstudy.ui.app import configure_pyqtgraph
        from readerstudy.ui.session_menu import SessionMenu

        configure_pyqtgraph()  # before any view is built (idempotent)
        window = open_window_for(self.ctx, session)
        self.session_menu = SessionMenu(window, self.ctx, session)
        self.session_menu.sign_out_requested.connect(self.sign_out)
        self.session_menu.switch_requested.connect(self.switch_to)
        self.session_menu.quit_requested.connect(self.ask_quit)
        window.installEventFilter(self)
        self.window, self.session, self.study_name = window, session, session.study_name
        if self._show:  # scheduled backups and the start-up audit check (coordinators) while it is open
            from readerstudy.ui.maintenance import start_maintenance

            window.maintenance = start_maintenance(self.ctx, session, window)
            window.resize(*window_size_for(_available(window)))  # the size F11 returns to
            if getattr(window, "opens_full_screen", False):  # reading-room mode (F11 leaves it)
                window.showFullScreen()
            else:
                window.show()
            window.raise_()
            window.activateWindow()  # keyboard-only reading: the window must have focus without a click

    def _close_window(self) -> None:
        window, self.window = self.window, None
        self._release(window)

    def _release(self, window: QMainWindow | None) -> None:
        from readerstudy.ui.app import release_window

        if window is None:
            return
        self._leaving = True
        try:
            release_window(window)
        finally:
            self._leaving = False

    def sign_out(self) -> bool:
        """Show the sign-in screen again (same study preselected), then close the window.

        The sign-in screen is up before the window closes: there is never a moment without a window
        (a black screen; with Qt's ``quitOnLastWindowClosed`` the end of the app). Returns False
        when the person chose to stay because of unsaved work.
        """
        window, session = self.window, self.session
        if window is None or session is None:
            return False
        unsaved = getattr(window, "unsaved_work", lambda: None)()
        if unsaved and not self._confirm(window, f"{unsaved}\n\nSign out anyway and discard it?"):
            return False
        if unsaved:
            getattr(window, "discard_unsaved", lambda: None)()  # asked once: closing must not ask again
        self.session = None
        self.start()
        self._close_window()
        auth.sign_out(self.ctx, session)
        if self._show and self.sign_in is not None:
            self._bring_up(self.sign_in)  # the keyboard goes to the PIN field, not to the closed window
        return True

    def switch_to(self, session: UserSession) -> None:
        """Open the window for ``session`` (a coordinator's new study) in place of the current one
        (the new window is shown before the old one closes)."""
        old_window, old_session = self.window, self.session
        self.window = None  # the old window's close is the shell's, not the user's
        try:
            self._open(session)
        except BaseException:
            self.window = old_window
            raise
        self._release(old_window)
        if old_session is not None:
            auth.sign_out(self.ctx, old_session)

    # --- quit ------------------------------------------------------------------------------------
    def ask_quit(self) -> None:
        """*Quit* (menu or Ctrl+Q) asks first, with *Sign out* as the default answer: on a shared
        workstation ending the app leaves the next person without a sign-in screen, and Quit is
        one row (one arrow key) below Sign out. The question is window-modal, not blocking."""
        window = self.window
        if window is None:
            return
        box = QMessageBox(QMessageBox.Icon.Question, "readerstudy",
                          "Quit readerstudy?\n\nThe next person then has to start it again. "
                          "Sign out keeps it open at the sign-in screen.", QMessageBox.StandardButton.NoButton,
                          window)
        sign_out = box.addButton("Sign out", QMessageBox.ButtonRole.AcceptRole)
        quit_ = box.addButton("Quit", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(sign_out)
        box.setWindowModality(Qt.WindowModality.WindowModal)
        self.quit_question = box

        def answered() -> None:
            self.quit_question = None
            clicked = box.clickedButton()
            if clicked is sign_out:
                self.sign_out()
            elif clicked is quit_ and self.window is window:
                window.close()  # the event filter signs out and ends the app

        box.finished.connect(lambda _code: QTimer.singleShot(0, answered))  # after the box has closed
        box.open()

    # --- keyboard focus --------------------------------------------------------------------------
    def _on_focus_changed(self, _old: QWidget | None, new: QWidget | None) -> None:
        """When a dialog closes and no window has the keyboard, give it back to the dialog's window.

        A window manager does this; without one (a kiosk, Xvfb) the keyboard went nowhere after any
        dialog (the Quit question, a folder chooser, Change my PIN…) and the window's shortcuts
        (Ctrl+Shift+L) were dead until a click. The focus moving to another program is left alone.
        """
        dialog = new.window() if new is not None else None
        owner = dialog.parentWidget() if dialog is not None else None
        handle = dialog.windowHandle() if owner is not None else None
        if handle is None or dialog.property("readerstudy_refocus"):
            return
        dialog.setProperty("readerstudy_refocus", True)  # one connection per dialog
        top = owner.window()
        handle.visibleChanged.connect(lambda visible: visible or QTimer.singleShot(0, lambda: self._refocus(top)))

    @staticmethod
    def _refocus(window: QWidget) -> None:
        try:
            if QApplication.activeWindow() is None and window.isVisible():
                window.activateWindow()
        except RuntimeError:  # deleted meanwhile (signed out)
            pass

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if obj is self.window and event.type() == QEvent.Type.Close and not self._leaving:
            confirm_leave = getattr(obj, "confirm_leave", None)
            if confirm_leave is not None and not confirm_leave("closing the window"):
                event.ignore()  # Cancel (or a failed save): the window stays, the app goes on
                return True
            if self.session is not None:
                auth.sign_out(self.ctx, self.session)
                self.session = None
            self.finished.emit(0)  # the user closed the window: the app ends
        return False


def run_reading_app(ctx: AppContext, study_name: str | None = None) -> int:
    """Sign in, then read (or the coordinator page, or annotation); sign out returns to the sign-in
    screen. Returns the Qt exit code."""
    from readerstudy.ui.app import ensure_app

    app = ensure_app(configure=False)  # pyqtgraph after the sign-in screen is shown (fast start)
    shell = AppShell(ctx, study_name)  # also turns Qt's quit-on-last-window-closed off
    shell.finished.connect(app.exit)
    shell.start()
    code = app.exec()
    if shell.window is not None:
        shell._close_window()
    return code


__all__ = ["AppShell", "open_window_for", "run_reading_app"]
