"""Menu and shortcut actions as data: ``ActionSpec(id, title, shortcuts, callback)`` -> QActions."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QWidget


@dataclass(frozen=True)
class ActionSpec:
    """One thing the user can do. ``shortcuts`` are QKeySequence strings; ``help`` groups it in F1."""

    id: str
    title: str
    shortcuts: tuple[str, ...]
    callback: Callable[[], None]
    help: bool = True


def install_actions(widget: QWidget, specs: Sequence[ActionSpec]) -> dict[str, QAction]:
    """Create one QAction per spec on ``widget`` (window-wide shortcuts) and return them by id."""
    out: dict[str, QAction] = {}
    for spec in specs:
        action = QAction(spec.title, widget)
        action.setObjectName(spec.id)
        action.setShortcuts([QKeySequence(s) for s in spec.shortcuts])
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.triggered.connect(lambda _=False, cb=spec.callback: cb())
        widget.addAction(action)
        out[spec.id] = action
    return out


def help_rows(specs: Sequence[ActionSpec]) -> list[tuple[str, str]]:
    """(keys, title) for the help overlay, in the order given."""
    return [(" / ".join(QKeySequence(s).toString(QKeySequence.SequenceFormat.NativeText) or s
                        for s in spec.shortcuts), spec.title) for spec in specs if spec.help]
