"""The coordinator's Exports tab: the report, the reads for R (iMRMC, RJafroc, MRMCaov, CSV), masks
(NIfTI, DICOM SEG, PNG) and annotator agreement, each in a background :class:`Worker` with progress,
Cancel and errors shown inline.

Folders and files are asked for through injectable choosers (tests pass their own); the dialog
starts in the last folder used (remembered in :class:`QSettings`), else in the user's Documents
folder, never in the program's working directory; a folder that does not exist yet may be typed
(:class:`FolderDialog`: the export creates it). The report export is :func:`run_export`, which the
dashboard's "Export report" button calls too (one implementation), with the reference and arm
chosen here (one :class:`~readerstudy.ui.coordinator.report_state.ReportState` for both).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, QThreadPool, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from readerstudy.core.errors import ReaderStudyError
from readerstudy.services import exports as svc
from readerstudy.services.auth import UserSession
from readerstudy.services.context import AppContext
from readerstudy.ui.coordinator.folders import FolderDialog, ask_dir, ask_save_file, documents_dir, open_file
from readerstudy.ui.coordinator.report_state import ReportState
from readerstudy.ui.workers import ProgressFn, Worker

log = logging.getLogger(__name__)

LAST_DIR_KEY = "exports/last_dir"
REPORT_DIR_KEY = "exports/report_dir"
ChooseDir = Callable[[QWidget, str, str], "str | None"]  # (parent, title, start folder)
ChooseFile = Callable[[QWidget, str, str, str], "str | None"]  # (parent, title, start path, filter)


@dataclass(frozen=True)
class ExportResult:
    """The report export's result for the GUI: the folder, report.html and the figures (key -> PNG bytes)."""

    out_dir: str
    html: str
    figures: dict[str, bytes]
    captions: dict[str, str]


def run_export(ctx: AppContext, session: UserSession, out_dir: str, progress: ProgressFn,
               reference: str | None = None, arm: str | None = None) -> ExportResult:
    """Write the report into ``out_dir`` (worker thread); the figures come back for the app's gallery."""
    out = svc.export_report_to(ctx, session, out_dir, progress, reference=reference, arm=arm)
    return ExportResult(str(Path(out_dir)), str(out.target), {k: p.read_bytes() for k, p in out.figures.items()},
                        out.captions)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_ " else "_" for c in name).strip() or "study"


