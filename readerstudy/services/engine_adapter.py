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
from readerstudy.core.reading import validate_model_probability
from readerstudy.imaging.nifti import read_nifti
from readerstudy.imaging.windowing import robust_window, to_display
from readerstudy.services.auth import UserSession, require_study
from readerstudy.services.context import AppContext
from readerstudy.services.phi import grouping_keys
from readerstudy.stats import auc_delong, diagnostic_accuracy
from readerstudy.storage.audit import row_digest

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


def _grey01(frame: np.ndarray, invert: bool = False) -> np.ndarray:
    """Robust [0, 1] display grey (0.5th-99.5th percentile window), float32, as the viewer shows it:
    MONOCHROME1 (``invert``) is inverted after the window (:func:`readerstudy.imaging.windowing.to_display`)."""
    return to_display(frame, robust_window(frame, max_samples=frame.size), invert=invert)


def _display_frame(ctx: AppContext, asset: Any) -> np.ndarray:
    """The middle frame/slice of a case's stored image as display grey in [0, 1]."""
    return _grey01(_middle(ctx.store.load_array(asset.path, mmap=True)), asset.invert)


def _middle(arr: np.ndarray) -> np.ndarray:
    return np.asarray(arr[arr.shape[0] // 2])


def engine_cases(ctx: AppContext, session: UserSession, study_name: str, *, test_fraction: float = 0.2, seed: int = 0,
                 threshold: float | None = None) -> list:
    """The study's cases with ground truth, as engine records, split into train/test by near-duplicate group.

    2D images and cine loops use their middle frame, volumes their middle slice. The mask is the
    union of all labels of the most recent annotation of the case (any annotator; empty if none).
    Near-duplicates (64x64 thumbnail r >= ``threshold``, default
    :data:`engine.data.grouping.DEFAULT_THRESHOLD`) and cases of one patient or series (from the
    de-identification mapping of DICOM imports) are one group; the split is stratified by group,
    so no group straddles train and test (:func:`engine.data.cases.split_cases`).
    """
    require_study(session, study_name, "giving a study's cases (with ground truth) to the engine")
    from engine.data import Case as EngineCase
    from engine.data.cases import split_cases
    from engine.data.grouping import DEFAULT_THRESHOLD

    out = []
    keys = []
    with ctx.uow() as uow:
        study = uow.studies.by_name(study_name)
        cases = [c for c in uow.cases.list(study.id) if c.truth is not None]
        records = []
        for c in cases:
            asset = uow.assets.image(c.id)
            anns = sorted(uow.annotations.list(c.id), key=lambda a: a.created_at)
            records.append((c, asset, anns[-1] if anns else None))
            keys.append(grouping_keys(uow, c.id))
    for c, asset, ann in records:
        image = _display_frame(ctx, asset)
        if ann is not None:
            mask = (_middle(read_nifti(ctx.store.path(ann.path))[0]) > 0).astype(np.uint8)
        else:
            mask = np.zeros(image.shape, np.uint8)
        out.append(EngineCase(c.pseudonym, image, mask, int(c.truth), _prompt(c.modality, int(c.truth))))
    labels = {r.label for r in out}
    if labels != {0, 1}:
        raise ValidationError(f"Study {study_name!r} needs cases of both truths (0 and 1) to train a model; "
                              f"it has {sorted(labels) or 'no cases with ground truth'}.")
    return split_cases(out, test_fraction=test_fraction, seed=seed,
                       threshold=DEFAULT_THRESHOLD if threshold is None else threshold, keys=keys)


def identity_keys(phi: dict[str, Any]) -> list[str]:
    """Grouping keys (sha256 digests) of a case's de-identification mapping: see
    :func:`readerstudy.services.phi.identity_keys`."""
    from readerstudy.services.phi import identity_keys as keys

    return keys(phi)


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


def run_study_pipeline(ctx: AppContext, session: UserSession, study_name: str, *, preset: str, out_dir: Path, device: str = "cpu",
                       seed: int = 0, progress: Progress | None = None, cancel: Any = None,
                       stop_after: str | None = None, cases: list | None = None,
                       overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Train DiffKD-DCIS on the study, evaluate it, and write ``metrics.json`` + ``evaluation.json``.

    ``stop_after`` (``train-vae``, ``train-ldm``, ``generate``, ``train-teacher``) runs the stages up
    to that one only; the same ``out_dir`` resumes later. Evaluation needs the full run.
    ``cases``: engine records with their split already chosen (default :func:`engine_cases`).
    ``overrides`` change fields of the preset (:func:`engine.presets.get_preset`), e.g.
    ``{"teacher_steps": 1500}``; they are recorded in ``metrics.json``.
    """
    require_study(session, study_name, "training a model on a study")
    from engine.pipelines.diffkd import run_pipeline
    from engine.presets import get_preset
    from engine.progress import Cancelled as EngineCancelled

    try:
        chosen = get_preset(preset, **(overrides or {}))
    except ValueError as exc:
        raise ValidationError(f"Preset {preset!r}: {exc}.") from exc
    if cases is None:
        cases = engine_cases(ctx, session, study_name, seed=seed)
    try:
        result = run_pipeline(cases, preset=chosen, out_dir=out_dir, device=device, seed=seed,
                              progress=_engine_progress(progress), cancel=cancel, stop_after=stop_after)
    except EngineCancelled as exc:
        raise Cancelled(f"Training cancelled: {exc}. Run the same command again to resume.") from exc
    if not result.probabilities:
        return {"result": result, "evaluation": None}
    doc = json.loads(result.metrics_path.read_text())
    result.metrics_path.write_text(json.dumps({"study": study_name, **doc}, indent=2, allow_nan=True))
    return {"result": result, "evaluation": evaluate_run(study_name, result.metrics_path)}


def evaluate_run(study_name: str, metrics_path: Path) -> dict[str, Any]:
    """Evaluate the held-out probabilities recorded in a pipeline's ``metrics.json``; write ``evaluation.json``."""
    if not Path(metrics_path).is_file():
        raise NotFoundError(f"{metrics_path}: no metrics.json; run `readerstudy engine pipeline` (or distill) first.")
    metrics = json.loads(Path(metrics_path).read_text())
    labels = {k: int(v) for k, v in metrics["test_labels"].items()}
    rows = evaluate_probabilities(metrics["probabilities"], labels)
    evaluation = {"study": study_name, "preset": metrics.get("preset"), "test_cases": len(labels),
                  "split": metrics.get("split", {}),
                  "note": "held-out test split only (near-duplicate groups kept on one side); "
                          "probabilities thresholded at 0.5",
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


@dataclass(frozen=True)
class TrainedOn:
    """The cases a model was trained on: case ids and image checksums (the same image imported into
    another study is the same training case). Empty = nothing known (e.g. a model from elsewhere)."""

    case_ids: frozenset[str] = frozenset()
    checksums: frozenset[str] = frozenset()
    run_id: str | None = None

    def __contains__(self, case_and_checksum: tuple[str, str]) -> bool:
        case_id, checksum = case_and_checksum
        return case_id in self.case_ids or checksum in self.checksums


def predict_study(ctx: AppContext, session: UserSession, study_name: str, checkpoint_dir: Path, *, model_name: str = "DiffKD-student",
                  device: str = "cpu", progress: Progress | None = None, cancel: Any = None,
                  run_id: str | None = None, trained_on: TrainedOn | None = None) -> int:
    """Store one prediction per case of the study under a model reader; returns the number stored.

    ``run_id``: an existing ``model_run`` row (an engine job) the predictions belong to; it gets the
    model's id and is left for the job to finish. Without it a run is started and finished here.
    ``trained_on``: predictions on these cases are stored with ``in_training_set`` true.
    ``cancel``: an :class:`engine.progress.CancelToken`; cancelling stores nothing and raises
    :class:`~readerstudy.core.errors.Cancelled`.
    """
    require_study(session, study_name, "adding a model's predictions")
    from engine.pipelines.classify import predict
    from engine.progress import Cancelled as EngineCancelled
    from readerstudy.services.model_card import card_for_checkpoint

    checkpoint_dir = Path(checkpoint_dir)
    digest = checkpoint_hash(checkpoint_dir)
    card = card_for_checkpoint(checkpoint_dir)
    version = digest[:12]
    trained_on = trained_on or TrainedOn()
    with ctx.uow() as uow:
        study = uow.studies.by_name(study_name)
        cases = uow.cases.list(study.id)
        assets = {c.id: uow.assets.image(c.id) for c in cases}
    if not cases:
        raise ValidationError(f"Study {study_name!r} has no cases to predict.")
    images = [_display_frame(ctx, assets[c.id]) for c in cases]
    try:
        result = predict(checkpoint_dir, images, device=device, saliency=True,
                         progress=_engine_progress(progress), cancel=cancel)
    except EngineCancelled as exc:
        raise Cancelled(f"Prediction cancelled ({exc}); nothing was stored. Run it again to predict.") from exc
    for c, prob in zip(cases, result.probabilities, strict=True):  # refuse a bad output before writing anything
        validate_model_probability(prob, f"model output for case {c.pseudonym}")
    with ctx.uow() as uow:
        model = _model_reader(uow, study.id, model_name, version, digest, checkpoint_dir, trained_on, card)
        own_run = run_id is None
        if own_run:
            run_id = uow.models.start_run(model.id, "predict", {"device": device, "checkpoint": str(checkpoint_dir)})
        else:
            uow.runs.update(run_id, model_id=model.id)
        n_trained = 0
        stored: dict[str, str] = {}
        fields: list[str] = []
        for c, prob, sal in zip(cases, result.probabilities, result.saliency, strict=True):
            rel = f"{study.id}/{c.pseudonym}/ai/{model_name.replace(' ', '_')}-{version}.npy"
            ctx.store.path(rel).parent.mkdir(parents=True, exist_ok=True)
            np.save(ctx.store.path(rel), sal.astype(np.float32), allow_pickle=False)
            seen = (c.id, assets[c.id].checksum) in trained_on
            n_trained += seen
            pred = uow.models.add_prediction(run_id, model.id, c.id, float(prob), saliency_path=rel,
                                             in_training_set=seen)
            content = row_digest(uow.session, "prediction", pred.id)  # so `audit verify` checks every prediction
            stored[pred.id], fields = content["sha256"], content["fields"]
        if own_run:
            uow.models.finish_run(run_id)
        uow.audit.append("engine", "model.predict", "model", model.id,
                         {"cases": len(cases), "checkpoint_hash": digest, "device": device,
                          "in_training_set": n_trained, "run_id": run_id, "predictions": stored,
                          "prediction_fields": fields})
        uow.commit()
    return len(cases)


def _model_reader(uow: Any, study_id: str, model_name: str, version: str, digest: str, checkpoint_dir: Path,
                  trained_on: TrainedOn, card: dict[str, Any]) -> Any:
    """The study's model row for these weights, created (with its model reader) when new."""
    model = uow.models.find(study_id, model_name, version)
    if model is not None:
        return model
    try:
        bot = uow.readers.by_name(study_id, model_name)
    except NotFoundError:
        bot = uow.readers.add(study_id, model_name, Role.MODEL)
    if bot.role != Role.MODEL:
        raise ValidationError(f"{model_name!r} is already a {bot.role} of this study; choose another "
                              "--model-name.")
    config: dict[str, Any] = {"checkpoint": str(checkpoint_dir.resolve()), "card": card}
    if card.get("held_out") and card.get("kind") == "provenance":
        # a shipped model has no evaluation.json next to it: its validation figures go where the
        # dashboard's AI readiness looks (ai_status)
        config["held_out"] = card["held_out"]
    if trained_on.run_id:
        config["training_run_id"] = trained_on.run_id
    return uow.models.add(study_id, bot.id, name=model_name, version=version, checkpoint_hash=digest,
                          config=config)
