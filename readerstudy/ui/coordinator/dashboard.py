"""The coordinator dashboard: reading progress, missing reads, reading-time outliers, report export.

All numbers come from :func:`readerstudy.services.dashboard.dashboard_data`; the report is written
by the Exports tab's :func:`readerstudy.ui.coordinator.exports.run_export` (one implementation) in
a background :class:`Worker`, with the reference and compared arm chosen in the Exports tab (the
window's one :class:`~readerstudy.ui.coordinator.report_state.ReportState`, shown above the
gallery); the figure files of the last report written from either place are shown, with their
captions, in a scrollable gallery.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QSettings, Qt, QThreadPool, QUrl
from PySide6.QtGui import QDesktopServices, QPixmap
from PySide6.QtWidgets import (
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from readerstudy.core.errors import ReaderStudyError
from readerstudy.services.auth import UserSession
from readerstudy.services.context import AppContext
from readerstudy.services.dashboard import DashboardData, dashboard_data
from readerstudy.ui.coordinator.dashboard_ai import DashboardAiSections
from readerstudy.ui.coordinator.exports import LAST_DIR_KEY, ExportResult, run_export
from readerstudy.ui.coordinator.folders import ask_dir, documents_dir, open_file
from readerstudy.ui.coordinator.report_state import ReportState
from readerstudy.ui.coordinator.table_fit import fit_columns, rows_follow_columns
from readerstudy.ui.workers import Worker

log = logging.getLogger(__name__)

PROGRESS_ROWS_SHOWN = 6  # more assignments scroll
MISSING_COLUMNS = ("Case", "Missing reads", "Reader · arm (session)")
OUTLIER_COLUMNS = ("Reader", "Case", "Arm", "Session", "Phase", "Time (s)", "Why", "Median (s)")
OUTLIER_TIPS = {5: "Time to diagnosis of this read (display to submit)",
                7: "The reader's median time to diagnosis over all their reads"}
WHY = OUTLIER_COLUMNS.index("Why")


def _ask_dir(parent: QWidget) -> str | None:
    """The Exports tab's folder chooser, starting in the last folder used (remembered)."""
    start = QSettings("readerstudy", "readerstudy").value(LAST_DIR_KEY, "", type=str) or str(documents_dir())
    path = ask_dir(parent, "Export the report into folder (create one if you like)", start)
    if path:
        QSettings("readerstudy", "readerstudy").setValue(LAST_DIR_KEY, path)
    return path


def _item(value: Any) -> QTableWidgetItem:
    return QTableWidgetItem(str(value))


