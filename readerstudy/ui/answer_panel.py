"""The answer panel: probability 0-100 (slider + spin box), binary call, confidence 1-5 (Likert).

All three are required. Keyboard: the active field (highlighted) takes the number keys —
probability digits (``7`` ``5`` -> 75, moves on when no further digit fits), then ``0``/``1`` for
the call, then ``1``-``5`` for confidence, then Submit; Tab/Shift+Tab move between the four
fields forward and back; Y/N set the call and move on to confidence. The keyboard focus follows
the active field (slider, call button, confidence button, Submit), so what is highlighted is
what the keys act on. A click on the probability bar sets the value under the click.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import (
    QApplication,
    QButtonGroup,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QSpinBox,
    QStyle,
    QStyleOptionSlider,
    QVBoxLayout,
    QWidget,
)

from readerstudy.core.reading import LIKERT_LABELS, contradiction_warning
from readerstudy.ui.theme import ACTIVE_PROPERTY, WARNING, answer_boxes_qss

FIELDS = ("probability", "binary", "confidence")  # the answers, in answers() order
STOPS = (*FIELDS, "submit")  # where the keyboard focus goes, in Tab order


class JumpSlider(QSlider):
    """A slider whose left click on the track sets the value under the click (not a page step).

    The value is computed from the groove geometry of the current style
    (``QStyle.sliderValueFromPosition``), so a click at 80 % of the track sets 80 on a 0-100 bar;
    the press then drags the handle as usual. (A QProxyStyle would do the same through
    ``SH_Slider_AbsoluteSetButtons`` but takes ownership of the application style it wraps.)
    """

    def mousePressEvent(self, ev: QMouseEvent) -> None:  # noqa: N802 - Qt override
        if ev.button() == Qt.MouseButton.LeftButton and self.orientation() == Qt.Orientation.Horizontal:
            opt = QStyleOptionSlider()
            self.initStyleOption(opt)
            groove = self.style().subControlRect(QStyle.ComplexControl.CC_Slider, opt,
                                                 QStyle.SubControl.SC_SliderGroove, self)
            handle = self.style().subControlRect(QStyle.ComplexControl.CC_Slider, opt,
                                                 QStyle.SubControl.SC_SliderHandle, self)
            if not handle.contains(ev.position().toPoint()):
                span = max(groove.width() - handle.width(), 1)
                x = round(ev.position().x()) - groove.x() - handle.width() // 2
                self.setValue(QStyle.sliderValueFromPosition(self.minimum(), self.maximum(), x, span,
                                                             opt.upsideDown))
                self.sliderMoved.emit(self.value())
        super().mousePressEvent(ev)


class AnswerPanel(QWidget):
    """Emits ``changed`` whenever an answer changes and ``submit_requested`` on the Submit button."""

    changed = Signal()
    submit_requested = Signal()

    def __init__(self, margin: float = 20.0, positive: str = "Positive", negative: str = "Negative",
                 parent: Any = None, probability: str = "Probability of malignancy / upgrade (0-100)") -> None:
        super().__init__(parent)
        self.margin = margin
        self.labels = (positive, negative)
        self.active = 0
        self._digits = ""
        self._confirmed_warning: tuple[Any, ...] | None = None

        self.slider = JumpSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, 100)
        self.spin = QSpinBox()
        self.spin.setRange(-1, 100)
        self.spin.setSpecialValueText("–")
        self.spin.setSuffix(" %")
        self.spin.setValue(-1)
        self.binary_group = QButtonGroup(self)
        self.binary_buttons = [QPushButton(f"0 · {negative}"), QPushButton(f"1 · {positive}")]
        self.conf_group = QButtonGroup(self)
        self.conf_buttons = [QPushButton(f"{k}\n{v}") for k, v in LIKERT_LABELS.items()]
        self.warning = QLabel("")
        self.warning.setWordWrap(True)
        self.warning.setStyleSheet(f"color: {WARNING}; font-weight: bold;")
        self.hint = QLabel("")
        self.hint.setWordWrap(True)
        self.submit_button = QPushButton("Submit  (Enter)")
        self.submit_button.setMinimumHeight(36)

        self.boxes = [QGroupBox(probability), QGroupBox("Binary call"),
                      QGroupBox("Confidence (1 = very low … 5 = very high)")]
        for box in self.boxes:
            box.setStyleSheet(answer_boxes_qss())
        row = QHBoxLayout(self.boxes[0])
        row.addWidget(self.slider, 1)
        row.addWidget(self.spin)
        row = QHBoxLayout(self.boxes[1])
        for i, b in enumerate(self.binary_buttons):
            b.setCheckable(True)
            self.binary_group.addButton(b, i)
            row.addWidget(b)
        row = QHBoxLayout(self.boxes[2])
        for i, b in enumerate(self.conf_buttons, start=1):
            b.setCheckable(True)
            self.conf_group.addButton(b, i)
            row.addWidget(b)
        lay = QVBoxLayout(self)
        for box in self.boxes:
            lay.addWidget(box)
        lay.addWidget(self.warning)
        lay.addWidget(self.hint)
        lay.addWidget(self.submit_button)
        lay.addStretch(1)
        for w in (self.slider, self.spin, *self.binary_buttons, *self.conf_buttons, self.submit_button):
            w.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # keys go to the window's actions
            w.installEventFilter(self)

        self.slider.valueChanged.connect(self._on_slider)
        self.spin.valueChanged.connect(self._on_spin)
        self.binary_group.idClicked.connect(lambda _: self._on_changed())
        self.conf_group.idClicked.connect(lambda _: self._on_changed())
        self.submit_button.clicked.connect(self.submit_requested.emit)
        self.clear()

    # --- state ----------------------------------------------------------------------------------
    def answers(self) -> tuple[float | None, int | None, int | None]:
        p = self.spin.value()
        b = self.binary_group.checkedId()
        c = self.conf_group.checkedId()
        return (float(p) if p >= 0 else None, b if b >= 0 else None, c if c >= 1 else None)

    def missing(self) -> list[str]:
        return [name for name, v in zip(FIELDS, self.answers(), strict=True) if v is None]

    def current_warning(self) -> str | None:
        p, b, _ = self.answers()
        return contradiction_warning(p, b, self.margin, positive=self.labels[0], negative=self.labels[1])

    def needs_confirmation(self) -> bool:
        """True once per contradicting answer set: the first Enter shows the warning, the second submits."""
        if self.current_warning() is None or self._confirmed_warning == self.answers():
            return False
        self._confirmed_warning = self.answers()
        self.warning.setText("⚠ " + (self.current_warning() or "") + "  Press Enter again to submit.")
        return True

    def clear(self) -> None:
        for group in (self.binary_group, self.conf_group):
            group.setExclusive(False)
            for b in group.buttons():
                b.setChecked(False)
            group.setExclusive(True)
        self.spin.setValue(-1)
        self.slider.setValue(0)
        self._digits = ""
        self._confirmed_warning = None
        self.set_active(0)
        self._on_changed()

    def set_values(self, probability: float, binary: int, confidence: int) -> None:
        self.spin.setValue(int(round(probability)))
        self.binary_buttons[binary].setChecked(True)
        self.conf_buttons[confidence - 1].setChecked(True)
        self._on_changed()

    def set_active(self, i: int) -> None:
        """Make stop ``i`` of :data:`STOPS` active (wrapping) and give its widget the keyboard focus."""
        self.active = i % len(STOPS)
        self._digits = ""
        for j, box in enumerate(self.boxes):
            on = j == self.active
            if box.property(ACTIVE_PROPERTY) != on:  # re-polish only the boxes that change
                box.setProperty(ACTIVE_PROPERTY, on)
                box.style().unpolish(box)
                box.style().polish(box)
                box.update()
        self.focus_active()

    def focus_widget(self) -> QWidget:
        """The widget of the active stop: the slider, the chosen (or first) button, or Submit."""
        if self.active == 0:
            return self.slider
        if self.active == 3:
            return self.submit_button
        group = self.binary_group if self.active == 1 else self.conf_group
        return group.checkedButton() or group.buttons()[0]

    def focus_active(self) -> None:
        """Give the active stop's widget the focus when this panel's window is the active one."""
        w = self.focus_widget()
        if self.isEnabled() and w.isEnabled() and self.isVisible() and self.window().isActiveWindow():
            w.setFocus(Qt.FocusReason.OtherFocusReason)
        elif QApplication.focusWidget() is not None and self.isAncestorOf(QApplication.focusWidget()):
            self.window().setFocus(Qt.FocusReason.OtherFocusReason)  # the focus never sits on a stale field

    # --- keyboard -------------------------------------------------------------------------------
    def next_field(self) -> None:
        """Tab: the next stop; Submit only once every answer is given (else the first missing one)."""
        self.set_active(self._ready_or_missing(self.active + 1))

    def prev_field(self) -> None:
        """Shift+Tab: the previous stop (from probability back to Submit, or confidence if not ready)."""
        i = (self.active - 1) % len(STOPS)
        self.set_active(2 if i == 3 and self.missing() else i)

    def _ready_or_missing(self, i: int) -> int:
        i %= len(STOPS)
        if i == 3 and self.missing():
            return FIELDS.index(self.missing()[0])
        return i

    def type_digit(self, d: int) -> None:
        if self.active == 0:
            digits = self._digits + str(d)
            if int(digits) > 100:
                digits = str(d)
            self.spin.setValue(int(digits))
            self._digits = digits
            if len(digits) == 3 or int(digits) * 10 > 100:
                self.set_active(1)
        elif self.active == 1 and d in (0, 1):
            self.set_binary(d)
        elif self.active == 2 and 1 <= d <= 5:
            self.conf_buttons[d - 1].setChecked(True)
            self._on_changed()
            self.set_active(self._ready_or_missing(3))

    def backspace(self) -> None:
        if self.active == 0 and self._digits:
            self._digits = self._digits[:-1]
            self.spin.setValue(int(self._digits) if self._digits else -1)

    def set_binary(self, value: int) -> None:
        """Set the call (0 negative, 1 positive) and move on to confidence (Y/N and the 0/1 keys)."""
        self.binary_buttons[value].setChecked(True)
        self._on_changed()
        self.set_active(2)

    def step_probability(self, step: int) -> None:
        self.spin.setValue(min(100, max(0, self.spin.value() + step)))

    # --- slots ----------------------------------------------------------------------------------
    def _on_slider(self, v: int) -> None:
        if self.spin.value() != v and (self.spin.value() >= 0 or self.slider.isSliderDown()):
            self.spin.setValue(v)

    def _on_spin(self, v: int) -> None:
        if v >= 0 and self.slider.value() != v:
            self.slider.blockSignals(True)
            self.slider.setValue(v)
            self.slider.blockSignals(False)
        self._on_changed()

    def _on_changed(self) -> None:
        missing = self.missing()
        self.submit_button.setEnabled(not missing)
        self.hint.setText("Still needed: " + ", ".join(missing) if missing else "Ready: press Enter to submit.")
        if self._confirmed_warning != self.answers():
            self._confirmed_warning = None
            w = self.current_warning()
            self.warning.setText("⚠ " + w if w else "")
        self.changed.emit()

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if event.type() == QEvent.Type.MouseButtonPress:
            for i, box in enumerate(self.boxes):
                if isinstance(obj, QWidget) and box.isAncestorOf(obj):
                    self.set_active(i)
            if obj is self.submit_button:
                self.set_active(3)
            if obj is self.slider and self.spin.value() < 0:
                self.spin.setValue(self.slider.value())
        return False