class ExportsWidget(QWidget):
    """Every export of the study, one group per kind, one job at a time with a shared progress bar."""

    def __init__(self, ctx: AppContext, session: UserSession, *, choose_dir: ChooseDir = ask_dir,
                 choose_file: ChooseFile = ask_save_file, open_url: Callable[[QUrl], object] = QDesktopServices.openUrl,
                 settings: QSettings | None = None) -> None:
        super().__init__()
        self._ctx, self._session = ctx, session
        self._choose_dir, self._choose_file, self._open_url = choose_dir, choose_file, open_url
        self._settings = settings if settings is not None else QSettings("readerstudy", "readerstudy")
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._worker: Worker | None = None
        self._job = ""
        self._job_choices = ("", "")  # the reference and arm labels of the report being written
        self.last_result: Any = None
        self.report_html: Path | None = None
        self.report = ReportState()  # the window's shared one after use_report()
        self.error = QLabel()
        self.error.setStyleSheet("color: #b00020;")
        self.error.setWordWrap(True)
        self.status = QLabel("Nothing exported in this session.")
        self.status.setWordWrap(True)
        self.bar = QProgressBar()
        self.bar.setFormat("%p%")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self._on_cancel_requested)
        root = QVBoxLayout(self)
        root.addWidget(self._report_box())
        row = QHBoxLayout()
        row.addWidget(self._reads_box(), 1)
        row.addWidget(self._masks_box(), 1)
        row.addWidget(self._agreement_box(), 1)
        root.addLayout(row)
        job = QHBoxLayout()
        job.addWidget(self.bar, 1)
        job.addWidget(self.cancel_button)
        root.addLayout(job)
        root.addWidget(self.status)
        root.addWidget(self.error)
        self.files = QListWidget()
        self.files.setToolTip("Double-click a file to open it")
        self.files.itemDoubleClicked.connect(self._on_file_activated)
        files_box = QGroupBox("Files written by the last export (double-click to open)")
        QVBoxLayout(files_box).addWidget(self.files)
        root.addWidget(files_box, 1)
        self._load_choices()
        self.reference.currentIndexChanged.connect(self._on_choice_changed)
        self.arm.currentIndexChanged.connect(self._on_choice_changed)
        self._on_choice_changed()
        self.report.changed.connect(self._on_report_changed)
        self.report_dir.textChanged.connect(self._on_report_dir_changed)
        self._on_report_dir_changed(self.report_dir.text())

    # --- the report's choices, shared with the dashboard ---------------------------------------------
    def use_report(self, state: ReportState) -> None:
        """Share ``state`` (the coordinator window's) with the dashboard: the choices made here are
        the dashboard's too, and a report exported there shows here."""
        self.report.changed.disconnect(self._on_report_changed)
        self.report = state
        for combo, value in ((self.reference, state.reference), (self.arm, state.arm)):
            i = combo.findData(value)
            if value is not None and i >= 0:
                combo.setCurrentIndex(i)
        self._on_choice_changed()
        state.changed.connect(self._on_report_changed)
        self._on_report_changed()

    def _on_choice_changed(self, *_: Any) -> None:
        self.report.choose(self.reference.currentData(), self.reference.currentText() or "default",
                           self.arm.currentData(), self.arm.currentText() or "default")

    def _on_report_changed(self) -> None:
        """A report written from the dashboard: say so, list its files and let Open report open it."""
        result = self.report.last
        if result is None or self.report.last_from == "Exports tab" or self.busy:
            return
        self.last_result = result
        self.report_dir.setText(result.out_dir)  # Open report opens it (the folder is remembered on export only)
        self.report_html = Path(result.html)
        self.open_button.setEnabled(True)
        self._show_report_files(result)
        self.status.setText(f"{self.report.status_text('Exports tab')} Open it with Open report.")

    # --- layout --------------------------------------------------------------------------------
    def _report_box(self) -> QGroupBox:
        box = QGroupBox("Report (HTML, PDF, JSON, reads.csv, figures)")
        form = QFormLayout(box)
        self.report_dir = QLineEdit(self.default_report_dir())
        self.report_dir.setPlaceholderText("folder the report is written into (created if absent)")
        choose = QPushButton("Choose…")
        choose.clicked.connect(self._on_choose_report_dir)
        line = QHBoxLayout()
        line.addWidget(self.report_dir, 1)
        line.addWidget(choose)
        form.addRow("Folder", line)
        self.reference = QComboBox()
        self.arm = QComboBox()
        form.addRow("Reference", self.reference)
        form.addRow("Arm compared with it", self.arm)
        self.report_button = QPushButton("Export report")
        self.open_button = QPushButton("Open report")
        self.open_button.setEnabled(False)
        self.report_button.clicked.connect(self._on_report_requested)
        self.open_button.clicked.connect(self._on_open_requested)
        buttons = QHBoxLayout()
        buttons.addWidget(self.report_button)
        buttons.addWidget(self.open_button)
        buttons.addStretch(1)
        form.addRow(buttons)
        return box

    def _reads_box(self) -> QGroupBox:
        box = QGroupBox("Reads for R and spreadsheets")
        lay = QVBoxLayout(box)
        self.read_format = QComboBox()
        for fmt, (label, _) in svc.READ_FORMATS.items():
            self.read_format.addItem(label, fmt)
        self.reads_button = QPushButton("Export reads…")
        self.reads_button.clicked.connect(self._on_reads_requested)
        lay.addWidget(self.read_format)
        lay.addWidget(self.reads_button)
        return box

    def _masks_box(self) -> QGroupBox:
        box = QGroupBox("Annotation masks")
        lay = QVBoxLayout(box)
        self.mask_format = QComboBox()
        for fmt, label in svc.MASK_FORMATS.items():
            self.mask_format.addItem(label, fmt)
        self.annotator = QComboBox()
        self.masks_button = QPushButton("Export masks…")
        self.masks_button.clicked.connect(self._on_masks_requested)
        for w in (self.mask_format, self.annotator, self.masks_button):
            lay.addWidget(w)
        return box

    def _agreement_box(self) -> QGroupBox:
        box = QGroupBox("Annotator agreement")
        lay = QVBoxLayout(box)
        lay.addWidget(QLabel("Dice, Jaccard, HD95 (mm) and volumes per case, annotator pair and label."))
        self.agreement_button = QPushButton("Export agreement CSV…")
        self.agreement_button.clicked.connect(self._on_agreement_requested)
        lay.addWidget(self.agreement_button)
        return box

    def _load_choices(self) -> None:
        try:
            refs = svc.reference_choices(self._ctx, self._session)
            names = svc.annotators(self._ctx, self._session)
            arms = svc.arm_names(self._ctx, self._session)
        except ReaderStudyError as exc:
            self.error.setText(str(exc))
            self._set_buttons(False)
            return
        for r in refs:
            self.reference.addItem(r.label, r.value)
        self.arm.addItem("Default (the first arm with reads)", None)
        for a in arms:
            self.arm.addItem(a, a)
        self.annotator.addItem("All annotators", None)
        for n in names:
            self.annotator.addItem(n, n)

    # --- folders -------------------------------------------------------------------------------
    def last_dir(self) -> Path:
        """The last folder used by any export (QSettings), else the user's Documents folder."""
        saved = self._settings.value(LAST_DIR_KEY, "", type=str)
        return Path(saved) if saved and Path(saved).is_dir() else documents_dir()

    def default_report_dir(self) -> str:
        saved = self._settings.value(REPORT_DIR_KEY, "", type=str)
        if saved:
            return saved
        return str(self.last_dir() / f"{_safe(self._session.study_name)} report")

    def _remember(self, folder: Path, key: str = LAST_DIR_KEY) -> None:
        self._settings.setValue(key, str(folder))
        self._settings.sync()

    def _on_choose_report_dir(self) -> None:
        current = Path(self.report_dir.text() or self.default_report_dir())
        start = current if current.is_dir() else current.parent if current.parent.is_dir() else self.last_dir()
        chosen = self._choose_dir(self, "Folder for the report (create one if you like)", str(start))
        if chosen:
            self.report_dir.setText(chosen)

    # --- jobs ----------------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return self._worker is not None

    def _set_buttons(self, enabled: bool) -> None:
        for b in (self.report_button, self.reads_button, self.masks_button, self.agreement_button):
            b.setEnabled(enabled)

    def _start(self, job: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        if self._worker is not None:
            return
        self.error.setText("")
        self._job = job
        worker = Worker(fn, self._ctx, self._session, *args, **kwargs)
        worker.signals.progressed.connect(self._on_progressed)
        worker.signals.finished.connect(self._on_finished)
        worker.signals.failed.connect(self._on_failed)
        worker.signals.cancelled.connect(self._on_cancelled)
        self._worker = worker
        self.bar.setRange(0, 1)
        self.bar.setValue(0)
        self.status.setText(f"Exporting {job}…")
        self._set_buttons(False)
        self.cancel_button.setEnabled(True)
        self._pool.start(worker)

    def start_report(self, out_dir: str) -> None:
        """Export the report into ``out_dir`` (created if absent) in the background."""
        folder = Path(out_dir).expanduser()
        self.report_dir.setText(str(folder))
        self._remember(folder, REPORT_DIR_KEY)
        self._remember(folder.parent if not folder.is_dir() else folder)
        self._job_choices = (self.report.reference_label, self.report.arm_label)
        self._start("the report", run_export, str(folder), reference=self.report.reference, arm=self.report.arm)

    def _on_report_requested(self) -> None:
        text = self.report_dir.text().strip()
        if not text:
            self.error.setText("Choose the folder the report is written into first.")
            return
        if not Path(text).expanduser().is_absolute():
            self.error.setText(f"{text!r} is not a full folder path; choose the folder with Choose….")
            return
        self.start_report(text)

    def _on_report_dir_changed(self, text: str) -> None:
        """A folder that already holds a report (e.g. the remembered one) can be opened at once."""
        html = Path(text).expanduser() / "report.html" if text.strip() else None
        self.report_html = html if html is not None and html.is_file() else None
        self.open_button.setEnabled(self.report_html is not None and not self.busy)

    def _on_file_activated(self, item: QListWidgetItem) -> None:
        self.error.setText(open_file(self._open_url, item.text()) or "")

    def _show_files(self, paths: Any) -> None:
        self.files.clear()
        for p in paths:
            if Path(p).is_file():
                self.files.addItem(str(p))

    def _show_report_files(self, result: ExportResult) -> None:
        out = Path(result.out_dir)
        self._show_files([out / n for n in ("report.html", "report.pdf", "report.json", "reads.csv")]
                         + sorted((out / "figures").glob("*.png")))

    def _on_open_requested(self) -> None:
        if self.report_html is not None and self.report_html.is_file():
            self.error.setText(open_file(self._open_url, self.report_html) or "")
        else:
            self.error.setText("No report in this folder yet: export it first.")

    def _on_reads_requested(self) -> None:
        fmt = self.read_format.currentData()
        name = svc.READ_FORMATS[fmt][1]
        filters = "Excel workbook (*.xlsx)" if fmt == "rjafroc" else "CSV (*.csv)"
        path = self._choose_file(self, "Save the reads as", str(self.last_dir() / name), filters)
        if path:
            self._remember(Path(path).parent)
            self._start("the reads", svc.export_reads_to, fmt, path)

    def _on_masks_requested(self) -> None:
        folder = self._choose_dir(self, "Folder for the masks (create one if you like)", str(self.last_dir()))
        if folder:
            self._remember(Path(folder))
            self._start("the masks", svc.export_masks_to, self.mask_format.currentData(), folder,
                        annotator=self.annotator.currentData())

    def _on_agreement_requested(self) -> None:
        path = self._choose_file(self, "Save annotator agreement as", str(self.last_dir() / "agreement.csv"),
                                 "CSV (*.csv)")
        if path:
            self._remember(Path(path).parent)
            self._start("annotator agreement", svc.export_agreement, path)

    def _on_cancel_requested(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            self.cancel_button.setEnabled(False)
            self.status.setText("Cancelling at the next step…")

    def _on_progressed(self, step: int, total: int, message: str) -> None:
        self.bar.setRange(0, max(total, 1))
        self.bar.setValue(step)
        self.status.setText(f"Exporting {self._job}: {message} ({step} of {total})")

    def _done(self) -> None:
        self._worker = None
        self._set_buttons(True)
        self.cancel_button.setEnabled(False)

    def _on_finished(self, result: Any) -> None:
        self._done()
        self.last_result = result
        self.bar.setValue(self.bar.maximum())
        if isinstance(result, ExportResult):
            self.report_html = Path(result.html)
            self.open_button.setEnabled(True)
            self._show_report_files(result)
            self.report.exported(result, "Exports tab", *self._job_choices)
            self.status.setText(f"{self.report.status_text('Exports tab')} Open it with Open report.")
        else:
            self.status.setText(result.summary)
            self._show_files(result.files)

    def _on_failed(self, message: str) -> None:
        self._done()
        self.bar.setValue(0)
        self.status.setText(f"Exporting {self._job} failed.")
        self.error.setText(message)

    def _on_cancelled(self) -> None:
        self._done()
        self.bar.setValue(0)
        partial = " (the masks written so far stay in the folder)" if self._job == "the masks" else \
            " (nothing was written)"
        self.status.setText(f"Export of {self._job} cancelled{partial}.")

    def shutdown(self, timeout_ms: int = 30000) -> None:
        """Cancel a running export and wait for its thread (the home window calls this on close)."""
        if self._worker is not None:
            self._worker.cancel()
        self._pool.waitForDone(timeout_ms)


def exports_tab(ctx: AppContext, session: UserSession) -> ExportsWidget:
    return ExportsWidget(ctx, session)


__all__ = ["ExportResult", "ExportsWidget", "FolderDialog", "ask_dir", "ask_save_file", "documents_dir", "exports_tab",
           "open_file", "run_export"]
