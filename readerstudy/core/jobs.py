"""Engine jobs as domain records: the status of a ModelRun and what the app knows about it.

A job is one engine command (training, synthesis, batch prediction) that runs in a child process.
Its life: ``queued -> running -> done | failed | cancelled``; a run that was ``running`` when the
GUI that supervised it died is ``interrupted``. ``cancelled``, ``failed`` and ``interrupted`` runs
can be resumed (the engine checkpoints; the same command continues where it stopped).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["JobKind", "JobStatus", "ModelRun", "RESUMABLE", "FINAL"]


class JobKind(enum.StrEnum):
    TRAIN = "train"  # the DiffKD pipeline up to the distilled student and its held-out evaluation
    SYNTHESIZE = "synthesize"  # the pipeline up to the synthetic images and their sample grids
    PREDICT = "predict"  # a trained classifier's prediction + saliency for every case of a study


class JobStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    CANCELLED = "cancelled"
    FAILED = "failed"
    DONE = "done"
    INTERRUPTED = "interrupted"


RESUMABLE = frozenset({JobStatus.CANCELLED, JobStatus.FAILED, JobStatus.INTERRUPTED})
FINAL = frozenset({JobStatus.CANCELLED, JobStatus.FAILED, JobStatus.DONE, JobStatus.INTERRUPTED})


@dataclass(frozen=True)
class ModelRun:
    """One engine job (a ``model_run`` row).

    Attributes
    ----------
    command
        argv of the child after the Python executable (``["-m", "readerstudy", "engine", ...]``).
    data
        What it was given: ``study``, ``cases``, ``train``, ``test`` (counts), ``split``.
    metrics
        What it measured: for training, the held-out evaluation (``evaluation.json``); for
        prediction, ``predictions`` and ``in_training_set`` counts.
    params
        Everything else: ``seed``, ``model_name``, ``checkpoint``, ``host``, ``pid_created``
        (the child's start time, to tell a live child from a reused pid), ``attempts``.
    """

    id: str
    study_id: str | None
    model_id: str | None
    kind: str
    status: JobStatus
    preset: str | None
    device: str
    started_at: datetime
    finished_at: datetime | None
    out_dir: str
    log_path: str
    command: tuple[str, ...]
    data: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    pid: int | None = None

    @property
    def resumable(self) -> bool:
        return self.status in RESUMABLE and bool(self.command)
