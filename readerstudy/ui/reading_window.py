"""The reading window: blinded case, black screen between cases, answers, AI reveal, break, end.

The window only maps input to :class:`~readerstudy.services.reading.ReadingService` calls and
listens to its :class:`~readerstudy.core.reading.ReadingFlow` events; everything a reader can do
is testable without it. The app shell (sign-in, then the window for the role) is in
:mod:`readerstudy.ui.shell`.
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QApplication,
    QLabel,
    QMainWindow,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from readerstudy.core.errors import ReaderStudyError
from readerstudy.core.reading import ReadingState
from readerstudy.services.assignments import WashoutPending
from readerstudy.services.reading import AiOutputMissing, AiView, CaseView, ReadingService
from readerstudy.ui.actions import ActionSpec, install_actions
from readerstudy.ui.ai_panel import AiPanel, ai_html, map_label
from readerstudy.ui.answer_panel import AnswerPanel
from readerstudy.ui.hanging_view import HangingPanel
from readerstudy.ui.image_view import ImageView
from readerstudy.ui.question_form import QuestionForm
from readerstudy.ui.reading_pages import HelpOverlay, message_page
from readerstudy.ui.shortcuts import (
    HANGING_KEYS,
    READING_HELP_EXTRA,
    READING_KEYS,
    action_specs,
    help_rows,
    preset_rows,
)
from readerstudy.ui.theme import apply_reading_theme

log = logging.getLogger(__name__)
PAGES = ("black", "reading", "break", "end")
PREFETCH_DELAY_MS = 100


class ReadingWindow(QMainWindow):
    """A signed-in reader's reading window over a :class:`ReadingService`.

    Reading-room mode: dark theme (:mod:`readerstudy.ui.theme`); the app shell opens it full
    screen (:attr:`opens_full_screen`), F11 toggles. Keys: :data:`readerstudy.ui.shortcuts.READING_KEYS`.
    """

    opens_full_screen = True

    finished = Signal()
    sign_out_requested = Signal()  # the app shell returns to the sign-in screen

    def __init__(self, service: ReadingService, *, black_screen_ms: int | None = None) -> None:
        super().__init__()
        self.service = service
        self.black_screen_ms = service.protocol.black_screen_ms if black_screen_ms is None else black_screen_ms
        self.view_model: CaseView | None = None
        self.ai_view: AiView | None = None
        self.ai_missing: str | None = None  # why the current case's AI output cannot be shown
        self.set_aside_note = ""  # said on the next case after a case was set aside
        self._overlay_toggles = 0
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
        self.help = HelpOverlay(self._help_rows, self)
        QApplication.instance().installEventFilter(self)
        self._open_assignment()

    # --- layout ---------------------------------------------------------------------------------
    def _build(self) -> None:
        apply_reading_theme(self)
        self.stack = QStackedWidget()
        black = QWidget()
        black.setObjectName("black")
        black.setStyleSheet("QWidget#black { background: black; }")
        self.image = ImageView()
        self.hanging = HangingPanel(self.image, self.service.protocol.hanging)  # multi-image cases
        self.progress = QLabel("")
        self.progress.setStyleSheet("font-size: 16px; font-weight: bold;")
        self.arm_label = QLabel("")
        form = self.service.protocol.form  # the protocol's names of the standard answers ([form])
        self.panel = AnswerPanel(self.service.protocol.contradiction_margin, form.positive, form.negative,
                                 probability=form.probability)
        self.ai_box = AiPanel(round(self.image.overlay_opacity * 100))
        p = self.ai_box  # the window's names for the panel's widgets (tests and callers use them)
        self.ai_text, self.reveal_button, self.aside_button = p.text, p.reveal_button, p.aside_button
        self.saliency_box, self.opacity, self.opacity_label, self.opacity_row = (
            p.saliency_box, p.opacity, p.opacity_label, p.opacity_row)
        self.break_button = QPushButton("Take a break  (Esc)")
        self.break_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        side = QWidget()
        side.setMinimumWidth(440)
        side_lay = QVBoxLayout(side)
        side_lay.addWidget(self.progress)
        side_lay.addWidget(self.arm_label)
        side_lay.addWidget(self.ai_box)
        side_lay.addWidget(self.panel, 1)
        self.questions = QuestionForm(self.service.questions)  # the protocol's questions (hidden if none)
        self.questions.attach_image(self.image)
        self.questions.leave_requested.connect(self.panel.focus_active)  # back to the answers
        side_lay.insertWidget(side_lay.indexOf(self.panel), self.questions)
        side_lay.addWidget(self.break_button)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.hanging)
        split.addWidget(side)
        split.setStretchFactor(0, 1)
        self.resume_button = QPushButton("Resume  (Enter)")
        self.signout_button = QPushButton("Sign out  (Ctrl+Shift+L)")
        self.end_signout_button = QPushButton("Sign out")
        self.end_button = QPushButton("Close")
        self.pages = {"black": black, "reading": split,
                      "break": message_page("Break. The case is hidden and active time is paused.\n"
                                     "Sign out to hand the workstation over; you resume at this case.",
                                     self.resume_button, self.signout_button),
                      "end": message_page("", self.end_signout_button, self.end_button)}
        for name in PAGES:
            self.stack.addWidget(self.pages[name])
        self.setCentralWidget(self.stack)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.panel.submit_requested.connect(self.submit)
        self.reveal_button.clicked.connect(self.reveal_ai)
        self.aside_button.clicked.connect(self.set_aside)
        self.saliency_box.toggled.connect(self._on_saliency_toggled)
        self.opacity.valueChanged.connect(self._on_opacity)
        self._on_opacity(self.opacity.value())
        self.break_button.clicked.connect(self.take_break)
        self.resume_button.clicked.connect(self.resume)
        self.signout_button.clicked.connect(self.sign_out_requested.emit)
        self.end_signout_button.clicked.connect(self.sign_out_requested.emit)
        self.end_button.clicked.connect(self.close)

    def _action_specs(self) -> list[ActionSpec]:
        p, v = self.panel, self.image
        callbacks = {
            "submit": self._on_enter, "next_field": p.next_field, "prev_field": p.prev_field,
            "positive": lambda: p.set_binary(1), "negative": lambda: p.set_binary(0),
            "prob_up": lambda: p.step_probability(1), "prob_down": lambda: p.step_probability(-1),
            "prob_up10": lambda: p.step_probability(10), "prob_down10": lambda: p.step_probability(-10),
            "backspace": p.backspace, "reveal": self.reveal_ai, "saliency": self.saliency_box.toggle,
            "opacity_down": lambda: self.step_opacity(-10), "opacity_up": lambda: self.step_opacity(10),
            "slice_next": lambda: v.step_slice(1), "slice_prev": lambda: v.step_slice(-1),
            "cine": v.toggle_cine, "zoom_in": lambda: v.zoom(1.25), "zoom_out": lambda: v.zoom(0.8),
            "reset": self._reset_view, "info": self.hanging.toggle_info, "fullscreen": self.toggle_full_screen,
            "break": self.take_break, "help": lambda: self.help.toggle(),
            "questions": self.questions.focus_first,
            **{f"digit{d}": (lambda d=d: p.type_digit(d)) for d in range(10)},
            **{f"preset{i}": (lambda i=i: v.apply_preset_index(i - 1)) for i in range(1, 10)},
        }
        return action_specs(READING_KEYS, callbacks) + self.hanging.action_specs()

    def _help_rows(self) -> list[tuple[str, str]]:
        """The help: number keys and mouse, the shown modality's presets, then the key table."""
        modality = self.view_model.hints.modality if self.view_model is not None else self.image.modality
        presets = [(keys, f"{title} ({modality})") for keys, title in preset_rows(self.image.presets())]
        hanging = help_rows(HANGING_KEYS) if self.hanging.fused_items else []
        return [READING_HELP_EXTRA[0], *presets, *READING_HELP_EXTRA[1:], *help_rows(READING_KEYS), *hanging]

    def toggle_full_screen(self) -> None:
        """F11: full screen (the reading-room default) or a normal window."""
        if self.isFullScreen():
            self.showNormal()
        else:
            self.showFullScreen()

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
        while True:
            try:
                view = self.service.start_case()
            except AiOutputMissing:  # concurrent AI arm: the case cannot be shown without its AI output
                self.set_aside_note = self._note(self.service.defer_case())
                continue
            except ReaderStudyError as exc:
                self._end(f"Cannot continue: {exc}")
                return
            break
        if view is None:
            flow = self.service.flow
            if flow is not None and flow.deferred:
                self._end(f"{flow.done} of {flow.total} cases of this session are read. {len(flow.deferred)} "
                          "case(s) are set aside because their AI output is missing; the coordinator has been "
                          "told. They come back the next time you sign in after the model has been run.")
                return
            self._open_assignment()
            return
        self.view_model, self.ai_view, self.ai_missing = view, None, None
        if self.black_screen_ms <= 0:
            self._display_case()
            return
        self._show("black")
        self._black_timer.start(self.black_screen_ms)

    @staticmethod
    def _note(pseudonym: str) -> str:
        return (f"Case {pseudonym} was set aside: its AI output is missing (the coordinator has been told; "
                "it comes back later).")

    def _display_case(self) -> None:
        view = self.view_model
        assert view is not None
        self.image.set_pixels(view.pixels, window=view.hints.window, modality=view.hints.modality,
                              frame_time_ms=view.hints.frame_time_ms if view.hints.is_cine else None,
                              invert=view.hints.invert)
        self.hanging.set_secondaries(view.secondaries)
        self.panel.clear()
        self.questions.clear()
        self.progress.setText(f"Practice case {view.index + 1} of {view.total} (not scored)" if view.practice else
                              f"Case {view.index + 1} of {view.total}   ·   {view.case.pseudonym}")
        self.arm_label.setText(f"Session {view.session} · {view.arm_name}")
        self._show("reading")
        self.panel.focus_active()
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
        locked_state = arm.sequential and state == ReadingState.UNAIDED_LOCKED
        if locked_state and self.ai_missing is None and not self.service.ai_available():
            self.ai_missing = "No AI output for this case yet: the model has not been run on it."
        self.ai_box.setVisible(arm.shows_ai)
        ai = concurrent or self.ai_view
        self.ai_box.show_controls(reveal=locked_state and self.ai_missing is None,
                                  aside=locked_state and self.ai_missing is not None,
                                  saliency_map=ai is not None and ai.saliency is not None)
        parts = [f"<i>{self.set_aside_note}</i>"] if self.set_aside_note else []
        if arm.sequential and state in (ReadingState.UNAIDED_LOCKED, ReadingState.AI_REVEALED):
            parts.append(self._locked_text(self.service.flow.unaided_draft if self.service.flow else None))
        if ai is not None:
            parts.append(ai_html(ai))
            self.image.set_overlay(ai.saliency, self.saliency_box.isChecked(), map_label(ai))
        elif arm.sequential and state == ReadingState.DISPLAYED:
            parts.append("Give your own read first; the AI output is shown after you submit it.")
        if locked_state and self.ai_missing is not None:
            parts.append(f"<b style='color:#a04a00'>{self.ai_missing}</b> Your unaided read is saved. Press Enter "
                         "to set this case aside and go on; the coordinator has been told, and the case comes "
                         "back for the aided read once the model has been run.")
        elif locked_state:
            parts.append("Press A (or Enter) to reveal the AI output.")
        if arm.sequential and state == ReadingState.AI_REVEALED:
            parts.append("Now give your read <i>with</i> the AI output.")
        self.ai_text.setText("<br>".join(parts))
        editable = state in (ReadingState.DISPLAYED, ReadingState.AI_REVEALED)
        self.panel.setEnabled(editable)
        self.questions.setEnabled(editable)
        self.panel.focus_active()
        if not editable:
            self.panel.hint.setText("Answers are locked" + (": reveal the AI output first (A)."
                                                           if locked_state and self.ai_missing is None else "."))

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
            flow = self.service.flow
            if flow is not None and flow.state == ReadingState.UNAIDED_LOCKED:
                if self.ai_missing is not None:
                    self.set_aside()
                else:
                    self.reveal_ai()
                return
            self.submit()

    def submit(self) -> None:
        flow = self.service.flow
        if self.page != "reading" or flow is None or flow.state not in (ReadingState.DISPLAYED,
                                                                        ReadingState.AI_REVEALED):
            return
        missing = self.panel.missing() + self.questions.missing()
        if missing:
            self.panel.hint.setText("Cannot submit yet. Still needed: " + ", ".join(missing))
            return
        if self.panel.needs_confirmation():
            return
        try:
            self.service.submit(*self.panel.answers(), view_state=self._view_state(),
                                answers=self.questions.values())
        except ReaderStudyError as exc:
            self.panel.hint.setText(f"Not submitted: {exc}")
            return
        self.set_aside_note = ""
        if flow.state == ReadingState.UNAIDED_LOCKED:
            self.panel.clear()
            self.questions.clear()
            self._refresh_ai()
            return
        self._next_case()

    def _view_state(self) -> dict[str, Any]:
        """The image view state, plus how the AI heat map was shown when there was one."""
        state = {**self.image.view_state(), **self.hanging.view_state()}
        ai = self.ai_view or (self.view_model.ai if self.view_model else None)
        if ai is not None and ai.saliency is not None:
            state["ai_overlay"] = {"visible": self.saliency_box.isChecked(),
                                   "opacity": self.image.overlay_opacity, "toggles": self._overlay_toggles,
                                   "colormap": "inferno", "scale": [0.0, 1.0], "target": ai.saliency_target}
        return state

    def reveal_ai(self) -> None:
        flow = self.service.flow
        if self.page != "reading" or flow is None or flow.state != ReadingState.UNAIDED_LOCKED:
            return
        try:
            self.ai_view = self.service.reveal_ai()
        except AiOutputMissing as exc:
            self.ai_missing = str(exc)
            self._refresh_ai()
            return
        except ReaderStudyError as exc:
            self.ai_text.setText(f"Cannot show the AI output: {exc}")
            return
        self._overlay_toggles = 0
        self.panel.clear()
        self._refresh_ai()

    def set_aside(self) -> None:
        """No AI output for this case: set it aside (the coordinator is told) and go to the next case."""
        flow = self.service.flow
        if self.page != "reading" or flow is None or flow.state != ReadingState.UNAIDED_LOCKED \
                or self.ai_missing is None:
            return
        try:
            pseudonym = self.service.defer_case()
        except ReaderStudyError as exc:
            self.ai_text.setText(f"Cannot set the case aside: {exc}")
            return
        self.set_aside_note = self._note(pseudonym)
        self._next_case()

    def _on_saliency_toggled(self, on: bool) -> None:
        ai = self.ai_view or (self.view_model.ai if self.view_model else None)
        if ai is not None:
            self._overlay_toggles += 1
            self.image.set_overlay(ai.saliency, on, map_label(ai))

    def _on_opacity(self, value: int) -> None:
        shown = self.image.set_overlay_opacity(value / 100)
        self.opacity_label.setText(f"{shown * 100:.0f} %")

    def step_opacity(self, step: int) -> None:
        self.ai_box.step_opacity(step)

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
        self._refresh_ai(self.view_model.ai if self.view_model else None)  # locked values, AI, as before
        self.panel.focus_active()

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

    def _focus_in_form(self) -> bool:
        focus = QApplication.focusWidget()
        return focus is not None and (self.questions.isAncestorOf(focus) or self.panel.isAncestorOf(focus))

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt override
        if event.type() == QEvent.Type.ActivationChange and self.service.flow is not None:
            self.service.flow.set_focused(self.isActiveWindow())
            if self.isActiveWindow() and self.page == "reading" and not self._focus_in_form():
                self.panel.focus_active()  # the case was shown before the window got the focus
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


__all__ = ["ReadingWindow"]
