"""The reading window's plain pages (break, end) and its F1 help overlay, in reading-room greys."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QLabel, QPushButton, QVBoxLayout, QWidget

from readerstudy.ui.theme import BACKGROUND, BORDER, TEXT


def message_page(text: str, *buttons: QPushButton) -> QWidget:
    """A dark page with a centred message (object name ``message``) and buttons under it."""
    w = QWidget()
    w.setObjectName("page")
    w.setStyleSheet(f"QWidget#page {{ background: {BACKGROUND}; }}")
    lay = QVBoxLayout(w)
    lay.addStretch(1)
    label = QLabel(text)
    label.setObjectName("message")
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    label.setWordWrap(True)
    label.setStyleSheet(f"font-size: 20px; color: {TEXT};")
    lay.addWidget(label)
    for b in buttons:
        lay.addWidget(b, alignment=Qt.AlignmentFlag.AlignCenter)
    lay.addStretch(1)
    return w


class HelpOverlay(QFrame):
    """The keyboard help drawn over the window; ``rows()`` is read each time it opens."""

    def __init__(self, rows: Callable[[], list[tuple[str, str]]], parent: QWidget) -> None:
        super().__init__(parent)
        self._rows = rows
        self.setObjectName("help")
        self.setStyleSheet(f"QFrame#help {{ background: rgba(12,12,12,235); border: 1px solid {BORDER}; "
                           f"border-radius: 8px; }} QLabel {{ color: {TEXT}; background: transparent; }}")
        self.label = QLabel("")
        self.label.setTextFormat(Qt.TextFormat.RichText)
        QVBoxLayout(self).addWidget(self.label)
        self.hide()

    def text_rows(self) -> list[tuple[str, str]]:
        return self._rows()

    def toggle(self) -> None:
        if self.isVisible():
            self.hide()
            return
        self.label.setText("<h3>Keyboard</h3><table cellpadding=3>" + "".join(
            f"<tr><td><b>{k}</b></td><td>{t}</td></tr>" for k, t in self._rows())
            + "</table><p>F1 or ? closes this.</p>")
        parent = self.parentWidget()
        self.adjustSize()
        self.move((parent.width() - self.width()) // 2, (parent.height() - self.height()) // 2)
        self.raise_()
        self.show()


__all__ = ["HelpOverlay", "message_page"]
