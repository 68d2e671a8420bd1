"""Engine jobs, Qt-free: the child's command line, its JSON-lines protocol and the observed state.

A job runs ``python -m readerstudy engine <action> ... --progress jsonl --run-id ID --stdin-cancel
--background`` in a child process (the GUI uses a ``QProcess``), so that a crash or a CUDA fault
never takes the GUI down; ``--background`` lowers the child's CPU priority so that the reading
window gets the cores first. The child writes one JSON object per line on stdout (anything else on stdout or stderr
is log text):

* ``{"event": "plan", "stages": [...]}``: the stages it will report, in order;
* ``{"event": "progress", "stage", "step", "total", "message", "stage_elapsed_s", "elapsed_s",
  "eta_s", "resumed_from"}``: see :class:`engine.progress.ProgressEvent` (the ETA is measured per
  stage, from that stage's own start);
* ``{"event": "done", "metrics": {...}}``, ``{"event": "cancelled", "message"}`` or
  ``{"event": "error", "message"}`` once at the end.

Cancel = write ``cancel`` on the child's stdin (or close it, or SIGTERM): the engine stops at its
next step, writes a checkpoint and exits with :data:`EXIT_CANCELLED`; running the same command
again resumes from the checkpoints in the same ``--out`` folder.

:class:`JobMonitor` holds what the GUI shows of one job (stage, step of total, ETA, log tail,
the end status and an error message in the coordinator's words); it is fed the child's output and
its exit, and needs no Qt and no database.
"""

from __future__ import annotations

import json
import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from readerstudy.core.errors import ValidationError
from readerstudy.core.jobs import JobKind, JobStatus

__all__ = ["EXIT_CANCELLED", "PRESETS", "SPLITS", "STAGE_LABELS", "JobEvent", "JobMonitor", "JobSpec", "format_eta",
           "parse_line", "failure_message"]

EXIT_CANCELLED = 130  #: the child's exit code when it stopped on a cancel request (after a checkpoint)
PRESETS = ("tiny", "default", "paper")
SPLITS = {
    "auto": "all cases with ground truth; the engine holds 20 % out (its own stratified split)",
    "marked": "the study's cases marked 'train'; every other case with ground truth is held out",
}
#: What each engine stage is, in the coordinator's words (engine names in ``[stage]`` prefixes).
STAGE_LABELS = {
    "prepare": "reading the study", "teacher_real": "teacher CNN on the real images",
    "vae": "image autoencoder (US-VAE)", "ldm": "latent diffusion model", "synthesis": "synthetic images",
    "generation_metrics": "quality of the synthetic images",
    "mask_fidelity": "synthetic lesions against their masks", "teacher_real_syn": "teacher on real + synthetic",
    "teacher_classic_aug": "teacher with classic augmentation", "student_no_kd": "student without distillation",
    "student_kd_classic_aug": "student distilled (classic augmentation)", "student_full": "distilled student",
    "evaluation": "held-out evaluation", "predict": "predicting every case",
}
_ACTION = {JobKind.TRAIN: "pipeline", JobKind.SYNTHESIZE: "generate", JobKind.PREDICT: "predict"}
TITLES = {JobKind.TRAIN: "Training", JobKind.SYNTHESIZE: "Synthesis", JobKind.PREDICT: "Prediction"}


