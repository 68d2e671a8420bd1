"""The answer panel: probability 0-100 (slider + spin box), binary call, confidence 1-5 (Likert).

All three are required. Keyboard: the active field (highlighted) takes the number keys —
probability digits (``7`` ``5`` -> 75, moves on when no further digit fits), then ``0``/``1`` for
the call, then ``1``-``5`` for confidence; Tab/Shift+Tab move between fields; Y/N set the call.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from readerstudy.core.reading import LIKERT_LABELS, contradiction_warning

FIELDS = ("probability", "binary", "confidence")
_ACTIVE = "QGroupBox { border: 2px solid #3d8bfd; border-radius: 4px; margin-top: 14px; }" \
          "QGroupBox::title { subcontrol-origin: margin; left: 8px; color: #3d8bfd; }"
_IDLE = "QGroupBox { border: 1px solid #555; border-radius: 4px; margin-top: 14px; }" \
        "QGroupBox::title { subcontrol-origin: margin; left: 8px; }"


class AnswerPanel(QWidget):
    """Emits ``changed`` whenever an answer changes and ``submit_requested`` on the Submit button."""

    changed = Signal()
    submit_requested = Signal()

    def __init__(self, margin: float = 20.0, positive: str = "Positive", negative: str = "Negative",
                 parent: Any = None) -> None:
        super().__init__(parent)
        self.margin = margin
        self.active = 0
        self._digits = ""
        self._confirmed_warning: tuple[Any, ...] | None = None

        self.slider = QSlider(Qt.Orientation.Horizontal)
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
        self.warning.setStyleSheet("color: #ffb020; font-weight: bold;")
        self.hint = QLabel("")
        self.hint.setWordWrap(True)
        self.submit_button = QPushButton("Submit  (Enter)")
        self.submit_button.setMinimumHeight(36)

        self.boxes = [QGroupBox("Probability of malignancy / upgrade (0-100)"), QGroupBox("Binary call"),
                      QGroupBox("Confidence (1 = very low … 5 = very high)")]
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
        return contradiction_warning(p, b, self.margin)

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
        self.active = i % len(FIELDS)
        self._digits = ""
        for j, box in enumerate(self.boxes):
            box.setStyleSheet(_ACTIVE if j == self.active else _IDLE)

    # --- keyboard -------------------------------------------------------------------------------
    def next_field(self) -> None:
        self.set_active(self.active + 1)

    def prev_field(self) -> None:
        self.set_active(self.active - 1)

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
            self.set_active(2)
        elif self.active == 2 and 1 <= d <= 5:
            self.conf_buttons[d - 1].setChecked(True)
            self._on_changed()

    def backspace(self) -> None:
        if self.active == 0 and self._digits:
            self._digits = self._digits[:-1]
            self.spin.setValue(int(self._digits) if self._digits else -1)

    def set_binary(self, value: int) -> None:
        self.binary_buttons[value].setChecked(True)
        self._on_changed()

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
            if obj is self.slider and self.spin.value() < 0:
                self.spin.setValue(self.slider.value())
        return False
