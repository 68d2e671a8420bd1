"""Collect a study's reads into one tidy table for reports and exports.

One row per read: ``study, case, reader, seniority, arm, session, probability, binary,
confidence, time_ms, active_ms, submitted_at, truth`` (:data:`COLUMNS`).

Conventions (stated in every report):

* Only the latest revision of each (assignment, case, phase) counts: a coordinator's
  correction replaces the reader's read; the original stays in the database, not in the table.
* Sequential AI arms hold two reads per case. The aided (second) read is reported under the
  arm's own name (e.g. ``"AI-aided"``); the first, unaided read of the same arm under
  ``"<arm> (pre-AI)"``, so that it is never mixed with the aided read or with a separate
  unaided arm.
* Model predictions are rows whose ``reader`` is the model's name, ``seniority`` "model",
  ``arm`` "model", ``session`` 0, ``binary = probability >= 50`` and empty confidence/times.
* Cases without ground truth are kept in the table (``truth`` empty) and left out of accuracy
  statistics by the report; reads that were assigned but not made are counted per reader and
  arm in :attr:`ReportData.missing`, never silently dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from readerstudy.core.errors import ValidationError
from readerstudy.core.models import ReadPhase, Role
from readerstudy.services.context import AppContext

__all__ = ["COLUMNS", "MODEL_ARM", "MODEL_SENIORITY", "PRE_AI_SUFFIX", "ReportData", "collect_report_data"]

COLUMNS: tuple[str, ...] = (
    "study", "case", "reader", "seniority", "arm", "session", "probability", "binary",
    "confidence", "time_ms", "active_ms", "submitted_at", "truth",
)
MODEL_ARM = "model"
MODEL_SENIORITY = "model"
PRE_AI_SUFFIX = " (pre-AI)"


@dataclass(frozen=True)
class ReportData:
    """The tidy table of a study plus what is missing from it."""

    study: str
    table: pd.DataFrame  # columns COLUMNS, one row per read / model prediction
    missing: pd.DataFrame  # reader, arm, expected, read, missing
    arms: tuple[str, ...]  # arm labels in protocol order (pre-AI label before the aided one)
    models: tuple[str, ...]
    conventions: tuple[str, ...] = field(default=())


CONVENTIONS: tuple[str, ...] = (
    "Latest revision per (assignment, case, phase): coordinator corrections replace the original read.",
    "Sequential AI arms: the aided read is reported under the arm name; the first (unaided) read of "
    f"that arm under '<arm>{PRE_AI_SUFFIX}'.",
    "Model predictions: reader = model name, arm 'model', binary = probability >= 50.",
    "Probability is 0-100 (higher = more likely malignant); truth 1 = positive (malignant).",
    "Cases without ground truth are excluded from accuracy statistics; missing reads are counted, not imputed.",
)


def _arm_label(arm_name: str, sequential: bool, phase: ReadPhase) -> str:
    if sequential and phase == ReadPhase.UNAIDED:
        return arm_name + PRE_AI_SUFFIX
    return arm_name


def collect_report_data(ctx: AppContext, study_name: str) -> ReportData:
    """Read every read, case, reader, arm, assignment and model prediction of a study."""
    with ctx.uow() as uow:
        study = uow.studies.by_name(study_name)
        cases = {c.id: c for c in uow.cases.list(study.id)}
        people = {r.id: r for r in uow.readers.list(study.id)}
        arms = {a.id: a for a in uow.arms.list(study.id)}
        assignments = uow.assignments.list(study.id)
        reads = uow.reads.for_study(study.id)
        models = uow.models.list(study.id)
        predictions = {mi.id: uow.models.predictions(mi.id) for mi in models}

    latest: dict[tuple[str, str, str], Any] = {}
    for r in reads:
        key = (r.assignment_id, r.case_id, str(r.phase))
        if key not in latest or r.revision > latest[key].revision:
            latest[key] = r

    rows: list[dict[str, Any]] = []
    for r in latest.values():
        case, who, arm = cases[r.case_id], people[r.reader_id], arms[r.arm_id]
        rows.append({
            "study": study.name, "case": case.pseudonym, "reader": who.name, "seniority": who.seniority,
            "arm": _arm_label(arm.name, arm.sequential, r.phase), "session": r.session,
            "probability": float(r.probability), "binary": int(r.binary), "confidence": r.confidence,
            "time_ms": r.time_ms, "active_ms": r.active_ms, "submitted_at": r.submitted_at.isoformat(),
            "truth": case.truth,
        })
    model_names: list[str] = []
    for mi in models:
        label = mi.name if mi.name not in model_names else f"{mi.name} {mi.version}"
        model_names.append(label)
        for p in predictions[mi.id]:
            case = cases[p.case_id]
            rows.append({
                "study": study.name, "case": case.pseudonym, "reader": label, "seniority": MODEL_SENIORITY,
                "arm": MODEL_ARM, "session": 0, "probability": float(p.probability) * _scale(p.probability),
                "binary": int(float(p.probability) * _scale(p.probability) >= 50.0), "confidence": None,
                "time_ms": None, "active_ms": None, "submitted_at": p.created_at.isoformat(), "truth": case.truth,
            })
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    for col in ("session", "binary", "confidence", "time_ms", "active_ms", "truth"):
        table[col] = table[col].astype("Int64")
    table = table.sort_values(["arm", "reader", "case"], kind="stable").reset_index(drop=True)

    labels: list[str] = []
    for a in sorted(arms.values(), key=lambda a: a.position):
        if a.sequential:
            labels.append(a.name + PRE_AI_SUFFIX)
        labels.append(a.name)

    done = {(k[0], k[1], k[2]) for k in latest}
    miss: dict[tuple[str, str], list[int]] = {}
    for asg in assignments:
        who, arm = people[asg.reader_id], arms[asg.arm_id]
        phases = (ReadPhase.UNAIDED, ReadPhase.AIDED) if arm.sequential else (ReadPhase.UNAIDED,)
        for phase in phases:
            slot = miss.setdefault((who.name, _arm_label(arm.name, arm.sequential, phase)), [0, 0])
            for cid in asg.case_ids:
                slot[0] += 1
                slot[1] += int((asg.id, cid, str(phase)) in done)
    missing = pd.DataFrame(
        [{"reader": k[0], "arm": k[1], "expected": v[0], "read": v[1], "missing": v[0] - v[1]}
         for k, v in sorted(miss.items())],
        columns=["reader", "arm", "expected", "read", "missing"],
    )
    return ReportData(study.name, table, missing, tuple(labels), tuple(model_names), CONVENTIONS)


def _scale(probability: float) -> float:
    """Stored model probabilities in [0, 1] are scaled to 0-100 (as the reading service shows them)."""
    p = float(probability)
    if not 0.0 <= p <= 100.0:
        raise ValidationError(f"A stored model probability {probability!r} is outside [0, 1] and [0, 100].")
    return 100.0 if p <= 1.0 else 1.0


def reader_roles(ctx: AppContext, study_name: str) -> dict[str, Role]:
    """Name -> role of everyone in the study (used to pick the default reference)."""
    with ctx.uow() as uow:
        study = uow.studies.by_name(study_name)
        return {r.name: r.role for r in uow.readers.list(study.id)}
