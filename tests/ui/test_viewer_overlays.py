"""The shared image view: initial window per modality, presets, information overlay, right-drag W/L."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from readerstudy.imaging.phantom import make_phantom
from readerstudy.imaging.windowing import initial_window, modality_presets
from readerstudy.ui.app import ensure_app
from readerstudy.ui.image_view import ImageView


@pytest.fixture(autouse=True)
def _app(qapp):
    ensure_app()


def _view(qtbot) -> ImageView:
    v = ImageView()
    qtbot.addWidget(v)
    v.resize(600, 500)
    v.show()
    qtbot.waitExposed(v)
    return v


def test_initial_window_comes_from_the_image_then_the_modality():
    ct = make_phantom(0).ct
    assert initial_window(ct, None, "CT") == ("soft tissue", (40.0, 400.0))  # not washed out: HU window
    assert initial_window(ct, (50.0, 350.0), "CT") == ("image", (50.0, 350.0))  # DICOM window wins
    assert initial_window(make_phantom(0).pet, None, "PT")[0] == "SUV 0-5"
    us = np.linspace(0, 255, 10_000).reshape(100, 100)
    name, (c, w) = initial_window(us, None, "US")
    assert name == "auto" and 120 < c < 135 and 240 < w < 255  # 0.5-99.5th percentile
    assert list(modality_presets(ct, "CT")) == ["soft tissue", "lung", "bone", "brain", "liver", "full range"]
    assert list(modality_presets(us, "US")) == list(modality_presets(us, "MR")) == ["auto", "full range"]
    assert list(modality_presets(ct, "PT")) == ["SUV 0-5", "SUV 0-10", "SUV 0-20", "full range"]
    c, w = modality_presets(ct, "CT")["full range"]
    assert (c - w / 2, c + w / 2) == pytest.approx((float(ct.min()), float(ct.max())), abs=2)


def test_ct_phantom_opens_in_soft_tissue_and_every_preset_is_reachable(qtbot):
    v = _view(qtbot)
    ct = make_phantom(1).ct
    v.set_pixels(ct, modality="CT")
    assert v.preset == "soft tissue" and v.window == (40.0, 400.0)
    shown = v.image_item.image
    levels = v.image_item.levels
    inside = shown[shown > -500]
    # soft tissue (40-60 HU) falls mid-grey, not white as with a min-max window
    frac = (np.median(inside) - levels[0]) / (levels[1] - levels[0])
    assert 0.45 < frac < 0.7
    for i, name in enumerate(v.presets()):
        v.apply_preset_index(i)
        assert v.preset == name
    assert v.preset == "full range"  # the sixth CT preset (Ctrl+6 in the reading window)
    v.apply_preset("default")
    assert v.preset == "soft tissue"


def test_overlay_shows_window_zoom_slice_and_the_value_under_the_cursor(qtbot):
    v = _view(qtbot)
    vol = np.arange(5 * 40 * 50, dtype=np.int16).reshape(5, 40, 50)
    v.set_pixels(vol, modality="CT")
    assert v.info.shown and v.info.window_label.isVisible()
    assert "W 400  L 40" in v.info.text() and "soft tissue" in v.info.text()
    assert "Slice 3/5" in v.info.text() and "Zoom 1.00×" in v.info.text()
    v.zoom(2.0)
    assert "Zoom 2.00×" in v.info.text()
    v.reset_view()
    v.step_slice(1)
    assert "Slice 4/5" in v.info.text()
    scene = v.vb.mapViewToScene(QPointF(7.5, 12.5))  # the centre of column 7, row 12
    v.scene().sigMouseMoved.emit(scene)
    expected = int(vol[3, 12, 7])
    assert v.cursor_value == (7, 12, float(expected))
    assert f"x 7  y 12:  {expected} HU" in v.info.pixel_label.text()
    # the labels sit inside the image's box, on top of the picture
    vb_rect = v.mapFromScene(v.vb.sceneBoundingRect()).boundingRect()
    assert vb_rect.contains(v.info.pixel_label.geometry().center())
    assert v.toggle_info() is False and not v.info.window_label.isVisible() and v.info.text() == ""
    v.set_pixels(vol, modality="CT")  # the reader's choice holds for the next case
    assert not v.info.shown
    assert v.toggle_info() is True and v.info.window_label.isVisible()


def test_overlay_says_frame_for_cine_and_no_unit_for_ultrasound(qtbot):
    v = _view(qtbot)
    v.set_pixels(np.zeros((4, 20, 20), np.uint8) + 7, modality="US", frame_time_ms=40)
    assert "Frame 1/4" in v.info.text() and "auto" in v.info.text()
    v.scene().sigMouseMoved.emit(v.vb.mapViewToScene(QPointF(3.5, 4.5)))
    assert v.info.pixel_label.text() == "x 3  y 4:  7"
    v.scene().sigMouseMoved.emit(v.vb.mapViewToScene(QPointF(-30.0, 4.5)))  # off the image
    assert v.cursor_value is None and v.info.pixel_label.text() == ""


def _send(widget, kind, pos: QPoint, button, buttons) -> None:
    ev = QMouseEvent(kind, QPointF(pos), QPointF(widget.mapToGlobal(pos)), button, buttons,
                     Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, ev)


def test_right_drag_changes_window_and_level(qtbot):
    v = _view(qtbot)
    ct = make_phantom(0).ct
    v.set_pixels(ct, modality="CT")
    vp = v.viewport()
    start = QPoint(vp.width() // 2, vp.height() // 2)
    right = Qt.MouseButton.RightButton
    _send(vp, QEvent.Type.MouseButtonPress, start, right, right)
    for k in range(1, 6):
        _send(vp, QEvent.Type.MouseMove, start + QPoint(12 * k, 0), Qt.MouseButton.NoButton, right)
    _send(vp, QEvent.Type.MouseButtonRelease, start + QPoint(60, 0), right, Qt.MouseButton.NoButton)
    c, w = v.window
    assert w > 400.0 and c == pytest.approx(40.0) and v.preset == "manual"  # horizontal: width only
    assert "W " in v.info.text() and "manual" in v.info.text()
