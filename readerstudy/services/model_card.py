"""Use case: what a coordinator must know about a model reader (its *model card*), and its
figures on a study with ground truth.

* :func:`card_for_checkpoint` reads what the training left next to a checkpoint: the shipped
  model's ``provenance.json`` (``resources/models/<name>/``), or a pipeline run's
  ``metrics.json`` + ``evaluation.json`` (``OUT/checkpoints/<model>`` -> ``OUT``). The card is
  stored in ``Model.config["card"]`` when the model is added to a study, and its validation
  figures also in ``Model.config["held_out"]`` (where the dashboard's AI readiness looks).
* :func:`evaluate_model_on_study` computes the model's AUC (DeLong CI), sensitivity and
  specificity (Wilson CIs, threshold 0.5) from the predictions stored in a study and stores them
  in ``Model.config["study_evaluation"]`` (not "held out": only for a study the model was not
  trained on, such as the demo for the shipped model, is it an external test).
* :func:`model_cards` returns a :class:`ModelCard` per model of a study, for the coordinator.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from readerstudy.core.errors import NotFoundError, ValidationError
from readerstudy.services.auth import UserSession, require_study
from readerstudy.services.context import AppContext
from readerstudy.stats import auc_delong, diagnostic_accuracy

__all__ = ["ModelCard", "card_for_checkpoint", "evaluate_model_on_study", "model_card", "model_cards", "THRESHOLD"]

THRESHOLD = 0.5


@dataclass(frozen=True)
class ModelCard:
    """A model reader as the coordinator sees it.

    Attributes
    ----------
    name, version, checkpoint_hash
        The model reader, its version (first 12 hex of the hash) and the sha256 over its checkpoint.
    trained_on
        Training data in words (e.g. "busi-train: 381 benign/malignant BUSI images ...").
    trained_at
        When the checkpoint was trained (ISO 8601, UTC) or "" when unknown.
    held_out
        Validation figures on the training data's held-out split: ``auc`` dict (DeLong), ``n``,
        ``groups`` (the near-duplicate split summary), ``model`` (which network).
    evaluation
        Figures on *this* study's cases with ground truth (:func:`evaluate_model_on_study`), or {}.
    command
        How the checkpoint was trained (shell command lines), or [].
    details
        Everything else the training recorded (preset, seed, versions, data checksums).
    """

    name: str
    version: str
    checkpoint_hash: str
    trained_on: str
    trained_at: str
    held_out: dict[str, Any] = field(default_factory=dict)
    evaluation: dict[str, Any] = field(default_factory=dict)
    command: tuple[str, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)

    def lines(self) -> list[str]:
        """The card as plain text lines (CLI, tooltips)."""
        out = [f"{self.name} v{self.version} (sha256 {self.checkpoint_hash[:16]}...)",
               f"  trained on: {self.trained_on or 'unknown'}",
               f"  trained at: {self.trained_at or 'unknown'}"]
        h = self.held_out
        if h.get("auc") and h["auc"].get("auc") is not None:
            a = h["auc"]
            out.append(f"  held-out validation: AUC {a['auc']:.3f} (DeLong 95% CI {a['ci_low']:.3f}-"
                       f"{a['ci_high']:.3f}), n={h.get('n')}" + _groups_text(h.get("groups")))
        e = self.evaluation
        if e.get("auc") and e["auc"].get("auc") is not None:
            a, acc = e["auc"], e["accuracy"]
            out.append(f"  on {e['study']!r}: AUC {a['auc']:.3f} (DeLong 95% CI {a['ci_low']:.3f}-{a['ci_high']:.3f}), "
                       f"sensitivity {acc['sensitivity']['value']:.3f}, specificity "
                       f"{acc['specificity']['value']:.3f} at {e['threshold']:g}, n={e['n']}")
        for c in self.command:
            out.append(f"  $ {c}")
        return out


def _groups_text(groups: dict | None) -> str:
    if not groups:
        return ""
    return (f" ({groups['test_cases']} cases in {groups['test_groups']} near-duplicate groups held out of "
            f"{groups['n_cases']})")


def card_for_checkpoint(checkpoint_dir: Path) -> dict[str, Any]:
    """The card fields training left next to ``checkpoint_dir`` (a JSON-ready dict; {} parts if none).

    Looks for ``provenance.json`` in the checkpoint's parent folder (shipped models), else for
    ``metrics.json``/``evaluation.json`` two levels up (``OUT/checkpoints/<model>`` of a pipeline run).
    """
    checkpoint_dir = Path(checkpoint_dir)
    prov = checkpoint_dir.parent / "provenance.json"
    if prov.is_file():
        doc = json.loads(prov.read_text())
        return {"trained_on": doc.get("training_data", {}).get("description", ""),
                "trained_at": doc.get("trained_at", ""), "held_out": doc.get("validation", {}),
                "command": doc.get("commands", []),
                "details": {k: doc[k] for k in ("preset", "seed", "versions", "training_data", "external_test",
                                                "wall_time_s", "text_backend", "torch_threads") if k in doc},
                "source": str(prov), "kind": "provenance"}
    out_dir = checkpoint_dir.parent.parent
    metrics, evaluation = out_dir / "metrics.json", out_dir / "evaluation.json"
    if not metrics.is_file():
        return {"trained_on": "", "trained_at": "", "held_out": {}, "command": [], "details": {}, "source": "",
                "kind": "none"}
    m = json.loads(metrics.read_text())
    held: dict[str, Any] = {}
    if evaluation.is_file():
        ev = json.loads(evaluation.read_text())
        row = next((r for r in ev.get("models", []) if r["model"] == checkpoint_dir.name), None)
        if row is not None:
            held = {"model": row["model"], "n": row["n"], "auc": row["auc"], "accuracy": row.get("accuracy", {}),
                    "groups": m.get("split", {})}
    stamp = datetime.fromtimestamp(metrics.stat().st_mtime, UTC).isoformat(timespec="seconds")
    return {"trained_on": f"{m.get('n_train', '?')} training cases of study {m.get('study', '?')!r}",
            "trained_at": stamp, "held_out": held, "command": [],
            "details": {k: m[k] for k in ("preset", "seed", "device", "text_backend", "torch_threads") if k in m},
            "source": str(metrics), "kind": "pipeline"}


def evaluate_model_on_study(ctx: AppContext, session: UserSession, study_name: str, model_name: str) -> dict[str, Any] | None:
    """AUC (DeLong 95 % CI) and sensitivity/specificity (Wilson, threshold 0.5) of the model's latest
    predictions on the study's cases with ground truth; stored in ``Model.config["study_evaluation"]``.

    Returns None when no case of the study has ground truth.

    Raises
    ------
    NotFoundError
        No model of that name in the study.
    """
    require_study(session, study_name, "evaluating a model on a study's ground truth")
    with ctx.uow() as uow:
        study = uow.studies.by_name(study_name)
        models = [m for m in uow.models.list(study.id) if m.name == model_name]
        if not models:
            raise NotFoundError(f"Study {study_name!r} has no model reader {model_name!r}; run "
                                "`readerstudy engine predict` first.")
        model = models[-1]
        truth = {c.id: c.truth for c in uow.cases.list(study.id) if c.truth is not None}
        preds = [p for p in uow.models.predictions(model.id) if p.case_id in truth]
    if not preds:
        return None
    y = np.array([truth[p.case_id] for p in preds], dtype=int)
    prob = np.array([p.probability for p in preds], dtype=float)
    try:
        auc = auc_delong(y, prob).to_dict()
    except ValidationError as exc:
        auc = {"auc": None, "ci_low": None, "ci_high": None, "note": str(exc)}
    acc = diagnostic_accuracy.from_labels(y, (prob >= THRESHOLD).astype(int)).to_dict()
    ev = {"study": study_name, "model": model_name, "model_version": model.version, "n": int(len(y)),
          "positives": int(y.sum()), "threshold": THRESHOLD, "auc": auc, "accuracy": acc,
          "computed_at": datetime.now(UTC).isoformat(timespec="seconds")}
    with ctx.uow() as uow:
        uow.models.update_config(model.id, {"study_evaluation": ev})
        uow.audit.append("engine", "model.evaluate", "model", model.id,
                         {"study": study_name, "auc": auc.get("auc"), "n": ev["n"]})
        uow.commit()
    return ev


def model_cards(ctx: AppContext, session: UserSession, study_name: str) -> list[ModelCard]:
    """One :class:`ModelCard` per model reader of the study (oldest first)."""
    require_study(session, study_name, "reading the study's model cards")
    with ctx.uow() as uow:
        study = uow.studies.by_name(study_name)
        models = uow.models.list(study.id)
    out = []
    for m in models:
        card = m.config.get("card") or {}
        out.append(ModelCard(m.name, m.version, m.checkpoint_hash, card.get("trained_on", ""),
                             card.get("trained_at", ""), card.get("held_out", {}), m.config.get("study_evaluation", {}),
                             tuple(card.get("command", [])), card.get("details", {})))
    return out


def model_card(ctx: AppContext, session: UserSession, study_name: str, model_name: str | None = None) -> ModelCard:
    """The card of ``model_name`` (default: the newest model) in the study.

    Raises
    ------
    NotFoundError
        The study has no (such) model reader.
    """
    cards = [c for c in model_cards(ctx, session, study_name) if model_name in (None, c.name)]
    if not cards:
        raise NotFoundError(f"Study {study_name!r} has no model reader"
                            f"{' ' + repr(model_name) if model_name else ''}; add one with "
                            "`readerstudy engine predict`.")
    return cards[-1]
