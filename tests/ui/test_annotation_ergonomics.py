"""Annotation-window ergonomics: right-drag window/level with a readout, middle-drag pan, F1 help,
honest units (px² without a pixel spacing, no plane control for 2D), brush preferences per person,
and Save / Discard / Cancel when closing a stand-alone editor."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication, QMessageBox

from readerstudy.core.annotation import AnnotationLayer
from readerstudy.core.annotation_labels import LabelSet

PHANTOM = "Phantom liver CT/PET"
BUSI = "BUSI benign vs malignant"
EXPERT = "Expert annotator"
Choice = QMessageBox.StandardButton


def _case(ctx, study_name: str, i: int = 0):
    with ctx.uow() as uow:
        return uow.cases.list(uow.studies.by_name(study_name).id)[i]


@pytest.fixture
def make_window(qtbot, demo_ctx):
    from readerstudy.services.auth import sign_in
    from readerstudy.ui.annotation_window import AnnotationWindow
    from readerstudy.ui.app import configure_pyqtgraph

    configure_pyqtgraph()

    def make(study_name: str, i: int = 0) -> AnnotationWindow:
        w = AnnotationWindow(demo_ctx, sign_in(demo_ctx, study_name, EXPERT, "0000"), _case(demo_ctx, study_name, i).id)
        qtbot.addWidget(w)
        w.resize(1200, 800)
        w.show()
        qtbot.waitExposed(w)
        return w

    return make


def _send(w, kind: QEvent.Type, pos: QPoint, button: Qt.MouseButton, buttons: Qt.MouseButton) -> None:
    vp = w.view.viewport()
    ev = QMouseEvent(kind, QPointF(pos), QPointF(vp.mapToGlobal(pos)), button, buttons, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(vp, ev)


def _drag(w, button: Qt.MouseButton, start: QPoint, delta: QPoint, steps: int = 5) -> None:
    _send(w, QEvent.Type.MouseButtonPress, start, button, button)
    for k in range(1, steps + 1):
        _send(w, QEvent.Type.MouseMove, start + delta * k / steps, Qt.MouseButton.NoButton, button)
    _send(w, QEvent.Type.MouseButtonRelease, start + delta, button, Qt.MouseButton.NoButton)


def _centre(w) -> QPoint:
    return w.view.viewport().rect().center()


def test_right_drag_is_window_level_with_a_readout_and_does_not_pan(make_window) -> None:
    w = make_window(PHANTOM)
    c0, w0 = w.window_cw
    assert (c0, w0) == (40.0, 400.0)  # CT soft tissue
    assert w.wl_label.text() == "W 400  L 40" and w.wl_label.isVisible()
    view_before = w.vb.viewRange()
    painted_before = w.layer.data.copy()
    _drag(w, Qt.MouseButton.RightButton, _centre(w), QPoint(100, -50))
    c1, w1 = w.window_cw
    assert w1 > w0 and c1 > c0  # right widens, up raises the level
    np.testing.assert_allclose(w1 - w0, 100 * w._span / 500.0, rtol=0.05)
    assert w.wl_label.text() == f"W {w1:.4g}  L {c1:.4g}"
    np.testing.assert_allclose(w.image_item.levels, (c1 - w1 / 2, c1 + w1 / 2))
    np.testing.assert_allclose(w.vb.viewRange(), view_before)  # no pan
    np.testing.assert_array_equal(w.layer.data, painted_before)  # no paint
    w.set_slice(w.index + 1)  # the window holds across slices
    np.testing.assert_allclose(w.image_item.levels, (c1 - w1 / 2, c1 + w1 / 2))
    w.reset_window()
    assert w.window_cw == (40.0, 400.0) and w.wl_label.text() == "W 400  L 40"


def test_middle_drag_pans_and_keeps_the_window(make_window) -> None:
    w = make_window(BUSI)
    (x0, _), (y0, _) = w.vb.viewRange()
    window, data = w.window_cw, w.layer.data.copy()
    _drag(w, Qt.MouseButton.MiddleButton, _centre(w), QPoint(60, 40))
    (x1, _), (y1, _) = w.vb.viewRange()
    assert x1 < x0 and y1 < y0  # the image follows the hand
    assert w.window_cw == window
    np.testing.assert_array_equal(w.layer.data, data)


def test_f1_lists_tools_keys_and_how_to_close_a_polygon(make_window, qtbot) -> None:
    w = make_window(BUSI)
    w.activateWindow()
    qtbot.waitUntil(w.isActiveWindow)
    assert not w.help.isVisible()
    qtbot.keyClick(w, Qt.Key.Key_F1)
    assert w.help.isVisible()
    text = w.help.label.text()
    for needle in ("Double-click or Enter", "Polygon: close it", "Right-drag", "Window (left/right)",
                   "Middle-drag", "Brush", "Eraser", "Fill", "Ctrl+Z", "Ctrl+S", "Escape"):
        assert needle in text, needle
    qtbot.keyClick(w, Qt.Key.Key_F1)
    assert not w.help.isVisible()


def test_png_without_spacing_says_px_and_has_no_plane_control(make_window) -> None:
    w = make_window(BUSI)
    assert w.layer.spacing is None and w.asset.spacing_known is False
    assert not w.planes.plane_combo.isVisible() and not w.planes.plane_label.isVisible()
    assert not w.planes.mm_check.isEnabled()
    w.layer.replace_data(np.zeros(w.layer.shape, np.uint8))
    data = w.layer.data.copy()
    data[0, 10:20, 10:30] = 1
    w.layer.replace_data(data)
    assert w.volume.volume_label.text() == "Volumes: tumour 200 px²"
    assert "mm" not in w.volume.volume_label.text()


def test_volume_with_spacing_has_planes_and_ml(make_window) -> None:
    w = make_window(PHANTOM)
    assert w.layer.spacing == (2.5, 1.5, 1.5)
    assert w.planes.plane_combo.isVisible() and w.planes.mm_check.isEnabled()
    assert " mL" in w.volume.volume_label.text()


def test_size_text_units() -> None:
    from readerstudy.ui.annotation.panels import size_text

    ls = LabelSet.preset("tumour")
    flat = AnnotationLayer.empty((1, 10, 10), ls, spacing=(1.0, 0.5, 0.5))
    flat.paint((0, 5, 5), 0)  # one pixel
    assert size_text(flat) == "tumour 0.25 mm²"
    vol = AnnotationLayer.empty((3, 10, 10), ls)
    vol.paint((1, 5, 5), 0)
    assert size_text(vol) == "tumour 1 px³"
    assert size_text(AnnotationLayer.empty((1, 4, 4), ls)) == "nothing painted"


def test_brush_radius_and_unit_are_kept_per_person_across_cases(make_window) -> None:
    w = make_window(PHANTOM, 0)
    assert w.brush_spin.value() == 5 and not w.planes.mm_check.isChecked()
    w.brush_spin.setValue(12)
    w.planes.mm_check.setChecked(True)
    assert w.brush_unit == "mm"
    w.close()
    w2 = make_window(PHANTOM, 1)  # another case: the same brush
    assert w2.brush_spin.value() == 12 and w2.brush_radius == 12.0
    assert w2.planes.mm_check.isChecked() and w2.brush_unit == "mm" and w2.brush_label.text() == "Brush radius (mm)"
    w3 = make_window(PHANTOM, 2)
    assert w3.brush_unit == "mm"


def test_a_png_shows_px_but_keeps_the_mm_preference(make_window) -> None:
    from readerstudy.ui.annotation_window import preferences

    png = make_window(BUSI, 0)
    key = f"{png._prefs_key}/brush_mm"
    preferences().setValue(key, "true")  # chosen earlier on an image with a spacing
    png2 = make_window(BUSI, 1)
    assert png2.brush_unit == "px" and not png2.planes.mm_check.isChecked()
    assert preferences().value(key) == "true"


def test_closing_a_standalone_editor_with_unsaved_strokes_asks(make_window, unsaved_answers) -> None:
    w = make_window(BUSI)
    w.layer.paint((0, 30, 30), 3)
    assert w.has_unsaved
    unsaved_answers.append(Choice.Cancel)
    assert not w.close() and w.isVisible()
    unsaved_answers.append(Choice.Discard)
    assert w.close() and not w.isVisible()
    assert [t for t, _ in unsaved_answers.asked] == ["Unsaved changes", "Unsaved changes"]


def test_label_editor_adds_renames_recolours_and_the_save_keeps_it(make_window, demo_ctx) -> None:
    from readerstudy.services.annotation import open_annotation

    w = make_window(PHANTOM)
    dialog = w.open_label_editor()
    assert dialog.isVisible() and dialog.table.rowCount() == 2
    dialog.rename(1, "HCC")
    dialog.set_colour(0, (10, 200, 10))
    row = dialog.add_label("vessel")
    assert dialog.ids[row] == 3
    dialog.accept()
    assert not dialog.isVisible()
    names = [w.label_list.item(i).text() for i in range(w.label_list.count())]
    assert names == ["1  liver", "2  HCC", "3  vessel"]
    assert w.layer.label_set.get(1).color == (10, 200, 10) and w.layer.is_modified
    assert w.layer.label_set.get(2).type.meaning == "Neoplasm"  # the SEG code survives the rename
    w.set_label(3)
    w.set_slice(24)
    w.layer.paint((24, 40, 40), 2)
    assert w.layer.data[24, 40, 40] == 3
    assert tuple(w.overlay_rgba()[40, 40, :3]) == w.layer.label_set.get(3).color
    assert w.save()
    layer, _, _ = open_annotation(demo_ctx, w.session, w.case_id)
    assert [lab.name for lab in layer.label_set] == ["liver", "HCC", "vessel"]
    assert layer.label_set.get(1).color == (10, 200, 10) and layer.data[24, 40, 40] == 3


def test_label_editor_refuses_to_drop_a_painted_label_and_empty_names(make_window) -> None:
    from readerstudy.core.annotation_labels import Label, LabelSet

    w = make_window(PHANTOM)
    before = w.layer.label_set
    assert not w.apply_label_set(LabelSet("x", (Label(1, "liver", (1, 2, 3)),)))  # tumour has voxels
    assert "tumour" in w.status.text() and w.layer.label_set == before and w.label_list.count() == 2
    dialog = w.open_label_editor()
    dialog.rename(0, "  ")
    dialog.accept()
    assert dialog.isVisible() and "must not be empty" in dialog.error.text() and dialog.result_set is None
    dialog.rename(0, "tumour")  # a clash with label 2
    dialog.accept()
    assert dialog.isVisible() and "duplicate label names" in dialog.error.text()


def test_a_coordinator_makes_the_edited_labels_the_studys(qtbot, demo_ctx) -> None:
    from readerstudy.services.annotation_labels import study_label_set
    from readerstudy.services.auth import sign_in
    from readerstudy.ui.annotation_window import AnnotationWindow

    coord = sign_in(demo_ctx, BUSI, "Study coordinator", "0000")
    w = AnnotationWindow(demo_ctx, coord, _case(demo_ctx, BUSI).id)
    qtbot.addWidget(w)
    dialog = w.open_label_editor()
    assert not dialog.study_check.isHidden()
    dialog.add_label("calcification")
    dialog.study_check.setChecked(True)
    dialog.accept()
    assert [lab.name for lab in study_label_set(demo_ctx, coord, BUSI)] == ["tumour", "calcification"]
    expert = sign_in(demo_ctx, BUSI, EXPERT, "0000")
    w2 = AnnotationWindow(demo_ctx, expert, _case(demo_ctx, BUSI).id)
    qtbot.addWidget(w2)
    assert w2.open_label_editor().study_check.isHidden()  # annotators edit only their mask's labels


def _pane_click(pane, row: int, col: int) -> None:
    from readerstudy.ui.annotation.three_planes import plane_scale

    sr = plane_scale(pane._host.layer.spacing, pane.axis)
    pos = pane.view.mapFromScene(pane.vb.mapViewToScene(QPointF(col + 0.5, (row + 0.5) * sr)))
    vp = pane.view.viewport()
    for kind, buttons in ((QEvent.Type.MouseButtonPress, Qt.MouseButton.LeftButton),
                          (QEvent.Type.MouseButtonRelease, Qt.MouseButton.NoButton)):
        QApplication.sendEvent(vp, QMouseEvent(kind, QPointF(pos), QPointF(vp.mapToGlobal(pos)),
                                               Qt.MouseButton.LeftButton, buttons, Qt.KeyboardModifier.NoModifier))


def test_three_planes_with_a_linked_crosshair(make_window, qtbot) -> None:
    w = make_window(PHANTOM)
    assert w.three_planes.isHidden()
    w.activateWindow()
    qtbot.waitUntil(w.isActiveWindow)
    qtbot.keyClick(w, Qt.Key.Key_T)
    assert w.three_planes.isVisible() and w.cross_h.isVisible()
    coronal, sagittal = w.three_planes.panes
    assert (coronal.axis, sagittal.axis) == (1, 2)
    qtbot.wait(50)
    _pane_click(coronal, 10, 30)  # coronal pane: row = z, col = x
    assert w.indices[0] == 10 and w.indices[2] == 30 and w.index == 10  # the axial editor follows
    assert w.slice_slider.value() == 10 and w.slice_label.text() == "Axial 11/48"
    assert w.cross_v.value() == pytest.approx(30.5)  # the crosshair in the editing view
    assert sagittal.title.text() == "Sagittal 31/96"  # the sagittal pane moved to x = 30
    _pane_click(sagittal, 20, 40)  # sagittal: row = z, col = y
    assert (w.indices[0], w.indices[1]) == (20, 40) and w.index == 20
    assert w.cross_h.value() == pytest.approx(40.5)
    # a stroke in the editor shows in the pane whose plane crosses it
    w.layer.replace_data(np.zeros(w.layer.shape, np.uint8))
    w.set_label(2)
    w.layer.paint((20, 40, 30), 2)
    rgba = coronal.overlay_item.image  # coronal plane y = 40: row z = 20, col x = 30
    assert tuple(rgba[20, 30, :3]) == w.layer.label_set.get(2).color and rgba[20, 30, 3] > 0
    w.set_axis(1)  # the editor on coronal: the panes show axial and sagittal
    assert (coronal.axis, sagittal.axis) == (0, 2)
    qtbot.keyClick(w, Qt.Key.Key_T)
    assert w.three_planes.isHidden() and not w.cross_h.isVisible()


def test_three_planes_are_for_volumes_only(make_window) -> None:
    w = make_window(BUSI)
    w.show_three_planes(True)
    assert w.three_planes.isHidden()


def test_the_annotation_window_uses_the_reading_rooms_dark_greys(make_window) -> None:
    """Annotators work in the same dark rooms: the tool panel is dark and its check boxes are visible."""
    from PySide6.QtGui import QColor

    from readerstudy.ui.theme import luminance

    w = make_window(BUSI)
    img = w.tabs.grab().toImage()
    xs, ys = np.linspace(2, img.width() - 3, 12).astype(int), np.linspace(2, img.height() - 3, 12).astype(int)
    assert float(np.mean([luminance(QColor(img.pixel(int(x), int(y)))) for x in xs for y in ys])) < 0.06
    from PySide6.QtWidgets import QCheckBox

    box = next(b for b in w.findChildren(QCheckBox) if b.isEnabled() and b.isVisible())
    shot = box.grab().toImage()
    lum = [luminance(QColor(shot.pixel(x, y))) for x in range(min(18, shot.width())) for y in range(shot.height())]
    assert max(lum) - min(lum) > 0.15  # the indicator's outline stands out from the dark panel
