"""The coordinator's import: a new study or more cases, from a folder or a CSV manifest, in the background.

The form (source; truth per sub-folder name, or the manifest's columns; target study; modality;
annotator of imported masks) becomes an :class:`~readerstudy.services.importing.ImportRequest`;
"Import" runs :func:`~readerstudy.services.importing.run_import` in a :class:`~readerstudy.ui.workers.Worker`
with a progress bar and Cancel (a cancelled run writes nothing). Then a table lists every file:
imported (its case pseudonym, notes) or refused with its one-line reason, next to the
de-identification summary (files de-identified, attributes removed, burned-in annotation flags).
"New import…" starts over. :class:`ImportWidget` is the "Import" tab; :class:`ImportDialog` holds it
in a dialog.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QThreadPool, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from readerstudy.core.errors import ReaderStudyError, ValidationError
from readerstudy.services.auth import UserSession, require_coordinator
from readerstudy.services.context import AppContext
from readerstudy.services.deid_policy import DeidRequest
from readerstudy.services.import_sources import TRUTH_WORDS, label_folders
from readerstudy.services.importing import IMPORTED, ImportReport, ImportRequest, run_import
from readerstudy.ui.workers import Worker

log = logging.getLogger(__name__)

SKIP = "skip"
TRUTH_CHOICES: tuple[tuple[str, int | str | None], ...] = (
    ("negative (0)", 0), ("positive (1)", 1), ("no truth", None), ("leave out", SKIP))
BURNED_IN_CHOICES: tuple[tuple[str, str | None], ...] = (
    ("the study's setting (a new study refuses)", None), ("refuse those images", "refuse"),
    ("import them flagged, with a warning", "flag"))
DATES_CHOICES: tuple[tuple[str, bool | None], ...] = (
    ("the study's setting (a new study shifts)", None), ("shift per patient", True), ("remove", False))
MODALITIES: tuple[tuple[str, str | None], ...] = (  # (label, DICOM modality code)
    ("from the file (DICOM says; PNG/JPEG/NIfTI get OT, other)", None), ("US (ultrasound)", "US"),
    ("CT (computed tomography)", "CT"), ("MR (magnetic resonance)", "MR"), ("MG (mammography)", "MG"),
    ("CR (computed radiography)", "CR"), ("DX (digital radiography)", "DX"), ("PT (PET)", "PT"),
    ("NM (nuclear medicine)", "NM"), ("XA (X-ray angiography)", "XA"), ("OT (other)", "OT"))
RESULT_COLUMNS = ("File", "Status", "Case", "Reason / notes")
REFUSED_COLOUR = QColor("#b3261e")
ChoosePath = Callable[[QWidget, str, str], "str | None"]  # (parent, "folder" | "manifest", start folder)
LAST_DIR_KEY = "import/last_dir"


def _ask_path(parent: QWidget, kind: str, start: str) -> str | None:
    if kind == "folder":
        return QFileDialog.getExistingDirectory(parent, "Import the images of this folder", start) or None
    path, _ = QFileDialog.getOpenFileName(parent, "Import the cases of this manifest", start, "CSV manifest (*.csv)")
    return path or None


def natural_key(text: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key with runs of digits compared as numbers: "benign (2)" before "benign (10)"."""
    return tuple((0, int(part)) if part.isdigit() else (1, part.lower()) for part in re.split(r"(\d+)", text) if part)


class NaturalItem(QTableWidgetItem):
    """A table cell that sorts by :func:`natural_key` of its text."""

    def __lt__(self, other: QTableWidgetItem) -> bool:
        return natural_key(self.text()) < natural_key(other.text())


def default_truth(folder_name: str) -> int | None:
    """benign/negative/0 -> 0, malignant/positive/1 -> 1, any other folder name -> no truth."""
    return TRUTH_WORDS.get(folder_name.strip().lower())


