"""Use cases that connect the study database to the engine (``engine/`` never sees the database).

* :func:`engine_cases` turns a study's cases into :class:`engine.data.Case` records (grey image in
  [0, 1], the latest tumour mask of any annotator, the ground truth, a text prompt, a split).
* :func:`run_study_pipeline` trains and evaluates DiffKD-DCIS on them (``engine.pipelines.diffkd``)
  and evaluates the held-out probabilities with ``readerstudy.stats`` (AUC with DeLong CI,
  accuracy, sensitivity, specificity, ... with Wilson CIs).
* :func:`predict_study` adds a trained classifier to the study as a reader: one Prediction per
  case (probability in [0, 1]) with a Grad-CAM saliency map for the AI reveal.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from readerstudy.core.errors import Cancelled, NotFoundError, ValidationError
from readerstudy.core.models import Role
from readerstudy.imaging.nifti import read_nifti
from readerstudy.services.context import AppContext
from readerstudy.stats import auc_delong, diagnostic_accuracy

Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class EvaluationRow:
    model: str
    n: int
    auc: dict[str, Any]
    accuracy: dict[str, Any]


def _prompt(modality: str, label: int) -> str:
    from engine.data.cases import BUSI_PROMPTS

    if modality == "US":
        return BUSI_PROMPTS["malignant" if label else "benign"]
    return f"{modality} image of a {'malignant' if label else 'benign'} lesion"


def _grey01(frame: np.ndarray) -> np.ndarray:
    """Robust [0, 1] scaling (0.5th-99.5th percentile), float32."""
    f = frame.astype(np.float32)
    lo, hi = np.percentile(f, [0.5, 99.5])
    if hi <= lo:
        hi = lo + 1.0
    return np.clip((f - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)


def _middle(arr: np.ndarray) -> np.ndarray:
    return np.asarray(arr[arr.shape[0] // 2])


def engine_cases(ctx: AppContext, study_name: str, *, test_fraction: float = 0.2, seed: int = 0) -> list:
    """The study's cases with ground truth, as engine records, split (stratified, seeded) into train/test.

    2D images and cine loops use their middle frame, volumes their middle slice. The mask is the
    union of all labels of the most recent annotation of the case (any annotator; empty if none).
    """
    from engine.data import Case as EngineCase
    from engine.data.cases import split_cases

    out = []
    with ctx.uow() as uow:
        study = uow.studies.by_name(study_name)
        cases = [c for c in uow.cases.list(study.id) if c.truth is not None]
        records = []
        for c in cases:
            asset = uow.assets.image(c.id)
            anns = sorted(uow.annotations.list(c.id), key=lambda a: a.created_at)
            records.append((c, asset, anns[-1] if anns else None))
    for c, asset, ann in records:
        image = _grey01(_middle(ctx.store.load_array(asset.path, mmap=True)))
        if ann is not None:
            mask = (_middle(read_nifti(ctx.store.path(ann.path))[0]) > 0).astype(np.uint8)
        else:
            mask = np.zeros(image.shape, np.uint8)
        out.append(EngineCase(c.pseudonym, image, mask, int(c.truth), _prompt(c.modality, int(c.truth))))
    labels = {r.label for r in out}
    if labels != {0, 1}:
        raise ValidationError(f"Study {study_name!r} needs cases of both truths (0 and 1) to train a model; "
                              f"it has {sorted(labels) or 'no cases with ground truth'}.")
    return split_cases(out, test_fraction=test_fraction, seed=seed)


def _engine_progress(progress: Progress | None) -> Any:
    return (lambda step, total, msg: progress(step, total, msg)) if progress else None


def evaluate_probabilities(probabilities: dict[str, dict[str, float]], labels: dict[str, int]) -> list[EvaluationRow]:
    """AUC (DeLong CI) and accuracy figures (Wilson CIs, threshold 0.5) of each model on the held-out cases."""
    rows = []
    for name, probs in sorted(probabilities.items()):
        ids = sorted(probs)
        y = np.array([labels[i] for i in ids])
        p = np.array([probs[i] for i in ids])
        try:
            auc = auc_delong(y, p).to_dict()
        except ValidationError as exc:  # e.g. a tiny test split: say why there is no AUC
            auc = {"auc": None, "ci_low": None, "ci_high": None, "note": str(exc)}
        acc = diagnostic_accuracy.from_labels(y, (p >= 0.5).astype(int)).to_dict()
        rows.append(EvaluationRow(name, len(ids), auc, acc))
    return rows


def run_study_pipeline(ctx: AppContext, study_name: str, *, preset: str, out_dir: Path, device: str = "cpu",
                       seed: int = 0, progress: Progress | None = None, cancel: Any = None,
                       stop_after: str | None = None) -> dict[str, Any]:
    """Train DiffKD-DCIS on the study, evaluate it, and write ``metrics.json`` + ``evaluation.json``.

    ``stop_after`` (``train-vae``, ``train-ldm``, ``generate``, ``train-teacher``) runs the stages up
    to that one only; the same ``out_dir`` resumes later. Evaluation needs the full run.
    """
    from engine.pipelines.diffkd import run_pipeline
    from engine.progress import Cancelled as EngineCancelled

    cases = engine_cases(ctx, study_name, seed=seed)
    try:
        result = run_pipeline(cases, preset=preset, out_dir=out_dir, device=device, seed=seed,
                              progress=_engine_progress(progress), cancel=cancel, stop_after=stop_after)
    except EngineCancelled as exc:
        raise Cancelled(f"Training cancelled: {exc}. Run the same command again to resume.") from exc
    if not result.probabilities:
        return {"result": result, "evaluation": None}
    return {"result": result, "evaluation": evaluate_run(study_name, result.metrics_path)}


def evaluate_run(study_name: str, metrics_path: Path) -> dict[str, Any]:
    """Evaluate the held-out probabilities recorded in a pipeline's ``metrics.json``; write ``evaluation.json``."""
    if not Path(metrics_path).is_file():
        raise NotFoundError(f"{metrics_path}: no metrics.json; run `readerstudy engine pipeline` (or distill) first.")
    metrics = json.loads(Path(metrics_path).read_text())
    labels = {k: int(v) for k, v in metrics["test_labels"].items()}
    rows = evaluate_probabilities(metrics["probabilities"], labels)
    evaluation = {"study": study_name, "preset": metrics.get("preset"), "test_cases": len(labels),
                  "note": "held-out test split only; probabilities thresholded at 0.5",
                  "models": [r.__dict__ for r in rows]}
    (Path(metrics_path).parent / "evaluation.json").write_text(json.dumps(evaluation, indent=2, default=float))
    return evaluation


