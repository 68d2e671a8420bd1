"""An annotator signs in and lands in the annotation workspace with the study's cases: status column,
filter, Save / Discard / Cancel on case switch and close, status refreshed after a save."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from readerstudy.core.errors import PermissionDenied
from readerstudy.services.annotation import annotator_cases, open_annotation
from readerstudy.services.auth import participants, sign_in
from readerstudy.services.demo import BUSI_STUDY, DEMO_PIN

Choice = QMessageBox.StandardButton
EXPERT = "Expert annotator"


@pytest.fixture
def workspace(qtbot, demo_ctx):  # noqa: ANN001, ANN201
    from readerstudy.ui.shell import open_window_for

    session = sign_in(demo_ctx, BUSI_STUDY, EXPERT, DEMO_PIN)
    window = open_window_for(demo_ctx, session)
    qtbot.addWidget(window)
    return window, session


def _stroke(editor) -> None:  # noqa: ANN001
    data = editor.layer.data.copy()
    data[0, 5:9, 5:9] = 1
    editor.layer.replace_data(data)


def test_annotator_signs_in_to_the_workspace(workspace) -> None:  # noqa: ANN001
    from readerstudy.ui.annotation_window import AnnotationWindow
    from readerstudy.ui.annotation_workspace import AnnotationWorkspaceWindow

    window, session = workspace
    assert (EXPERT, "annotator") in {(p.name, str(p.role)) for p in participants(window.ctx, BUSI_STUDY)}
    assert isinstance(window, AnnotationWorkspaceWindow)
    assert window.count() == 79 and window.cases.headerItem().text(1) == "Status"
    assert all(window.item(i).text(1) == "saved v1" for i in range(79))  # imported masks are v1
    assert isinstance(window.editor, AnnotationWindow) and window.editor.annotator == EXPERT
    window.cases.setCurrentItem(window.item(3))
    assert window.editor.case_id == window.item(3).data(0, 0x0100)


def test_switching_case_with_unsaved_strokes_asks_save_discard_cancel(workspace, unsaved_answers) -> None:  # noqa: ANN001
    window, session = workspace
    first = window.editor
    _stroke(first)
    assert window.item(0).text(1) == "draft (saved v1)"  # the list shows the draft at once

    unsaved_answers.append(Choice.Cancel)
    window.cases.setCurrentItem(window.item(1))
    assert window.editor is first and window.cases.currentItem() is window.item(0)  # stayed
    assert "unsaved changes" in unsaved_answers.asked[-1][1]
    assert first.layer.is_modified

    unsaved_answers.append(Choice.Save)
    window.cases.setCurrentItem(window.item(1))
    assert window.editor is not first and window.editor.case_id == window.item(1).data(0, 0x0100)
    assert window.item(0).text(1) == "saved v2"  # refreshed after the save
    layer, _, _ = open_annotation(window.ctx, session, window.item(0).data(0, 0x0100))
    assert np.all(layer.data[0, 5:9, 5:9] == 1)  # the strokes are in version 2

    second = window.editor
    before = second.layer.data.copy()
    _stroke(second)
    unsaved_answers.append(Choice.Discard)
    window.cases.setCurrentItem(window.item(2))
    assert window.item(1).text(1) == "saved v1"  # no longer a draft, nothing stored
    layer, _, _ = open_annotation(window.ctx, session, window.item(1).data(0, 0x0100))
    np.testing.assert_array_equal(layer.data, before)
    asked = len(unsaved_answers.asked)
    window.cases.setCurrentItem(window.item(3))  # nothing unsaved: no question
    assert len(unsaved_answers.asked) == asked


def test_saving_in_the_editor_refreshes_the_status_column(workspace, qtbot) -> None:  # noqa: ANN001
    window, _ = workspace
    _stroke(window.editor)
    qtbot.mouseClick(window.editor.save_button, Qt.MouseButton.LeftButton)
    assert window.item(0).text(1) == "saved v2" and window.editor.last_record.version == 2
    assert window.editor.status.text().endswith("| saved v2")
    window.cases.setCurrentItem(window.item(1))
    assert window.editor.status.text().endswith("| saved v1")  # the editor says what the list says


def test_closing_with_unsaved_strokes_asks_and_cancel_keeps_the_window(workspace, unsaved_answers) -> None:  # noqa: ANN001
    window, _ = workspace
    window.show()
    _stroke(window.editor)
    unsaved_answers.append(Choice.Cancel)
    assert not window.close() and window.isVisible() and window.editor.layer.is_modified
    unsaved_answers.append(Choice.Save)
    assert window.close() and not window.isVisible()
    assert window.item(0).text(1) == "saved v2"


def test_filter_by_text_and_status(workspace) -> None:  # noqa: ANN001
    window, _ = workspace
    name = window.item(5).text(0)
    window.filter_edit.setText(name.lower())
    visible = [window.item(i).text(0) for i in range(window.count()) if not window.item(i).isHidden()]
    assert name in visible and all(name.lower() in v.lower() for v in visible)
    assert window.count_label.text() == f"{len(visible)} of 79 cases shown"
    window.filter_edit.clear()
    _stroke(window.editor)
    window.status_filter.setCurrentText("draft")
    visible = [i for i in range(window.count()) if not window.item(i).isHidden()]
    assert visible == [0]
    window.status_filter.setCurrentText("not started")
    assert all(window.item(i).isHidden() for i in range(window.count()))  # every case has v1


def test_readers_cannot_open_the_annotation_workspace(demo_ctx) -> None:  # noqa: ANN001
    session = sign_in(demo_ctx, BUSI_STUDY, "Junior radiologist", DEMO_PIN)
    with pytest.raises(PermissionDenied, match="annotators and coordinators"):
        annotator_cases(demo_ctx, session)


def test_mark_reviewed_shows_in_the_list_until_the_next_save(workspace, qtbot) -> None:  # noqa: ANN001
    from readerstudy.services.annotation_review import reviewed_versions
    from readerstudy.ui.annotation_workspace import AnnotationWorkspaceWindow

    window, session = workspace
    editor = window.editor
    _stroke(editor)
    assert not editor.mark_reviewed() and "Save the mask first" in editor.status.text()
    assert editor.save() and editor.mark_reviewed()
    assert window.item(0).text(1) == "reviewed v2"
    assert reviewed_versions(window.ctx, session) == {editor.case_id: 2}
    window.status_filter.setCurrentText("reviewed")
    assert [i for i in range(window.count()) if not window.item(i).isHidden()] == [0]
    again = AnnotationWorkspaceWindow(window.ctx, session)  # after a restart: still reviewed
    qtbot.addWidget(again)
    assert again.item(0).text(1) == "reviewed v2"
    data = again.editor.layer.data.copy()
    data[0, 0:3, 0:3] = 1
    again.editor.layer.replace_data(data)
    assert again.editor.save() and again.item(0).text(1) == "saved v3"  # a new version is not reviewed yet