class ImportWidget(QWidget):
    """The "Import" tab. ``choose_path(parent, "folder"|"manifest", start)`` and ``settings`` (where the
    last folder browsed is remembered) are injectable for tests."""

    import_finished = Signal(object)  # the ImportReport

    def __init__(self, ctx: AppContext, session: UserSession, *, choose_path: ChoosePath | None = None,
                 settings: QSettings | None = None) -> None:
        super().__init__()
        require_coordinator(session, "importing cases")
        self._ctx, self._session = ctx, session
        self._choose = choose_path or _ask_path
        self._settings = settings if settings is not None else QSettings("readerstudy", "readerstudy")
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._worker: Worker | None = None
        self.report: ImportReport | None = None
        self._build_form()
        self._build_run_row()
        self._build_results()
        layout = QVBoxLayout(self)
        top = QHBoxLayout()
        left = QVBoxLayout()
        for box in (self.source_box, self.target_box, self.options_box):
            left.addWidget(box)
        left.addStretch(1)
        top.addLayout(left, 1)
        top.addWidget(self.labels_box, 1)
        layout.addLayout(top)
        layout.addLayout(self.run_row)
        layout.addWidget(self.results_box, 1)
        self._update_mode()

    # ----------------------------------------------------------------- building
    def _build_form(self) -> None:
        self.folder_radio, self.manifest_radio = QRadioButton("Folder of images"), QRadioButton("CSV manifest")
        self.folder_radio.setChecked(True)
        group = QButtonGroup(self)
        group.addButton(self.folder_radio)
        group.addButton(self.manifest_radio)
        self.path_edit = QLineEdit()
        self.path_edit.setPlaceholderText("a folder: DICOM, NIfTI, PNG/JPEG; <name>_mask.png / .nii.gz are masks")
        self.browse_button = QPushButton("Browse…")
        self.browse_button.clicked.connect(self._on_browse)
        self.path_edit.editingFinished.connect(self._on_path_edited)
        self.folder_radio.toggled.connect(lambda _: self._update_mode())
        row = QHBoxLayout()
        row.addWidget(self.path_edit, 1)
        row.addWidget(self.browse_button)
        radios = QHBoxLayout()
        radios.addWidget(self.folder_radio)
        radios.addWidget(self.manifest_radio)
        radios.addStretch(1)
        self.source_box = QGroupBox("Import from")
        v = QVBoxLayout(self.source_box)
        v.addLayout(radios)
        v.addLayout(row)
        self.current_radio = QRadioButton(f"Current study: {self._session.study_name}")
        self.new_radio = QRadioButton("New study:")
        self.current_radio.setChecked(True)
        target = QButtonGroup(self)
        target.addButton(self.current_radio)
        target.addButton(self.new_radio)
        self.new_name = QLineEdit()
        self.new_name.setPlaceholderText("name of the new study")
        self.new_name.textEdited.connect(lambda _: self.new_radio.setChecked(True))
        self.target_box = QGroupBox("Into")
        form = QFormLayout(self.target_box)
        form.addRow(self.current_radio)
        form.addRow(self.new_radio, self.new_name)
        self.modality = QComboBox()
        for label, code in MODALITIES:
            self.modality.addItem(label, code)
        self.annotator = QLineEdit("import")
        self.burned_in = QComboBox()
        self.burned_in.addItems([t for t, _ in BURNED_IN_CHOICES])
        self.burned_in.setToolTip("Images whose DICOM says Burned In Annotation YES (text in the pixels may "
                                  "identify the patient). A new study refuses them unless told otherwise.")
        self.dates = QComboBox()
        self.dates.addItems([t for t, _ in DATES_CHOICES])
        self.dates.setToolTip("Dates shifted per patient (PS3.15 Retain Longitudinal Temporal Information with "
                              "Modified Dates) or removed; fixed once a study has cases.")
        self.options_box = QGroupBox("Options")
        opts = QFormLayout(self.options_box)
        opts.addRow("Modality of PNG/JPEG/NIfTI", self.modality)
        opts.addRow("Annotator of imported masks", self.annotator)
        opts.addRow("Burned-in annotation", self.burned_in)
        opts.addRow("DICOM dates", self.dates)
        self.labels_hint = QLabel("")
        self.labels_hint.setWordWrap(True)
        self.labels_table = QTableWidget(0, 3)
        self.labels_table.setHorizontalHeaderLabels(("Sub-folder", "Cases", "Truth"))
        self.labels_table.horizontalHeader().setStretchLastSection(True)
        self.labels_table.verticalHeader().setVisible(False)
        self.labels_box = QGroupBox("Ground truth")
        lv = QVBoxLayout(self.labels_box)
        lv.addWidget(self.labels_hint)
        lv.addWidget(self.labels_table, 1)

    def _build_run_row(self) -> None:
        self.import_button = QPushButton("Import")
        self.import_button.setDefault(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.new_button = QPushButton("New import…")
        self.new_button.setVisible(False)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.import_button.clicked.connect(self._on_import_requested)
        self.cancel_button.clicked.connect(self._on_cancel_requested)
        self.new_button.clicked.connect(self.reset)
        self.run_row = QHBoxLayout()
        for w in (self.import_button, self.cancel_button, self.new_button):
            self.run_row.addWidget(w)
        self.run_row.addWidget(self.progress, 1)
        self.run_row.addWidget(self.status, 2)

    def _build_results(self) -> None:
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        self.deid_summary = QLabel("")
        self.deid_summary.setWordWrap(True)
        self.refused_only = QCheckBox("Show refused files only")
        self.refused_only.toggled.connect(lambda _: self._fill_results())
        self.results = QTableWidget(0, len(RESULT_COLUMNS))
        self.results.setHorizontalHeaderLabels(RESULT_COLUMNS)
        self.results.horizontalHeader().setStretchLastSection(True)
        self.results.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.results.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        # Qt's first sort is descending: "malignant (9)" came before "benign (1)"
        self.results.horizontalHeader().setSortIndicator(0, Qt.SortOrder.AscendingOrder)
        self.results_box = QGroupBox("Files")
        v = QVBoxLayout(self.results_box)
        v.addWidget(self.summary)
        v.addWidget(self.deid_summary)
        v.addWidget(self.refused_only)
        v.addWidget(self.results, 1)

    # ----------------------------------------------------------------- the form
    def _update_mode(self) -> None:
        folder = self.folder_radio.isChecked()
        self.labels_table.setVisible(folder)
        self.path_edit.setPlaceholderText(
            "a folder: DICOM (one sub-folder per series), NIfTI, PNG/JPEG; <name>_mask.png / .nii.gz are masks"
            if folder else "a CSV file with columns case_id, image[, mask, truth, site, split, modality]")
        self.labels_hint.setText(
            "Truth of each case from the name of the folder holding it:" if folder
            else "Truth, site, split and modality come from the manifest's columns.")
        if folder:
            self._fill_labels()

    def browse_start(self) -> str:
        """Where Browse… opens: the folder typed, else next to the last one browsed, else the home folder
        (never the program's working directory)."""
        typed = Path(self.path_edit.text().strip()).expanduser()
        if self.path_edit.text().strip() and typed.is_absolute():
            for folder in (typed, typed.parent):
                if folder.is_dir():
                    return str(folder)
        last = self._settings.value(LAST_DIR_KEY, "", type=str)
        return last if last and Path(last).is_dir() else str(Path.home())

    def _on_browse(self) -> None:
        path = self._choose(self, "folder" if self.folder_radio.isChecked() else "manifest", self.browse_start())
        if path:
            self._settings.setValue(LAST_DIR_KEY, str(Path(path).parent))
            self.path_edit.setText(path)
            self._on_path_edited()

    def _on_path_edited(self) -> None:
        if self.folder_radio.isChecked():
            self._fill_labels()

    def set_folder(self, path: str | Path) -> None:
        """Choose a folder source (as Browse… would) and fill the truth table from its sub-folders."""
        self.folder_radio.setChecked(True)
        self.path_edit.setText(str(path))
        self._fill_labels()

    def set_manifest(self, path: str | Path) -> None:
        self.manifest_radio.setChecked(True)
        self.path_edit.setText(str(path))

    def _fill_labels(self) -> None:
        text = self.path_edit.text().strip()
        self.labels_table.setRowCount(0)
        if not text or not Path(text).is_dir():
            return
        try:
            folders = label_folders(Path(text))
        except ReaderStudyError as exc:
            self.status.setText(str(exc))
            return
        self.labels_table.setRowCount(len(folders))
        for i, (name, n) in enumerate(folders.items()):
            self.labels_table.setItem(i, 0, QTableWidgetItem(name))
            self.labels_table.setItem(i, 1, QTableWidgetItem(str(n)))
            combo = QComboBox()
            for title, _ in TRUTH_CHOICES:
                combo.addItem(title)
            combo.setCurrentIndex([v for _, v in TRUTH_CHOICES].index(default_truth(name)))
            self.labels_table.setCellWidget(i, 2, combo)
        self.labels_table.resizeColumnsToContents()

    def set_truth(self, folder_name: str, value: int | str | None) -> None:
        """Set the truth of one sub-folder: 0, 1, None (no truth) or ``"skip"`` (leave it out)."""
        for i in range(self.labels_table.rowCount()):
            if self.labels_table.item(i, 0).text() == folder_name:
                self.labels_table.cellWidget(i, 2).setCurrentIndex([v for _, v in TRUTH_CHOICES].index(value))
                return
        raise KeyError(folder_name)

    def labels(self) -> dict[str, int | None]:
        """Sub-folder name -> truth for the folders not left out."""
        out: dict[str, int | None] = {}
        for i in range(self.labels_table.rowCount()):
            value = TRUTH_CHOICES[self.labels_table.cellWidget(i, 2).currentIndex()][1]
            if value != SKIP:
                out[self.labels_table.item(i, 0).text()] = value  # type: ignore[assignment]
        return out

    def request(self) -> ImportRequest:
        """The form as a request; :class:`ValidationError` names what is missing."""
        path = self.path_edit.text().strip()
        if not path:
            raise ValidationError("Choose a folder or a manifest to import from.")
        study = self.new_name.text().strip() if self.new_radio.isChecked() else self._session.study_name
        if not study:
            raise ValidationError("Give the new study a name.")
        modality = self.modality.currentData()
        deid = DeidRequest(burned_in=BURNED_IN_CHOICES[self.burned_in.currentIndex()][1],
                           retain_longitudinal_modified_dates=DATES_CHOICES[self.dates.currentIndex()][1])
        annotator = self.annotator.text().strip() or "import"
        if self.folder_radio.isChecked():
            labels = self.labels()
            if self.labels_table.rowCount() and not labels:
                raise ValidationError("Every sub-folder is left out; choose a truth for at least one.")
            return ImportRequest(study, folder=path, labels=labels or None, modality=modality, annotator=annotator,
                                 deid=deid)
        return ImportRequest(study, manifest=path, modality=modality, annotator=annotator, deid=deid)

    # ----------------------------------------------------------------- running
    @property
    def running(self) -> bool:
        return self._worker is not None

    def _set_form_enabled(self, enabled: bool) -> None:
        for box in (self.source_box, self.target_box, self.options_box, self.labels_box):
            box.setEnabled(enabled)
        self.import_button.setEnabled(enabled)

    def _on_import_requested(self) -> None:
        try:
            request = self.request()
        except ValidationError as exc:
            self.status.setText(str(exc))
            return
        self.start_import(request)

    def start_import(self, request: ImportRequest) -> None:
        if self._worker is not None:
            return
        worker = Worker(run_import, self._ctx, self._session, request)
        worker.signals.progressed.connect(self._on_progressed)
        worker.signals.finished.connect(self._on_finished)
        worker.signals.failed.connect(self._on_failed)
        worker.signals.cancelled.connect(self._on_cancelled)
        self._worker = worker
        self._set_form_enabled(False)
        self.cancel_button.setEnabled(True)
        self.new_button.setVisible(False)
        self.progress.setRange(0, 0)
        self.progress.setVisible(True)
        self.status.setText(f"Importing into {request.study!r}…")
        self._pool.start(worker)

    def _on_cancel_requested(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            self.cancel_button.setEnabled(False)
            self.status.setText("Cancelling… (the file being read is finished first)")

    def _on_progressed(self, step: int, total: int, message: str) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(step)
        files = max(total - 1, 0)
        if message == "writing to the database":
            self.status.setText("Writing to the database…")
        elif files:
            self.status.setText(f"File {min(step + 1, files)} of {files}: {message}")

    def _done(self) -> None:
        self._worker = None
        self.cancel_button.setEnabled(False)
        self.progress.setVisible(False)
        self.new_button.setVisible(True)

    def _on_finished(self, report: ImportReport) -> None:
        self._done()
        self.report = report
        self._fill_results()
        new = f" Study {report.study!r} was created; you are its coordinator (sign in to it with your PIN)." \
            if report.created_study else ""
        self.status.setText(("Nothing was written: every file was refused." if not report.imported
                             else f"Done: {len(report.imported)} case(s) imported.") + new)
        self.import_finished.emit(report)

    def _on_failed(self, message: str) -> None:
        self._done()
        self._set_form_enabled(True)
        self.new_button.setVisible(False)
        self.status.setText(f"Import failed, nothing was written: {message}")

    def _on_cancelled(self) -> None:
        self._done()
        self._set_form_enabled(True)
        self.new_button.setVisible(False)
        self.status.setText("Import cancelled: nothing of this run was written.")

    # ----------------------------------------------------------------- results
    def _fill_results(self) -> None:
        report = self.report
        self.results.setRowCount(0)
        if report is None:
            self.summary.setText("")
            self.deid_summary.setText("")
            return
        notes = sum(len(f.notes) for f in report.files if f.status == IMPORTED)
        self.summary.setText(f"{report.summary()}; {notes} note(s).")
        self.deid_summary.setText(deid_text(report))
        rows = [f for f in report.files if f.status != IMPORTED or not self.refused_only.isChecked()]
        self.results.setSortingEnabled(False)  # filling a sorted table moves rows under our hands
        self.results.setRowCount(len(rows))
        for i, f in enumerate(rows):
            detail = f.reason if f.status != IMPORTED else "; ".join(f.notes)
            for j, value in enumerate((f.file, f.status, f.pseudonym or "", detail)):
                item = NaturalItem(value)
                item.setToolTip(value)
                if f.status != IMPORTED:
                    item.setForeground(REFUSED_COLOUR)
                self.results.setItem(i, j, item)
        self.results.resizeColumnsToContents()
        self.results.setSortingEnabled(True)

    def reset(self) -> None:
        """"New import…": clear the results and open the form again."""
        if self._worker is not None:
            return
        self.report = None
        self._fill_results()
        self.status.setText("")
        self.new_button.setVisible(False)
        self._set_form_enabled(True)
        self.current_radio.setChecked(True)
        self.new_name.clear()

    def shutdown(self, timeout_ms: int = 30000) -> None:
        """Cancel a running import (nothing of it is written) and wait for its thread."""
        if self._worker is not None:
            self._worker.cancel()
        self._pool.waitForDone(timeout_ms)


def deid_text(report: ImportReport) -> str:
    """The de-identification summary in a coordinator's words."""
    d = report.deid_totals()
    if not d.files:
        return "De-identification: no DICOM file among the imported ones (PNG/JPEG/NIfTI carry no header)."
    flagged = [f.file for f in report.files if f.status == IMPORTED and f.deid.burned_in]
    burned = (f"; {len(flagged)} flagged as burned-in annotation (check their pixels): " + ", ".join(flagged[:5])
              + (" …" if len(flagged) > 5 else "")) if flagged else "; none flagged as burned-in annotation"
    return (f"De-identification: {d.files} file(s) de-identified ({d.instances} DICOM object(s)), "
            f"{d.removed} attribute(s) removed, {d.replaced} replaced, {d.added} added{burned}.")


class ImportDialog(QDialog):
    """:class:`ImportWidget` in a dialog (closing it cancels a running import)."""

    def __init__(self, ctx: AppContext, session: UserSession, parent: QWidget | None = None, **kwargs: object) -> None:
        super().__init__(parent)
        self.setWindowTitle("New import")
        self.widget = ImportWidget(ctx, session, **kwargs)  # type: ignore[arg-type]
        QVBoxLayout(self).addWidget(self.widget)
        self.resize(1100, 700)

    def done(self, result: int) -> None:
        self.widget.shutdown()
        super().done(result)


def import_tab(ctx: AppContext, session: UserSession) -> ImportWidget:
    """The "Import" tab of the coordinator home."""
    return ImportWidget(ctx, session)