@dataclass(frozen=True)
class JobSpec:
    """What a coordinator asked for; :meth:`argv` turns it into the child's command line.

    ``out_dir``: the training folder (checkpoints; the same folder resumes). ``model_dir``,
    ``training_data`` and ``model_name`` are for prediction jobs: the classifier folder, its
    run's ``training_data.json`` (to mark predictions on cases it was trained on) and the
    reader name of the model in the study.
    """

    kind: JobKind
    study: str
    device: str = "cpu"
    preset: str | None = "tiny"
    out_dir: str = ""
    seed: int = 0
    split: str = "auto"
    model_dir: str = ""
    training_data: str = ""
    model_name: str = "DiffKD-student"

    def validate(self) -> None:
        if not self.study:
            raise ValidationError("Choose a study for the job.")
        if self.kind == JobKind.PREDICT:
            if not self.model_dir:
                raise ValidationError("Choose a trained model (a finished training job) to add as a reader.")
            if not self.model_name.strip():
                raise ValidationError("Give the model a reader name.")
        elif not self.out_dir:
            raise ValidationError("A training job needs an output folder.")
        if self.split not in SPLITS:
            raise ValidationError(f"Unknown training data choice {self.split!r}; choose one of {sorted(SPLITS)}.")

    def argv(self, db_url: str, run_id: str) -> list[str]:
        """Arguments after the Python executable: ``["-m", "readerstudy", "engine", ...]``."""
        args = ["-m", "readerstudy", "engine", _ACTION[self.kind], "--db", db_url, "--study", self.study,
                "--device", self.device, "--progress", "jsonl", "--run-id", run_id, "--stdin-cancel",
                "--background"]
        if self.kind == JobKind.PREDICT:
            args += ["--model", self.model_dir, "--model-name", self.model_name]
            if self.training_data:
                args += ["--training-data", self.training_data]
            return args
        args += ["--preset", str(self.preset), "--out", self.out_dir, "--seed", str(self.seed),
                 "--split", self.split]
        return [*args, "--no-predict"] if self.kind == JobKind.TRAIN else args


@dataclass(frozen=True)
class JobEvent:
    """One parsed line of the child's stdout: ``kind`` is the ``event`` field; ``data`` the object."""

    kind: str
    data: dict[str, Any]


def parse_line(line: str) -> JobEvent | None:
    """The event of one stdout line, or ``None`` for log text (not JSON, or JSON without ``event``).

    A ``progress`` event must carry integer ``step`` and ``total`` (0 <= step, total >= 0);
    anything else with an ``event`` key is kept as is.
    """
    text = line.strip()
    if not text.startswith("{"):
        return None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError:
        return None
    if not isinstance(obj, dict) or not isinstance(obj.get("event"), str):
        return None
    if obj["event"] == "progress":
        step, total = obj.get("step"), obj.get("total")
        if not (isinstance(step, int) and isinstance(total, int) and step >= 0 and total >= 0):
            return None
    return JobEvent(obj["event"], obj)