class DashboardWidget(QWidget):
    """Progress bars, missing-read and outlier tables, and the report export with its figures.

    ``choose_dir(parent) -> str | None`` and ``open_url(QUrl)`` are injectable so that tests
    neither show a file dialog nor launch a browser.
    """

    def __init__(self, ctx: AppContext, session: UserSession, *,
                 choose_dir: Callable[[QWidget], str | None] = _ask_dir,
                 open_url: Callable[[QUrl], object] = QDesktopServices.openUrl) -> None:
        super().__init__()
        self._ctx, self._session = ctx, session
        self._choose_dir, self._open_url = choose_dir, open_url
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._worker: Worker | None = None
        self.data: DashboardData | None = None
        self.bars: dict[tuple[str, str, int], QProgressBar] = {}
        self.figure_labels: dict[str, QLabel] = {}
        self.last_export: ExportResult | None = None
        self.report = ReportState()  # the window's shared one after use_report()
        self._export_choices = ("", "")  # the reference and arm labels of the report being written

        self.summary = QLabel()
        self.error = QLabel()
        self.error.setStyleSheet("color: #b00020;")
        self.error.setWordWrap(True)
        self.ai_gaps = QLabel()  # AI arms with cases lacking model output (readers set such cases aside)
        self.ai_gaps.setObjectName("ai_gaps")
        self.ai_gaps.setWordWrap(True)
        self.ai_gaps.setStyleSheet("color: #8a4b00; background: #fff3cd; padding: 6px; border-radius: 4px;")
        self.ai_gaps.hide()
        self.refresh_button = QPushButton("Refresh")
        self.export_button = QPushButton("Export report…")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.export_bar = QProgressBar()
        self.export_bar.setFormat("%p%")
        self.export_status = QLabel("No report exported in this session.")
        self.export_status.setWordWrap(True)
        self.report_choices = QLabel()
        self.report_choices.setWordWrap(True)
        self.report_choices.setStyleSheet("color: #555;")
        self.refresh_button.clicked.connect(self.refresh)
        self.export_button.clicked.connect(self._on_export_requested)
        self.cancel_button.clicked.connect(self._on_cancel_requested)

        self._progress_box = QGroupBox("Reading progress (done / total cases per reader, arm and session)")
        self._progress_grid = QGridLayout(self._progress_box)
        self.missing_table = self._table(MISSING_COLUMNS, stretch=len(MISSING_COLUMNS) - 1)
        self.outlier_table = self._table(OUTLIER_COLUMNS, stretch=WHY)
        for j, tip in OUTLIER_TIPS.items():
            self.outlier_table.horizontalHeaderItem(j).setToolTip(tip)
        self.rule = QLabel()
        self.rule.setWordWrap(True)
        self._gallery = QWidget()
        self._gallery_layout = QVBoxLayout(self._gallery)
        self._gallery_layout.addWidget(QLabel("Export the report to see its figures here."))
        self.ai = DashboardAiSections(ctx, session)  # AI arms, their alerts, the washout calendar
        self._build_layout()
        self.report.changed.connect(self._on_report_changed)
        self.report.name_default(ctx, session)
        self._on_report_changed()
        self.refresh()

    # --- layout --------------------------------------------------------------------------------
    @staticmethod
    def _table(columns: tuple[str, ...], stretch: int) -> QTableWidget:
        """Columns fit their text and header, column ``stretch`` takes the rest and wraps: the table
        fits its view, so no header is cut at the edge (see :mod:`.table_fit`)."""
        t = QTableWidget(0, len(columns))
        t.setHorizontalHeaderLabels(columns)
        t.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        t.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        t.setWordWrap(True)
        rows_follow_columns(t)
        fit_columns(t, (stretch,))
        return t

    @staticmethod
    def _boxed(title: str, *widgets: QWidget) -> QGroupBox:
        box = QGroupBox(title)
        lay = QVBoxLayout(box)
        for w in widgets:
            lay.addWidget(w)
        return box

    def _build_layout(self) -> None:
        top = QHBoxLayout()
        top.addWidget(self.summary, 1)
        top.addWidget(self.refresh_button)
        top.addWidget(self.export_button)
        export_row = QHBoxLayout()
        export_row.addWidget(self.export_bar, 1)
        export_row.addWidget(self.cancel_button)
        progress_scroll = self._progress_scroll = QScrollArea()
        progress_scroll.setWidget(self._progress_box)
        progress_scroll.setWidgetResizable(True)
        gallery_scroll = QScrollArea()
        gallery_scroll.setWidget(self._gallery)
        gallery_scroll.setWidgetResizable(True)
        left = QSplitter(Qt.Orientation.Vertical)
        left.addWidget(progress_scroll)
        left.addWidget(self._boxed("Cases with missing reads", self.missing_table))
        left.addWidget(self._boxed("Reading-time outliers", self.rule, self.outlier_table))
        left.setSizes([340, 260, 300])  # progress first: one bar per assignment, usually a handful
        left.setStretchFactor(0, 1)
        export_box = QGroupBox("Report")
        ex = QVBoxLayout(export_box)
        ex.addWidget(self.report_choices)
        ex.addLayout(export_row)
        ex.addWidget(self.export_status)
        ex.addWidget(gallery_scroll, 1)
        split = QSplitter()
        split.addWidget(left)
        split.addWidget(export_box)
        split.setSizes([800, 700])
        root = QVBoxLayout(self)
        root.addLayout(top)
        root.addWidget(self.error)
        root.addWidget(self.ai.alerts)
        root.addWidget(self.ai_gaps)
        root.addWidget(self._with_ai_sections(split), 1)

    def _with_ai_sections(self, top: QWidget) -> QSplitter:
        """``top`` above a full-width strip: the AI arms next to the washout calendar."""
        strip = QSplitter()
        strip.addWidget(self.ai.arms)
        strip.addWidget(self.ai.calendar)
        strip.setSizes([900, 600])
        outer = QSplitter(Qt.Orientation.Vertical)
        outer.addWidget(top)
        outer.addWidget(strip)
        outer.setSizes([720, 180])
        outer.setStretchFactor(0, 1)
        return outer

    # --- dashboard data ------------------------------------------------------------------------
    def showEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        self.refresh()  # imports, participants, the protocol and reads change in the other tabs and windows
        super().showEvent(event)

    def refresh(self) -> None:
        """Reload everything from the database (a few queries: on the GUI thread)."""
        try:
            data = dashboard_data(self._ctx, self._session)
        except ReaderStudyError as exc:
            log.warning("dashboard refresh failed: %s", exc)
            self.error.setText(str(exc))
            return
        self.error.setText("")
        self.data = data
        c = data.counts
        self.summary.setText(
            f"<b>{data.study}</b> · {c.cases} cases ({c.positives} positive) · {c.reads} reads · "
            f"completion {c.completion_pct:.1f}% ({c.done} / {c.expected})"
            + ("" if data.protocol_applied else " · <i>no reading protocol applied yet</i>"))
        self._fill_progress(data)
        self._fill_missing(data)
        self._fill_outliers(data)
        self._refresh_ai()
        aside = [g.describe_set_aside() for g in data.ai_gaps if g.set_aside]
        self.ai_gaps.setText("<b>Cases set aside for want of AI output.</b> " + "<br>".join(aside))
        self.ai_gaps.setVisible(bool(aside))

    def _refresh_ai(self) -> None:
        problem = self.ai.refresh()
        if problem:
            self.error.setText(problem)

    def _fill_progress(self, data: DashboardData) -> None:
        while self._progress_grid.count():
            w = self._progress_grid.takeAt(0).widget()
            if w is not None:
                w.deleteLater()
        self.bars = {}
        for col, head in enumerate(("Reader", "Arm", "Session", "Done / total")):
            self._progress_grid.addWidget(QLabel(f"<b>{head}</b>"), 0, col)
        for i, p in enumerate(data.progress, start=1):
            bar = QProgressBar()
            bar.setRange(0, max(p.total, 1))
            bar.setValue(p.done)
            bar.setFormat(f"{p.done} / {p.total}")
            for col, text in enumerate((p.reader, p.arm, str(p.session))):
                self._progress_grid.addWidget(QLabel(text), i, col)
            self._progress_grid.addWidget(bar, i, 3)
            self.bars[(p.reader, p.arm, p.session)] = bar
        if not data.progress:
            self._progress_grid.addWidget(QLabel("No assignments yet: apply a reading protocol."), 1, 0, 1, 4)
        self._progress_grid.setColumnStretch(3, 1)
        self._progress_grid.setRowStretch(len(data.progress) + 2, 1)  # rows packed at the top
        self._fit_progress(len(data.progress))

    def _fit_progress(self, rows: int) -> None:
        """Keep the header and up to :data:`PROGRESS_ROWS_SHOWN` rows in view (the splitter squeezed the
        box to one row); more rows scroll."""
        grid, box = self._progress_grid, self._progress_box
        row = max(QProgressBar().sizeHint().height(), QLabel("Xg").sizeHint().height()) + grid.verticalSpacing()
        margins = grid.contentsMargins().top() + grid.contentsMargins().bottom() + box.contentsMargins().top() \
            + box.contentsMargins().bottom()
        title = box.fontMetrics().height()  # the group box's title above the grid
        shown = min(max(rows, 1), PROGRESS_ROWS_SHOWN) + 1  # + the header row
        self._progress_scroll.setMinimumHeight(shown * row + margins + title + 2 * self._progress_scroll.frameWidth())

    def _fill_missing(self, data: DashboardData) -> None:
        t = self.missing_table
        t.setRowCount(len(data.missing))
        for i, m in enumerate(data.missing):
            for j, v in enumerate((m.pseudonym, len(m.missing), m.describe())):
                t.setItem(i, j, _item(v))
        t.resizeRowsToContents()

    def _fill_outliers(self, data: DashboardData) -> None:
        self.rule.setText(data.rule)
        t = self.outlier_table
        t.setRowCount(len(data.outliers))
        for i, o in enumerate(data.outliers):
            r = o.read
            values = (r.reader, r.case, r.arm, r.session, r.phase, f"{r.time_ms / 1000:.1f}",
                      "under 2 s" if o.reason == "fast" else f"above {o.limit_ms / 1000:.1f} s (Q3 + 3 IQR)",
                      f"{o.median_ms / 1000:.1f}")
            for j, v in enumerate(values):
                t.setItem(i, j, _item(v))
        t.resizeRowsToContents()

    # --- export --------------------------------------------------------------------------------
    @property
    def exporting(self) -> bool:
        return self._worker is not None

    def _on_export_requested(self) -> None:
        if self._worker is not None:
            return
        out = self._choose_dir(self)
        if not out:
            return
        self.start_export(out)

    def use_report(self, state: ReportState) -> None:
        """Share ``state`` (the coordinator window's) with the Exports tab: its reference and arm are
        used here, and a report it exports shows here."""
        self.report.changed.disconnect(self._on_report_changed)
        self.report = state
        state.changed.connect(self._on_report_changed)
        state.name_default(self._ctx, self._session)
        self._on_report_changed()

    def _on_report_changed(self) -> None:
        self.report_choices.setText(self.report.choices_text())
        status = self.report.status_text("dashboard")
        if status is None or self.exporting:
            return
        self.export_status.setText(status)
        result = self.report.last
        if result is not None and result is not self.last_export:  # written from the Exports tab
            self.last_export = result
            self._show_figures(result.figures, result.captions)

    def start_export(self, out_dir: str) -> None:
        """Export the report into ``out_dir`` in the background (the button asks for the folder), with
        the reference and arm chosen in the Exports tab."""
        self.error.setText("")
        self._export_choices = (self.report.reference_label, self.report.arm_label)
        worker = Worker(run_export, self._ctx, self._session, str(out_dir), reference=self.report.reference,
                        arm=self.report.arm)
        worker.signals.progressed.connect(self._on_export_progressed)
        worker.signals.finished.connect(self._on_export_finished)
        worker.signals.failed.connect(self._on_export_failed)
        worker.signals.cancelled.connect(self._on_export_cancelled)
        self._worker = worker
        self.export_bar.setRange(0, 0)  # busy until the export's first step says how many follow
        self.export_bar.setValue(0)
        self.export_status.setText(f"Exporting into {out_dir}…")
        self.export_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self._pool.start(worker)

    def _on_cancel_requested(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            self.cancel_button.setEnabled(False)
            self.export_status.setText("Cancelling at the next step…")

    def _on_export_progressed(self, step: int, total: int, message: str) -> None:
        self.export_bar.setRange(0, total)
        self.export_bar.setValue(step)
        self.export_status.setText(f"Step {step} of {total}: {message}")

    def _export_done(self) -> None:
        self._worker = None
        self.export_button.setEnabled(True)
        self.cancel_button.setEnabled(False)

    def _on_export_finished(self, result: ExportResult) -> None:
        self._export_done()
        self.last_export = result
        self.export_bar.setValue(self.export_bar.maximum())
        self._show_figures(result.figures, result.captions)
        self.report.exported(result, "dashboard", *self._export_choices)  # the status line follows
        self.error.setText(open_file(self._open_url, result.html) or "")

    def _on_export_failed(self, message: str) -> None:
        self._export_done()
        self.export_bar.setValue(0)
        self.export_status.setText("Export failed.")
        self.error.setText(f"Report export failed: {message}")

    def _on_export_cancelled(self) -> None:
        self._export_done()
        self.export_bar.setValue(0)
        self.export_status.setText("Export cancelled; nothing was written.")

    def _show_figures(self, figures: dict[str, bytes], captions: dict[str, str] | None = None) -> None:
        while self._gallery_layout.count():
            w = self._gallery_layout.takeAt(0).widget()
            if w is not None:
                w.deleteLater()
        self.figure_labels = {}
        for name, png in figures.items():
            pix = QPixmap()
            if not pix.loadFromData(png, "PNG"):
                self.error.setText(f"Figure {name!r} could not be decoded; see report.html.")
                continue
            caption = QLabel(f"<b>{(captions or {}).get(name, name.replace('_', ' '))}</b>")
            image = QLabel()
            image.setPixmap(pix)
            self._gallery_layout.addWidget(caption)
            self._gallery_layout.addWidget(image)
            self.figure_labels[name] = image
        self._gallery_layout.addStretch(1)

    def shutdown(self, timeout_ms: int = 30000) -> None:
        """Cancel a running export and wait for its thread (call before the window closes)."""
        if self._worker is not None:
            self._worker.cancel()
        self._pool.waitForDone(timeout_ms)


__all__ = ["DashboardWidget", "ExportResult", "run_export"]
