"""The jobs panel: every engine job of the database with its stage, progress, ETA, log and errors.

Rows come from the database (jobs survive a restart; a job left running by a GUI that died shows
as interrupted, with Resume); the jobs this window runs overlay their live progress from
:class:`~readerstudy.ui.jobs.runner.JobRunner`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QFontDatabase
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from readerstudy.core.errors import ReaderStudyError
from readerstudy.core.jobs import JobStatus, ModelRun
from readerstudy.services import job_runs
from readerstudy.services.auth import UserSession
from readerstudy.services.context import AppContext
from readerstudy.services.jobs import TITLES, JobMonitor, format_eta
from readerstudy.ui.jobs.runner import JobRunner

__all__ = ["JobsPanel", "COLUMNS"]

COLUMNS = ("Job", "Study", "Status", "Stage", "Progress", "ETA", "Preset", "Device", "Data", "Started", "Finished")
STATUS_TEXT = {JobStatus.QUEUED: "queued", JobStatus.RUNNING: "running", JobStatus.CANCELLED: "cancelled",
               JobStatus.FAILED: "failed", JobStatus.DONE: "done", JobStatus.INTERRUPTED: "interrupted"}


def _when(dt) -> str:  # noqa: ANN001
    return dt.astimezone().strftime("%Y-%m-%d %H:%M:%S") if dt else ""


def _data_text(run: ModelRun) -> str:
    d = run.data or {}
    if "train" in d:
        return f"{d.get('cases', '?')} cases: {d['train']} train / {d['test']} held out ({d.get('split', '')})"
    if "cases" in d:
        return f"{d['cases']} cases"
    return str(d.get("split", ""))


def monitor_from_log(run: ModelRun) -> JobMonitor:
    """The last known progress of a job that this window does not run, read back from its log."""
    mon = JobMonitor(run.kind)  # type: ignore[arg-type]
    lines = job_runs.log_tail(run)
    if lines:
        mon.feed("\n".join(lines) + "\n", "out")
    mon.status = run.status
    return mon


class JobsPanel(QWidget):
    """Table of jobs, and for the selected one: its status or error, its log tail, Cancel/Resume."""

    selection_changed = Signal(str)  # run id ("" when none)

    def __init__(self, ctx: AppContext, session: UserSession, runner: JobRunner, *,
                 open_url: Callable[[QUrl], object] = QDesktopServices.openUrl) -> None:
        super().__init__()
        self._ctx, self._session, self.runner, self._open_url = ctx, session, runner, open_url
        self.runs: list[ModelRun] = []
        self.bars: dict[str, QProgressBar] = {}
        self._stage_seen: dict[str, str] = {}
        self._log_cache: dict[str, tuple] = {}
        self._log_shown: tuple[str, int] = ("", 0)  # job whose log is shown, lines of it shown
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.verticalHeader().setVisible(False)
        self.status = QLabel("Select a job to see its log.")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.log.setMaximumBlockCount(500)
        self.cancel_button = QPushButton("Cancel")
        self.resume_button = QPushButton("Resume")
        self.folder_button = QPushButton("Open folder")
        self.refresh_button = QPushButton("Refresh")
        for b in (self.cancel_button, self.resume_button, self.folder_button):
            b.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel_selected)
        self.resume_button.clicked.connect(self.resume_selected)
        self.folder_button.clicked.connect(self._open_folder)
        self.refresh_button.clicked.connect(self.refresh)
        self.table.itemSelectionChanged.connect(self._on_selection)
        runner.changed.connect(self._on_job_changed)
        runner.ended.connect(lambda rid, _status: self.refresh())
        buttons = QHBoxLayout()
        for b in (self.cancel_button, self.resume_button, self.folder_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(self.refresh_button)
        details = QWidget()
        dl = QVBoxLayout(details)
        dl.setContentsMargins(0, 0, 0, 0)
        dl.addWidget(self.status)
        dl.addLayout(buttons)
        dl.addWidget(self.log, 1)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.table)
        split.addWidget(details)
        split.setSizes([220, 260])
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(split)
        job_runs.reconcile(ctx, own=runner.active())
        self.refresh()

    # --- data ----------------------------------------------------------------------------------
    def selected_id(self) -> str:
        rows = self.table.selectionModel().selectedRows()
        return self.runs[rows[0].row()].id if rows and rows[0].row() < len(self.runs) else ""

    def run_by_id(self, run_id: str) -> ModelRun | None:
        return next((r for r in self.runs if r.id == run_id), None)

    def monitor(self, run: ModelRun) -> JobMonitor:
        """The live monitor of a job this window runs; else the state read back from its log file."""
        live = self.runner.monitor(run.id) if run.id in self.runner.active() else None
        if live is not None:
            return live
        try:
            st = Path(run.log_path).stat()
            key = (run.id, str(run.status), st.st_size, st.st_mtime_ns)
        except OSError:
            key = (run.id, str(run.status), -1, -1)
        if self._log_cache.get(run.id, (None,))[0] != key:  # parse a log file once per change
            self._log_cache[run.id] = (key, monitor_from_log(run))
        return self._log_cache[run.id][1]

    def select(self, run_id: str) -> None:
        ids = [r.id for r in self.runs]
        if run_id in ids:
            self.table.selectRow(ids.index(run_id))

    def refresh(self) -> None:
        keep = self.selected_id()
        self.runs = job_runs.list_jobs(self._ctx)
        self.table.setRowCount(len(self.runs))
        self.bars.clear()
        for i, run in enumerate(self.runs):
            bar = QProgressBar()
            bar.setRange(0, 1000)
            self.bars[run.id] = bar
            self.table.setCellWidget(i, COLUMNS.index("Progress"), bar)
            self._fill(i, run)
        self.table.resizeColumnsToContents()
        for col, width in (("Progress", 150), ("Status", 110), ("ETA", 95)):
            self.table.setColumnWidth(COLUMNS.index(col), max(width, self.table.columnWidth(COLUMNS.index(col))))
        stage = COLUMNS.index("Stage")  # long messages are elided; the full text is below the table
        self.table.setColumnWidth(stage, min(max(self.table.columnWidth(stage), 320), 420))
        if self.runs:
            ids = [r.id for r in self.runs]
            self.table.selectRow(ids.index(keep) if keep in ids else 0)
        self._show_details()

    def _fill(self, row: int, run: ModelRun) -> None:
        mon = self.monitor(run)
        live = run.id in self.runner.active()
        status = mon.status if live else run.status
        text = STATUS_TEXT.get(status, str(status))
        if live and mon.cancel_requested and status == JobStatus.RUNNING:
            text = "cancelling…"
        if status == JobStatus.RUNNING and not live:
            text = "running (another window)"
        values = {
            "Job": f"{TITLES.get(run.kind, run.kind)} {run.id[:6]}", "Study": (run.data or {}).get("study", ""),
            "Status": text, "Stage": mon.stage_text() if mon.stage else "",
            "ETA": format_eta(mon.eta_s) if live and status == JobStatus.RUNNING and mon.stage else "",
            "Preset": run.preset or "", "Device": run.device, "Data": _data_text(run),
            "Started": _when(run.started_at), "Finished": _when(run.finished_at),
        }
        for col, value in values.items():
            item = QTableWidgetItem(str(value))
            if col == "Status" and status in (JobStatus.FAILED, JobStatus.INTERRUPTED):
                item.setForeground(Qt.GlobalColor.darkRed)
            self.table.setItem(row, COLUMNS.index(col), item)
        bar = self.bars.get(run.id)
        if bar is not None:
            bar.setValue(1000 if status == JobStatus.DONE else int(mon.fraction * 1000))
            bar.setFormat(f"{mon.step}/{mon.total}" if mon.total and status != JobStatus.DONE else
                          ("100%" if status == JobStatus.DONE else ""))

    def _on_job_changed(self, run_id: str) -> None:
        ids = [r.id for r in self.runs]
        if run_id not in ids:
            self.refresh()
            return
        jp = self.runner.jobs.get(run_id)
        if jp is not None:
            if jp.monitor.stage != self._stage_seen.get(run_id):  # re-read the row once per stage (its data)
                self._stage_seen[run_id] = jp.monitor.stage
                jp.run = job_runs.get_job(self._ctx, run_id)
            self.runs[ids.index(run_id)] = jp.run
        self._fill(ids.index(run_id), self.runs[ids.index(run_id)])
        if run_id == self.selected_id():
            self._show_details()

    # --- details -------------------------------------------------------------------------------
    def _on_selection(self) -> None:
        self._show_details()
        self.selection_changed.emit(self.selected_id())

    def _show_details(self) -> None:
        run = self.run_by_id(self.selected_id())
        if run is None:
            self.status.setText("No engine job yet: train a model above." if not self.runs else "Select a job.")
            self.log.setPlainText("")
            self._log_shown = ("", 0)
            for b in (self.cancel_button, self.resume_button, self.folder_button):
                b.setEnabled(False)
            return
        mon = self.monitor(run)
        live = run.id in self.runner.active()
        self.cancel_button.setEnabled(live and not mon.cancel_requested)
        self.resume_button.setEnabled(not live and run.resumable)
        self.folder_button.setEnabled(bool(run.out_dir or run.log_path))
        self.status.setStyleSheet("color: #b00020;" if run.status in (JobStatus.FAILED, JobStatus.INTERRUPTED)
                                  and not live else "")
        self.status.setText(self._status_text(run, mon, live))
        self._show_log(run.id, mon)

    def _show_log(self, run_id: str, mon: JobMonitor) -> None:
        """The log tail: new lines of the same job are appended (cheap while a job streams)."""
        tail = mon.log_tail
        shown_id, shown_total = self._log_shown
        if shown_id == run_id and 0 <= mon.lines_total - shown_total <= len(tail):
            new = tail[len(tail) - (mon.lines_total - shown_total):] if mon.lines_total > shown_total else []
            for line in new:
                self.log.appendPlainText(line)
        else:
            self.log.setPlainText("\n".join(tail))
        self._log_shown = (run_id, mon.lines_total)
        self.log.verticalScrollBar().setValue(self.log.verticalScrollBar().maximum())

    def _status_text(self, run: ModelRun, mon: JobMonitor, live: bool) -> str:
        what = f"{TITLES.get(run.kind, run.kind)} job {run.id[:6]}"
        if live:
            if mon.cancel_requested:
                return f"{what}: cancelling — the engine finishes its current step and writes a checkpoint."
            if mon.stage:
                left = ("estimating the time left" if mon.eta_s is None else f"about {format_eta(mon.eta_s)} left "
                        "in this stage")
                return f"{what}: {mon.stage_text()} ({mon.step}/{mon.total}; {left})."
            return f"{what}: starting the engine…"
        if run.status == JobStatus.DONE:
            return f"{what}: done {_when(run.finished_at)}."
        if run.status == JobStatus.CANCELLED:
            return f"{what}: cancelled. Resume continues from the last checkpoint in {run.out_dir or 'its folder'}."
        if run.status in (JobStatus.FAILED, JobStatus.INTERRUPTED):
            return f"{what}: {run.status}. {run.error or ''}"
        return f"{what}: {run.status}."

    # --- actions -------------------------------------------------------------------------------
    def cancel_selected(self) -> None:
        rid = self.selected_id()
        if rid:
            self.runner.cancel(rid)
            self._show_details()

    def resume_selected(self) -> None:
        rid = self.selected_id()
        if not rid:
            return
        try:
            run = job_runs.prepare_resume(self._ctx, self._session, rid)
        except ReaderStudyError as exc:
            self.status.setText(str(exc))
            return
        self.runner.submit(run)
        self.refresh()

    def _open_folder(self) -> None:
        run = self.run_by_id(self.selected_id())
        if run is not None:
            target = run.out_dir if run.out_dir and Path(run.out_dir).exists() else str(Path(run.log_path).parent)
            self._open_url(QUrl.fromLocalFile(target))
