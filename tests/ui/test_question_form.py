"""The study-defined questions in the reading window: BI-RADS and a lesion mark by keyboard and mouse."""

from __future__ import annotations

import pyqtgraph as pg
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QApplication
from test_reading_support import PIN, build_study

from readerstudy.core.protocol import parse_protocol
from readerstudy.services.auth import sign_in
from readerstudy.services.reading import ReadingService
from readerstudy.ui.app import ensure_app
from readerstudy.ui.question_form import QuestionForm
from readerstudy.ui.reading_window import ReadingWindow

PROTOCOL = """
seed = 7
black_screen_ms = 0
[[arms]]
name = "unaided"

[[questions]]
key = "birads"
kind = "birads"
label = "BI-RADS assessment"

[[questions]]
key = "margin"
kind = "single"
label = "Margin"
choices = ["circumscribed", "indistinct", "spiculated"]

[[questions]]
key = "lesion"
kind = "location"
label = "Lesion centre"
"""


@pytest.fixture(autouse=True)
def _app(qapp):
    ensure_app()
    assert pg.getConfigOption("imageAxisOrder") == "row-major"


def _keys(qtbot, text):
    for ch in text:
        key = {"\n": Qt.Key.Key_Return, "\t": Qt.Key.Key_Tab}.get(ch) or getattr(Qt.Key, f"Key_{ch.upper()}")
        target = QApplication.focusWidget() or QApplication.activeWindow()
        qtbot.keyClick(target, key)


def _click_image(qtbot, w, row, col):
    """A left click on the image at pixel (row, col), through the view's scene (as the mouse would)."""
    view = w.image
    scene_pt = view.image_item.mapToScene(pg.Point(col + 0.5, row + 0.5))
    pos = view.mapFromScene(scene_pt)
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(int(pos.x()), int(pos.y())))


def test_birads_read_by_keyboard_with_a_mark_clicked_on_the_image(qtbot, tmp_path):
    ctx = build_study(tmp_path, n_cases=2, protocol=PROTOCOL)
    w = ReadingWindow(ReadingService(ctx, sign_in(ctx, "Pilot", "alice", PIN)))
    qtbot.addWidget(w)
    w.resize(1500, 950)
    w.show()
    w.activateWindow()
    qtbot.waitUntil(lambda: w.isActiveWindow() and w.page == "reading")
    form = w.questions
    assert form.isVisible() and [q.key for q in form.questions] == ["birads", "margin", "lesion"]

    _keys(qtbot, "7514")  # the standard answers: 75 %, positive, confidence 4
    _keys(qtbot, "\n")  # the questions are still unanswered: refused, named
    assert "BI-RADS assessment" in w.panel.hint.text() and w.service.flow.index == 0

    _keys(qtbot, "q")  # into the form: its keys go to the question, not to the window's actions
    assert QApplication.focusWidget() is form.fields["birads"]
    _keys(qtbot, "4")  # 4 waits for a / b / c ...
    assert form.values() == {}
    _keys(qtbot, "b")
    assert form.values() == {"birads": "4b"} and "moderate suspicion" in form.meaning.text()
    _keys(qtbot, "\t3")  # Tab to the margin, third choice
    assert form.values()["margin"] == "spiculated"
    _keys(qtbot, "\t")  # past the last keyed question: back to the standard answers
    assert QApplication.focusWidget() is not form.fields["margin"]
    assert w.panel.answers() == (75.0, 1, 4)  # the typed letters never reached the standard answers

    rows, cols = w.image.pixels.shape[-2:]
    _click_image(qtbot, w, rows // 3, cols // 4)
    mark = form.values()["lesion"]
    assert abs(mark["row"] - rows // 3) <= 1 and abs(mark["col"] - cols // 4) <= 1
    assert "Marked at row" in form.fields["lesion"].label.text()

    _keys(qtbot, "\n")
    qtbot.waitUntil(lambda: w.service.flow.index == 1)
    assert form.values() == {}  # the next case starts with an empty form
    with ctx.uow() as uow:
        (read,) = uow.reads.for_study(uow.studies.by_name("Pilot").id)
    assert read.answers == {"birads": "4b", "margin": "spiculated", "lesion": mark} and read.answers_schema == 1
    w.close()
    ctx.close()


def test_choice_keys_and_clear(qtbot):
    form = QuestionForm(parse_protocol(PROTOCOL).questions)
    qtbot.addWidget(form)
    form.show()
    birads = form.fields["birads"]
    birads.setFocus()
    qtbot.keyClick(birads, Qt.Key.Key_Right)  # nothing chosen yet: the first category
    assert form.values() == {"birads": "0"}
    for _ in range(5):
        qtbot.keyClick(birads, Qt.Key.Key_Right)
    assert form.values()["birads"] == "4b"
    qtbot.keyClick(birads, Qt.Key.Key_5)
    assert form.values()["birads"] == "5"
    assert form.missing() == ["Margin", "Lesion centre"]
    form.clear()
    assert form.values() == {} and form.missing() == ["BI-RADS assessment", "Margin", "Lesion centre"]


def test_a_study_without_questions_shows_no_form(qtbot, tmp_path):
    ctx = build_study(tmp_path, n_cases=1)
    w = ReadingWindow(ReadingService(ctx, sign_in(ctx, "Pilot", "alice", PIN)))
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.page == "reading")
    assert not w.questions.isVisible() and w.questions.values() == {}
    w.close()
    ctx.close()
