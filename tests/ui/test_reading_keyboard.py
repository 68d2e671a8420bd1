"""Reading window keyboard, focus, slider, break, full screen and dark theme (qtbot, real study)."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QApplication, QStyle, QStyleOptionSlider
from test_reading_support import PIN, SEQUENTIAL, build_study

from readerstudy.core.reading import ReadingState
from readerstudy.services.auth import sign_in
from readerstudy.services.reading import ReadingService
from readerstudy.ui.app import ensure_app
from readerstudy.ui.reading_window import ReadingWindow
from readerstudy.ui.theme import luminance


@pytest.fixture(autouse=True)
def _app(qapp):
    ensure_app()


def _window(qtbot, ctx, name="alice"):
    w = ReadingWindow(ReadingService(ctx, sign_in(ctx, "Pilot", name, PIN)), black_screen_ms=0)
    qtbot.addWidget(w)
    w.resize(1400, 900)
    w.show()
    w.activateWindow()
    qtbot.waitUntil(w.isActiveWindow)
    qtbot.waitUntil(lambda: w.page == "reading")
    return w


def _key(qtbot, w, key, mods=Qt.KeyboardModifier.NoModifier):
    qtbot.keyClick(QApplication.focusWidget() or w, key, mods)  # where a real key press goes


def test_tab_and_shift_tab_walk_the_fields_and_the_focus_follows(qtbot, tmp_path, qtlog):
    ctx = build_study(tmp_path, n_cases=2)
    w = _window(qtbot, ctx)
    p = w.panel
    assert p.active == 0 and QApplication.focusWidget() is p.slider
    _key(qtbot, w, Qt.Key.Key_Tab)
    assert p.active == 1 and QApplication.focusWidget() is p.binary_buttons[0]
    _key(qtbot, w, Qt.Key.Key_Tab)
    assert p.active == 2 and QApplication.focusWidget() is p.conf_buttons[0]
    _key(qtbot, w, Qt.Key.Key_Tab)  # nothing answered: Submit is skipped, back to the first missing field
    assert p.active == 0 and QApplication.focusWidget() is p.slider
    _key(qtbot, w, Qt.Key.Key_Backtab, Qt.KeyboardModifier.ShiftModifier)  # what Shift+Tab sends
    assert p.active == 2 and QApplication.focusWidget() is p.conf_buttons[0]
    _key(qtbot, w, Qt.Key.Key_Tab, Qt.KeyboardModifier.ShiftModifier)
    assert p.active == 1
    for k in (Qt.Key.Key_0, Qt.Key.Key_5):  # on the call: 0 = negative, then confidence 5
        _key(qtbot, w, k)
    assert p.answers() == (None, 0, 5) and p.active == 0  # confidence given: on to the missing probability
    for k in (Qt.Key.Key_4, Qt.Key.Key_0):
        _key(qtbot, w, k)
    assert p.answers() == (40.0, 0, 5) and p.active == 1
    _key(qtbot, w, Qt.Key.Key_Tab)
    _key(qtbot, w, Qt.Key.Key_Tab)
    assert p.active == 3 and QApplication.focusWidget() is p.submit_button  # all given: Submit takes the focus
    _key(qtbot, w, Qt.Key.Key_Backtab, Qt.KeyboardModifier.ShiftModifier)
    assert p.active == 2 and QApplication.focusWidget() is p.conf_buttons[4]  # the chosen confidence
    assert not [r for r in qtlog.records if "Ambiguous" in r.message]
    w.close()
    ctx.close()


def test_y_moves_to_confidence_and_a_digit_there_is_taken(qtbot, tmp_path):
    ctx = build_study(tmp_path, n_cases=2)
    w = _window(qtbot, ctx)
    p = w.panel
    for k in (Qt.Key.Key_6, Qt.Key.Key_5):
        _key(qtbot, w, k)
    assert p.active == 1 and p.answers() == (65.0, None, None)
    _key(qtbot, w, Qt.Key.Key_Y)
    assert p.active == 2 and QApplication.focusWidget() is p.conf_buttons[0]
    _key(qtbot, w, Qt.Key.Key_4)
    assert p.answers() == (65.0, 1, 4) and p.active == 3 and QApplication.focusWidget() is p.submit_button
    _key(qtbot, w, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: w.service.flow.index == 1)
    assert p.active == 0 and QApplication.focusWidget() is p.slider  # the next case starts at probability
    _key(qtbot, w, Qt.Key.Key_Tab)
    _key(qtbot, w, Qt.Key.Key_N)
    assert p.answers() == (None, 0, None) and p.active == 2
    w.close()
    ctx.close()


def test_a_click_on_the_slider_track_sets_the_value_under_it(qtbot, tmp_path):
    ctx = build_study(tmp_path, n_cases=1)
    w = _window(qtbot, ctx)
    s = w.panel.slider
    opt = QStyleOptionSlider()
    s.initStyleOption(opt)
    groove = s.style().subControlRect(QStyle.ComplexControl.CC_Slider, opt, QStyle.SubControl.SC_SliderGroove, s)
    handle = s.style().subControlRect(QStyle.ComplexControl.CC_Slider, opt, QStyle.SubControl.SC_SliderHandle, s)
    span = groove.width() - handle.width()
    for target in (80, 23):
        x = groove.x() + handle.width() // 2 + QStyle.sliderPositionFromValue(0, 100, target, span)
        qtbot.mouseClick(s, Qt.MouseButton.LeftButton, pos=QPoint(x, s.height() // 2))
        assert s.value() == target and w.panel.answers()[0] == float(target)  # not a page step of 10
    w.close()
    ctx.close()


def test_locked_unaided_values_are_shown_again_after_a_break_and_after_signing_in_again(qtbot, tmp_path):
    ctx = build_study(tmp_path, n_cases=2, protocol=SEQUENTIAL, predictions=True)
    w = _window(qtbot, ctx)
    for k in (Qt.Key.Key_3, Qt.Key.Key_0, Qt.Key.Key_0, Qt.Key.Key_3, Qt.Key.Key_Return):
        _key(qtbot, w, k)
    assert w.service.flow.state == ReadingState.UNAIDED_LOCKED
    locked = "locked: 30 %, negative, confidence 3"
    assert locked in w.ai_text.text()
    _key(qtbot, w, Qt.Key.Key_Escape)
    assert w.page == "break"
    _key(qtbot, w, Qt.Key.Key_Return)
    assert w.page == "reading" and locked in w.ai_text.text() and w.reveal_button.isVisible()
    w.close()  # signed out with the unaided read locked
    w2 = _window(qtbot, ctx)
    assert w2.service.flow.state == ReadingState.UNAIDED_LOCKED and locked in w2.ai_text.text()
    w2.close()
    ctx.close()


def test_full_screen_toggle_and_help_lists_the_shown_modality_presets(qtbot, tmp_path):
    ctx = build_study(tmp_path, n_cases=1)
    w = _window(qtbot, ctx)
    assert w.opens_full_screen
    _key(qtbot, w, Qt.Key.Key_F11)
    assert w.windowState() & Qt.WindowState.WindowFullScreen
    _key(qtbot, w, Qt.Key.Key_F11)
    assert not w.windowState() & Qt.WindowState.WindowFullScreen
    rows = dict(w._help_rows())
    titles = " | ".join(rows.values())
    mod = w.image.modality  # PNG ultrasound imported without a modality: OT, windowed as US/MR
    assert mod == "OT" and f"Window preset: auto ({mod})" in titles and f"full range ({mod})" in titles
    assert "lung" not in titles and "soft tissue" not in titles
    _key(qtbot, w, Qt.Key.Key_2, Qt.KeyboardModifier.ControlModifier)
    assert w.image.preset == "full range"
    # a CT volume in the same window: six presets, Ctrl+6 is full range, the help says so
    vol = np.random.default_rng(1).integers(-1000, 1500, size=(6, 40, 40)).astype(np.int16)
    w.image.set_pixels(vol, modality="CT")
    w.view_model = None
    assert w.image.preset == "soft tissue"
    _key(qtbot, w, Qt.Key.Key_6, Qt.KeyboardModifier.ControlModifier)
    assert w.image.preset == "full range"
    _key(qtbot, w, Qt.Key.Key_5, Qt.KeyboardModifier.ControlModifier)
    assert w.image.preset == "liver" and w.image.window == (30.0, 150.0)
    help_rows = w._help_rows()
    assert ("Ctrl+6", "Window preset: full range (CT)") in help_rows
    assert not any("auto" in t for _, t in help_rows if t.startswith("Window preset"))
    _key(qtbot, w, Qt.Key.Key_I)
    assert not w.image.info.shown
    _key(qtbot, w, Qt.Key.Key_I)
    assert w.image.info.shown and "liver" in w.image.info.text()
    w.close()
    ctx.close()


def _mean_luminance(widget) -> float:
    img = widget.grab().toImage()
    xs, ys = np.linspace(2, img.width() - 3, 12).astype(int), np.linspace(2, img.height() - 3, 12).astype(int)
    return float(np.mean([luminance(QColor(img.pixel(int(x), int(y)))) for x in xs for y in ys]))


def test_reading_room_theme_keeps_the_answer_panel_and_break_screen_dark(qtbot, tmp_path):
    ctx = build_study(tmp_path, n_cases=1)
    w = _window(qtbot, ctx)
    assert _mean_luminance(w.panel) < 0.05  # was light grey (about 0.8) with the default style
    _key(qtbot, w, Qt.Key.Key_Escape)
    assert w.page == "break"
    assert _mean_luminance(w.pages["break"]) < 0.02
    text = w.pages["break"].findChild(type(w.progress), "message").palette().color(w.progress.foregroundRole())
    assert 0.3 < luminance(text) < 0.6  # readable grey, not glaring white
    w.close()
    ctx.close()


def test_signed_in_window_size_follows_the_screen():
    from readerstudy.ui.shell import WINDOW_SIZE, window_size_for

    assert window_size_for((2560, 1400)) == (2304, 1260)  # 90 % of a large screen, not 1500 x 950
    assert window_size_for((1280, 760)) == (1152, 700)  # at least 700 high
    assert window_size_for((900, 600)) == (900, 600)  # never beyond a small screen
    assert window_size_for(None) == WINDOW_SIZE
