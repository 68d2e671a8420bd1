"""The annotator's workspace: the study's cases on the left (status and a filter), the editor on the right.

Each case's status is ``not started`` (no saved mask of this person), ``saved vN`` (the latest
version), ``reviewed vN`` (that version marked reviewed, :mod:`readerstudy.services.annotation_review`),
or ``draft`` while the open case has unsaved strokes; it is refreshed after every save and review.
Switching case or closing the window with unsaved strokes asks Save / Discard / Cancel
(:meth:`readerstudy.ui.annotation_window.AnnotationWindow.confirm_leave`); Cancel keeps the case
open and selected.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMainWindow,
    QSplitter,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from readerstudy.services.annotation import annotator_cases
from readerstudy.services.annotation_review import reviewed_versions
from readerstudy.services.auth import UserSession
from readerstudy.services.context import AppContext
from readerstudy.ui.annotation_window import AnnotationWindow
from readerstudy.ui.theme import apply_reading_theme

STATUS_FILTERS = ("all", "not started", "draft", "saved", "reviewed")
CASE_ID = Qt.ItemDataRole.UserRole


def status_text(version: int | None, draft: bool, reviewed: int | None = None) -> str:
    """The status column: ``draft`` (unsaved strokes), ``reviewed vN`` (the latest version was marked
    reviewed), ``saved vN`` or ``not started``."""
    if draft:
        return "draft" + (f" (saved v{version})" if version else "")
    if version and reviewed == version:
        return f"reviewed v{version}"
    return f"saved v{version}" if version else "not started"


class AnnotationWorkspaceWindow(QMainWindow):
    """Pick a case (pseudonym and status, filtered by text and status) and annotate it."""

    def __init__(self, ctx: AppContext, session: UserSession) -> None:
        super().__init__()
        self.ctx, self.session = ctx, session
        self.setWindowTitle(f"readerstudy - annotation - {session.name} - {session.study_name}")
        apply_reading_theme(self)  # the reading room's greys: annotators work in the same dark rooms
        self.versions: dict[str, int | None] = {}
        self.cases = QTreeWidget()
        self.cases.setColumnCount(2)
        self.cases.setHeaderLabels(["Case", "Status"])
        self.cases.setRootIsDecorated(False)
        self.cases.setUniformRowHeights(True)
        self.items: dict[str, QTreeWidgetItem] = {}
        self.reviewed = reviewed_versions(ctx, session)
        for case_id, pseudonym, version in annotator_cases(ctx, session):
            item = QTreeWidgetItem([pseudonym, status_text(version, False, self.reviewed.get(case_id))])
            item.setData(0, CASE_ID, case_id)
            self.cases.addTopLevelItem(item)
            self.items[case_id] = item
            self.versions[case_id] = version
        self.cases.resizeColumnToContents(0)
        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("Filter cases…")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.textChanged.connect(lambda _t: self.apply_filter())
        self.status_filter = QComboBox()
        self.status_filter.addItems(STATUS_FILTERS)
        self.status_filter.currentTextChanged.connect(lambda _t: self.apply_filter())
        self.count_label = QLabel()
        left = QWidget()
        lay = QVBoxLayout(left)
        lay.setContentsMargins(4, 4, 0, 4)
        row = QHBoxLayout()
        row.addWidget(self.filter_edit, 1)
        row.addWidget(self.status_filter)
        lay.addLayout(row)
        lay.addWidget(self.cases, 1)
        lay.addWidget(self.count_label)
        self.editor: AnnotationWindow | None = None
        self._current: QTreeWidgetItem | None = None
        self.split = QSplitter(Qt.Orientation.Horizontal)
        self.split.addWidget(left)
        self.split.addWidget(QLabel("Pick a case to annotate."))
        self.split.setSizes([260, 1240])
        self.setCentralWidget(self.split)
        self.cases.currentItemChanged.connect(self._on_case_selected)
        self.apply_filter()
        if self.cases.topLevelItemCount():
            self.cases.setCurrentItem(self.cases.topLevelItem(0))

    # ----------------------------------------------------------------- list
    def item(self, row: int) -> QTreeWidgetItem:
        return self.cases.topLevelItem(row)

    def count(self) -> int:
        return self.cases.topLevelItemCount()

    def apply_filter(self) -> None:
        """Show the cases whose pseudonym contains the filter text and whose status matches."""
        text = self.filter_edit.text().strip().lower()
        wanted = self.status_filter.currentText()
        shown = 0
        for i in range(self.count()):
            item = self.item(i)
            status = item.text(1)
            ok = text in item.text(0).lower() and (wanted == "all" or status.startswith(wanted))
            item.setHidden(not ok)
            shown += ok
        self.count_label.setText(f"{shown} of {self.count()} cases shown")

    def _set_status(self, case_id: str) -> None:
        item = self.items[case_id]
        draft = self.editor is not None and self.editor.case_id == case_id and self.editor.layer.is_modified
        item.setText(1, status_text(self.versions[case_id], draft, self.reviewed.get(case_id)))
        self.apply_filter()

    def _on_saved(self, case_id: str, version: int) -> None:
        self.versions[case_id] = version
        self._set_status(case_id)

    def _on_reviewed(self, case_id: str, version: int) -> None:
        self.reviewed[case_id] = version
        self._set_status(case_id)

    def _on_modified(self, case_id: str, _modified: bool) -> None:
        self._set_status(case_id)

    # ----------------------------------------------------------------- leaving a case
    def unsaved_work(self) -> str | None:
        """A sentence for the sign-out question when the open mask has unsaved strokes, else None."""
        editor = self.editor
        if editor is None or not editor.has_unsaved:
            return None
        case = self._current.text(0) if self._current is not None else "this case"
        return f"The mask of {case} has unsaved changes (Ctrl+S saves a new version)."

    def discard_unsaved(self) -> None:
        if self.editor is not None:
            self.editor.discard_unsaved()

    def confirm_leave(self, doing: str = "closing the window") -> bool:
        """Save / Discard / Cancel for the open case's unsaved strokes; True when it is fine to go on."""
        return self.editor is None or self.editor.confirm_leave(doing)

    def closeEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        if not self.confirm_leave("closing the window"):
            event.ignore()
            return
        super().closeEvent(event)

    def _on_case_selected(self, item: QTreeWidgetItem | None, previous: QTreeWidgetItem | None = None) -> None:
        if item is None or item is self._current:
            return
        if self.editor is not None and not self.editor.confirm_leave(f"opening {item.text(0)}"):
            self.cases.blockSignals(True)  # Cancel: stay on the open case
            self.cases.setCurrentItem(self._current)
            self.cases.blockSignals(False)
            return
        old_id = self.editor.case_id if self.editor is not None else None
        case_id = item.data(0, CASE_ID)
        editor = AnnotationWindow(self.ctx, self.session, case_id, saved_version=self.versions.get(case_id))
        editor.saved.connect(self._on_saved)
        editor.modified_changed.connect(self._on_modified)
        editor.reviewed.connect(self._on_reviewed)
        old = self.split.widget(1)
        self.split.replaceWidget(1, editor)
        old.deleteLater()
        self.editor, self._current = editor, item
        if old_id is not None:
            self._set_status(old_id)  # a discarded draft is no longer a draft
