"""ORM row -> core dataclass conversions (the only place that knows both shapes)."""

from __future__ import annotations

from datetime import UTC, datetime

from readerstudy.core import models as m
from readerstudy.storage import models as orm


def aware(value: datetime | None) -> datetime | None:
    """SQLite drops tzinfo; every datetime we store is UTC."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def study(r: orm.StudyRow) -> m.Study:
    return m.Study(r.id, r.name, r.description, aware(r.created_at), dict(r.protocol or {}))


def case(r: orm.CaseRow, site_name: str | None = None) -> m.Case:
    return m.Case(
        r.id, r.study_id, r.pseudonym, r.modality, r.truth, r.split, site_name, r.source_ref,
        aware(r.created_at),
    )


def blinded_case(r: orm.CaseRow) -> m.BlindedCase:
    return m.BlindedCase(r.id, r.pseudonym, r.modality)


def asset(r: orm.ImageAssetRow) -> m.ImageAsset:
    meta = r.meta or {}
    window = meta.get("window")
    return m.ImageAsset(
        id=r.id,
        case_id=r.case_id,
        kind=r.kind,
        path=r.path,
        checksum=r.checksum,
        format=r.format,
        shape=tuple(meta.get("shape", ())),
        spacing=tuple(meta.get("spacing", (1.0, 1.0, 1.0))),
        origin=tuple(meta.get("origin", (0.0, 0.0, 0.0))),
        direction=tuple(meta.get("direction", (1, 0, 0, 0, 1, 0, 0, 0, 1))),
        dtype=meta.get("dtype", ""),
        is_volume=bool(meta.get("is_volume", False)),
        is_cine=bool(meta.get("is_cine", False)),
        frame_time_ms=meta.get("frame_time_ms"),
        window=tuple(window) if window else None,
        burned_in_annotation=str(meta.get("burned_in_annotation", "") or ""),
        clean_pixel_rects=tuple(tuple(int(v) for v in r) for r in meta.get("clean_pixel_rects", ()) or ()),
        invert=bool(meta.get("invert", False)),
        photometric=str(meta.get("photometric", "MONOCHROME2")),
        notes=tuple(meta.get("notes", ())),
        spacing_known=_spacing_known(meta),
    )


def _spacing_known(meta: dict) -> bool:
    """Whether the stored spacing came from the file. Assets imported before the flag was stored:
    unknown when the import noted the 1 mm stand-in, or for an unplaced 2D image at exactly 1 mm
    (how PNG/JPEG were stored); a true 1 mm spacing of such an image is then shown in pixels."""
    if "spacing_known" in meta:
        return bool(meta["spacing_known"])
    if any("1 mm assumed" in str(n) for n in meta.get("notes", ()) or ()):
        return False
    flat_2d = not meta.get("is_volume", False) and not meta.get("is_cine", False)
    return not (flat_2d and not meta.get("placed", False) and list(meta.get("spacing", (1.0, 1.0, 1.0))) == [1.0] * 3)


def reader(r: orm.ReaderRow) -> m.Reader:
    return m.Reader(r.id, r.study_id, r.name, m.Role(r.role), r.seniority, bool(r.active))


def arm(r: orm.ArmRow) -> m.Arm:
    return m.Arm(r.id, r.study_id, r.name, r.shows_ai, r.sequential, r.position)


def assignment(r: orm.AssignmentRow) -> m.Assignment:
    extensions = tuple(m.OrderExtension(int(e["start"]), int(e["count"]), int(e["seed"]),
                                        datetime.fromisoformat(e["at"]))  # stored with its UTC offset
                       for e in r.case_ids.get("extensions", ()))
    return m.Assignment(
        r.id, r.study_id, r.reader_id, r.arm_id, r.session, r.seed,
        tuple(r.case_ids["order"]), aware(r.not_before), extensions,
        dict(r.reopened) if r.reopened is not None else None,
    )


def read(r: orm.ReadRow) -> m.Read:
    return m.Read(
        id=r.id, assignment_id=r.assignment_id, case_id=r.case_id, reader_id=r.reader_id,
        arm_id=r.arm_id, session=r.session, phase=m.ReadPhase(r.phase), revision=r.revision,
        probability=r.probability, binary=r.binary, confidence=r.confidence, time_ms=r.time_ms,
        active_ms=r.active_ms, started_at=aware(r.started_at), submitted_at=aware(r.submitted_at),
        app_version=r.app_version, view_state=dict(r.view_state or {}),
        ai_shown=dict(r.ai_shown) if r.ai_shown is not None else None,
        corrected_by=r.corrected_by, reason=r.reason,
        answers=dict(r.answers.get("values") or {}) if r.answers is not None else None,
        answers_schema=r.answers.get("schema") if r.answers is not None else None,
    )


def annotation(r: orm.AnnotationRow) -> m.AnnotationRecord:
    return m.AnnotationRecord(
        r.id, r.case_id, r.annotator_id, dict(r.label_set or {}), r.path, r.checksum, r.version,
        r.parent_id, aware(r.created_at),
    )


def model(r: orm.ModelRow) -> m.ModelInfo:
    return m.ModelInfo(r.id, r.study_id, r.reader_id, r.name, r.version, r.checkpoint_hash, dict(r.config or {}))


def prediction(r: orm.PredictionRow) -> m.Prediction:
    return m.Prediction(r.id, r.run_id, r.model_id, r.case_id, r.probability, r.saliency_path, aware(r.created_at),
                        bool(r.in_training_set))


def audit(r: orm.AuditEventRow) -> m.AuditEvent:
    return m.AuditEvent(
        r.seq, aware(r.at), r.actor, r.action, r.entity, r.entity_id, dict(r.payload or {}), r.prev_hash, r.hash,
        r.chain or "",
    )
