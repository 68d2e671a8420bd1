"""The reading window: blinded case, black screen between cases, answers, AI reveal, break, end.

The window only maps input to :class:`~readerstudy.services.reading.ReadingService` calls and
listens to its :class:`~readerstudy.core.reading.ReadingFlow` events; everything a reader can do
is testable without it. Entry point for the ``gui`` command: :func:`run_reading_app`.
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QFrame,
    QGroupBox,
    QLabel,
    QMainWindow,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from readerstudy.core.errors import ReaderStudyError
from readerstudy.core.models import Role
from readerstudy.core.reading import ReadingState
from readerstudy.services.assignments import WashoutPending
from readerstudy.services.auth import UserSession
from readerstudy.services.context import AppContext
from readerstudy.services.reading import AiView, CaseView, ReadingService
from readerstudy.ui.actions import ActionSpec, help_rows, install_actions
from readerstudy.ui.answer_panel import AnswerPanel
from readerstudy.ui.image_view import ImageView

log = logging.getLogger(__name__)
PAGES = ("black", "reading", "break", "end")
PREFETCH_DELAY_MS = 100


def _page(text: str, *buttons: QPushButton) -> QWidget:
    w = QWidget()
    lay = QVBoxLayout(w)
    lay.addStretch(1)
    label = QLabel(text)
    label.setObjectName("message")
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    label.setWordWrap(True)
    label.setStyleSheet("font-size: 20px;")
    lay.addWidget(label)
    for b in buttons:
        lay.addWidget(b, alignment=Qt.AlignmentFlag.AlignCenter)
    lay.addStretch(1)
    return w


class _HelpOverlay(QFrame):
    def __init__(self, rows: list[tuple[str, str]], parent: QWidget) -> None:
        super().__init__(parent)
        self.setStyleSheet("background: rgba(10,10,10,225); color: white; border-radius: 8px;")
        html = "<h3>Keyboard</h3><table cellpadding=3>" + "".join(
            f"<tr><td><b>{k}</b></td><td>{t}</td></tr>" for k, t in rows) + "</table><p>F1 or ? closes this.</p>"
        label = QLabel(html)
        label.setTextFormat(Qt.TextFormat.RichText)
        QVBoxLayout(self).addWidget(label)
        self.hide()

    def toggle(self) -> None:
        if self.isVisible():
            self.hide()
            return
        parent = self.parentWidget()
        self.adjustSize()
        self.move((parent.width() - self.width()) // 2, (parent.height() - self.height()) // 2)
        self.raise_()
        self.show()


class ReadingWindow(QMainWindow):
    """A signed-in reader's reading window over a :class:`ReadingService`."""

    finished = Signal()

    def __init__(self, service: ReadingService, *, black_screen_ms: int | None = None) -> None:
        super().__init__()
        self.service = service
        self.black_screen_ms = service.protocol.black_screen_ms if black_screen_ms is None else black_screen_ms
        self.view_model: CaseView | None = None
        self.ai_view: AiView | None = None
        self.setWindowTitle(f"readerstudy — {service.user.study_name} — {service.user.name}")
        self._build()
        # persistent single-shot timers (QTimer.singleShot with Python callables is fragile in PySide6)
        self._black_timer = QTimer(self)
        self._black_timer.setSingleShot(True)
        self._black_timer.timeout.connect(self._display_case)
        self._prefetch_timer = QTimer(self)
        self._prefetch_timer.setSingleShot(True)
        self._prefetch_timer.timeout.connect(self._on_prefetch_due)
        self.specs = self._action_specs()
        self.actions_by_id = install_actions(self, self.specs)
        self.help = _HelpOverlay(self._help_rows(), self)
        QApplication.instance().installEventFilter(self)
        self._open_assignment()

    # --- layout ---------------------------------------------------------------------------------
    def _build(self) -> None:
        self.stack = QStackedWidget()
        black = QWidget()
        black.setStyleSheet("background: black;")
        self.image = ImageView()
        self.progress = QLabel("")
        self.progress.setStyleSheet("font-size: 16px; font-weight: bold;")
        self.arm_label = QLabel("")
        self.panel = AnswerPanel(self.service.protocol.contradiction_margin)
        self.ai_box = QGroupBox("AI output")
        self.ai_text = QLabel("")
        self.ai_text.setWordWrap(True)
        self.reveal_button = QPushButton("Reveal AI output  (A)")
        self.saliency_box = QCheckBox("Show saliency map  (S)")
        self.saliency_box.setChecked(True)
        for w in (self.reveal_button, self.saliency_box):
            w.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        ai_lay = QVBoxLayout(self.ai_box)
        for w in (self.ai_text, self.reveal_button, self.saliency_box):
            ai_lay.addWidget(w)
        self.break_button = QPushButton("Take a break  (Esc)")
        self.break_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        side = QWidget()
        side.setMinimumWidth(440)
        side_lay = QVBoxLayout(side)
        side_lay.addWidget(self.progress)
        side_lay.addWidget(self.arm_label)
        side_lay.addWidget(self.ai_box)
        side_lay.addWidget(self.panel, 1)
        side_lay.addWidget(self.break_button)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.image)
        split.addWidget(side)
        split.setStretchFactor(0, 1)
        self.resume_button = QPushButton("Resume  (Enter)")
        self.signout_button = QPushButton("Sign out")
        self.end_button = QPushButton("Close")
        self.pages = {"black": black, "reading": split,
                      "break": _page("Break. The case is hidden and active time is paused.",
                                     self.resume_button, self.signout_button),
                      "end": _page("", self.end_button)}
        for name in PAGES:
            self.stack.addWidget(self.pages[name])
        self.setCentralWidget(self.stack)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.panel.submit_requested.connect(self.submit)
        self.reveal_button.clicked.connect(self.reveal_ai)
        self.saliency_box.toggled.connect(self._on_saliency_toggled)
        self.break_button.clicked.connect(self.take_break)
        self.resume_button.clicked.connect(self.resume)
        self.signout_button.clicked.connect(self.close)
        self.end_button.clicked.connect(self.close)

    def _action_specs(self) -> list[ActionSpec]:
        p, v = self.panel, self.image
        specs = [
            ActionSpec("submit", "Submit the read / resume after a break", ("Return", "Enter"), self._on_enter),
            ActionSpec("next_field", "Next answer field", ("Tab",), p.next_field),
            ActionSpec("prev_field", "Previous answer field", ("Shift+Tab", "Backtab"), p.prev_field),
            ActionSpec("positive", "Binary call: positive (1)", ("Y",), lambda: p.set_binary(1)),
            ActionSpec("negative", "Binary call: negative (0)", ("N",), lambda: p.set_binary(0)),
            ActionSpec("prob_up", "Probability +1 (Shift: +10)", ("Up",), lambda: p.step_probability(1)),
            ActionSpec("prob_down", "Probability -1 (Shift: -10)", ("Down",), lambda: p.step_probability(-1)),
            ActionSpec("prob_up10", "Probability +10", ("Shift+Up",), lambda: p.step_probability(10), help=False),
            ActionSpec("prob_down10", "Probability -10", ("Shift+Down",), lambda: p.step_probability(-10),
                       help=False),
            ActionSpec("backspace", "Delete the last probability digit", ("Backspace",), p.backspace),
            ActionSpec("reveal", "Reveal the AI output (sequential arm, after the unaided read)", ("A",),
                       self.reveal_ai),
            ActionSpec("saliency", "Show/hide the AI saliency map", ("S",), self.saliency_box.toggle),
            ActionSpec("slice_next", "Next slice / frame", ("PgDown",), lambda: v.step_slice(1)),
            ActionSpec("slice_prev", "Previous slice / frame", ("PgUp",), lambda: v.step_slice(-1)),
            ActionSpec("cine", "Play / stop cine (multi-frame)", ("Space",), v.toggle_cine),
            ActionSpec("zoom_in", "Zoom in", ("+", "="), lambda: v.zoom(1.25)),
            ActionSpec("zoom_out", "Zoom out", ("-",), lambda: v.zoom(0.8)),
            ActionSpec("reset", "Reset zoom, pan and window", ("R",), self._reset_view),
            ActionSpec("break", "Take a break (hides the case, pauses active time)", ("Esc",), self.take_break),
            ActionSpec("help", "Show / hide this help", ("F1", "?"), lambda: self.help.toggle()),
        ]
        digits = [ActionSpec(f"digit{d}", f"Type {d}", (str(d),), lambda d=d: p.type_digit(d), help=False)
                  for d in range(10)]
        presets = [ActionSpec(f"preset{i}", f"Window preset {i}", (f"Ctrl+{i}",),
                              lambda i=i: v.apply_preset_index(i - 1), help=False) for i in range(1, 6)]
        return specs + digits + presets

    def _help_rows(self) -> list[tuple[str, str]]:
        extra = [("0 – 9", "Number keys answer the active field: probability digits, call 0/1, confidence 1-5"),
                 ("Ctrl+1 – 5", "Window presets (default, CT soft tissue/lung/bone/brain, full range)"),
                 ("Mouse", "Right-drag: window/level · wheel: zoom · left-drag: pan · Ctrl+wheel: slice")]
        return extra + help_rows(self.specs)

    # --- flow -----------------------------------------------------------------------------------
    def _show(self, page: str) -> None:
        self.stack.setCurrentWidget(self.pages[page])

    @property
    def page(self) -> str:
        current = self.stack.currentWidget()
        return next(name for name, w in self.pages.items() if w is current)

    def _open_assignment(self) -> None:
        try:
            flow = self.service.open()
        except WashoutPending as exc:
            self._end(f"This session is complete. Thank you.\n\nYour next session opens on "
                      f"{exc.not_before:%d %B %Y, %H:%M} UTC (washout).")
            return
        if flow is None:
            self._end("All your cases are read. Thank you!")
            return
        flow.state_changed.connect(self._on_state_changed)
        self._next_case()

    def _next_case(self) -> None:
        self.help.hide()
        try:
            view = self.service.start_case()
        except ReaderStudyError as exc:
            self._end(f"Cannot continue: {exc}")
            return
        if view is None:
            self._open_assignment()
            return
        self.view_model, self.ai_view = view, None
        if self.black_screen_ms <= 0:
            self._display_case()
            return
        self._show("black")
        self._black_timer.start(self.black_screen_ms)

    def _display_case(self) -> None:
        view = self.view_model
        assert view is not None
        self.image.set_pixels(view.pixels, window=view.hints.window, modality=view.hints.modality,
                              frame_time_ms=view.hints.frame_time_ms if view.hints.is_cine else None)
        self.panel.clear()
        self.progress.setText(f"Case {view.index + 1} of {view.total}   ·   {view.case.pseudonym}")
        self.arm_label.setText(f"Session {view.session} · {view.arm_name}")
        self._show("reading")
        self.service.display()
        self._prefetch_timer.start(PREFETCH_DELAY_MS)  # after the paint, not during it
        self._refresh_ai(view.ai)
        if view.hints.is_cine:
            self.image.toggle_cine()

    def _on_prefetch_due(self) -> None:
        self.service.prefetch_next()

    def _refresh_ai(self, concurrent: AiView | None = None) -> None:
        arm = self.service.arm
        state = self.service.flow.state if self.service.flow else None
        self.ai_box.setVisible(arm.shows_ai)
        self.reveal_button.setVisible(arm.sequential and state == ReadingState.UNAIDED_LOCKED)
        ai = concurrent or self.ai_view
        self.saliency_box.setVisible(ai is not None and ai.saliency is not None)
        locked = self.service.flow.unaided_draft if self.service.flow else None
        parts = []
        if arm.sequential and state in (ReadingState.UNAIDED_LOCKED, ReadingState.AI_REVEALED):
            parts.append(self._locked_text(locked))
        if ai is not None:
            parts.append(f"<b>{ai.model_name}</b> v{ai.model_version}: probability "
                         f"<b>{ai.probability_pct:.0f} %</b>")
            self.image.set_overlay(ai.saliency, self.saliency_box.isChecked())
        elif arm.sequential and state == ReadingState.DISPLAYED:
            parts.append("Give your own read first; the AI output is shown after you submit it.")
        if arm.sequential and state == ReadingState.AI_REVEALED:
            parts.append("Now give your read <i>with</i> the AI output.")
        self.ai_text.setText("<br>".join(parts))
        self.panel.setEnabled(state in (ReadingState.DISPLAYED, ReadingState.AI_REVEALED))

    @staticmethod
    def _locked_text(d: Any) -> str:
        if d is None:
            return "Your unaided read is stored and locked."
        a = d.answers
        return (f"Your unaided read is locked: {a.probability:.0f} %, "
                f"{'positive' if a.binary else 'negative'}, confidence {a.confidence}.")

    def _on_state_changed(self, state: str) -> None:
        log.debug("reading state: %s", state)

    # --- user actions ---------------------------------------------------------------------------
    def _on_enter(self) -> None:
        if self.page == "break":
            self.resume()
        elif self.page == "reading":
            self.submit()

    def submit(self) -> None:
        flow = self.service.flow
        if self.page != "reading" or flow is None or flow.state not in (ReadingState.DISPLAYED,
                                                                        ReadingState.AI_REVEALED):
            return
        if self.panel.missing():
            self.panel.hint.setText("Cannot submit yet. Still needed: " + ", ".join(self.panel.missing()))
            return
        if self.panel.needs_confirmation():
            return
        try:
            self.service.submit(*self.panel.answers(), view_state=self.image.view_state())
        except ReaderStudyError as exc:
            self.panel.hint.setText(f"Not submitted: {exc}")
            return
        if flow.state == ReadingState.UNAIDED_LOCKED:
            self.panel.clear()
            self._refresh_ai()
            return
        self._next_case()

    def reveal_ai(self) -> None:
        flow = self.service.flow
        if self.page != "reading" or flow is None or flow.state != ReadingState.UNAIDED_LOCKED:
            return
        try:
            self.ai_view = self.service.reveal_ai()
        except ReaderStudyError as exc:
            self.ai_text.setText(f"Cannot show the AI output: {exc}")
            return
        self.panel.clear()
        self._refresh_ai()

    def _on_saliency_toggled(self, on: bool) -> None:
        ai = self.ai_view or (self.view_model.ai if self.view_model else None)
        if ai is not None:
            self.image.set_overlay(ai.saliency, on)

    def _reset_view(self) -> None:
        self.image.apply_preset("default")
        self.image.reset_view()

    def take_break(self) -> None:
        if self.help.isVisible():
            self.help.hide()
            return
        if self.page != "reading" or self.service.flow is None:
            return
        self.service.flow.pause()
        self.image.cine.stop()
        self._show("break")

    def resume(self) -> None:
        if self.page != "break" or self.service.flow is None:
            return
        self.service.flow.resume()
        self._show("reading")

    def _end(self, message: str) -> None:
        self.pages["end"].findChild(QLabel, "message").setText(message)
        self.image.clear()
        self._show("end")
        self.finished.emit()

    # --- activity and focus feed the active-time counter ------------------------------------------
    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if event.type() in (QEvent.Type.KeyPress, QEvent.Type.MouseButtonPress, QEvent.Type.Wheel,
                            QEvent.Type.MouseMove) and self.service.flow is not None and self.isActiveWindow():
            self.service.flow.touch()
        return False

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt override
        if event.type() == QEvent.Type.ActivationChange and self.service.flow is not None:
            self.service.flow.set_focused(self.isActiveWindow())
        super().changeEvent(event)

    def closeEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        app = QApplication.instance()
        if app is not None:
            app.removeEventFilter(self)
        self.image.cine.stop()
        self._black_timer.stop()
        self._prefetch_timer.stop()
        self.service.close()
        super().closeEvent(event)


