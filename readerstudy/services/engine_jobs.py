"""The child side of an engine job: training data, the training manifest and the run row's life.

``readerstudy engine pipeline|generate|predict ... --run-id ID`` (run by the GUI in a child process,
or by hand) calls these. The run row (``model_run``) is marked running with the child's pid, then
done (with its metrics), cancelled or failed (with the error) by the child itself; only when the
child dies without a word does the supervising GUI write the failure (:mod:`job_runs`).

The training manifest ``OUT/training_data.json`` names every case the model was trained on (case
id, pseudonym, image checksum) and every held-out case, so that predictions of that model on a
training case are marked ``in_training_set`` in any study holding the same image.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from readerstudy.core.errors import NotFoundError, ValidationError
from readerstudy.core.jobs import JobKind, JobStatus, ModelRun
from readerstudy.services.auth import UserSession, require_study, scope
from readerstudy.services.context import AppContext
from readerstudy.services.engine_adapter import TrainedOn, engine_cases

__all__ = ["MANIFEST", "TrainingManifest", "begin_run", "end_run", "load_trained_on", "training_cases",
           "find_manifest"]

MANIFEST = "training_data.json"


@dataclass(frozen=True)
class TrainingManifest:
    """What a training run was given. ``train``/``test``: dicts ``{case_id, pseudonym, checksum, truth}``."""

    study: str
    study_id: str
    split: str
    seed: int
    train: list[dict[str, Any]]
    test: list[dict[str, Any]]
    run_id: str | None = None

    def summary(self) -> dict[str, Any]:
        """The run row's ``data``: study, split and case counts (positives per side too)."""
        def pos(rows: list[dict[str, Any]]) -> int:
            return sum(int(r["truth"]) for r in rows)
        return {"study": self.study, "split": self.split, "seed": self.seed, "cases": len(self.train) + len(self.test),
                "train": len(self.train), "test": len(self.test), "train_positive": pos(self.train),
                "test_positive": pos(self.test)}

    def write(self, out_dir: Path) -> Path:
        path = Path(out_dir) / MANIFEST
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.__dict__, indent=1))
        return path


def training_cases(ctx: AppContext, session: UserSession, study_name: str, *, split: str = "auto", seed: int = 0,
                   run_id: str | None = None) -> tuple[list, TrainingManifest]:
    """The study's engine records (:func:`engine_cases`) with the chosen split, and its manifest.

    ``split="auto"``: the engine's own seeded split (20 % held out). ``split="marked"``: the cases the
    coordinator marked ``train`` (``case.split``) train, every other case with truth is held out.
    Raises :class:`ValidationError` when a side lacks a truth class.
    """
    cases = engine_cases(ctx, session, study_name, seed=seed)
    with ctx.uow() as uow:
        study = uow.studies.by_name(study_name)
        rows = {c.pseudonym: c for c in uow.cases.list(study.id)}
        checksums = {c.id: uow.assets.image(c.id).checksum for c in rows.values()}
    if split == "marked":
        cases = [replace(c, split="train" if rows[c.case_id].split == "train" else "test") for c in cases]
    elif split != "auto":
        raise ValidationError(f"Unknown training data choice {split!r}; use 'auto' or 'marked'.")
    for side in ("train", "test"):
        labels = {c.label for c in cases if c.split == side}
        if labels != {0, 1}:
            what = "marked 'train'" if side == "train" else "held out (not marked 'train')"
            raise ValidationError(f"The cases {what} in {study_name!r} need both truths (0 and 1) to train and "
                                  f"evaluate a model; they have {sorted(labels) or 'none'}. Mark more cases, or "
                                  "let the engine split the study.")

    def entry(c: Any) -> dict[str, Any]:
        row = rows[c.case_id]
        return {"case_id": row.id, "pseudonym": row.pseudonym, "checksum": checksums[row.id], "truth": int(c.label)}

    manifest = TrainingManifest(study_name, study.id, split, seed, [entry(c) for c in cases if c.split == "train"],
                                [entry(c) for c in cases if c.split == "test"], run_id)
    return cases, manifest


def find_manifest(model_dir: str | Path) -> Path | None:
    """``training_data.json`` of the run that wrote ``OUT/checkpoints/<model>``, when it is there."""
    path = Path(model_dir).resolve().parent.parent / MANIFEST
    return path if path.is_file() else None


