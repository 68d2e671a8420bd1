"""Collect a study's reads into the report's input: one tidy table plus the study summary and provenance.

One row per counted read, with every stored field (:mod:`readerstudy.reports.model` lists the
columns). Conventions (stated in every report):

* Only the latest revision of each (assignment, case, phase) counts: a coordinator's
  correction replaces the reader's read; the original stays in the database and is listed
  in the report's corrections table.
* Sequential AI arms hold two reads per case. The aided (second) read is reported under the
  arm's own name (e.g. ``"AI-aided"``); the first, unaided read of the same arm under
  ``"<arm> (pre-AI)"``, so that it is never mixed with the aided read or with a separate
  unaided arm.
* Model predictions are rows whose ``reader`` is the model's name, ``seniority`` "model",
  ``arm`` "model", ``session`` 0, ``binary = probability >= 50`` and empty confidence/times.
* A model's predictions on cases it was trained on (``prediction.in_training_set``) are never
  mixed with its held-out predictions: they are left out of the table (so out of every statistic
  and MRMC export) and kept in :attr:`ReportInput.training_predictions` under reader
  ``"<model> (training cases)"``, arm ``"model (training cases)"``, which reads.csv lists
  (:attr:`ReportInput.export_table`).
* Cases without ground truth are kept in the table (``truth`` empty) and left out of accuracy
  statistics by the report; reads that were assigned but not made are counted per reader and
  arm in :attr:`ReportInput.missing`, never silently dropped.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pandas as pd

from readerstudy.core.errors import ValidationError
from readerstudy.core.models import Read, ReadPhase, Role
from readerstudy.reports.model import (
    INT_COLUMNS,
    MODEL_ARM,
    MODEL_SENIORITY,
    PRE_AI_SUFFIX,
    READ_COLUMNS,
    TRAINING_SUFFIX,
    ArmInfo,
    ModelCard,
    ReaderInfo,
    ReportInput,
    StudyInfo,
    empty_table,
)
from readerstudy.services.assignments import PROTOCOL_KEY
from readerstudy.services.auth import UserSession, require_study
from readerstudy.services.context import AppContext
from readerstudy.services.hanging import stored_practice
from readerstudy.services.report_provenance import provenance

__all__ = ["COLUMNS", "MODEL_ARM", "MODEL_SENIORITY", "PRE_AI_SUFFIX", "TRAINING_SUFFIX", "ReportData",
           "collect_report_data", "read_fields"]

ReportData = ReportInput  # the service's name for the report input
COLUMNS = READ_COLUMNS

CONVENTIONS: tuple[str, ...] = (
    "Latest revision per (assignment, case, phase): coordinator corrections replace the original read.",
    "Sequential AI arms: the aided read is reported under the arm name; the first (unaided) read of "
    f"that arm under '<arm>{PRE_AI_SUFFIX}'.",
    "Model predictions: reader = model name, arm 'model', binary = probability >= 50.",
    "Probability is 0-100 (higher = more likely malignant); truth 1 = positive (malignant).",
    "Cases without ground truth are excluded from accuracy statistics; missing reads are counted, not imputed.",
)
_VIEW = {"preset": "view_preset", "zoom": "view_zoom", "slice": "view_slice", "slices": "view_slices"}
_AI = {"model_name": "ai_model", "model_version": "ai_model_version", "checkpoint_hash": "ai_checkpoint_hash",
       "prediction_id": "ai_prediction_id", "probability_pct": "ai_probability_pct",
       "saliency_shown": "ai_saliency_shown", "shown_at": "ai_shown_at"}


def _arm_label(arm_name: str, sequential: bool, phase: ReadPhase) -> str:
    if sequential and phase == ReadPhase.UNAIDED:
        return arm_name + PRE_AI_SUFFIX
    return arm_name


def _scalar(v: Any) -> Any:
    return json.dumps(v, sort_keys=True) if isinstance(v, (dict, list)) else v


def read_fields(r: Read) -> dict[str, Any]:
    """The stored view state, AI log, answers and practice flag of a read as flat ``reads.csv`` columns."""
    out: dict[str, Any] = {}
    vs = dict(r.view_state or {})
    window = vs.pop("window", None)
    if isinstance(window, (list, tuple)) and len(window) == 2:
        out["view_window_center"], out["view_window_width"] = window
    center = vs.pop("center", None)
    if isinstance(center, (list, tuple)) and len(center) == 2:
        out["view_center_x"], out["view_center_y"] = center
    for k, v in vs.items():
        out[_VIEW.get(k, f"view_{k}")] = _scalar(v)
    for k, v in (r.ai_shown or {}).items():
        out[_AI.get(k, f"ai_{k}")] = _scalar(v)
    if r.answers is not None:  # study-defined questions (readerstudy.core.questions), when the study has them
        out["answers_schema"] = r.answers_schema
        for k, v in r.answers.items():
            if isinstance(v, dict):  # a location mark: one column per coordinate (pixels, 0-based)
                out.update({f"answer_{k}_{axis}": x for axis, x in v.items()})
            else:
                out[f"answer_{k}"] = ";".join(v) if isinstance(v, list) else v
    if getattr(r, "practice", None) is not None:
        out["practice"] = int(bool(r.practice))  # type: ignore[attr-defined]
    return out


def _latest(reads: list[Read]) -> tuple[dict[tuple[str, str, str], Read], dict[tuple[str, str, str], Read]]:
    latest: dict[tuple[str, str, str], Read] = {}
    first: dict[tuple[str, str, str], Read] = {}
    for r in reads:
        key = (r.assignment_id, r.case_id, str(r.phase))
        if key not in latest or r.revision > latest[key].revision:
            latest[key] = r
        if key not in first or r.revision < first[key].revision:
            first[key] = r
    return latest, first


def _read_rows(study: str, latest: dict, cases: dict, people: dict, arms: dict) -> list[dict[str, Any]]:
    rows = []
    for r in latest.values():
        case, who, arm = cases[r.case_id], people[r.reader_id], arms[r.arm_id]
        rows.append({
            "study": study, "read_id": r.id, "case": case.pseudonym, "reader": who.name, "seniority": who.seniority,
            "arm": _arm_label(arm.name, arm.sequential, r.phase), "arm_name": arm.name, "phase": str(r.phase),
            "session": r.session, "revision": r.revision, "truth": case.truth, "probability": float(r.probability),
            "binary": int(r.binary), "confidence": r.confidence, "time_ms": r.time_ms, "active_ms": r.active_ms,
            "started_at": r.started_at.isoformat(), "submitted_at": r.submitted_at.isoformat(),
            "corrected_by": people[r.corrected_by].name if r.corrected_by in people else r.corrected_by,
            "correction_reason": r.reason, "app_version": r.app_version, "assignment_id": r.assignment_id,
            **read_fields(r),
        })
    return rows


def _model_rows(study: str, models: list, predictions: dict,
                cases: dict) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str]]:
    """(held-out prediction rows, training-case prediction rows, model labels)."""
    rows: list[dict[str, Any]] = []
    trained: list[dict[str, Any]] = []
    names: list[str] = []
    for mi in models:
        label = mi.name if mi.name not in names else f"{mi.name} {mi.version}"
        names.append(label)
        for p in predictions[mi.id]:
            case = cases[p.case_id]
            pct = float(p.probability) * _scale(p.probability)
            row = {"study": study, "read_id": p.id, "case": case.pseudonym, "reader": label,
                   "seniority": MODEL_SENIORITY, "arm": MODEL_ARM, "arm_name": MODEL_ARM, "phase": "",
                   "session": 0, "revision": 0, "truth": case.truth, "probability": pct,
                   "binary": int(pct >= 50.0), "submitted_at": p.created_at.isoformat(),
                   "ai_model_version": mi.version, "ai_checkpoint_hash": mi.checkpoint_hash}
            if p.in_training_set:
                trained.append({**row, "reader": label + TRAINING_SUFFIX, "arm": MODEL_ARM + TRAINING_SUFFIX})
            else:
                rows.append(row)
    return rows, trained, names


def _training_convention(trained: pd.DataFrame) -> tuple[str, ...]:
    if trained.empty:
        return ()
    counts = trained.groupby("reader").size()
    return ("Predictions of a model on cases it was trained on are excluded from every statistic and listed "
            f"in reads.csv under reader '<model>{TRAINING_SUFFIX}': "
            + ", ".join(f"{k} ({v} cases)" for k, v in counts.items()) + ".",)


def _tidy(rows: list[dict[str, Any]]) -> pd.DataFrame:
    if not rows:
        return empty_table()
    table = pd.DataFrame(rows)
    for col in READ_COLUMNS:
        if col not in table:
            table[col] = None
    for col in INT_COLUMNS:
        table[col] = pd.to_numeric(table[col], errors="coerce").astype("Int64")
    table["probability"] = table["probability"].astype(float)
    if "answers_schema" in table:  # reads of studies with study-defined questions
        table["answers_schema"] = pd.to_numeric(table["answers_schema"], errors="coerce").astype("Int64")
    return table.sort_values(["arm", "reader", "case"], kind="stable").reset_index(drop=True)


def _missing(assignments: list, people: dict, arms: dict, latest: dict) -> pd.DataFrame:
    done = set(latest)
    miss: dict[tuple[str, str], list[int]] = {}
    for asg in assignments:
        who, arm = people[asg.reader_id], arms[asg.arm_id]
        phases = (ReadPhase.UNAIDED, ReadPhase.AIDED) if arm.sequential else (ReadPhase.UNAIDED,)
        for phase in phases:
            slot = miss.setdefault((who.name, _arm_label(arm.name, arm.sequential, phase)), [0, 0])
            for cid in asg.case_ids:
                slot[0] += 1
                slot[1] += int((asg.id, cid, str(phase)) in done)
    return pd.DataFrame(
        [{"reader": k[0], "arm": k[1], "expected": v[0], "read": v[1], "missing": v[0] - v[1]}
         for k, v in sorted(miss.items())],
        columns=["reader", "arm", "expected", "read", "missing"],
    )


def _corrections(latest: dict, first: dict, cases: dict, people: dict, arms: dict) -> pd.DataFrame:
    def answers(r: Read) -> str:
        return f"p = {r.probability:g}, call {r.binary}, confidence {r.confidence}"

    rows = []
    for key, r in latest.items():
        if r.revision == 0:
            continue
        o, arm = first[key], arms[r.arm_id]
        rows.append({"reader": people[r.reader_id].name, "case": cases[r.case_id].pseudonym,
                     "arm": _arm_label(arm.name, arm.sequential, r.phase), "revision": r.revision,
                     "before": answers(o), "after": answers(r), "reason": r.reason or "",
                     "corrected_by": people[r.corrected_by].name if r.corrected_by in people else (r.corrected_by or ""),
                     "corrected_at": r.submitted_at.isoformat(timespec="minutes")})
    cols = ["reader", "case", "arm", "revision", "before", "after", "reason", "corrected_by", "corrected_at"]
    return pd.DataFrame(rows, columns=cols).sort_values(["reader", "case"]).reset_index(drop=True)


def _info(study: Any, cases: dict, people: dict, arms: dict, models: list, predictions: dict,
          table: pd.DataFrame) -> StudyInfo:
    proto = study.protocol.get(PROTOCOL_KEY)
    if proto:
        arm_info = tuple(ArmInfo(a["name"], bool(a.get("shows_ai")), bool(a.get("sequential")), a.get("model"))
                         for a in proto.get("arms", []))
    else:
        arm_info = tuple(ArmInfo(a.name, a.shows_ai, a.sequential) for a in sorted(arms.values(), key=lambda a: a.position))
    n_reads = Counter(table.loc[table["seniority"] != MODEL_SENIORITY, "reader"])
    order = {"senior": 0, "mid": 1, "junior": 2}
    readers = tuple(ReaderInfo(p.name, str(p.role), p.seniority, n_reads.get(p.name, 0))
                    for p in sorted(people.values(), key=lambda p: (order.get(p.seniority, 3), p.name))
                    if p.role == Role.READER)
    truths = [c.truth for c in cases.values()]
    n_pos, n_neg = truths.count(1), truths.count(0)
    realism = bool(cases) and all(str(c.source_ref).startswith(("real:", "synthetic:")) for c in cases.values())
    source = study.protocol.get("truth_source") or (
        "the image's origin (1 = synthetic, 0 = real), stored by the realism-study builder" if realism else None) or (
        "stored with each case at import (labels from the folder names or the manifest's truth column)"
        if n_pos + n_neg else "none imported")
    cards = tuple(ModelCard(m.name, m.version, m.checkpoint_hash, dict(m.config), len(predictions[m.id]))
                  for m in models)
    return StudyInfo(study.name, study.description, proto, arm_info, readers, len(cases), n_pos, n_neg,
                     dict(Counter(c.modality for c in cases.values())),
                     dict(Counter(c.site for c in cases.values() if c.site)), source, cards)


def collect_report_data(ctx: AppContext, session: UserSession, study_name: str, *,
                        command: str = "") -> ReportInput:
    """Read every read, case, reader, arm, assignment and model prediction of a study (any state).

    With the ground truth: coordinators of that study only (and the CLI's local session).
    """
    require_study(session, study_name, "collecting a study's reads for a report")
    with ctx.uow(read=True) as uow:
        study = uow.studies.by_name(study_name)
        practice = set(stored_practice(uow, study.id))  # practice cases are in no statistic or table
        cases = {c.id: c for c in uow.cases.list(study.id) if c.id not in practice}
        people = {r.id: r for r in uow.readers.list(study.id)}
        arms = {a.id: a for a in uow.arms.list(study.id)}
        assignments = uow.assignments.list(study.id)
        reads = uow.reads.for_study(study.id)
        models = uow.models.list(study.id)
        predictions = {mi.id: [p for p in uow.models.predictions(mi.id) if p.case_id not in practice]
                       for mi in models}
        prov = provenance(uow, ctx.url, study, reads, cases, people, arms, assignments, predictions, command)
    latest, first = _latest(reads)
    model_rows, trained_rows, model_names = _model_rows(study.name, models, predictions, cases)
    table = _tidy(_read_rows(study.name, latest, cases, people, arms) + model_rows)
    trained = _tidy(trained_rows)
    labels: list[str] = []
    for a in sorted(arms.values(), key=lambda a: a.position):
        if a.sequential:
            labels.append(a.name + PRE_AI_SUFFIX)
        labels.append(a.name)
    proto = study.protocol.get(PROTOCOL_KEY) or {}
    origins = _origins(cases)
    return ReportInput(study.name, table, _missing(assignments, people, arms, latest), tuple(labels),
                       tuple(model_names), _conventions(origins) + _training_convention(trained),
                       _info(study, cases, people, arms, models, predictions, table),
                       _corrections(latest, first, cases, people, arms), prov, proto.get("reference"), trained,
                       origins)


def _origins(cases: dict) -> pd.DataFrame | None:
    """Realism studies: each case's origin, class and generator from its source_ref (coordinators only)."""
    from readerstudy.services.realism_study import parse_origin

    parsed = {c.pseudonym: parse_origin(c.source_ref) for c in cases.values()}
    if not parsed or any(v is None for v in parsed.values()):
        return None  # not a realism study (every case of one carries its origin)
    rows = [{"case": k, "origin": v["origin"], "class_label": v["class_label"], "generator": v["generator"]}
            for k, v in parsed.items() if v is not None]
    out = pd.DataFrame(rows)
    out["class_label"] = pd.to_numeric(out["class_label"], errors="coerce").astype("Int64")
    return out.sort_values("case").reset_index(drop=True)


def _conventions(origins: pd.DataFrame | None) -> tuple[str, ...]:
    """The report's conventions; a realism study's truth and probability mean origin, not malignancy."""
    if origins is None:
        return CONVENTIONS
    return tuple(c for c in CONVENTIONS if not c.startswith("Probability is 0-100")) + (
        "Realism study: truth 1 = synthetic image, 0 = real image; the binary call 1 means 'synthetic' and "
        "the probability is the reader's probability (0-100) that the image is synthetic; reads.csv gives each "
        "case's origin, lesion class and generator.",)


def _scale(probability: float) -> float:
    """Stored model probabilities in [0, 1] are scaled to 0-100 (as the reading service shows them)."""
    p = float(probability)
    if not 0.0 <= p <= 100.0:
        raise ValidationError(f"A stored model probability {probability!r} is outside [0, 1] and [0, 100].")
    return 100.0 if p <= 1.0 else 1.0


def reader_roles(ctx: AppContext, session: UserSession, study_name: str) -> dict[str, Role]:
    """Name -> role of everyone in the study (coordinators)."""
    require_study(session, study_name, "listing a study's participants")
    with ctx.uow(read=True) as uow:
        study = uow.studies.by_name(study_name)
        return {r.name: r.role for r in uow.readers.list(study.id)}
