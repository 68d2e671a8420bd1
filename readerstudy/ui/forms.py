"""A small form dialog whose fields are data, with the service's error shown inline.

``FormDialog(title, fields, submit)``: on OK, ``submit(values)`` runs; a
:class:`~readerstudy.core.errors.ReaderStudyError` it raises is shown in red under the fields
(the field it names keeps the focus) and the dialog stays open with what was typed, so a person
corrects the input instead of starting again. Dialogs are opened with ``open()`` (window-modal,
not blocking), so tests drive them like a person: set the fields, click OK, check the state.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from readerstudy.core.errors import ReaderStudyError

ERROR_STYLE = "color: #c62828;"


@dataclass(frozen=True)
class Field:
    """One input. ``kind``: ``text``, ``pin`` (digits, not echoed), ``choice`` (``choices`` are
    (label, value) pairs), ``number`` (``minimum``..``maximum``, ``decimals``) or ``multiline``."""

    key: str
    label: str
    kind: str = "text"
    value: Any = None
    choices: tuple[tuple[str, Any], ...] = ()
    minimum: float = 0.0
    maximum: float = 100.0
    decimals: int = 0
    placeholder: str = ""


def _widget(field: Field) -> QWidget:
    if field.kind == "choice":
        combo = QComboBox()
        for label, value in field.choices:
            combo.addItem(label, value)
        if field.value is not None:
            combo.setCurrentIndex(max(0, combo.findData(field.value)))
        return combo
    if field.kind == "number":
        spin = QDoubleSpinBox()
        spin.setRange(field.minimum, field.maximum)
        spin.setDecimals(field.decimals)
        spin.setValue(float(field.value or 0))
        return spin
    if field.kind == "multiline":
        text = QPlainTextEdit(str(field.value or ""))
        text.setPlaceholderText(field.placeholder)
        text.setTabChangesFocus(True)
        text.setFixedHeight(70)
        return text
    line = QLineEdit(str(field.value or ""))
    line.setPlaceholderText(field.placeholder)
    if field.kind == "pin":
        line.setEchoMode(QLineEdit.EchoMode.Password)
        line.setMaxLength(32)
    return line


def widget_value(widget: QWidget) -> Any:
    if isinstance(widget, QComboBox):
        return widget.currentData()
    if isinstance(widget, QDoubleSpinBox):
        return widget.value()
    if isinstance(widget, QPlainTextEdit):
        return widget.toPlainText()
    assert isinstance(widget, QLineEdit)
    return widget.text()


def set_widget_value(widget: QWidget, value: Any) -> None:
    if isinstance(widget, QComboBox):
        widget.setCurrentIndex(widget.findData(value))
    elif isinstance(widget, QDoubleSpinBox):
        widget.setValue(float(value))
    elif isinstance(widget, QPlainTextEdit):
        widget.setPlainText(str(value))
    else:
        assert isinstance(widget, QLineEdit)
        widget.setText(str(value))


class FormDialog(QDialog):
    """Fields, an inline error line and OK/Cancel; ``submit(values)`` decides whether it closes.

    ``result_value`` holds what ``submit`` returned once the dialog was accepted.
    """

    def __init__(self, title: str, fields: Sequence[Field], submit: Callable[[dict[str, Any]], Any], *,
                 intro: str = "", ok_text: str = "OK", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setMinimumWidth(520)
        self._submit = submit
        self.result_value: Any = None
        self.fields: dict[str, QWidget] = {}
        lay = QVBoxLayout(self)
        if intro:
            label = QLabel(intro)
            label.setWordWrap(True)
            label.setTextFormat(Qt.TextFormat.RichText)
            lay.addWidget(label)
        form = QFormLayout()
        for field in fields:
            widget = _widget(field)
            widget.setObjectName(field.key)
            self.fields[field.key] = widget
            form.addRow(field.label, widget)
        lay.addLayout(form)
        self.error = QLabel("")
        self.error.setWordWrap(True)
        self.error.setStyleSheet(ERROR_STYLE)
        lay.addWidget(self.error)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText(ok_text)
        self.ok_button.setDefault(True)
        self.buttons.accepted.connect(self._on_ok)
        self.buttons.rejected.connect(self.reject)
        lay.addWidget(self.buttons)
        if self.fields:
            next(iter(self.fields.values())).setFocus()

    def values(self) -> dict[str, Any]:
        return {key: widget_value(w) for key, w in self.fields.items()}

    def set_values(self, **values: Any) -> None:
        """Fill fields by key (tests and defaults)."""
        for key, value in values.items():
            set_widget_value(self.fields[key], value)

    def _on_ok(self) -> None:
        try:
            self.result_value = self._submit(self.values())
        except ReaderStudyError as exc:
            self.error.setText(str(exc))
            if "PIN" in str(exc):  # a refused PIN is typed again, both times
                pins = [w for w in self.fields.values()
                        if isinstance(w, QLineEdit) and w.echoMode() == QLineEdit.EchoMode.Password]
                for widget in pins:
                    widget.clear()
                if pins:
                    pins[0].setFocus()
            return
        self.error.clear()
        self.accept()


__all__ = ["ERROR_STYLE", "Field", "FormDialog", "set_widget_value", "widget_value"]
