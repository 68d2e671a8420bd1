"""The annotator's workspace: the study's cases on the left, the annotation editor on the right."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QListWidget, QListWidgetItem, QMainWindow, QSplitter

from readerstudy.services.annotation import annotator_cases
from readerstudy.services.auth import UserSession
from readerstudy.services.context import AppContext
from readerstudy.ui.annotation_window import AnnotationWindow


class AnnotationWorkspaceWindow(QMainWindow):
    """Pick a case (pseudonym, and the annotator's latest version) and annotate it."""

    def __init__(self, ctx: AppContext, session: UserSession) -> None:
        super().__init__()
        self.ctx, self.session = ctx, session
        self.setWindowTitle(f"readerstudy - annotation - {session.name} - {session.study_name}")
        self.cases = QListWidget()
        for case_id, pseudonym, version in annotator_cases(ctx, session):
            item = QListWidgetItem(f"{pseudonym}   " + (f"v{version}" if version else "not started"))
            item.setData(Qt.ItemDataRole.UserRole, case_id)
            self.cases.addItem(item)
        self.editor: AnnotationWindow | None = None
        self.split = QSplitter(Qt.Orientation.Horizontal)
        self.split.addWidget(self.cases)
        self.split.addWidget(QLabel("Pick a case to annotate."))
        self.split.setSizes([220, 1280])
        self.setCentralWidget(self.split)
        self.cases.currentItemChanged.connect(self._on_case_selected)
        if self.cases.count():
            self.cases.setCurrentRow(0)

    def _on_case_selected(self, item: QListWidgetItem | None, _previous: object = None) -> None:
        if item is None:
            return
        editor = AnnotationWindow(self.ctx, item.data(Qt.ItemDataRole.UserRole), self.session.name)
        old = self.split.widget(1)
        self.split.replaceWidget(1, editor)
        old.deleteLater()
        self.editor = editor
