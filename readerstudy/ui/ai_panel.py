"""The reading window's "AI output" box: what the model says, its heat map's controls, and the way on
when there is no model output.

Widgets only (the reading window decides what to show when): the text, "Reveal AI output (A)",
"Set this case aside (Enter)", "Show saliency map (S)" and the map opacity slider (``[``/``]``).
:func:`ai_html` and :func:`map_label` word the model output for the reader.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from readerstudy.services.reading import AiView

MIN_OPACITY, MAX_OPACITY, OPACITY_STEP = 10, 100, 10


def ai_html(ai: AiView) -> str:
    """Model name and version, its probability (large) and its call at 50 %, and what the map shows."""
    call = "positive" if ai.probability_pct >= 50 else "negative"
    text = (f"<b>{ai.model_name}</b> v{ai.model_version}<br>Model probability: "
            f"<span style='font-size:18px'><b>{ai.probability_pct:.0f} %</b></span> (its call at 50 %: {call})")
    if ai.saliency is not None:
        text += (f"<br>Heat map: where the model saw evidence for its call ({ai.saliency_target}); "
                 "Grad-CAM, relative: 0 = none, 1 = strongest in this image.")
    return text


def map_label(ai: AiView) -> str:
    """The colour bar's label for the model's heat map ("" without one)."""
    return f"evidence for {ai.saliency_target} (Grad-CAM, relative)" if ai.saliency is not None else ""


class AiPanel(QGroupBox):
    """The "AI output" group box; the owner connects the buttons, the check box and the slider."""

    def __init__(self, opacity_pct: int, parent: QWidget | None = None) -> None:
        super().__init__("AI output", parent)
        self.text = QLabel("")
        self.text.setWordWrap(True)
        self.reveal_button = QPushButton("Reveal AI output  (A)")
        self.aside_button = QPushButton("Set this case aside, next case  (Enter)")
        self.saliency_box = QCheckBox("Show saliency map  (S)")
        self.saliency_box.setChecked(True)
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(MIN_OPACITY, MAX_OPACITY)
        self.opacity.setSingleStep(OPACITY_STEP)
        self.opacity.setValue(opacity_pct)
        self.opacity_label = QLabel(f"{opacity_pct} %")
        self.opacity_row = QWidget()
        row = QHBoxLayout(self.opacity_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel("Map opacity  ([ / ])"))
        row.addWidget(self.opacity, 1)
        row.addWidget(self.opacity_label)
        for w in (self.reveal_button, self.aside_button, self.saliency_box, self.opacity):
            w.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # keys go to the window's actions
        lay = QVBoxLayout(self)
        for w in (self.text, self.reveal_button, self.aside_button, self.saliency_box, self.opacity_row):
            lay.addWidget(w)

    def step_opacity(self, step: int) -> None:
        self.opacity.setValue(min(MAX_OPACITY, max(MIN_OPACITY, self.opacity.value() + step)))

    def show_controls(self, *, reveal: bool, aside: bool, saliency_map: bool) -> None:
        self.reveal_button.setVisible(reveal)
        self.aside_button.setVisible(aside)
        self.saliency_box.setVisible(saliency_map)
        self.opacity_row.setVisible(saliency_map)
