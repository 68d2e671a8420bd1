"""The protocol editor's form: one widget per protocol field, each with its message line.

The form holds raw values, not a validated protocol: :meth:`ProtocolForm.values` returns the dict
the TOML file would hold, which :func:`readerstudy.core.protocol.validate_protocol` (the TOML
validator) checks; :meth:`ProtocolForm.show_issues` puts each issue's message under the field its
path names (``"seed"``, ``"arms[1].sequential"``...). Spin boxes accept more than the validator
does, so an out-of-range value gets the validator's message instead of being silently clamped.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterable
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from readerstudy.core.protocol import DESIGNS, Protocol, ProtocolIssue

LATEST = "latest (the newest output of any model)"
_ERROR_STYLE = "color: #b00020;"
_BAD_FIELD = "border: 1px solid #b00020;"
DESIGN_TEXT = {"counterbalanced": "Half the readers read arm 1 in session 1 and arm 2 in session 2, the other "
                                  "half the reverse (2 arms, 2 sessions).",
               "all-arms-each-session": "Every reader reads every arm in every session, arms in the order below."}


def _error_label() -> QLabel:
    label = QLabel()
    label.setStyleSheet(_ERROR_STYLE)
    label.setWordWrap(True)
    label.hide()
    return label


def _int_or_text(text: str) -> Any:
    text = text.strip()
    if not text:
        return None
    return int(text) if re.fullmatch(r"[+-]?\d+", text) else text


class ArmRow(QFrame):
    """One arm: name, shows AI, sequential, model; its messages below."""

    edited = Signal()
    remove_requested = Signal(object)

    def __init__(self, models: Iterable[str]) -> None:
        super().__init__()
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.name = QLineEdit()
        self.name.setPlaceholderText("arm name, e.g. unaided")
        self.shows_ai = QCheckBox("shows AI")
        self.shows_ai.setToolTip("Readers see the model's output (probability and saliency map) in this arm.")
        self.sequential = QCheckBox("sequential")
        self.sequential.setToolTip("Each case is read unaided first; that read is locked, then the AI output is "
                                   "revealed and an aided read recorded (needs 'shows AI').")
        self.model = QComboBox()
        self.set_models(models)
        self.remove = QToolButton()
        self.remove.setText("Remove")
        self.error = _error_label()
        grid = QGridLayout(self)
        grid.setContentsMargins(6, 4, 6, 4)
        grid.setColumnStretch(0, 1)
        grid.addWidget(self.name, 0, 0)
        grid.addWidget(self.shows_ai, 0, 1)
        grid.addWidget(self.sequential, 0, 2)
        grid.addWidget(self.remove, 0, 3)
        model_row = QHBoxLayout()
        model_row.addWidget(QLabel("Model shown:"))
        model_row.addWidget(self.model, 1)
        grid.addLayout(model_row, 1, 0, 1, 4)
        grid.addWidget(self.error, 2, 0, 1, 4)
        for sig in (self.name.textEdited, self.shows_ai.toggled, self.sequential.toggled,
                    self.model.currentIndexChanged):
            sig.connect(lambda *_: self.edited.emit())
        self.remove.clicked.connect(lambda: self.remove_requested.emit(self))
        self.shows_ai.toggled.connect(self._sync_model)
        self._sync_model()

    def set_models(self, models: Iterable[str]) -> None:
        current = self.model.currentData() if self.model.count() else None
        self.model.blockSignals(True)
        self.model.clear()
        self.model.addItem(LATEST, None)
        for name in models:
            self.model.addItem(name, name)
        self.model.blockSignals(False)
        self.set_model(current)

    def set_model(self, name: str | None) -> None:
        index = self.model.findData(name) if name is not None else 0
        if index < 0:
            self.model.addItem(f"{name} (not in this study yet)", name)
            index = self.model.count() - 1
        self.model.setCurrentIndex(index)

    def _sync_model(self) -> None:
        self.model.setEnabled(self.shows_ai.isChecked() and self._model_editable)

    _model_editable = True

    def set_editable(self, design: bool, model: bool) -> None:
        for w in (self.name, self.shows_ai, self.sequential, self.remove):
            w.setEnabled(design)
        self._model_editable = model
        self._sync_model()

    def values(self) -> dict[str, Any]:
        return {"name": self.name.text(), "shows_ai": self.shows_ai.isChecked(),
                "sequential": self.sequential.isChecked(), "model": self.model.currentData()}

    def set_values(self, arm: dict[str, Any]) -> None:
        name = arm.get("name")
        self.name.setText(name if isinstance(name, str) else "")
        self.shows_ai.setChecked(arm.get("shows_ai") is True)
        self.sequential.setChecked(arm.get("sequential") is True)
        model = arm.get("model")
        self.set_model(model if isinstance(model, str) else None)

    def widget_for(self, key: str) -> QWidget | None:
        return {"name": self.name, "shows_ai": self.shows_ai, "sequential": self.sequential,
                "model": self.model}.get(key)


class ProtocolForm(QWidget):
    """Every field of :class:`~readerstudy.core.protocol.Protocol`; ``edited`` fires on any change."""

    edited = Signal()

    def __init__(self, models: Iterable[str] = (), random_seed: Callable[[], int] | None = None) -> None:
        super().__init__()
        self._models = tuple(models)
        self._random_seed = random_seed or (lambda: secrets.randbelow(2**31))
        self.arm_rows: list[ArmRow] = []
        self.errors: dict[str, QLabel] = {}
        self.seed = QLineEdit()
        self.seed.setPlaceholderText("a whole number >= 0")
        self.new_seed = QPushButton("New random seed")
        self.sessions = QSpinBox()
        self.sessions.setRange(0, 99)
        self.washout_days = QDoubleSpinBox()
        self.washout_days.setRange(0, 99999)
        self.washout_days.setDecimals(1)
        self.washout_days.setSuffix(" days")
        self.design = QComboBox()
        for d in DESIGNS:
            self.design.addItem(d, d)
        self.design_help = QLabel()
        self.design_help.setWordWrap(True)
        self.design_help.setStyleSheet("color: #555;")
        self.design.currentIndexChanged.connect(
            lambda *_: self.design_help.setText(DESIGN_TEXT.get(self.design.currentData(), "")))
        self.black_screen_ms = QSpinBox()
        self.black_screen_ms.setRange(0, 999999)
        self.black_screen_ms.setSuffix(" ms")
        self.contradiction_margin = QDoubleSpinBox()
        self.contradiction_margin.setRange(0, 100)
        self.contradiction_margin.setDecimals(1)
        self.contradiction_margin.setSuffix(" points")
        self.idle_timeout_s = QDoubleSpinBox()
        self.idle_timeout_s.setRange(0, 999999)
        self.idle_timeout_s.setDecimals(1)
        self.idle_timeout_s.setSuffix(" s")
        self.reference = QLineEdit()
        self.reference.setPlaceholderText("the most senior reader (default)")
        self.add_arm_button = QPushButton("Add arm")
        self._arms_box = QVBoxLayout()
        self.errors["arms"] = _error_label()
        self._build()
        self.new_seed.clicked.connect(self._on_new_seed_requested)
        self.add_arm_button.clicked.connect(lambda: self._add_arm({"name": ""}, emit=True))
        self.seed.textEdited.connect(lambda *_: self.edited.emit())
        self.reference.textEdited.connect(lambda *_: self.edited.emit())
        for spin in (self.sessions, self.washout_days, self.black_screen_ms, self.contradiction_margin,
                     self.idle_timeout_s):
            spin.valueChanged.connect(lambda *_: self.edited.emit())
        self.design.currentIndexChanged.connect(lambda *_: self.edited.emit())

    # --- layout --------------------------------------------------------------------------------
    def _row(self, form: QFormLayout, label: str, key: str, widget: QWidget, help_text: str,
             extra: QWidget | None = None) -> None:
        widget.setToolTip(help_text)
        error = _error_label()
        self.errors[key] = error
        box = QVBoxLayout()
        box.setSpacing(1)
        box.addWidget(widget)
        if extra is not None:
            box.addWidget(extra)
        box.addWidget(error)
        form.addRow(label, box)

    def _build(self) -> None:
        design = QGroupBox("Design")
        f = QFormLayout(design)
        seed_row = QWidget()
        h = QHBoxLayout(seed_row)
        h.setContentsMargins(0, 0, 0, 0)
        h.addWidget(self.seed, 1)
        h.addWidget(self.new_seed)
        self._row(f, "Design", "design", self.design, "How readers are spread over arms and sessions.",
                  self.design_help)
        self._row(f, "Sessions", "sessions", self.sessions, "Number of reading sessions (1-20).")
        self._row(f, "Washout", "washout_days", self.washout_days,
                  "Minimum time between the end of a reader's session and the start of the next one.")
        self._row(f, "Randomization seed", "seed", seed_row,
                  "Each reader's order in each arm and session is drawn from a seed derived from this one.")
        self._field_widgets = {"design": self.design, "sessions": self.sessions, "washout_days": self.washout_days,
                               "seed": self.seed, "black_screen_ms": self.black_screen_ms,
                               "contradiction_margin": self.contradiction_margin,
                               "idle_timeout_s": self.idle_timeout_s, "reference": self.reference}
        reading = QGroupBox("Reading settings")
        g = QFormLayout(reading)
        self._row(g, "Black screen between cases", "black_screen_ms", self.black_screen_ms,
                  "Shown between two cases so that one does not prime the next (0-10000 ms).")
        self._row(g, "Contradiction margin", "contradiction_margin", self.contradiction_margin,
                  "Warn when the binary call contradicts the probability by more than this (0-50 points).")
        self._row(g, "Idle timeout", "idle_timeout_s", self.idle_timeout_s,
                  "Active reading time pauses after this long without input (1-3600 s).")
        self._row(g, "Report reference", "reference", self.reference,
                  "Whom the report compares each reader with (McNemar, DeLong): a reader's name, "
                  "\"senior-consensus\" or \"model\"; empty = the most senior reader. May change after apply.")
        arms = QGroupBox("Arms (reading conditions)")
        a = QVBoxLayout(arms)
        a.addLayout(self._arms_box)
        a.addWidget(self.errors["arms"])
        a.addWidget(self.add_arm_button)
        root = QVBoxLayout(self)
        root.setContentsMargins(0, 0, 0, 0)
        for box in (design, arms, reading):
            root.addWidget(box)
        root.addStretch(1)

    # --- arms ----------------------------------------------------------------------------------
    def _add_arm(self, values: dict[str, Any], emit: bool = False) -> ArmRow:
        row = ArmRow(self._models)
        row.set_values(values)
        row.edited.connect(self.edited.emit)
        row.remove_requested.connect(self._on_remove_arm_requested)
        self.arm_rows.append(row)
        self._arms_box.addWidget(row)
        row.show()  # a layout shows a widget added to a visible parent only at the next event loop turn
        if emit:
            self.edited.emit()
        return row

    def _drop(self, row: ArmRow) -> None:
        self.arm_rows.remove(row)
        self._arms_box.removeWidget(row)
        row.hide()
        row.setParent(None)
        row.deleteLater()

    def _on_remove_arm_requested(self, row: ArmRow) -> None:
        self._drop(row)
        self.edited.emit()

    def random_seed(self) -> int:
        """A fresh study seed (31 bits, from ``secrets`` unless injected)."""
        return self._random_seed()

    def _on_new_seed_requested(self) -> None:
        self.seed.setText(str(self.random_seed()))
        self.edited.emit()

    def set_models(self, models: Iterable[str]) -> None:
        self._models = tuple(models)
        for row in self.arm_rows:
            row.set_models(self._models)

    # --- values --------------------------------------------------------------------------------
    def values(self) -> dict[str, Any]:
        """The form as the TOML file's values (raw: the validator judges them)."""
        return {"seed": _int_or_text(self.seed.text()), "sessions": self.sessions.value(),
                "washout_days": self.washout_days.value(), "design": self.design.currentData(),
                "black_screen_ms": self.black_screen_ms.value(),
                "contradiction_margin": self.contradiction_margin.value(),
                "idle_timeout_s": self.idle_timeout_s.value(), "reference": self.reference.text().strip() or None,
                "arms": [r.values() for r in self.arm_rows],
                "questions": getattr(self, "_questions", None),  # edited in the TOML file, carried through
                "form": getattr(self, "_form", None)}

    def set_values(self, data: dict[str, Any]) -> None:
        """Fill the form from a TOML file's values or a protocol's ``to_dict()``; defaults where absent."""
        defaults = Protocol(arms=(), seed=0).to_dict()
        self.blockSignals(True)
        try:
            seed = data.get("seed")
            self.seed.setText("" if seed is None else str(seed))
            for key in ("sessions", "black_screen_ms"):
                value = data.get(key, defaults[key])
                getattr(self, key).setValue(value if isinstance(value, int) and not isinstance(value, bool)
                                            else defaults[key])
            for key in ("washout_days", "contradiction_margin", "idle_timeout_s"):
                value = data.get(key, defaults[key])
                ok = isinstance(value, int | float) and not isinstance(value, bool)
                getattr(self, key).setValue(float(value) if ok else defaults[key])
            self._questions = data.get("questions") or None
            self._form = data.get("form") or None
            ref = data.get("reference")
            self.reference.setText(ref if isinstance(ref, str) else "")
            index = self.design.findData(data.get("design", defaults["design"]))
            self.design.setCurrentIndex(max(index, 0))
            for row in list(self.arm_rows):
                self._drop(row)
            arms = data.get("arms")
            for arm in arms if isinstance(arms, list) else []:
                self._add_arm(arm if isinstance(arm, dict) else {})
        finally:
            self.blockSignals(False)
        self.edited.emit()

    # --- messages and locks --------------------------------------------------------------------
    def widget_for(self, field: str) -> QWidget | None:
        """The input widget of a field path (``"seed"``, ``"arms[0].model"``); None if it has none."""
        m = re.fullmatch(r"arms\[(\d+)\]\.(\w+)", field)
        if m:
            i = int(m.group(1))
            return self.arm_rows[i].widget_for(m.group(2)) if i < len(self.arm_rows) else None
        return self._field_widgets.get(field)

    def error_label(self, field: str) -> QLabel | None:
        """The message line shown with ``field`` (an arm's fields share the arm's line)."""
        m = re.match(r"arms\[(\d+)\]", field)
        if m and int(m.group(1)) < len(self.arm_rows):
            return self.arm_rows[int(m.group(1))].error
        return self.errors.get(field, self.errors["arms"] if field.startswith("arms") else None)

    def error_text(self, field: str) -> str:
        label = self.error_label(field)
        return label.text() if label is not None and label.isVisibleTo(self) else ""

    def show_issues(self, issues: Iterable[ProtocolIssue]) -> list[ProtocolIssue]:
        """Show each issue under its field; returns those with no field in the form (unknown keys...)."""
        labels = {*self.errors.values(), *(r.error for r in self.arm_rows)}
        texts: dict[QLabel, list[str]] = {label: [] for label in labels}
        for w in [*self._field_widgets.values(), *(x for r in self.arm_rows for x in
                                                   (r.name, r.shows_ai, r.sequential, r.model))]:
            w.setStyleSheet("")
        orphans = []
        for issue in issues:
            label, widget = self.error_label(issue.field), self.widget_for(issue.field)
            if label is None or (issue.field not in self.errors and widget is None
                                 and not issue.field.startswith("arms")):
                orphans.append(issue)
                continue
            prefix = issue.field.split(".")[-1] + ": " if issue.field.startswith("arms[") else ""
            texts[label].append(prefix + issue.message)
            if widget is not None:
                widget.setStyleSheet(_BAD_FIELD)
        for label, lines in texts.items():
            label.setText("\n".join(lines))
            label.setVisible(bool(lines))
        return orphans

    def set_editable(self, editable: Callable[[str], bool]) -> None:
        """Enable each field for which ``editable(path)`` is true (paths as in the issues)."""
        for key, widget in self._field_widgets.items():
            widget.setEnabled(editable(key))
        self.new_seed.setEnabled(editable("seed"))
        arms_editable = editable("arms")
        self.add_arm_button.setEnabled(arms_editable)
        for i, row in enumerate(self.arm_rows):
            row.set_editable(arms_editable, editable(f"arms[{i}].model"))