def checkpoint_hash(checkpoint_dir: Path) -> str:
    """sha256 over the checkpoint folder's files (names and bytes), so a prediction names its weights."""
    h = hashlib.sha256()
    files = sorted(p for p in Path(checkpoint_dir).rglob("*") if p.is_file())
    if not files:
        raise NotFoundError(f"{checkpoint_dir}: no checkpoint files; give a folder written by `engine pipeline` "
                            "(e.g. OUT/checkpoints/student_full).")
    for p in files:
        h.update(p.relative_to(checkpoint_dir).as_posix().encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def predict_study(ctx: AppContext, study_name: str, checkpoint_dir: Path, *, model_name: str = "DiffKD-student",
                  device: str = "cpu", progress: Progress | None = None) -> int:
    """Store one prediction per case of the study under a model reader; returns the number stored."""
    from engine.pipelines.classify import predict

    checkpoint_dir = Path(checkpoint_dir)
    digest = checkpoint_hash(checkpoint_dir)
    version = digest[:12]
    with ctx.uow() as uow:
        study = uow.studies.by_name(study_name)
        cases = uow.cases.list(study.id)
        assets = {c.id: uow.assets.image(c.id) for c in cases}
    if not cases:
        raise ValidationError(f"Study {study_name!r} has no cases to predict.")
    images = [_grey01(_middle(ctx.store.load_array(assets[c.id].path, mmap=True))) for c in cases]
    result = predict(checkpoint_dir, images, device=device, saliency=True, progress=_engine_progress(progress))
    with ctx.uow() as uow:
        model = uow.models.find(study.id, model_name, version)
        if model is None:
            try:
                bot = uow.readers.by_name(study.id, model_name)
            except NotFoundError:
                bot = uow.readers.add(study.id, model_name, Role.MODEL)
            if bot.role != Role.MODEL:
                raise ValidationError(f"{model_name!r} is already a {bot.role} of this study; choose another "
                                      "--model-name.")
            model = uow.models.add(study.id, bot.id, name=model_name, version=version, checkpoint_hash=digest,
                                   config={"checkpoint": str(checkpoint_dir.resolve())})
        run = uow.models.start_run(model.id, "predict", {"device": device, "checkpoint": str(checkpoint_dir)})
        for c, prob, sal in zip(cases, result.probabilities, result.saliency, strict=True):
            rel = f"{study.id}/{c.pseudonym}/ai/{model_name.replace(' ', '_')}-{version}.npy"
            ctx.store.path(rel).parent.mkdir(parents=True, exist_ok=True)
            np.save(ctx.store.path(rel), sal.astype(np.float32), allow_pickle=False)
            uow.models.add_prediction(run, model.id, c.id, float(prob), saliency_path=rel)
        uow.models.finish_run(run)
        uow.audit.append("engine", "model.predict", "model", model.id,
                         {"cases": len(cases), "checkpoint_hash": digest, "device": device})
        uow.commit()
    return len(cases)
