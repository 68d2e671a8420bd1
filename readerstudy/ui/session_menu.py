"""The "Session" menu every signed-in window gets: who is signed in, change my PIN, sign out, quit.

Shared workstation: **Sign out** (``Ctrl+Shift+L``, or ``O`` in the open menu) returns to the
sign-in screen for the next person; **Quit** (``Ctrl+Q``) asks first (Sign out is the default
answer) and closing the window ends the app. A coordinator also gets **New study…** (another
study with them as its first coordinator, opened at once). The menu only emits intents
(``sign_out_requested``, ``quit_requested``, ``switch_requested``); the app shell
(:mod:`readerstudy.ui.shell`) acts on them. A window that has its own ``sign_out_requested``
signal (the reading window's break and end pages) is wired to the same intent.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMainWindow

from readerstudy.services.auth import UserSession
from readerstudy.services.context import AppContext
from readerstudy.ui.account_dialogs import change_pin_dialog, coordinator_new_study_dialog
from readerstudy.ui.forms import FormDialog
from readerstudy.ui.shortcuts import QUIT_SHORTCUT, SIGN_OUT_SHORTCUT


class SessionMenu(QObject):
    """Adds the Session menu to ``window``; ``actions`` holds its QActions by id."""

    sign_out_requested = Signal()
    quit_requested = Signal()
    switch_requested = Signal(object)  # a UserSession of another study (coordinator's "New study…")

    def __init__(self, window: QMainWindow, ctx: AppContext, session: UserSession) -> None:
        super().__init__(window)
        self.window, self.ctx, self.session = window, ctx, session
        self.dialog: FormDialog | None = None
        self.menu = window.menuBar().addMenu("&Session")
        who = self.menu.addAction(f"Signed in as {session.name} ({session.role}) · {session.study_name}")
        who.setEnabled(False)
        self.menu.addSeparator()
        self.actions: dict[str, QAction] = {}
        self._add("change_pin", "&Change my PIN…", None, self.change_pin)
        if session.is_coordinator:
            self._add("new_study", "&New study…", None, self.new_study)
        self.menu.addSeparator()
        self._add("sign_out", "Sign &out", SIGN_OUT_SHORTCUT, self.sign_out_requested.emit)
        self.menu.addSeparator()
        self._add("quit", "&Quit…", QUIT_SHORTCUT, self.quit_requested.emit)
        own = getattr(window, "sign_out_requested", None)
        if own is not None:
            own.connect(self.sign_out_requested.emit)

    def _add(self, key: str, title: str, shortcut: str | None, callback) -> None:  # noqa: ANN001
        action = self.menu.addAction(title)
        action.setObjectName(f"session.{key}")
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.triggered.connect(lambda _=False: callback())
        self.actions[key] = action

    def change_pin(self) -> None:
        self.dialog = change_pin_dialog(self.ctx, self.session, self.window)
        self.dialog.open()

    def new_study(self) -> None:
        dialog = coordinator_new_study_dialog(self.ctx, self.session, self.window)
        dialog.accepted.connect(lambda: self.switch_requested.emit(dialog.result_value))
        self.dialog = dialog
        dialog.open()


__all__ = ["QUIT_SHORTCUT", "SIGN_OUT_SHORTCUT", "SessionMenu"]
