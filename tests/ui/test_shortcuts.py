"""No window binds one key press twice (Qt would fire neither: "Ambiguous shortcut overload")."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMainWindow
from test_reading_support import COORD_PIN, PIN, build_study

from readerstudy.core.models import Role
from readerstudy.services.auth import add_participant, sign_in, system_session
from readerstudy.services.reading import ReadingService
from readerstudy.ui.actions import ActionSpec, install_actions
from readerstudy.ui.app import ensure_app
from readerstudy.ui.session_menu import SessionMenu
from readerstudy.ui.shortcuts import ANNOTATION_KEYS, HANGING_KEYS, READING_KEYS, ambiguous_shortcuts


@pytest.fixture(autouse=True)
def _app(qapp):
    ensure_app()


def test_the_check_finds_backtab_bound_next_to_shift_tab(qtbot):
    w = QMainWindow()
    qtbot.addWidget(w)
    install_actions(w, [ActionSpec("prev", "Previous", ("Shift+Tab", "Backtab"), lambda: None),
                        ActionSpec("a", "A", ("Ctrl+1",), lambda: None),
                        ActionSpec("b", "B", ("Ctrl+1",), lambda: None)])
    found = ambiguous_shortcuts(w)
    assert found == {"Shift+Tab": ["prev", "prev"], "Ctrl+1": ["a", "b"]}


def test_tables_have_no_key_twice():
    for table in (READING_KEYS + HANGING_KEYS, ANNOTATION_KEYS):
        keys = [k for row in table for k in row.keys]
        assert len(keys) == len(set(keys)), table
        assert "Backtab" not in keys


def test_no_ambiguous_shortcut_in_the_reading_annotation_and_coordinator_windows(qtbot, tmp_path):
    from readerstudy.ui.annotation_window import AnnotationWindow
    from readerstudy.ui.coordinator.home import CoordinatorHomeWindow
    from readerstudy.ui.reading_window import ReadingWindow

    ctx = build_study(tmp_path, n_cases=2)
    add_participant(ctx, system_session(ctx, "Pilot"), "dana", Role.ANNOTATOR, PIN)
    with ctx.uow() as uow:
        case_id = uow.cases.list(uow.studies.by_name("Pilot").id)[0].id
    reader = sign_in(ctx, "Pilot", "alice", PIN)
    reading = ReadingWindow(ReadingService(ctx, reader), black_screen_ms=0)
    annotator = sign_in(ctx, "Pilot", "dana", PIN)
    annotation = AnnotationWindow(ctx, annotator, case_id)
    coordinator = sign_in(ctx, "Pilot", "carol", COORD_PIN)
    home = CoordinatorHomeWindow(ctx, coordinator)
    for window, session in ((reading, reader), (annotation, annotator), (home, coordinator)):
        qtbot.addWidget(window)
        SessionMenu(window, ctx, session)  # every signed-in window gets the Session menu's keys too
        assert ambiguous_shortcuts(window) == {}, type(window).__name__
    def bound_in(window):
        return {s.toString() for a in window.findChildren(QAction) for s in a.shortcuts()}

    bound = bound_in(reading)
    assert {"Shift+Tab", "Ctrl+6", "F11", "I", "Q", "F", "Ctrl+Shift+L"} <= bound and "Backtab" not in bound
    assert {"B", "Ctrl+Z", "I", "Ctrl+Q"} <= bound_in(annotation)
    reading.close()
    ctx.close()
