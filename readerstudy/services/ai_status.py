"""Use case: is the AI ready for the study's AI arms? Which model each arm shows, coverage, metrics.

An AI arm shows, for each case, the latest prediction of the model its protocol arm names
(``model = "..."``: the most recent model of that name, :func:`arm_model`), or of any model
when it names none. The reading service uses the same rule, so what the dashboard says is what
a reader will see. An arm can be read only when every case of the study has an output; the
dashboard raises an alert otherwise, with the action that fixes it.

Held-out metrics are read defensively from what the engine stores: a metrics block in the
model's ``config`` or in a run's ``params`` (keys ``held_out``, ``metrics``, ``evaluation``,
``model_card``), else the ``evaluation.json`` that ``readerstudy engine pipeline`` writes two
folders above the checkpoint (``OUT/checkpoints/<model>/`` -> ``OUT/evaluation.json``, entry
named like the checkpoint folder).
"""

from __future__ import annotations

import json
import math
import shlex
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from readerstudy.core.models import ModelInfo, Prediction
from readerstudy.core.protocol import ArmSpec, Protocol
from readerstudy.services.assignments import study_protocol
from readerstudy.services.auth import UserSession, require_coordinator
from readerstudy.services.context import AppContext
from readerstudy.storage.db import sqlite_path
from readerstudy.storage.uow import UnitOfWork

ENGINE_HINT = "Engine tab → Add model as reader"
_METRIC_KEYS = ("held_out", "heldout", "metrics", "evaluation", "model_card")


@dataclass(frozen=True)
class HeldOutMetrics:
    """A model's held-out performance; ``values`` holds e.g. sensitivity/specificity/accuracy in [0, 1]."""

    source: str
    auc: float | None
    auc_ci: tuple[float, float] | None
    n: int | None
    values: tuple[tuple[str, float], ...] = ()

    def summary(self) -> str:
        parts = []
        if self.auc is not None:
            ci = f" (95% CI {self.auc_ci[0]:.2f}-{self.auc_ci[1]:.2f})" if self.auc_ci else ""
            parts.append(f"AUC {self.auc:.3f}{ci}")
        parts += [f"{k} {v:.2f}" for k, v in self.values]
        if self.n is not None:
            parts.append(f"n = {self.n} held-out cases")
        return ", ".join(parts)


@dataclass(frozen=True)
class ModelShown:
    """A model whose output an arm shows for ``cases`` of the study's cases."""

    name: str
    version: str
    cases: int
    metrics: HeldOutMetrics | None


@dataclass(frozen=True)
class ArmAiStatus:
    """One AI arm: what it shows, for how many of ``cases``, and what is wrong (``problem``) and the fix."""

    arm: str
    sequential: bool
    model_spec: str | None  # the protocol's ``model``; None = latest output of any model
    shown: tuple[ModelShown, ...]
    cases: int
    with_output: int
    problem: str | None
    action: str | None

    @property
    def missing(self) -> int:
        return self.cases - self.with_output

    @property
    def ready(self) -> bool:
        return self.problem is None


@dataclass(frozen=True)
class AiReadiness:
    study: str
    protocol_applied: bool
    arms: tuple[ArmAiStatus, ...]  # the protocol's AI arms, in protocol order
    models: tuple[str, ...]  # names of the study's models, oldest first

    @property
    def alerts(self) -> tuple[ArmAiStatus, ...]:
        return tuple(a for a in self.arms if not a.ready)


def arm_model(uow: UnitOfWork, study_id: str, model_name: str) -> ModelInfo | None:
    """The model an arm naming ``model_name`` shows: the study's most recent model of that name."""
    models = [m for m in uow.models.list(study_id) if m.name == model_name]
    return models[-1] if models else None


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def metrics_from(blob: Any, source: str) -> HeldOutMetrics | None:
    """Normalise a stored metrics block (our evaluation rows, or flat ``auc``/``sensitivity``...)."""
    if not isinstance(blob, dict):
        return None
    for key in _METRIC_KEYS:  # e.g. a model card holding {"metrics": {...}}
        inner = metrics_from(blob.get(key), source) if isinstance(blob.get(key), dict) else None
        if inner is not None:
            return inner
    auc, ci = blob.get("auc"), None
    if isinstance(auc, dict):
        low, high = auc.get("ci_low"), auc.get("ci_high")
        ci = (float(low), float(high)) if _number(low) and _number(high) else None
        auc = auc.get("auc")
    acc = blob.get("accuracy") if isinstance(blob.get("accuracy"), dict) else blob
    values = []
    for k in ("sensitivity", "specificity", "accuracy"):
        v = acc.get(k)
        v = v.get("value") if isinstance(v, dict) else v
        if _number(v):
            values.append((k, float(v)))
    n = next((blob[k] for k in ("n", "test_cases", "n_test") if _number(blob.get(k))), None)
    if not _number(auc) and not values:
        return None
    return HeldOutMetrics(source, float(auc) if _number(auc) else None, ci, int(n) if n is not None else None,
                          tuple(values))