class CoordinatorHomeWindow(QMainWindow):
    """The coordinator's home: a "Dashboard" tab (progress, reports) and a "Cases" tab (the main window)."""

    def __init__(self, ctx: AppContext, session: UserSession) -> None:
        super().__init__()
        from PySide6.QtWidgets import QTabWidget

        from readerstudy.services.auth import require_coordinator
        from readerstudy.ui.dashboard import DashboardWidget
        from readerstudy.ui.main_window import MainWindow

        require_coordinator(session, "opening the coordinator page")
        self.setWindowTitle(f"readerstudy — coordinator — {session.study_name}")
        self.dashboard = DashboardWidget(ctx, session)
        self.cases = MainWindow(ctx, session.study_name)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.dashboard, "Dashboard")
        self.tabs.addTab(self.cases, "Cases")
        self.setCentralWidget(self.tabs)

    def closeEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        self.dashboard.shutdown()
        super().closeEvent(event)


def open_window_for(ctx: AppContext, session: UserSession) -> QMainWindow:
    """The window a signed-in person gets: readers read, coordinators get the coordinator page."""
    if session.is_coordinator:
        return CoordinatorHomeWindow(ctx, session)
    if session.role == Role.ANNOTATOR:
        from readerstudy.ui.annotation_workspace import AnnotationWorkspaceWindow

        return AnnotationWorkspaceWindow(ctx, session)
    return ReadingWindow(ReadingService(ctx, session))


def run_reading_app(ctx: AppContext, study_name: str | None = None) -> int:
    """Sign in, then read (or, for a coordinator, the coordinator page). Returns the Qt exit code."""
    from readerstudy.ui.app import ensure_app, release_window
    from readerstudy.ui.sign_in_dialog import SignInDialog

    app = ensure_app()
    dialog = SignInDialog(ctx, study_name)
    while True:
        if dialog.exec() != SignInDialog.DialogCode.Accepted or dialog.session is None:
            return 0
        try:
            window = open_window_for(ctx, dialog.session)
        except ReaderStudyError as exc:  # e.g. no protocol applied yet: say so on the sign-in screen
            dialog.error.setText(str(exc))
            continue
        break
    window.resize(1500, 950)
    window.show()
    window.raise_()
    window.activateWindow()  # keyboard-only reading: the window must have focus without a click
    code = app.exec()
    release_window(window)
    return code


__all__ = ["ReadingWindow", "CoordinatorHomeWindow", "run_reading_app", "open_window_for"]
