"""The coordinator's "Engine" tab: train the DiffKD model, follow its job, see its held-out metrics,
and add it as a reader of the study.

* Training data: a study (the engine splits it, 20 % held out) or the cases of a study marked as
  training (``case.split == "train"``; the others are held out). Preset tiny/default/paper; device
  CPU or a CUDA GPU (name and memory), probed in a child process so that the GUI never imports
  torch.
* Train / Synthesize only start a job (:mod:`readerstudy.ui.jobs.runner`); the jobs panel below
  shows every job with stage, progress, ETA, log, Cancel and Resume.
* A finished training job shows its held-out metrics with 95 % CIs (``evaluation.json``);
  "Add model as reader" starts a prediction job on the study: a probability and a saliency map
  for every case, those the model was trained on marked as such.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QProcess, Qt
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from readerstudy.core.errors import ReaderStudyError
from readerstudy.core.jobs import JobKind, JobStatus, ModelRun
from readerstudy.services import browse, job_runs
from readerstudy.services.auth import UserSession
from readerstudy.services.context import AppContext
from readerstudy.services.jobs import PRESETS, JobSpec
from readerstudy.ui.jobs.panel import JobsPanel
from readerstudy.ui.jobs.runner import JobRunner

__all__ = ["EngineTab", "engine_tab", "METRIC_COLUMNS"]

PRESET_TEXT = {
    "tiny": "tiny: 32 px, a few steps; seconds; checks the plumbing, not a usable model",
    "default": "default: 64 px; about 10 min on 2 CPU cores; a usable small model",
    "paper": "paper: 256 px, the paper's schedule; hours to days, a GPU",
}
METRIC_COLUMNS = ("Model", "Held-out cases", "AUC (95% CI)", "Accuracy", "Sensitivity", "Specificity")


def _ci(d: dict[str, Any] | None, key: str = "value") -> str:
    if not d or d.get(key) is None:
        return "–"
    lo, hi = d.get("ci_low"), d.get("ci_high")
    return f"{d[key]:.3f} ({lo:.3f}–{hi:.3f})" if lo is not None and hi is not None else f"{d[key]:.3f}"


class EngineTab(QWidget):
    """Train / synthesize / add as reader, above the jobs panel. ``runner`` is injectable (tests)."""

    def __init__(self, ctx: AppContext, session: UserSession, *, runner: JobRunner | None = None,
                 probe_devices: bool = True, open_url: Callable[..., object] | None = None) -> None:
        super().__init__()
        self._ctx, self._session = ctx, session
        self.runner = runner or JobRunner(ctx, self)
        self.devices: list[dict[str, Any]] = [{"id": "cpu", "label": "CPU"}]
        self._probe: QProcess | None = None

        self.study = QComboBox()
        for s in browse.list_studies(ctx, session):
            self.study.addItem(s.name)
        self.study.setCurrentText(session.study_name)
        self.split_auto = QRadioButton()
        self.split_marked = QRadioButton()
        self.split_auto.setChecked(True)
        group = QButtonGroup(self)
        group.addButton(self.split_auto)
        group.addButton(self.split_marked)
        self.preset = QComboBox()
        for p in PRESETS:
            self.preset.addItem(PRESET_TEXT[p], p)
        self.device = QComboBox()
        self.device.addItem("CPU", "cpu")
        self.device_note = QLabel("")
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.train_button = QPushButton("Train")
        self.synth_button = QPushButton("Synthesize only")
        self.synth_button.setToolTip("Train the generator and write the synthetic images and sample grids "
                                     "(no classifier)")
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.train_button.clicked.connect(lambda: self.start_training(JobKind.TRAIN))
        self.synth_button.clicked.connect(lambda: self.start_training(JobKind.SYNTHESIZE))
        self.study.currentTextChanged.connect(self._update_split_text)

        self.metrics = QTableWidget(0, len(METRIC_COLUMNS))
        self.metrics.setHorizontalHeaderLabels(METRIC_COLUMNS)
        self.metrics.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.metrics.horizontalHeader().setStretchLastSection(True)
        self.metrics.verticalHeader().setVisible(False)
        self.metrics.resizeColumnsToContents()
        self.metrics_note = QLabel("Select a finished training job to see its held-out metrics.")
        self.metrics_note.setWordWrap(True)
        self.model_name = QLineEdit("DiffKD-student")
        self.add_button = QPushButton(f"Add model as reader of {session.study_name!r}")
        self.add_button.setEnabled(False)
        self.add_button.clicked.connect(self.add_as_reader)
        self.add_note = QLabel("")
        self.add_note.setWordWrap(True)

        self.panel = JobsPanel(ctx, session, self.runner, **({"open_url": open_url} if open_url else {}))
        self.panel.selection_changed.connect(self._show_metrics)
        self.runner.ended.connect(lambda rid, status: self._on_job_ended(rid, status))
        self._build_layout()
        self._update_split_text(self.study.currentText())
        self._show_metrics(self.panel.selected_id())
        self._probe_wanted = probe_devices  # when the tab is first shown (a child process importing torch)

    # --- layout --------------------------------------------------------------------------------
    def _build_layout(self) -> None:
        train = QGroupBox("Train a model")
        form = QFormLayout(train)
        form.addRow("Training data", self.study)
        splits = QVBoxLayout()
        splits.addWidget(self.split_auto)
        splits.addWidget(self.split_marked)
        form.addRow("", self._wrap(splits))
        form.addRow("Preset", self.preset)
        dev = QHBoxLayout()
        dev.addWidget(self.device, 1)
        dev.addWidget(self.device_note)
        form.addRow("Device", self._wrap(dev))
        form.addRow("Seed", self.seed)
        buttons = QHBoxLayout()
        buttons.addWidget(self.train_button)
        buttons.addWidget(self.synth_button)
        buttons.addStretch(1)
        form.addRow("", self._wrap(buttons))
        form.addRow("", self.message)
        results = QGroupBox("Held-out metrics of the selected training job")
        rl = QVBoxLayout(results)
        rl.addWidget(self.metrics, 1)
        rl.addWidget(self.metrics_note)
        add = QHBoxLayout()
        add.addWidget(QLabel("Reader name"))
        add.addWidget(self.model_name)
        add.addWidget(self.add_button)
        rl.addLayout(add)
        rl.addWidget(self.add_note)
        top = QSplitter(Qt.Orientation.Horizontal)
        top.addWidget(train)
        top.addWidget(results)
        top.setSizes([500, 800])
        jobs = QGroupBox("Engine jobs (each runs in its own process; the app stays responsive)")
        QVBoxLayout(jobs).addWidget(self.panel)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(top)
        split.addWidget(jobs)
        split.setSizes([330, 520])
        QVBoxLayout(self).addWidget(split)

    @staticmethod
    def _wrap(layout: Any) -> QWidget:
        w = QWidget()
        layout.setContentsMargins(0, 0, 0, 0)
        w.setLayout(layout)
        return w

    def _update_split_text(self, study: str) -> None:
        if not study:
            return
        rows = [r.case for r in browse.study_cases(self._ctx, self._session, study)]
        judged = [c for c in rows if c.truth is not None]
        marked = [c for c in judged if c.split == "train"]
        self.split_auto.setText(f"All {len(judged)} cases with ground truth; the engine holds 20 % out "
                                "(its own stratified split)")
        self.split_marked.setText(f"The {len(marked)} cases marked as training; the other {len(judged) - len(marked)} "
                                  "are held out")
        self.split_marked.setEnabled(bool(marked))
        if not marked:
            self.split_auto.setChecked(True)

    # --- devices ---------------------------------------------------------------------------------
    def showEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        if self._probe_wanted:
            self._probe_wanted = False
            self.probe_devices()
        super().showEvent(event)

    def probe_devices(self) -> None:
        """Ask a child process which devices torch sees (the GUI itself never imports torch)."""
        self.device_note.setText("checking for a GPU…")
        self._probe = QProcess(self)
        self._probe.finished.connect(self._on_probe_done)
        self._probe.start(sys.executable, ["-m", "readerstudy", "engine", "devices"])

    def _on_probe_done(self, code: int, _status: Any) -> None:
        out = bytes(self._probe.readAllStandardOutput()).decode(errors="replace") if self._probe else ""
        try:
            devices = json.loads(out.strip().splitlines()[-1])["devices"] if code == 0 and out.strip() else None
        except (ValueError, KeyError, IndexError):
            devices = None
        if devices is None:
            self.device_note.setText("could not check for a GPU; CPU only")
            return
        self.set_devices(devices)

    def set_devices(self, devices: list[dict[str, Any]]) -> None:
        self.devices = devices
        current = self.device.currentData()
        self.device.clear()
        for d in devices:
            self.device.addItem(d["label"], d["id"])
        i = self.device.findData(current)
        self.device.setCurrentIndex(max(i, 0))
        gpus = [d for d in devices if d["id"].startswith("cuda")]
        self.device_note.setText(f"{len(gpus)} GPU{'s' if len(gpus) != 1 else ''} found" if gpus else "no GPU found")

    # --- actions -------------------------------------------------------------------------------
    def spec(self, kind: JobKind = JobKind.TRAIN) -> JobSpec:
        return JobSpec(kind, self.study.currentText(), device=str(self.device.currentData()),
                       preset=str(self.preset.currentData()), seed=int(self.seed.value()),
                       split="marked" if self.split_marked.isChecked() else "auto")

    def start_training(self, kind: JobKind = JobKind.TRAIN, spec: JobSpec | None = None) -> ModelRun | None:
        return self._submit(spec or self.spec(kind))

    def _submit(self, spec: JobSpec) -> ModelRun | None:
        try:
            run = job_runs.create_job(self._ctx, self._session, spec)
        except ReaderStudyError as exc:
            self.message.setStyleSheet("color: #b00020;")
            self.message.setText(str(exc))
            return None
        self.message.setStyleSheet("")
        what = f"{spec.kind}, preset {spec.preset}" if spec.kind != JobKind.PREDICT else str(spec.kind)
        self.message.setText(f"Started job {run.id[:6]} ({what} on {spec.device}); follow it below.")
        self.runner.submit(run)
        self.panel.refresh()
        self.panel.select(run.id)
        return run

    def add_as_reader(self) -> ModelRun | None:
        run = self.panel.run_by_id(self.panel.selected_id())
        if run is None:
            return None
        try:
            spec = job_runs.predict_spec(self._ctx, run, self._session.study_name, self.model_name.text().strip(),
                                         str(self.device.currentData()))
        except ReaderStudyError as exc:
            self.add_note.setText(str(exc))
            return None
        overlap = (run.data or {}).get("study") == self._session.study_name
        self.add_note.setText("Predicting every case" + (
            f"; the {run.data.get('train', 0)} cases this model was trained on will be marked as training cases "
            "and kept out of the report's statistics." if overlap else "."))
        return self._submit(spec)

    # --- results -------------------------------------------------------------------------------
    def _on_job_ended(self, run_id: str, status: str) -> None:
        run = job_runs.get_job(self._ctx, run_id)
        if run.kind == JobKind.PREDICT and run.status == JobStatus.DONE:
            m = run.metrics or {}
            self.add_note.setText(f"{m.get('predictions', 0)} predictions with saliency maps stored; "
                                  f"{m.get('in_training_set', 0)} on cases the model was trained on (marked).")
        if run_id == self.panel.selected_id():
            self._show_metrics(run_id)

    def _show_metrics(self, run_id: str) -> None:
        run = self.panel.run_by_id(run_id) if run_id else None
        ev = job_runs.evaluation(run) if run is not None and run.kind == JobKind.TRAIN else None
        self.add_button.setEnabled(bool(run and run.kind == JobKind.TRAIN and run.status == JobStatus.DONE))
        self.metrics.setRowCount(0)
        if ev is None:
            self.metrics_note.setText("Select a finished training job to see its held-out metrics." if run is None
                                      or run.kind != JobKind.TRAIN or run.status != JobStatus.DONE
                                      else "This job wrote no evaluation.")
            return
        models = sorted(ev["models"], key=lambda m: (m["model"] != "student_full", m["model"]))
        self.metrics.setRowCount(len(models))
        for i, m in enumerate(models):
            acc = m.get("accuracy") or {}
            cells = (m["model"] + (" (the model)" if m["model"] == "student_full" else ""), m["n"],
                     _ci(m.get("auc"), "auc"), _ci(acc.get("accuracy")), _ci(acc.get("sensitivity")),
                     _ci(acc.get("specificity")))
            for j, v in enumerate(cells):
                self.metrics.setItem(i, j, QTableWidgetItem(str(v)))
        self.metrics.resizeColumnsToContents()
        d = run.data or {}
        weak = (" The tiny preset only checks that everything runs: its figures say nothing about a usable model."
                if ev.get("preset") == "tiny" else "")
        self.metrics_note.setText(
            f"{ev.get('test_cases')} held-out cases of {d.get('study', ev.get('study'))!r} ({d.get('test_positive', '?')} "
            f"positive), never seen in training; preset {ev.get('preset')}; probabilities thresholded at 0.5. "
            f"AUC: DeLong 95 % CI; accuracy, sensitivity, specificity: Wilson 95 % CIs. The model added as a "
            f"reader is student_full.{weak}")

    def shutdown(self) -> None:
        """Window closing: cancel running jobs (they checkpoint and can be resumed later)."""
        if self._probe is not None and self._probe.state() != QProcess.ProcessState.NotRunning:
            self._probe.kill()
            self._probe.waitForFinished(2000)
        self.runner.shutdown()


def engine_tab(ctx: AppContext, session: UserSession) -> EngineTab:
    """The "Engine" tab of the coordinator home."""
    return EngineTab(ctx, session)
