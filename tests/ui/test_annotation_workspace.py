"""An annotator signs in and lands in the annotation workspace with the study's cases."""

from __future__ import annotations

import pytest

from readerstudy.core.errors import PermissionDenied
from readerstudy.services.annotation import annotator_cases
from readerstudy.services.auth import participants, sign_in
from readerstudy.services.demo import BUSI_STUDY, DEMO_PIN


def test_annotator_signs_in_to_the_workspace(qtbot, demo_ctx) -> None:  # noqa: ANN001
    from readerstudy.ui.annotation_window import AnnotationWindow
    from readerstudy.ui.annotation_workspace import AnnotationWorkspaceWindow
    from readerstudy.ui.reading_window import open_window_for

    assert ("Expert annotator", "annotator") in {(p.name, str(p.role)) for p in participants(demo_ctx, BUSI_STUDY)}
    session = sign_in(demo_ctx, BUSI_STUDY, "Expert annotator", DEMO_PIN)
    window = open_window_for(demo_ctx, session)
    qtbot.addWidget(window)
    assert isinstance(window, AnnotationWorkspaceWindow)
    assert window.cases.count() == 79
    assert all(window.cases.item(i).text().endswith("v1") for i in range(79))  # imported masks are v1
    assert isinstance(window.editor, AnnotationWindow) and window.editor.annotator == "Expert annotator"
    window.cases.setCurrentRow(3)
    assert window.editor.case_id == window.cases.item(3).data(0x0100)


def test_readers_cannot_open_the_annotation_workspace(demo_ctx) -> None:  # noqa: ANN001
    session = sign_in(demo_ctx, BUSI_STUDY, "Junior radiologist", DEMO_PIN)
    with pytest.raises(PermissionDenied, match="annotators and coordinators"):
        annotator_cases(demo_ctx, session)