def _evaluation_file(model: ModelInfo) -> HeldOutMetrics | None:
    ckpt = model.config.get("checkpoint")
    if not isinstance(ckpt, str):
        return None
    path = Path(ckpt).parent.parent / "evaluation.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    entries = [e for e in data.get("models", []) if isinstance(e, dict) and e.get("model") == Path(ckpt).name]
    if not entries:
        return None
    found = metrics_from(entries[0], f"{path} ({entries[0]['model']}, held-out test split)")
    if found is not None and found.n is None and _number(data.get("test_cases")):
        found = replace(found, n=int(data["test_cases"]))
    return found


def held_out_metrics(uow: UnitOfWork, model: ModelInfo) -> HeldOutMetrics | None:
    """The model's stored held-out metrics, newest run first; None when nothing is stored."""
    for key in _METRIC_KEYS:
        found = metrics_from(model.config.get(key), f"model record ({key})")
        if found is not None:
            return found
    for params in reversed(uow.models.run_params(model.id)):
        for key in _METRIC_KEYS:
            found = metrics_from(params.get(key), f"model run ({key})")
            if found is not None:
                return found
    return _evaluation_file(model)


def _shown_outputs(uow: UnitOfWork, study_id: str, spec: ArmSpec) -> dict[str, Prediction]:
    """Case id -> the prediction the arm shows for it (the reading service's rule)."""
    if spec.model:
        model = arm_model(uow, study_id, spec.model)
        return {p.case_id: p for p in uow.models.predictions(model.id)} if model else {}
    latest: dict[str, Prediction] = {}
    for m in uow.models.list(study_id):
        for p in uow.models.predictions(m.id):
            if p.case_id not in latest or p.created_at > latest[p.case_id].created_at:
                latest[p.case_id] = p
    return latest


def predict_command(ctx: AppContext, study: str, model_name: str | None = None) -> str:
    """The CLI command that adds a trained classifier's outputs for every case of ``study``."""
    db = sqlite_path(ctx.url)
    cmd = ["readerstudy", "engine", "predict", "--db", str(db) if db else ctx.url, "--study", study,
           "--model", "OUT/checkpoints/student_full"]
    if model_name:
        cmd += ["--model-name", model_name]
    return shlex.join(cmd)


def _problem(ctx: AppContext, study: str, spec: ArmSpec, known: bool, has_models: bool, cases: int,
             missing: int) -> tuple[str | None, str | None]:
    if not missing:
        return None, None
    problem = f"The {spec.name} arm cannot be read: no model output for {missing} case{'s' * (missing != 1)}."
    command = predict_command(ctx, study, spec.model)
    if spec.model and not known:
        return problem, (f"The protocol shows model {spec.model!r}, which this study does not have. Add it as a "
                         f"reader under that name ({ENGINE_HINT}; or on the command line: {command}), or choose "
                         "another model for the arm in the Protocol tab.")
    if not has_models:
        return problem, (f"Add the AI as a reader: {ENGINE_HINT} (train it first if needed), or on the command "
                         f"line: {command} (OUT is the folder of `readerstudy engine pipeline`).")
    return problem, (f"Run the model on the whole study again ({ENGINE_HINT}; or on the command line: "
                     f"{command}): it predicts every case, the {missing} without output included.")


def ai_readiness(ctx: AppContext, coordinator: UserSession, protocol: Protocol | None = None) -> AiReadiness:
    """For each AI arm of the applied protocol (or of ``protocol``, e.g. one about to be applied):
    the model(s) it shows, coverage, held-out metrics, and the alert with its fix."""
    require_coordinator(coordinator, "checking the AI arms")
    with ctx.uow() as uow:
        protocol = protocol or study_protocol(uow, coordinator.study_id)
        models = uow.models.list(coordinator.study_id)
        by_id = {m.id: m for m in models}
        n_cases = uow.cases.count(coordinator.study_id)
        case_ids = {c.id for c in uow.cases.list(coordinator.study_id)}
        arms = []
        for spec in (protocol.arms if protocol else ()):
            if not spec.shows_ai:
                continue
            outputs = {cid: p for cid, p in _shown_outputs(uow, coordinator.study_id, spec).items() if cid in case_ids}
            counts: dict[str, int] = {}
            for p in outputs.values():
                counts[p.model_id] = counts.get(p.model_id, 0) + 1
            shown = tuple(ModelShown(by_id[mid].name, by_id[mid].version, n, held_out_metrics(uow, by_id[mid]))
                          for mid, n in sorted(counts.items(), key=lambda kv: -kv[1]))
            known = spec.model is None or arm_model(uow, coordinator.study_id, spec.model) is not None
            problem, action = _problem(ctx, coordinator.study_name, spec, known, bool(models), n_cases,
                                       n_cases - len(outputs))
            arms.append(ArmAiStatus(spec.name, spec.sequential, spec.model, shown, n_cases, len(outputs),
                                    problem, action))
    return AiReadiness(coordinator.study_name, protocol is not None, tuple(arms), tuple(m.name for m in models))
