"""The annotation window driven by mouse events: paint, undo/redo, switch label, polygon, fill, save."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

PHANTOM = "Phantom liver CT/PET"
BUSI = "BUSI benign vs malignant"
EXPERT = "Expert annotator"


def _case(ctx, study_name: str, i: int = 0):
    with ctx.uow() as uow:
        study = uow.studies.by_name(study_name)
        return uow.cases.list(study.id)[i]


@pytest.fixture
def make_window(qtbot, demo_ctx):
    from readerstudy.ui.annotation_window import AnnotationWindow
    from readerstudy.ui.app import configure_pyqtgraph

    configure_pyqtgraph()

    def make(study_name: str, annotator: str = EXPERT, i: int = 0) -> AnnotationWindow:
        from readerstudy.services.auth import sign_in

        w = AnnotationWindow(demo_ctx, sign_in(demo_ctx, study_name, annotator, "0000"), _case(demo_ctx, study_name, i).id)
        qtbot.addWidget(w)
        w.resize(1200, 800)
        w.show()
        qtbot.waitExposed(w)
        return w

    return make


def _pos(w, y: float, x: float) -> QPoint:
    """Viewport position of the centre of voxel (y, x)."""
    scene = w.vb.mapViewToScene(QPointF(x + 0.5, y + 0.5))
    return w.view.mapFromScene(scene)


def _send(w, kind: QEvent.Type, pos: QPoint, buttons: Qt.MouseButton) -> None:
    vp = w.view.viewport()
    button = Qt.MouseButton.NoButton if kind == QEvent.Type.MouseMove else Qt.MouseButton.LeftButton
    ev = QMouseEvent(kind, QPointF(pos), QPointF(vp.mapToGlobal(pos)), button, buttons,
                     Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(vp, ev)


def _drag(w, points: list[tuple[float, float]]) -> None:
    left = Qt.MouseButton.LeftButton
    _send(w, QEvent.Type.MouseButtonPress, _pos(w, *points[0]), left)
    for p in points[1:]:
        _send(w, QEvent.Type.MouseMove, _pos(w, *p), left)
    _send(w, QEvent.Type.MouseButtonRelease, _pos(w, *points[-1]), Qt.MouseButton.NoButton)


def _click(w, y: float, x: float) -> None:
    _send(w, QEvent.Type.MouseButtonPress, _pos(w, y, x), Qt.MouseButton.LeftButton)
    _send(w, QEvent.Type.MouseButtonRelease, _pos(w, y, x), Qt.MouseButton.NoButton)


def _action(w, action_id: str):
    (action,) = [a for a in w.actions() if a.objectName() == action_id]
    return action


def test_pyqtgraph_is_row_major(make_window) -> None:
    import pyqtgraph as pg

    make_window(PHANTOM)
    assert pg.getConfigOption("imageAxisOrder") == "row-major"


def test_brush_stroke_undo_redo_label_switch_and_save(make_window, demo_ctx) -> None:
    w = make_window(PHANTOM)
    assert w.slice_slider.isVisible() and w.layer.shape == (48, 96, 96)
    w.set_slice(3)  # above the liver: all background
    assert not w.layer.get_slice(0, 3).any()
    w.set_label(2)
    w.brush_spin.setValue(2)
    _drag(w, [(10, 10), (10, 20), (10, 30), (10, 40)])
    painted = w.layer.get_slice(0, 3).copy()
    assert painted[10, 10:41].tolist() == [2] * 31  # one continuous line along the drag
    assert painted[13, 25] == 0 and painted[12, 25] == 2  # radius 2
    assert not w.layer.get_slice(0, 2).any() and not w.layer.get_slice(0, 4).any()
    assert w.layer.undo_description == "brush"
    # the overlay shows the tumour colour where painted, transparent elsewhere
    rgba = w.overlay_rgba()
    assert tuple(rgba[10, 20, :3]) == w.layer.label_set.get(2).color and rgba[10, 20, 3] > 0
    assert rgba[30, 60, 3] == 0

    _action(w, "edit.undo").trigger()
    assert not w.layer.get_slice(0, 3).any()
    _action(w, "edit.redo").trigger()
    np.testing.assert_array_equal(w.layer.get_slice(0, 3), painted)

    w.label_list.setCurrentRow(0)  # liver
    assert w.layer.active_label == 1
    _click(w, 40, 40)
    assert w.layer.get_slice(0, 3)[40, 40] == 1

    w.set_tool("eraser")
    _drag(w, [(10, 10), (10, 15)])
    assert w.layer.get_slice(0, 3)[10, 12] == 0 and w.layer.get_slice(0, 3)[10, 30] == 2

    assert w.save()
    assert w.last_record.version == 2 and not w.layer.is_modified
    expected = w.layer.data.copy()
    w.layer.paint((3, 60, 60), 3)  # an unsaved edit is discarded by reload
    w.reload()
    np.testing.assert_array_equal(w.layer.data, expected)


def test_polygon_and_fill_tools(make_window) -> None:
    w = make_window(PHANTOM)
    w.set_slice(2)
    w.set_label(2)
    w.set_tool("polygon")
    for y, x in ((20, 20), (20, 40), (40, 40), (40, 20)):
        _click(w, y, x)
    assert len(w._polygon) == 4 and not w.layer.get_slice(0, 2).any()
    w.close_polygon()
    s = w.layer.get_slice(0, 2)
    # vertices land within a fraction of a voxel of the clicked centres (integer widget pixels)
    assert s[30, 30] == 2 and s[21, 21] == 2 and s[39, 39] == 2 and s[42, 30] == 0 and s[30, 42] == 0
    area = int((s == 2).sum())
    assert 19 * 19 <= area <= 21 * 21
    w.set_tool("fill")
    w.set_label(1)
    _click(w, 30, 30)  # refill the square with liver
    s = w.layer.get_slice(0, 2)
    assert int((s == 1).sum()) == area and not (s == 2).any()
    assert w.layer.undo_description == "fill"


def test_keyboard_shortcuts_switch_tools(make_window, qtbot) -> None:
    w = make_window(BUSI)
    assert not w.slice_slider.isVisible()
    w.activateWindow()
    qtbot.waitUntil(w.isActiveWindow)
    for key, tool in ((Qt.Key.Key_E, "eraser"), (Qt.Key.Key_P, "polygon"), (Qt.Key.Key_F, "fill"),
                      (Qt.Key.Key_B, "brush")):
        qtbot.keyClick(w, key)
        assert w.tool == tool and w.tool_buttons[tool].isChecked()
    _click(w, 50, 50)
    assert w.layer.data[0, 50, 50] == 1
    qtbot.keyClick(w, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    before = w.layer.data.copy()
    assert before[0, 50, 50] == 0
    qtbot.keyClick(w, Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier)
    assert w.layer.data[0, 50, 50] == 1


def test_reader_cannot_open_the_annotation_editor(make_window) -> None:
    from readerstudy.core.errors import PermissionDenied

    with pytest.raises(PermissionDenied, match="annotators and coordinators"):
        make_window(BUSI, "Junior radiologist")
