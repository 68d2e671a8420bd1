"""The annotation window on three planes, with the threshold brush, label visibility, volume tools
and the compare-with-annotator view (mouse events where a user would use the mouse)."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

PHANTOM = "Phantom liver CT/PET"
EXPERT = "Expert annotator"
SPACING = (2.5, 1.5, 1.5)


def _case(ctx, study_name: str, i: int = 0):
    with ctx.uow() as uow:
        study = uow.studies.by_name(study_name)
        return uow.cases.list(study.id)[i]


@pytest.fixture
def make_window(qtbot, demo_ctx):
    from readerstudy.ui.annotation_window import AnnotationWindow
    from readerstudy.ui.app import configure_pyqtgraph

    configure_pyqtgraph()

    def make(annotator: str = EXPERT, i: int = 0) -> AnnotationWindow:
        from readerstudy.services.auth import sign_in

        w = AnnotationWindow(demo_ctx, sign_in(demo_ctx, PHANTOM, annotator, "0000"), _case(demo_ctx, PHANTOM, i).id)
        qtbot.addWidget(w)
        w.resize(1300, 850)
        w.show()
        qtbot.waitExposed(w)
        return w

    return make


def _pos(w, row: float, col: float) -> QPoint:
    return w.view.mapFromScene(w.scene_pos(row, col))


def _send(w, kind: QEvent.Type, pos: QPoint, buttons: Qt.MouseButton, button=Qt.MouseButton.LeftButton) -> None:
    vp = w.view.viewport()
    ev = QMouseEvent(kind, pos.toPointF(), vp.mapToGlobal(pos).toPointF(), button, buttons,
                     Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(vp, ev)


def _drag(w, points: list[tuple[float, float]]) -> None:
    left = Qt.MouseButton.LeftButton
    _send(w, QEvent.Type.MouseButtonPress, _pos(w, *points[0]), left)
    for p in points[1:]:
        _send(w, QEvent.Type.MouseMove, _pos(w, *p), left, Qt.MouseButton.NoButton)
    _send(w, QEvent.Type.MouseButtonRelease, _pos(w, *points[-1]), Qt.MouseButton.NoButton)


def _hover(w, row: float, col: float) -> None:
    """A button-less move; pyqtgraph drops moves that follow the previous one within 1/mouseRateLimit s."""
    QTest.qWait(25)
    _send(w, QEvent.Type.MouseMove, _pos(w, row, col), Qt.MouseButton.NoButton, Qt.MouseButton.NoButton)


def _click(w, row: float, col: float) -> None:
    _send(w, QEvent.Type.MouseButtonPress, _pos(w, row, col), Qt.MouseButton.LeftButton)
    _send(w, QEvent.Type.MouseButtonRelease, _pos(w, row, col), Qt.MouseButton.NoButton)


def _clear(w) -> None:
    w.layer.replace_data(np.zeros(w.layer.shape, np.uint8), description="clear")


def test_paint_on_coronal_plane_changes_only_that_plane(make_window, qtbot) -> None:
    w = make_window()
    assert w.layer.spacing == SPACING
    w.activateWindow()
    qtbot.waitUntil(w.isActiveWindow)
    qtbot.keyClick(w, Qt.Key.Key_2)
    assert w.axis == 1 and w.planes.plane_combo.currentIndex() == 1
    assert w.slice_slider.maximum() == 95 and w.image_item.image.shape == (48, 96)
    r = w.view_rect()  # 96 columns of 1.5 mm, 48 rows of 2.5 mm: mm are square on screen
    assert r.width() == pytest.approx(96) and r.height() == pytest.approx(48 * 2.5 / 1.5)
    w.set_slice(30)
    w.set_label(2)
    w.brush_spin.setValue(3)
    before = w.layer.data.copy()
    _drag(w, [(20, 30), (20, 40)])
    changed = np.argwhere(w.layer.data != before)
    assert len(changed) > 0 and set(changed[:, 1].tolist()) == {30}  # only the coronal slice y = 30
    plane = w.layer.get_slice(1, 30)
    assert plane[20, 30:41].tolist() == [2] * 11 and plane[23, 35] == 2
    assert changed[:, 0].min() >= 17 and changed[:, 0].max() <= 23  # radius 3 rows (z) around row 20
    assert changed[:, 2].min() >= 27 and changed[:, 2].max() <= 43
    # the brush cursor follows the mouse and is as large as the brush on this plane (px: rows are 2.5/1.5 taller)
    _hover(w, 10, 10)
    rect = w.cursor_item.rect()
    assert w.cursor_item.isVisible()
    assert rect.width() == pytest.approx(6) and rect.height() == pytest.approx(6 * 2.5 / 1.5)
    assert rect.center().x() == pytest.approx(10.5, abs=0.6) and rect.center().y() == pytest.approx(10.5 * 2.5 / 1.5, abs=1)
    w.planes.mm_check.setChecked(True)  # 6 mm brush: a circle of 4 columns (1.5 mm) radius
    w.brush_spin.setValue(6)
    _hover(w, 10, 12)
    assert w.cursor_item.rect().width() == pytest.approx(8) == w.cursor_item.rect().height()
    qtbot.keyClick(w, Qt.Key.Key_3)
    assert w.axis == 2 and w.image_item.image.shape == (48, 96)
    qtbot.keyClick(w, Qt.Key.Key_1)
    assert w.axis == 0 and w.image_item.image.shape == (96, 96)


def test_threshold_brush_leaves_out_of_range_voxels(make_window) -> None:
    w = make_window()
    _clear(w)
    w.set_slice(24)
    w.set_label(2)
    w.brush_spin.setValue(12)
    img = w.pixels[24, 36:61, 36:61]
    lo, hi = (float(v) for v in np.percentile(img, [30, 70]))
    w.threshold.set_range(lo, hi)
    assert w.layer.intensity_range == pytest.approx((round(lo, 1), round(hi, 1)))
    _click(w, 48, 48)
    painted = w.layer.get_slice(0, 24) == 2
    vals = w.pixels[24][painted]
    assert painted.sum() > 50
    assert vals.min() >= round(lo, 1) - 1e-3 and vals.max() <= round(hi, 1) + 1e-3
    yy, xx = np.mgrid[:96, :96]
    disk = (yy - 48) ** 2 + (xx - 48) ** 2 <= 12 ** 2
    assert (disk & ~painted).sum() > 50  # out-of-range voxels under the brush were left alone
    w.threshold.enabled_check.setChecked(False)
    assert w.layer.intensity_range is None
    w.threshold.preserve_check.setChecked(True)
    assert w.layer.preserve_other_labels


def test_hidden_label_is_not_drawn(make_window) -> None:
    w = make_window()
    w.set_slice(24)
    s = w.layer.get_slice(0, 24)
    liver = np.argwhere(s == 1)[0]
    assert w.overlay_item.image[liver[0], liver[1], 3] > 0
    item = w.label_list.item(0)
    item.setCheckState(Qt.CheckState.Unchecked)  # the tick box in the label list
    assert not w.layer.display[1].visible
    assert w.overlay_item.image[liver[0], liver[1], 3] == 0
    assert (w.overlay_item.image[..., 3][s == 1] == 0).all()
    w.label_list.setCurrentRow(1)
    w.display_panel.label_slider.setValue(100)
    assert w.layer.display[2].opacity == 1.0


def test_interpolation_fills_between_slices_in_one_undo_step(make_window) -> None:
    w = make_window()
    _clear(w)
    w.set_label(2)
    w.brush_spin.setValue(4)
    for k in (10, 16):
        w.set_slice(k)
        _click(w, 30, 30)
    assert w.layer.annotated_slices(2) == [10, 16]
    w.volume.interpolate_button.click()
    assert w.layer.annotated_slices(2) == list(range(10, 17))
    assert w.layer.get_slice(0, 13)[30, 30] == 2 and w.layer.undo_description == "interpolate"
    w.undo()
    assert w.layer.annotated_slices(2) == [10, 16]


def test_clean_up_removes_stray_island_and_volume_label(make_window) -> None:
    w = make_window()
    _clear(w)
    w.set_label(2)
    w.layer.paint((24, 48, 48), 10.0, unit="mm", sphere=True, label=2)  # a 10 mm ball
    n = int((w.layer.data == 2).sum())
    ml = n * np.prod(SPACING) / 1000.0
    assert ml == pytest.approx(4 / 3 * np.pi * 10 ** 3 / 1000, rel=0.15)
    w.set_slice(24)
    w.brush_spin.setValue(1)
    _click(w, 10, 85)  # a stray island
    assert w.layer.get_slice(0, 24)[10, 85] == 2
    text = w.volume.volume_label.text()
    assert "tumour" in text and "(2 parts)" in text
    w.volume.clean_button.click()
    assert w.layer.get_slice(0, 24)[10, 85] == 0 and w.layer.undo_description == "clean up"
    cleaned = int((w.layer.data == 2).sum())
    assert cleaned >= n
    expected = cleaned * np.prod(SPACING) / 1000.0
    assert f"tumour {expected:.2f} mL" in w.volume.volume_label.text()
    assert "parts" not in w.volume.volume_label.text()
    w.undo()
    assert w.layer.get_slice(0, 24)[10, 85] == 2
    assert f"tumour {ml + np.prod(SPACING) / 1000.0 * (int((w.layer.data == 2).sum()) - n) :.2f} mL" in \
        w.volume.volume_label.text()


def _add_annotator(ctx, name: str, case_id: str, shift: int):
    from readerstudy.core.models import Role
    from readerstudy.services import annotation as service
    from readerstudy.services.auth import add_participant, sign_in, system_session

    add_participant(ctx, system_session(ctx, PHANTOM, "t"), name, Role.ANNOTATOR, "0000")
    expert, _, _ = service.open_annotation(ctx, sign_in(ctx, PHANTOM, EXPERT, "0000"), case_id)
    me = sign_in(ctx, PHANTOM, name, "0000")
    layer, _, _ = service.open_annotation(ctx, me, case_id)
    layer.replace_data(np.roll(expert.data, shift, axis=2))
    service.save_annotation(ctx, me, case_id, layer)
    return layer.data.copy()


def _dice(a, b) -> float:
    return 2 * float((a & b).sum()) / float(a.sum() + b.sum())


def test_compare_with_second_annotator(make_window, demo_ctx) -> None:
    case_id = _case(demo_ctx, PHANTOM).id
    other = _add_annotator(demo_ctx, "Second annotator", case_id, 3)
    w = make_window()
    mine = w.layer.data.copy()
    w.tabs.setCurrentIndex(1)
    assert w.compare.annotator_combo.count() == 2 and not w.compare.consensus_combo.isEnabled()
    w.compare.annotator_combo.setCurrentText("Second annotator")
    assert w.compare.other == "Second annotator"
    for row, lab in enumerate((1, 2)):
        expected = _dice(mine == lab, other == lab)
        assert w.compare.results[lab].dice == pytest.approx(expected)
        assert w.compare.table.item(row, 1).text() == f"{expected:.3f}"
        assert float(w.compare.table.item(row, 2).text()) > 0  # HD95 in mm
    assert 0.3 < w.compare.results[1].dice < 0.99
    w.set_slice(24)
    rgba = w.compare.other_item.image
    assert w.compare.other_item.isVisible() and (rgba[..., 2] == 255).any()
    # an edit updates the table: erase all my tumour -> Dice 0 for it
    w.layer.replace_data(np.where(mine == 2, 0, mine).astype(np.uint8))
    assert w.compare.results[2].dice == 0.0
    w.undo()
    _add_annotator(demo_ctx, "Third annotator", case_id, -3)
    w.compare.refresh_button.click()
    assert w.compare.consensus_combo.isEnabled() and w.compare.other == "Second annotator"
    w.compare.consensus_combo.setCurrentText("majority")
    assert w.compare.consensus is not None and w.compare.consensus_item.isVisible()
    assert (w.compare.consensus == 1).sum() > 0
    assert "Magenta" in w.compare.legend.text()
