"""Engine jobs, the supervising side: create, list, resume and reconcile ``model_run`` rows.

The GUI (coordinator only) creates a job row with its command line, output folder and log file,
starts the child, and writes the end itself only when the child could not (it crashed or was
killed). At start-up :func:`reconcile` marks rows left ``running`` or ``queued`` by a GUI that died
as ``interrupted`` (the child is gone), so they show with Resume.
"""

from __future__ import annotations

import json
import socket
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from readerstudy.core.errors import ConflictError, NotFoundError, PermissionDenied, ValidationError
from readerstudy.core.jobs import FINAL, JobKind, JobStatus, ModelRun
from readerstudy.services.auth import UserSession, require_coordinator
from readerstudy.services.context import AppContext
from readerstudy.services.jobs import JobSpec

__all__ = ["create_job", "list_jobs", "get_job", "prepare_resume", "record_start", "record_end", "reconcile",
           "evaluation", "trained_models", "log_tail", "jobs_dir", "child_alive"]


def jobs_dir(ctx: AppContext) -> Path:
    """Where jobs keep their logs and (by default) their training folders: next to the pixel store."""
    return ctx.store.root / "engine-jobs"


def create_job(ctx: AppContext, session: UserSession, spec: JobSpec) -> ModelRun:
    """A queued job row for ``spec`` with its command line, output folder and log path.

    A training job without ``out_dir`` gets ``<store>/engine-jobs/<run id>/out``. Training may use
    any study of the database (it only reads it); a prediction job adds a model reader, so only to
    the study of the coordinator's session.
    Raises :class:`PermissionDenied` for a non-coordinator, :class:`ValidationError` for a bad spec.
    """
    require_coordinator(session, "starting an engine job")
    if spec.kind == JobKind.PREDICT and spec.study != session.study_name:
        raise PermissionDenied(f"A model can be added as a reader of the study you coordinate ({session.study_name!r}) "
                               f"only; sign in to {spec.study!r} as its coordinator to add it there.")
    with ctx.uow() as uow:
        study = uow.studies.by_name(spec.study)
        run = uow.runs.add(kind=str(spec.kind), study_id=study.id, preset=spec.preset if spec.kind != JobKind.PREDICT
                           else None, device=spec.device,
                           params={"seed": spec.seed, "split": spec.split, "model_name": spec.model_name,
                                   "checkpoint": spec.model_dir, "by": session.name, "attempts": 0})
        base = jobs_dir(ctx) / run.id
        if spec.kind != JobKind.PREDICT and not spec.out_dir:
            spec = replace(spec, out_dir=str(base / "out"))
        spec.validate()
        run = uow.runs.update(run.id, out_dir=spec.out_dir if spec.kind != JobKind.PREDICT else "",
                              log_path=str(base / "job.log"), command=spec.argv(ctx.url, run.id),
                              data={"study": spec.study, "split": spec.split})
        uow.audit.append(session.name, "job.create", "model_run", run.id,
                         {"kind": str(spec.kind), "preset": spec.preset, "device": spec.device})
        uow.commit()
    Path(run.log_path).parent.mkdir(parents=True, exist_ok=True)
    return run


def get_job(ctx: AppContext, run_id: str) -> ModelRun:
    with ctx.uow(read=True) as uow:
        return uow.runs.get(run_id)


def list_jobs(ctx: AppContext, study_name: str | None = None) -> list[ModelRun]:
    """Jobs newest first (of one study, or all)."""
    with ctx.uow(read=True) as uow:
        study_id = uow.studies.by_name(study_name).id if study_name else None
        return uow.runs.list(study_id)


def prepare_resume(ctx: AppContext, session: UserSession, run_id: str) -> ModelRun:
    """Queue a cancelled, failed or interrupted job again (same row, same command, same folder)."""
    require_coordinator(session, "resuming an engine job")
    with ctx.uow() as uow:
        run = uow.runs.get(run_id)
        if not run.resumable:
            raise ConflictError(f"This job is {run.status}; only cancelled, failed or interrupted jobs can be resumed.")
        run = uow.runs.update(run_id, status=JobStatus.QUEUED, error=None, finished_at=None)
        uow.audit.append(session.name, "job.resume", "model_run", run_id, {"was": str(run.status)})
        uow.commit()
    return run


def record_start(ctx: AppContext, run_id: str, pid: int) -> ModelRun:
    """The supervisor started the child: running, with its pid and start time (for :func:`reconcile`)."""
    import psutil

    try:
        created = psutil.Process(pid).create_time()
    except psutil.Error:
        created = None
    with ctx.uow() as uow:
        run = uow.runs.get(run_id)
        attempts = int(run.params.get("attempts", 0)) + 1
        first = {"started_at": datetime.now(UTC)} if attempts == 1 else {}  # not when it was queued
        run = uow.runs.update(run_id, status=JobStatus.RUNNING, pid=pid, **first,
                              params={**run.params, "attempts": attempts, "host": socket.gethostname(),
                                      "pid_created": created})
        uow.commit()
    return run


