"""The annotation editor's ViewBox: mouse buttons to tools, window/level, pan and slices.

Bindings (the same as the reading viewer for window/level, so a radiologist's hand need not
relearn): left button = the active tool (drag paints, click adds a polygon vertex or fills,
double-click closes a polygon); right-drag = window (horizontal) and level (vertical); middle-drag
or Shift+left-drag = pan; wheel = zoom; Ctrl+wheel = slice.
"""

from __future__ import annotations

from typing import Any, Protocol

import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt


class PaintTarget(Protocol):
    """What the view box drives (the annotation window)."""

    def press(self, scene_pos: QPointF) -> None: ...
    def move(self, scene_pos: QPointF) -> None: ...
    def release(self) -> None: ...
    def click(self, scene_pos: QPointF) -> None: ...
    def close_polygon(self) -> None: ...
    def step_slice(self, step: int) -> None: ...
    def drag_window(self, dx: float, dy: float) -> None: ...


class PaintViewBox(pg.ViewBox):
    """Left button to the tool; right-drag window/level; middle- or Shift+left-drag pans; Ctrl+wheel slices."""

    def __init__(self, target: PaintTarget) -> None:
        super().__init__(lockAspect=True, invertY=True, enableMenu=False)
        self._target = target
        self._panning = False

    def _pan(self, ev: Any) -> None:
        d = self.mapToView(ev.pos()) - self.mapToView(ev.lastPos())
        self.translateBy(x=-d.x(), y=-d.y())

    def mouseDragEvent(self, ev: Any, axis: Any = None) -> None:  # noqa: N802 - Qt override
        button = ev.button()
        ev.accept()
        if button == Qt.MouseButton.LeftButton:
            if ev.isStart():
                self._panning = bool(ev.modifiers() & Qt.KeyboardModifier.ShiftModifier)
                if not self._panning:
                    self._target.press(ev.buttonDownScenePos())
            if self._panning:
                self._pan(ev)
            else:
                self._target.move(ev.scenePos())
                if ev.isFinish():
                    self._target.release()
            return
        if button == Qt.MouseButton.RightButton:
            d = ev.pos() - ev.lastPos()  # screen pixels, as the reading viewer
            self._target.drag_window(float(d.x()), float(d.y()))
            return
        if button == Qt.MouseButton.MiddleButton:
            self._pan(ev)
            return
        ev.ignore()

    def mouseClickEvent(self, ev: Any) -> None:  # noqa: N802 - Qt override
        if ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            if ev.double():
                self._target.close_polygon()
            else:
                self._target.click(ev.scenePos())
            return
        super().mouseClickEvent(ev)

    def mouseDoubleClickEvent(self, ev: Any) -> None:  # noqa: N802 - Qt override
        self._target.close_polygon()

    def wheelEvent(self, ev: Any, axis: Any = None) -> None:  # noqa: N802 - Qt override
        if ev.modifiers() & Qt.KeyboardModifier.ControlModifier:
            ev.accept()
            self._target.step_slice(1 if ev.delta() < 0 else -1)
            return
        super().wheelEvent(ev, axis)
