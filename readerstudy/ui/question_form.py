"""The reading form's study-defined questions (BI-RADS, choices, Likert, number, text, location mark).

:class:`QuestionForm` shows the protocol's questions (:mod:`readerstudy.core.questions`) below the
standard answers. Keyboard: Q (a reading-window action) moves into the form; Tab / Shift+Tab move
between its questions and, past the last or the first, back to the standard answers; a choice
question takes Left/Right and typed categories (BI-RADS ``4`` then ``b`` is 4b; a Likert point or a
choice by its number). While a question has the focus its keys go to it, not to the window's
single-key actions; Enter still submits and Esc still takes a break. The location mark is a left
click on the image (:meth:`QuestionForm.attach_image`), stored in image pixel coordinates.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QDoubleValidator, QKeyEvent
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QWidget,
)

from readerstudy.core.questions import BIRADS_MEANING, QuestionSpec

_NAV = (Qt.Key.Key_Tab, Qt.Key.Key_Backtab)
_CHOICE_KEYS = (Qt.Key.Key_Left, Qt.Key.Key_Right, Qt.Key.Key_Space)


class _Choice(QWidget):
    """One of several categories as a row of toggle buttons; focusable; typed keys pick a category."""

    changed = Signal()

    def __init__(self, q: QuestionSpec) -> None:
        super().__init__()
        self.q, self._typed = q, ""
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.group = QButtonGroup(self)
        row = QHBoxLayout(self)
        row.setContentsMargins(2, 2, 2, 2)
        if q.kind == "likert" and q.low_label:
            row.addWidget(QLabel(q.low_label))
        self.buttons: list[QPushButton] = []
        for i, cat in enumerate(q.categories):
            text = f"{i + 1} · {cat}" if q.kind == "single" else cat
            b = QPushButton(text)
            b.setCheckable(True)
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            b.setMinimumWidth(34)
            if q.kind == "birads":
                b.setToolTip(f"BI-RADS {cat}: {BIRADS_MEANING[cat]}")
            self.group.addButton(b, i)
            self.buttons.append(b)
            row.addWidget(b)
        if q.kind == "likert" and q.high_label:
            row.addWidget(QLabel(q.high_label))
        row.addStretch(1)
        self.group.idClicked.connect(lambda _i: (self.setFocus(), self.changed.emit()))

    def value(self) -> str | None:
        i = self.group.checkedId()
        return self.q.categories[i] if i >= 0 else None

    def set_value(self, value: Any) -> None:
        cats = self.q.categories
        if value is None or str(value) not in cats:
            self.group.setExclusive(False)
            for b in self.buttons:
                b.setChecked(False)
            self.group.setExclusive(True)
        else:
            self.buttons[cats.index(str(value))].setChecked(True)
        self._typed = ""
        self.changed.emit()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt override
        i, n = self.group.checkedId(), len(self.buttons)
        if event.key() in (Qt.Key.Key_Left, Qt.Key.Key_Right):
            step = 1 if event.key() == Qt.Key.Key_Right else -1
            self.set_value(self.q.categories[min(max(i + step, 0), n - 1) if i >= 0 else 0])
            return
        text = event.text().lower()
        if not text or not text.isalnum():
            super().keyPressEvent(event)
            return
        cats = self.q.categories
        if self.q.kind == "single":
            if text.isdigit() and 1 <= int(text) <= n:
                self.set_value(cats[int(text) - 1])
            return
        typed = self._typed + text
        matches = [c for c in cats if c.startswith(typed)]
        if not matches:
            typed, matches = text, [c for c in cats if c.startswith(text)]
        if len(matches) == 1 or typed in cats:
            self.set_value(typed if typed in cats else matches[0])
        self._typed = typed if len(matches) > 1 and typed not in cats else ""


class _Multiple(QWidget):
    changed = Signal()

    def __init__(self, q: QuestionSpec) -> None:
        super().__init__()
        self.q = q
        row = QHBoxLayout(self)
        row.setContentsMargins(2, 2, 2, 2)
        self.boxes = [QCheckBox(c) for c in q.choices]
        for b in self.boxes:
            b.toggled.connect(lambda _on: self.changed.emit())
            row.addWidget(b)
        row.addStretch(1)

    def value(self) -> list[str] | None:
        return [b.text() for b in self.boxes if b.isChecked()] or None

    def set_value(self, value: Any) -> None:
        for b in self.boxes:
            b.setChecked(b.text() in (value or ()))


class _Line(QLineEdit):
    """Number (with its range) or free text."""

    def __init__(self, q: QuestionSpec) -> None:
        super().__init__()
        self.q = q
        if q.kind == "number":
            assert q.min is not None and q.max is not None
            self.setValidator(QDoubleValidator(q.min, q.max, 0 if q.integer else 3, self))
            self.setPlaceholderText(f"{q.min:g} – {q.max:g}" + (f" {q.unit}" if q.unit else ""))
        else:
            self.setMaxLength(q.max_length)
            self.setPlaceholderText("optional" if not q.required else "")

    def value(self) -> Any:
        text = self.text().strip()
        if not text:
            return None
        if self.q.kind != "number":
            return text
        try:
            x = float(text.replace(",", "."))
        except ValueError:
            return text  # the service says what is wrong with it
        return int(x) if self.q.integer and x.is_integer() else x

    def set_value(self, value: Any) -> None:
        self.setText("" if value is None else (f"{value:g}" if isinstance(value, float) else str(value)))


class _Location(QWidget):
    changed = Signal()

    def __init__(self, q: QuestionSpec) -> None:
        super().__init__()
        self.q, self.mark = q, None
        row = QHBoxLayout(self)
        row.setContentsMargins(2, 2, 2, 2)
        self.label = QLabel()
        self.clear_button = QPushButton("Clear mark")
        self.clear_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.clear_button.clicked.connect(lambda: self.set_value(None))
        row.addWidget(self.label, 1)
        row.addWidget(self.clear_button)
        self.set_value(None)

    def value(self) -> dict[str, int] | None:
        return dict(self.mark) if self.mark else None

    def set_value(self, value: Any) -> None:
        self.mark = dict(value) if value else None
        m = self.mark
        self.label.setText("Click the lesion on the image." if m is None else
                           f"Marked at row {m['row']}, column {m['col']}"
                           + (f", slice {m['slice'] + 1}" if "slice" in m else "") + " (click again to move)")
        self.clear_button.setEnabled(m is not None)
        self.changed.emit()


class QuestionForm(QGroupBox):
    """The study-defined questions of a reading form; ``changed`` fires on any answer change.

    Parameters
    ----------
    questions : the protocol's questions, in order (an empty form hides itself).
    """

    changed = Signal()
    leave_requested = Signal()  # Tab past the last / Shift+Tab before the first question

    def __init__(self, questions: Sequence[QuestionSpec], parent: QWidget | None = None) -> None:
        super().__init__("Study questions  (Q)", parent)
        self.questions = tuple(questions)
        self.fields: dict[str, Any] = {}
        lay = QFormLayout(self)
        for q in self.questions:
            w = (_Choice(q) if q.categories else _Multiple(q) if q.kind == "multiple" else
                 _Location(q) if q.kind == "location" else _Line(q))
            signal = w.textChanged if isinstance(w, QLineEdit) else w.changed
            signal.connect(lambda *_a: self._on_changed())
            self.fields[q.key] = w
            lay.addRow(QLabel(q.label + ("" if q.required else " (optional)")), w)
            for child in [w, *w.findChildren(QWidget)]:
                child.installEventFilter(self)
                if child.focusPolicy() != Qt.FocusPolicy.NoFocus:  # reached by Q / Tab inside the form or a
                    child.setFocusPolicy(Qt.FocusPolicy.ClickFocus)  # click, never the window's first focus
        self.meaning = QLabel("")
        self.meaning.setStyleSheet("color: #9aa4b1;")
        lay.addRow(self.meaning)
        self._marker: pg.ScatterPlotItem | None = None
        self._image: Any = None
        self.setVisible(bool(self.questions))

    # --- answers ----------------------------------------------------------------------------
    def values(self) -> dict[str, Any]:
        """The answered questions, key -> answer (validated by the reading service on submit)."""
        out = {k: w.value() for k, w in self.fields.items()}
        return {k: v for k, v in out.items() if v is not None}

    def missing(self) -> list[str]:
        """Labels of the required questions not answered yet."""
        answered = self.values()
        return [q.label for q in self.questions if q.required and q.key not in answered]

    def set_values(self, values: dict[str, Any]) -> None:
        for k, w in self.fields.items():
            w.set_value(values.get(k))

    def clear(self) -> None:
        self.set_values({})

    def _on_changed(self) -> None:
        birads = [w.value() for w in self.fields.values() if isinstance(w, _Choice) and w.q.kind == "birads"]
        self.meaning.setText(f"BI-RADS {birads[0]}: {BIRADS_MEANING[birads[0]]}" if birads and birads[0] else "")
        self._draw_mark()
        self.changed.emit()

    # --- keyboard ---------------------------------------------------------------------------
    def _focusable(self) -> list[QWidget]:
        out: list[QWidget] = []
        for w in self.fields.values():
            if isinstance(w, _Multiple):
                out.extend(w.boxes)
            elif not isinstance(w, _Location):
                out.append(w)
        return out

    def focus_first(self) -> None:
        """Move the keyboard into the form (its first question that takes keys)."""
        chain = self._focusable()
        if chain and self.isEnabled():
            chain[0].setFocus(Qt.FocusReason.ShortcutFocusReason)

    def _step(self, current: QObject, forward: bool) -> None:
        chain = self._focusable()
        i = chain.index(current) if current in chain else -1
        j = i + (1 if forward else -1)
        if 0 <= j < len(chain):
            chain[j].setFocus(Qt.FocusReason.TabFocusReason)
        else:
            if isinstance(current, QWidget):
                current.clearFocus()
            self.leave_requested.emit()

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if event.type() == QEvent.Type.ShortcutOverride and isinstance(event, QKeyEvent):
            key, mods = event.key(), event.modifiers() & ~Qt.KeyboardModifier.ShiftModifier
            typing = bool(event.text()) and event.text().isprintable() and not mods
            if key in _NAV or (typing and key not in (Qt.Key.Key_Return, Qt.Key.Key_Enter)) or (
                    key in _CHOICE_KEYS + (Qt.Key.Key_Backspace,) and not mods):
                event.accept()  # the focused question takes the key, not the window's single-key action
                return True
        if event.type() == QEvent.Type.KeyPress and isinstance(event, QKeyEvent) and event.key() in _NAV:
            self._step(obj, forward=event.key() == Qt.Key.Key_Tab)
            return True
        return False

    # --- location mark ----------------------------------------------------------------------
    def attach_image(self, view: Any) -> None:
        """Take location marks from left clicks on ``view`` (a :class:`~readerstudy.ui.image_view.ImageView`)."""
        if not any(q.kind == "location" for q in self.questions):
            return
        self._image = view
        self._marker = pg.ScatterPlotItem(size=18, symbol="+", pen=pg.mkPen("#ffd400", width=2), brush=None)
        self._marker.setZValue(20)
        view.vb.addItem(self._marker)
        view.scene().sigMouseClicked.connect(self._on_image_click)

    def _on_image_click(self, ev: Any) -> None:
        if ev.button() != Qt.MouseButton.LeftButton or not self.isEnabled() or self._image is None:
            return
        p = self._image.image_item.mapFromScene(ev.scenePos())
        self.mark_at(p.y(), p.x())

    def mark_at(self, row: float, col: float) -> bool:
        """Set the first location question's mark at image pixel (row, col) of the shown slice.

        Coordinates are continuous image coordinates (pixel ``i`` spans ``[i, i + 1)``); the mark
        stores the pixel's 0-based indices, plus the slice index for volumes. Returns False for a
        point outside the image (nothing changes).
        """
        view = self._image
        loc = next((w for w in self.fields.values() if isinstance(w, _Location)), None)
        if loc is None or view is None:
            return False
        n, rows, cols = view.pixels.shape[0], view.pixels.shape[-2], view.pixels.shape[-1]
        if not (0 <= row < rows and 0 <= col < cols):
            return False
        mark = {"row": int(math.floor(row)), "col": int(math.floor(col))}
        if n > 1:
            mark["slice"] = int(view.index)
        loc.set_value(mark)
        return True

    def _draw_mark(self) -> None:
        if self._marker is None:
            return
        loc = next((w for w in self.fields.values() if isinstance(w, _Location)), None)
        m = loc.value() if loc is not None else None
        self._marker.setData([m["col"] + 0.5] if m else [], [m["row"] + 0.5] if m else [])


__all__ = ["QuestionForm"]