def record_end(ctx: AppContext, run_id: str, status: JobStatus, error: str | None = None) -> ModelRun:
    """The child ended. Its own record wins when it wrote one (done, cancelled, failed with its
    message); else (a crash, a kill, a refused command line) ``status`` and ``error`` are written."""
    with ctx.uow() as uow:
        run = uow.runs.get(run_id)
        if run.status in FINAL and run.finished_at is not None and run.status != JobStatus.INTERRUPTED:
            if status == JobStatus.FAILED and run.status == JobStatus.FAILED and error:
                run = uow.runs.update(run_id, error=error)  # the supervisor's wording, with exit code and log
                uow.commit()
            return run
        run = uow.runs.finish(run_id, status, error=error)
        uow.commit()
    return run


def child_alive(run: ModelRun) -> bool:
    """Whether the run's child process still runs on this machine (pid and start time match)."""
    import psutil

    if run.pid is None or run.params.get("host") not in (None, socket.gethostname()):
        return False
    try:
        proc = psutil.Process(run.pid)
        created = run.params.get("pid_created")
        return proc.is_running() and (created is None or abs(proc.create_time() - float(created)) < 1.0)
    except psutil.Error:
        return False


def reconcile(ctx: AppContext, own: set[str] | None = None) -> list[str]:
    """Mark ``running``/``queued`` rows whose child is gone as ``interrupted``; returns their ids.

    ``own``: ids this GUI supervises right now (never touched). A row whose child still runs
    (e.g. started by another window) is left alone. Rows of another host are left alone.
    """
    own = own or set()
    changed = []
    with ctx.uow() as uow:
        for run in uow.runs.list():
            if run.status not in (JobStatus.RUNNING, JobStatus.QUEUED) or run.id in own:
                continue
            if run.params.get("host") not in (None, socket.gethostname()) or child_alive(run):
                continue
            uow.runs.finish(run.id, JobStatus.INTERRUPTED,
                            error="The app that supervised this job closed or crashed while it ran. Press Resume "
                                  "to continue from its last checkpoint.")
            changed.append(run.id)
        uow.commit()
    return changed


def evaluation(run: ModelRun) -> dict[str, Any] | None:
    """The held-out evaluation of a finished training run (``OUT/evaluation.json``), or None."""
    ev = (run.metrics or {}).get("evaluation")
    if ev:
        return ev
    path = Path(run.out_dir) / "evaluation.json" if run.out_dir else None
    if path is not None and path.is_file():
        return json.loads(path.read_text())
    return None


def trained_models(ctx: AppContext) -> list[ModelRun]:
    """Finished training runs whose distilled student checkpoint exists (any study), newest first."""
    with ctx.uow() as uow:
        runs = uow.runs.list(kinds=(str(JobKind.TRAIN),))
    return [r for r in runs if r.status == JobStatus.DONE and (Path(r.out_dir) / "checkpoints" / "student_full").is_dir()]


def student_dir(run: ModelRun) -> Path:
    path = Path(run.out_dir) / "checkpoints" / "student_full"
    if not path.is_dir():
        raise NotFoundError(f"Training job {run.id[:8]} has no distilled student in {path}; resume it until it is done.")
    return path


def predict_spec(ctx: AppContext, training: ModelRun, study_name: str, model_name: str, device: str) -> JobSpec:
    """The "Add model as reader" job for a finished training run on ``study_name``."""
    if training.kind != JobKind.TRAIN or training.status != JobStatus.DONE:
        raise ValidationError("Choose a finished training job to add as a reader.")
    manifest = Path(training.out_dir) / "training_data.json"
    return JobSpec(JobKind.PREDICT, study_name, device=device, preset=None, model_dir=str(student_dir(training)),
                   training_data=str(manifest) if manifest.is_file() else "", model_name=model_name)


def log_tail(run: ModelRun, lines: int = 200) -> list[str]:
    """The last ``lines`` lines of the job's log file (empty when there is none yet)."""
    path = Path(run.log_path) if run.log_path else None
    if path is None or not path.is_file():
        return []
    with open(path, "rb") as fh:
        fh.seek(0, 2)
        size = fh.tell()
        fh.seek(max(0, size - 256 * 1024))
        text = fh.read().decode("utf-8", errors="replace")
    return text.splitlines()[-lines:]