def load_trained_on(path: str | Path | None) -> TrainedOn:
    """The training cases named by a manifest; an empty set for ``None``."""
    if path is None:
        return TrainedOn()
    try:
        doc = json.loads(Path(path).read_text())
        train = doc["train"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValidationError(f"{path}: not a training manifest ({exc}); give the training_data.json written "
                              "by `readerstudy engine pipeline`.") from exc
    return TrainedOn(frozenset(r["case_id"] for r in train), frozenset(r["checksum"] for r in train),
                     doc.get("run_id"))


def begin_run(ctx: AppContext, run_id: str | None, *, kind: JobKind, study_name: str, preset: str | None,
              device: str, out_dir: str = "", params: dict[str, Any] | None = None) -> ModelRun:
    """Mark the job's row running with this process's pid (a row is created when ``run_id`` is None)."""
    import psutil

    me = psutil.Process()
    live = {"host": socket.gethostname(), "pid_created": me.create_time()}
    with ctx.uow() as uow:
        study = uow.studies.by_name(study_name)
        if run_id is None:
            run = uow.runs.add(kind=str(kind), study_id=study.id, status=JobStatus.RUNNING, preset=preset,
                               device=device, out_dir=out_dir, command=["-m", "readerstudy", *sys.argv[1:]],
                               pid=os.getpid(), params={**(params or {}), **live})
        else:
            run = uow.runs.get(run_id)
            if run.study_id != study.id:
                raise ValidationError(f"Job {run_id} belongs to another study; start a new job for {study_name!r}.")
            run = uow.runs.update(run_id, status=JobStatus.RUNNING, pid=os.getpid(), error=None, finished_at=None,
                                  params={**run.params, **(params or {}), **live})
        uow.commit()
    return run


def end_run(ctx: AppContext, run_id: str, status: JobStatus, *, error: str | None = None,
            metrics: dict[str, Any] | None = None, data: dict[str, Any] | None = None) -> None:
    """Write the job's end (status, finish time, error or metrics) into its row."""
    fields: dict[str, Any] = {"error": error}
    if metrics is not None:
        fields["metrics"] = metrics
    if data is not None:
        fields["data"] = data
    with ctx.uow() as uow:
        uow.runs.finish(run_id, status, **fields)
        uow.commit()


def set_data(ctx: AppContext, run_id: str, data: dict[str, Any]) -> None:
    with ctx.uow() as uow:
        uow.runs.update(run_id, data=data)
        uow.commit()


def link_training_run(ctx: AppContext, predict_run_id: str, training_run_id: str | None) -> dict[str, int]:
    """After a prediction job: give the training run its model (first time) and count the marks.

    Returns ``{"predictions": n, "in_training_set": k}`` of the prediction run.
    """
    with ctx.uow() as uow:
        run = uow.runs.get(predict_run_id)
        if training_run_id and run.model_id:
            try:
                if uow.runs.get(training_run_id).model_id is None:
                    uow.runs.update(training_run_id, model_id=run.model_id)
            except NotFoundError:
                pass  # trained with another database: nothing to link
        n, k = uow.runs.prediction_counts(predict_run_id)
        uow.commit()
    return {"predictions": int(n), "in_training_set": int(k)}


def _marked(ctx: AppContext, study_name: str, trained_on: Any) -> int:
    """How many cases of ``study_name`` the model trained on (same case, or the same image)."""
    with ctx.uow() as uow:
        study = uow.studies.by_name(study_name)
        return sum((c.id, uow.assets.image(c.id).checksum) in trained_on for c in uow.cases.list(study.id))


def train_job(ctx: AppContext, session: UserSession, handle: Any, study_name: str, *, preset: str, out_dir: Path, device: str,
              seed: int, split: str, cancel: Any, stop_after: str | None = None,
              model_name: str | None = None, overrides: dict[str, Any] | None = None,
              predict_study: str | None = None) -> dict[str, Any]:
    """The body of a training (or synthesis, with ``stop_after``) job; see :func:`job_child.supervised`.

    ``overrides``: preset fields changed for this run; ``predict_study``: the study whose cases get
    the student's predictions (default the training study; another study is an external test set,
    its cases marked as training cases only where they hold an image the model trained on).

    Reports the plan, reads the study (``[prepare]``), writes ``OUT/training_data.json``, trains
    and evaluates (``run_study_pipeline``) and, with ``model_name``, predicts every case of the
    study (``[predict]``). The run row gets the data summary first and the evaluation at the end.
    """
    require_study(session, study_name, "training a model on a study")
    from engine.pipelines.diffkd import planned_stages
    from readerstudy.services.engine_adapter import predict_study as predict_study_cases
    from readerstudy.services.engine_adapter import run_study_pipeline

    rep = handle.reporter
    rep.event("plan", stages=["prepare", *planned_stages(preset, stop_after), *(["predict"] if model_name else [])])
    rep.stage("prepare")(0, 1, f"reading the cases of {study_name!r}")
    cases, manifest = training_cases(ctx, session, study_name, split=split, seed=seed, run_id=handle.run_id)
    manifest_path = manifest.write(out_dir)
    handle.data = manifest.summary()
    set_data(ctx, handle.run_id, handle.data)
    rep.stage("prepare")(1, 1, f"{len(manifest.train)} training and {len(manifest.test)} held-out cases")
    out = run_study_pipeline(ctx, session, study_name, preset=preset, out_dir=out_dir, device=device, seed=seed,
                             progress=rep.progress, cancel=cancel, stop_after=stop_after, cases=cases,
                             overrides=overrides)
    result = out["result"]
    handle.metrics = {"evaluation": out["evaluation"], "checkpoints": {k: str(v) for k, v in result.checkpoints.items()},
                      "timings_s": result.timings, "manifest": str(manifest_path),
                      "grids": [str(g) for g in result.grid_paths]}
    if model_name and out["evaluation"] is not None:
        target = predict_study or study_name
        trained_on = load_trained_on(manifest_path)
        n = predict_study_cases(ctx, scope(ctx, session, target), target, result.checkpoints["student_full"], model_name=model_name,
                                device=device, progress=rep.stage("predict"), cancel=cancel, trained_on=trained_on)
        out["predictions"] = n
        out["in_training_set"] = _marked(ctx, target, trained_on)
    return out


def predict_job(ctx: AppContext, session: UserSession, handle: Any, study_name: str, model_dir: Path, *, model_name: str, device: str,
                training_data: Path | None, cancel: Any) -> dict[str, Any]:
    """The body of a prediction job ("add the model as a reader"): every case of the study gets the
    model's probability and saliency map; those the model was trained on are marked."""
    require_study(session, study_name, "adding a model's predictions")
    from readerstudy.services.engine_adapter import predict_study

    manifest = Path(training_data) if training_data else find_manifest(model_dir)
    trained_on = load_trained_on(manifest)
    handle.reporter.event("plan", stages=["predict"])
    handle.data = {"study": study_name, "model_dir": str(Path(model_dir).resolve()),
                   "training_data": str(manifest) if manifest else None, "training_run_id": trained_on.run_id}
    predict_study(ctx, session, study_name, model_dir, model_name=model_name, device=device,
                  progress=handle.reporter.stage("predict"), cancel=cancel, run_id=handle.run_id,
                  trained_on=trained_on)
    counts = link_training_run(ctx, handle.run_id, trained_on.run_id)
    handle.data["cases"] = counts["predictions"]
    handle.metrics = dict(counts)
    return {**counts, "manifest": str(manifest) if manifest else None}


def available_devices() -> list[dict[str, Any]]:
    """``[{"id": "cpu", "label": ...}, {"id": "cuda:0", "label": "NVIDIA H200 (139.8 GiB)", ...}]``.

    Imports torch, so the GUI calls it in a child process (``readerstudy engine devices``).
    """
    import torch

    out = [{"id": "cpu", "label": f"CPU ({torch.get_num_threads()} threads)"}]
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            prop = torch.cuda.get_device_properties(i)
            gib = prop.total_memory / 2**30
            out.append({"id": f"cuda:{i}", "label": f"{prop.name} ({gib:.1f} GiB)", "name": prop.name,
                        "memory_gib": round(gib, 1)})
    return out