def format_eta(seconds: float | None) -> str:
    """``None`` -> "estimating…"; 42 -> "42 s"; 130 -> "2 min 10 s"; 10_145 -> "2 h 49 min"."""
    if seconds is None or not math.isfinite(seconds):
        return "estimating…"
    s = int(round(max(seconds, 0.0)))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {(s % 3600) // 60:02d} min"


def failure_message(kind: JobKind | str, exit_code: int | None, crashed: bool, error: str | None,
                    stderr_tail: list[str], log_path: str = "") -> str:
    """What went wrong, in the coordinator's words, with what to do next."""
    what = TITLES.get(JobKind(kind), "The job") if kind in set(JobKind) else "The job"
    tail = [ln for ln in stderr_tail if ln.strip()][-3:]
    last = " | ".join(tail) if tail else "none (it ended before it wrote any)"
    where = f" The full log is in {log_path}." if log_path else ""
    if crashed:
        return (f"{what} crashed (the engine process ended abruptly{'' if exit_code is None else f', code {exit_code}'}"
                f"; often out of memory or a GPU fault). The app is not affected. Last messages: {last}.{where} "
                "Press Resume to continue from the last checkpoint, or choose a smaller preset or the CPU.")
    if error:
        return f"{what} failed (exit code {exit_code}): {error}.{where} Fix the cause, then press Resume."
    if exit_code == 2:
        return (f"{what} could not start: the engine refused its options (exit code 2): {last}.{where} "
                "Start a new job with other settings.")
    return (f"{what} stopped on an unexpected error (exit code {exit_code}): {last}.{where} "
            "Press Resume to retry from the last checkpoint.")


@dataclass
class JobMonitor:
    """What the app knows of one running (or finished) job, fed by the child's output and exit."""

    kind: JobKind
    log_lines: int = 200
    status: JobStatus = JobStatus.QUEUED
    stages: list[str] = field(default_factory=list)
    stage: str = ""
    step: int = 0
    total: int = 0
    message: str = ""
    eta_s: float | None = None
    stage_elapsed_s: float = 0.0
    resumed: dict[str, int] = field(default_factory=dict)  # stage -> step it resumed at
    metrics: dict[str, Any] = field(default_factory=dict)
    error: str | None = None  # the child's own error message (its "error" event)
    failure: str = ""  # the message the GUI shows when the job failed
    cancel_requested: bool = False
    exit_code: int | None = None
    final_event: str | None = None  # "done", "cancelled" or "error" once the child said how it ends
    lines_total: int = 0  # log lines kept since the start (the tail holds the last ``log_lines``)
    _log: deque = field(default_factory=deque)
    _stderr: deque = field(default_factory=lambda: deque(maxlen=20))
    _partial: dict = field(default_factory=lambda: {"out": "", "err": ""})

    @property
    def log_tail(self) -> list[str]:
        return list(self._log)

    @property
    def stage_index(self) -> int | None:
        """1-based position of the current stage in the plan (``None`` when not in it)."""
        return self.stages.index(self.stage) + 1 if self.stage in self.stages else None

    @property
    def fraction(self) -> float:
        """Done fraction of the current stage, in [0, 1]."""
        return min(self.step / self.total, 1.0) if self.total else 0.0

    def stage_text(self) -> str:
        """E.g. ``"stage 4 of 12: latent diffusion model — loss 0.0312"``."""
        if not self.stage:
            return self.message or str(self.status)
        where = f"stage {self.stage_index} of {len(self.stages)}: " if self.stage_index else ""
        name = STAGE_LABELS.get(self.stage, self.stage)
        return f"{where}{name} — {self.message}" if self.message else f"{where}{name}"

    def _keep(self, line: str) -> None:
        self.lines_total += 1
        self._log.append(line)
        while len(self._log) > self.log_lines:
            self._log.popleft()

    def feed(self, chunk: str, stream: str = "out") -> list[JobEvent]:
        """Take a chunk of stdout (``"out"``) or stderr (``"err"``); returns the events in it.

        Chunks may end mid-line; the rest is kept until the next chunk completes it.
        """
        text = self._partial[stream] + chunk
        *lines, self._partial[stream] = text.split("\n")
        events = []
        for line in (ln.rstrip("\r") for ln in lines):
            ev = parse_line(line) if stream == "out" else None
            if ev is None:
                if line.strip():
                    self._keep(line)
                    if stream == "err":
                        self._stderr.append(line)
                continue
            self.apply(ev)
            events.append(ev)
        return events

    def apply(self, ev: JobEvent) -> None:
        d = ev.data
        if ev.kind == "plan":
            self.stages = [str(s) for s in d.get("stages", [])]
        elif ev.kind == "progress":
            self.status = JobStatus.RUNNING
            self.stage, self.step, self.total = str(d.get("stage", "")), d["step"], d["total"]
            self.message = str(d.get("message", ""))
            if self.message.startswith(f"{self.stage}: "):  # loops repeat their name: "vae: loss 0.1"
                self.message = self.message[len(self.stage) + 2:]
            self.eta_s = d.get("eta_s")
            self.stage_elapsed_s = float(d.get("stage_elapsed_s") or 0.0)
            if d.get("resumed_from") is not None:
                self.resumed[self.stage] = int(d["resumed_from"])
            self._keep(f"[{self.stage}] {self.step}/{self.total} {self.message}".rstrip())
        if ev.kind in ("done", "cancelled", "error"):
            self.final_event = ev.kind
        if ev.kind == "done":
            self.metrics = dict(d.get("metrics") or {})
        elif ev.kind == "error":
            self.error = str(d.get("message", "")) or None
            self._keep(f"error: {self.error}")
        elif ev.kind == "cancelled":
            self._keep(f"cancelled: {d.get('message', '')}")

    def started(self) -> None:
        self.status = JobStatus.RUNNING
        self.exit_code, self.error, self.failure, self.final_event = None, None, "", None
        self.cancel_requested = False

    def finish(self, exit_code: int | None, crashed: bool = False, log_path: str = "") -> JobStatus:
        """The child ended: set and return the final status (and :attr:`failure` when it failed)."""
        for stream in ("out", "err"):
            if self._partial[stream]:
                self.feed("\n", stream)
        self.exit_code = exit_code
        if exit_code == 0 and not crashed:
            self.status = JobStatus.DONE
        elif self.cancel_requested or exit_code == EXIT_CANCELLED:
            self.status = JobStatus.CANCELLED
        else:
            self.status = JobStatus.FAILED
            self.failure = failure_message(self.kind, exit_code, crashed, self.error, list(self._stderr), log_path)
        return self.status
