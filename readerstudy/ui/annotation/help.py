"""The annotation editor's F1 help: mouse bindings, then every shortcut from the window's action specs."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QLabel, QVBoxLayout, QWidget

from readerstudy.ui.actions import ActionSpec, help_rows

MOUSE_ROWS: tuple[tuple[str, str], ...] = (
    ("Left-drag", "Brush / eraser: paint (one stroke = one undo step)"),
    ("Left-click", "Polygon: add a vertex · Fill: flood the region · Brush: one dab"),
    ("Double-click or Enter", "Polygon: close it and fill (at least 3 vertices); Escape cancels"),
    ("Right-drag", "Window (left/right) and level (up/down), as in the reading viewer; R resets"),
    ("Middle-drag or Shift+left-drag", "Pan"),
    ("Wheel", "Zoom"),
    ("Ctrl+wheel", "Next / previous slice (volumes)"),
)


def help_html(specs: Sequence[ActionSpec]) -> str:
    """The help text (HTML): the mouse table, then the keyboard table of ``specs``."""
    def table(rows: Sequence[tuple[str, str]]) -> str:
        return "<table cellpadding=2>" + "".join(
            f"<tr><td><b>{escape(k)}</b></td><td>{escape(t)}</td></tr>" for k, t in rows) + "</table>"

    return ("<h3>Mouse</h3>" + table(MOUSE_ROWS) + "<h3>Keyboard</h3>" + table(help_rows(specs))
            + "<p>F1 closes this help.</p>")


class HelpOverlay(QFrame):
    """A dark panel over the editor with :func:`help_html`; F1 toggles it."""

    def __init__(self, specs: Sequence[ActionSpec], parent: QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("annotationHelp")
        self.setStyleSheet("#annotationHelp { background: rgba(10,10,10,230); border-radius: 8px; }"
                           " QLabel { color: white; }")
        self.label = QLabel(help_html(specs))
        self.label.setTextFormat(Qt.TextFormat.RichText)
        QVBoxLayout(self).addWidget(self.label)
        self.hide()

    def toggle(self) -> None:
        if self.isVisible():
            self.hide()
            return
        parent = self.parentWidget()
        self.adjustSize()
        self.move(max((parent.width() - self.width()) // 2, 0), max((parent.height() - self.height()) // 2, 0))
        self.raise_()
        self.show()
