"""The coordinator's home window: one tab per coordinator task.

A tab is a :class:`CoordinatorTab` (title + import path of a factory ``(ctx, session) -> QWidget``),
listed in :data:`TABS`; a new workspace adds one line there. A tab's factory is imported and
called when the tab is first shown, so signing in loads only the first tab's dependencies. A tab
widget that has a ``shutdown()`` method (background workers) gets it called when the window closes;
one that has ``use_report(state)`` gets the window's one
:class:`~readerstudy.ui.coordinator.report_state.ReportState` (the report's reference and arm,
chosen in the Exports tab, and the last report written, from the dashboard or the Exports tab).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from PySide6.QtWidgets import QMainWindow, QTabWidget, QVBoxLayout, QWidget

from readerstudy.services.auth import UserSession, require_coordinator
from readerstudy.services.context import AppContext
from readerstudy.ui.coordinator.report_state import ReportState


@dataclass(frozen=True)
class CoordinatorTab:
    """``factory`` is ``"package.module:callable"``; the callable takes ``(ctx, session)``."""

    key: str
    title: str
    factory: str

    def build(self, ctx: AppContext, session: UserSession) -> QWidget:
        module, _, name = self.factory.partition(":")
        return getattr(importlib.import_module(module), name)(ctx, session)


TABS: tuple[CoordinatorTab, ...] = (
    CoordinatorTab("dashboard", "Dashboard", "readerstudy.ui.coordinator.dashboard:DashboardWidget"),
    CoordinatorTab("cases", "Cases", "readerstudy.ui.coordinator.cases:cases_tab"),
    CoordinatorTab("participants", "Participants", "readerstudy.ui.coordinator.participants:participants_tab"),
    CoordinatorTab("protocol", "Protocol", "readerstudy.ui.coordinator.protocol_editor:protocol_tab"),
    CoordinatorTab("reads", "Reads", "readerstudy.ui.coordinator.reads:reads_tab"),
    CoordinatorTab("planning", "Planning", "readerstudy.ui.coordinator.planning:PlanningWidget"),
    CoordinatorTab("import", "Import", "readerstudy.ui.coordinator.import_dialog:import_tab"),
    CoordinatorTab("exports", "Exports", "readerstudy.ui.coordinator.exports:exports_tab"),
    CoordinatorTab("engine", "Engine", "readerstudy.ui.jobs.engine_tab:engine_tab"),
    CoordinatorTab("models", "AI readers", "readerstudy.ui.coordinator.models:models_tab"),
)


class CoordinatorHomeWindow(QMainWindow):
    """The coordinator's home: the tabs of :data:`TABS`, reachable as ``window.tab(key)``.

    Only the first tab is built at sign-in; the others when first shown (or asked for with
    :meth:`tab`): building all of them imported the statistics, the image viewer and the importer
    and kept the coordinator looking at a blank screen for seconds.
    """

    def __init__(self, ctx: AppContext, session: UserSession) -> None:
        super().__init__()
        require_coordinator(session, "opening the coordinator page")
        self._ctx, self._session = ctx, session
        self.report = ReportState()  # shared by the dashboard and the Exports tab
        self.setWindowTitle(f"readerstudy — coordinator — {session.study_name}")
        self.tabs = QTabWidget()
        self._tabs: dict[str, QWidget] = {}
        self._pages: dict[str, QWidget] = {}
        for spec in TABS:
            page = QWidget()
            layout = QVBoxLayout(page)
            layout.setContentsMargins(0, 0, 0, 0)
            self._pages[spec.key] = page
            self.tabs.addTab(page, spec.title)
        self.tabs.currentChanged.connect(self._on_current_changed)
        self.setCentralWidget(self.tabs)
        self._on_current_changed(self.tabs.currentIndex())

    def _on_current_changed(self, index: int) -> None:
        if 0 <= index < len(TABS):
            self.tab(TABS[index].key)

    def tab(self, key: str) -> QWidget:
        """The widget of tab ``key`` (see :data:`TABS`), built on first use; KeyError for an unknown key."""
        if key not in self._tabs:
            spec = next((t for t in TABS if t.key == key), None)
            if spec is None:
                raise KeyError(key)
            widget = spec.build(self._ctx, self._session)
            use_report = getattr(widget, "use_report", None)
            if callable(use_report):
                use_report(self.report)
            self._tabs[key] = widget
            self._pages[key].layout().addWidget(widget)
        return self._tabs[key]

    def show_tab(self, key: str) -> QWidget:
        """Make tab ``key`` the current one (built if needed) and return its widget."""
        widget = self.tab(key)
        self.tabs.setCurrentWidget(self._pages[key])
        return widget

    @property
    def dashboard(self) -> Any:
        return self.tab("dashboard")

    @property
    def cases(self) -> Any:
        return self.tab("cases")

    def closeEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        for widget in self._tabs.values():
            shutdown = getattr(widget, "shutdown", None)
            if callable(shutdown):
                shutdown()
        super().closeEvent(event)
