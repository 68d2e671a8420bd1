"""The reading window driven through its widgets with qtbot: sign-in, keyboard reading, break, resume."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel
from test_reading_support import PIN, SEQUENTIAL, build_study

from readerstudy.core.models import ReadPhase
from readerstudy.core.reading import ReadingState
from readerstudy.services.reading import ReadingService
from readerstudy.ui.app import ensure_app
from readerstudy.ui.coordinator.home import CoordinatorHomeWindow
from readerstudy.ui.image_view import ImageView
from readerstudy.ui.reading_window import ReadingWindow
from readerstudy.ui.shell import open_window_for
from readerstudy.ui.sign_in_dialog import SignInDialog


@pytest.fixture(autouse=True)
def _app(qapp):
    ensure_app()
    assert pg.getConfigOption("imageAxisOrder") == "row-major"


def _sign_in(qtbot, ctx, name="alice", pin=PIN):
    dialog = SignInDialog(ctx, "Pilot")
    qtbot.addWidget(dialog)
    dialog.person.setCurrentIndex(dialog.person.findData(name))
    qtbot.keyClicks(dialog.pin, pin)
    qtbot.keyClick(dialog.pin, Qt.Key.Key_Return)
    return dialog


def _window(qtbot, service):
    w = ReadingWindow(service)
    qtbot.addWidget(w)
    w.show()
    w.activateWindow()
    qtbot.waitUntil(w.isActiveWindow)
    return w


def _keys(qtbot, w, text):
    for ch in text:
        key = {"\n": Qt.Key.Key_Return, "\x1b": Qt.Key.Key_Escape, "\t": Qt.Key.Key_Tab}.get(ch) or getattr(Qt.Key, f"Key_{ch.upper()}")
        qtbot.keyClick(w, key)


def _reads(ctx):
    with ctx.uow() as uow:
        return uow.reads.for_study(uow.studies.by_name("Pilot").id)


def test_full_session_by_keyboard_with_break_and_resume(qtbot, tmp_path):
    ctx = build_study(tmp_path, n_cases=3)
    dialog = _sign_in(qtbot, ctx, pin="0000")
    assert "Wrong name or PIN" in dialog.error.text() and dialog.session is None
    qtbot.keyClicks(dialog.pin, PIN)
    qtbot.keyClick(dialog.pin, Qt.Key.Key_Return)
    assert dialog.session is not None and dialog.session.name == "alice"

    w = _window(qtbot, ReadingService(ctx, dialog.session))
    qtbot.waitUntil(lambda: w.page == "reading")
    order = list(w.service.flow.case_ids)
    assert w.progress.text().startswith("Case 1 of 3")
    assert w.view_model.case.pseudonym in w.progress.text()

    _keys(qtbot, w, "\n")  # nothing entered: refused, says what is missing
    assert "probability" in w.panel.hint.text() and not _reads(ctx)
    _keys(qtbot, w, "75")  # probability, auto-advances to the call
    assert w.panel.answers() == (75.0, None, None) and w.panel.slider.value() == 75
    _keys(qtbot, w, "14\n")
    qtbot.waitUntil(lambda: w.page == "reading" and w.service.flow.index == 1)
    assert w.progress.text().startswith("Case 2 of 3")

    # contradiction: positive call with p = 5 -> first Enter warns, second submits
    _keys(qtbot, w, "5")
    _keys(qtbot, w, "\t")
    _keys(qtbot, w, "y")
    assert w.panel.active == 2  # Y moves on to the confidence field
    _keys(qtbot, w, "2\n")
    assert "positive" in w.panel.warning.text() and w.service.flow.index == 1
    _keys(qtbot, w, "\n")
    qtbot.waitUntil(lambda: w.service.flow.index == 2 and w.page == "reading")

    _keys(qtbot, w, "\x1b")  # a break hides the case
    assert w.page == "break" and w.service.flow.state == ReadingState.PAUSED
    _keys(qtbot, w, "\n")
    assert w.page == "reading" and w.service.flow.state == ReadingState.DISPLAYED
    w.close()  # sign out in the middle of case 3

    reads = _reads(ctx)
    assert [(r.case_id, r.probability, r.binary, r.confidence) for r in reads] == [
        (order[0], 75.0, 1, 4), (order[1], 5.0, 1, 2)]
    assert reads[0].view_state["window"] and reads[0].view_state["zoom"] > 0

    w2 = _window(qtbot, ReadingService(ctx, _sign_in(qtbot, ctx).session))
    qtbot.waitUntil(lambda: w2.page == "reading")
    assert w2.service.flow.current_case == order[2] and w2.progress.text().startswith("Case 3 of 3")
    _keys(qtbot, w2, "100")
    _keys(qtbot, w2, "15\n")
    qtbot.waitUntil(lambda: w2.page == "end")
    assert "All your cases are read" in w2.pages["end"].findChild(type(w2.progress), "message").text()
    assert len(_reads(ctx)) == 3 and _reads(ctx)[2].confidence == 5
    w2.close()
    ctx.close()


def test_sequential_ai_reveal_in_the_window(qtbot, tmp_path):
    ctx = build_study(tmp_path, n_cases=2, protocol=SEQUENTIAL, predictions=True)
    w = _window(qtbot, ReadingService(ctx, _sign_in(qtbot, ctx).session))
    qtbot.waitUntil(lambda: w.page == "reading")
    assert w.ai_box.isVisible() and not w.reveal_button.isVisible()
    _keys(qtbot, w, "a")  # reveal before the unaided read: ignored
    assert w.service.flow.state == ReadingState.DISPLAYED
    _keys(qtbot, w, "30")
    _keys(qtbot, w, "03\n")
    assert w.service.flow.state == ReadingState.UNAIDED_LOCKED and w.reveal_button.isVisible()
    assert "locked: 30 %" in w.ai_text.text() and not w.panel.isEnabled()
    assert "press A (or Enter)" in w.ai_text.text().replace("Press", "press")
    _keys(qtbot, w, "\n")  # Enter on a locked read reveals the AI output (as A does)
    assert w.service.flow.state == ReadingState.AI_REVEALED and "DiffKD-student" in w.ai_text.text()
    assert "Model probability" in w.ai_text.text() and "%" in w.ai_text.text()
    assert w.image.overlay_item.image is not None and w.image.colorbar.isVisible()
    assert "evidence for" in w.image.colorbar.axis.labelText
    assert w.opacity_row.isVisible() and w.opacity.value() == 45
    qtbot.keyClick(w, Qt.Key.Key_BracketRight)
    qtbot.keyClick(w, Qt.Key.Key_BracketRight)
    assert w.image.overlay_opacity == pytest.approx(0.65) and w.opacity_label.text() == "65 %"
    qtbot.keyClick(w, Qt.Key.Key_BracketLeft)
    assert w.image.overlay_opacity == pytest.approx(0.55)
    _keys(qtbot, w, "s")
    assert w.image.overlay_item.image is None and not w.image.colorbar.isVisible()
    _keys(qtbot, w, "s")
    assert w.image.overlay_item.image is not None and w.image.colorbar.isVisible()
    _keys(qtbot, w, "60")
    _keys(qtbot, w, "14\n")
    qtbot.waitUntil(lambda: w.service.flow.index == 1)
    reads = _reads(ctx)
    assert [r.phase for r in reads] == [ReadPhase.UNAIDED, ReadPhase.AIDED]
    assert reads[0].probability == 30 and reads[1].ai_shown["model_version"] == "1.2.0"
    assert reads[1].ai_shown["saliency_target"] in ("positive", "negative")
    overlay = reads[1].view_state["ai_overlay"]
    assert overlay == {"visible": True, "opacity": 0.55, "toggles": 2, "colormap": "inferno", "scale": [0.0, 1.0],
                       "target": reads[1].ai_shown["saliency_target"]}
    assert "ai_overlay" not in reads[0].view_state  # nothing of the model was shown in the unaided read
    w.close()
    ctx.close()


def test_missing_ai_output_is_not_a_dead_end(qtbot, tmp_path):
    from readerstudy.services.reading import AI_MISSING_ACTION

    ctx = build_study(tmp_path, n_cases=2, protocol=SEQUENTIAL)  # the model was never run
    w = _window(qtbot, ReadingService(ctx, _sign_in(qtbot, ctx).session))
    qtbot.waitUntil(lambda: w.page == "reading")
    first = w.view_model.case.pseudonym
    _keys(qtbot, w, "30")
    _keys(qtbot, w, "03\n")
    assert w.service.flow.state == ReadingState.UNAIDED_LOCKED
    # said at once, before A: no AI output; the answers are locked and Enter is the way on
    assert "No AI output for this case yet" in w.ai_text.text() and "Press Enter" in w.ai_text.text()
    assert not w.panel.isEnabled() and "Ready" not in w.panel.hint.text()
    assert w.aside_button.isVisible() and not w.reveal_button.isVisible()
    _keys(qtbot, w, "a")  # A says the same, changes nothing
    assert w.service.flow.state == ReadingState.UNAIDED_LOCKED
    _keys(qtbot, w, "\n")
    qtbot.waitUntil(lambda: w.service.flow.index == 1 and w.service.flow.state == ReadingState.DISPLAYED)
    assert f"Case {first} was set aside" in w.ai_text.text() and w.panel.isEnabled()
    _keys(qtbot, w, "70")
    _keys(qtbot, w, "14\n")
    w.aside_button.click()
    qtbot.waitUntil(lambda: w.page == "end")
    message = w.pages["end"].findChild(QLabel, "message").text()
    assert "0 of 2 cases" in message and "2 case(s) are set aside" in message and "coordinator has been told" in message
    with ctx.uow() as uow:
        assert len(uow.audit.list(action=AI_MISSING_ACTION)) == 2
    w.close()
    ctx.close()


def test_image_view_window_level_presets_slices_and_view_state(qtbot):
    v = ImageView()
    qtbot.addWidget(v)
    vol = np.random.default_rng(0).integers(-1000, 2000, size=(16, 32, 48)).astype(np.int16)
    v.set_pixels(vol, window=(40, 400), modality="CT")
    assert v.index == 8 and v.image_item.image.shape == (32, 48)
    assert list(v.presets()) == ["soft tissue", "lung", "bone", "brain", "liver", "full range"]
    assert v.preset == "soft tissue"  # the given window is the soft-tissue preset, so it is named so
    v.apply_preset("lung")
    assert v.window == (-600.0, 1500.0) and v.image_item.levels.tolist() == [-1350.0, 150.0]
    v.drag_window(50, 0)
    assert v.window[1] > 1500
    v.step_slice(100)
    assert v.index == 15
    v.zoom(2.0)
    state = v.view_state()
    assert state["slice"] == 15 and state["preset"] == "manual" and state["zoom"] > 0
    v.reset_view()
    cine = np.zeros((5, 8, 8), np.uint8)
    v.set_pixels(cine, frame_time_ms=40)
    assert v.index == 0
    v.toggle_cine()
    qtbot.waitUntil(lambda: v.index > 0, timeout=20_000)
    v.toggle_cine()


def test_coordinator_gets_the_coordinator_page(qtbot, tmp_path):
    from test_reading_support import COORD_PIN

    ctx = build_study(tmp_path, n_cases=2)
    session = _sign_in(qtbot, ctx, "carol", COORD_PIN).session
    w = open_window_for(ctx, session)
    qtbot.addWidget(w)
    assert isinstance(w, CoordinatorHomeWindow)
    ctx.close()
