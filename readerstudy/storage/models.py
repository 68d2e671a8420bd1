"""SQLAlchemy 2.0 ORM models of the data model in DESIGN.md.

Primary keys are UUID strings so per-site databases can be merged without collisions.
Every change to these classes needs an Alembic revision (``tests/storage`` checks that the
migrations and these models agree).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_id() -> str:
    return uuid.uuid4().hex


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dict[str, Any]: JSON, datetime: DateTime(timezone=True)}


def _pk() -> Mapped[str]:
    return mapped_column(String(32), primary_key=True, default=new_id)


class StudyRow(Base):
    __tablename__ = "study"
    id: Mapped[str] = _pk()
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    protocol: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SiteRow(Base):
    __tablename__ = "site"
    __table_args__ = (UniqueConstraint("study_id", "name"),)
    id: Mapped[str] = _pk()
    study_id: Mapped[str] = mapped_column(ForeignKey("study.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))


class CaseRow(Base):
    __tablename__ = "case"
    __table_args__ = (UniqueConstraint("study_id", "pseudonym"), UniqueConstraint("study_id", "source_ref"))
    id: Mapped[str] = _pk()
    study_id: Mapped[str] = mapped_column(ForeignKey("study.id", ondelete="CASCADE"), index=True)
    pseudonym: Mapped[str] = mapped_column(String(64))
    source_ref: Mapped[str] = mapped_column(String(500))
    modality: Mapped[str] = mapped_column(String(16), default="OT")
    truth: Mapped[int | None] = mapped_column(Integer, nullable=True)
    split: Mapped[str] = mapped_column(String(16), default="test")
    site_id: Mapped[str | None] = mapped_column(ForeignKey("site.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PhiMappingRow(Base):
    """Private re-identification table. Only the coordinator role may read it."""

    __tablename__ = "phi_mapping"
    id: Mapped[str] = _pk()
    case_id: Mapped[str] = mapped_column(ForeignKey("case.id", ondelete="CASCADE"), unique=True)
    original: Mapped[dict[str, Any]] = mapped_column(default=dict)
    date_shift_days: Mapped[int] = mapped_column(Integer, default=0)


class ImageAssetRow(Base):
    __tablename__ = "image_asset"
    id: Mapped[str] = _pk()
    case_id: Mapped[str] = mapped_column(ForeignKey("case.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    path: Mapped[str] = mapped_column(String(500))
    checksum: Mapped[str] = mapped_column(String(64))
    format: Mapped[str] = mapped_column(String(16))
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)


class ReaderRow(Base):
    __tablename__ = "reader"
    __table_args__ = (UniqueConstraint("study_id", "name"),)
    id: Mapped[str] = _pk()
    study_id: Mapped[str] = mapped_column(ForeignKey("study.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    seniority: Mapped[str] = mapped_column(String(16), default="")
    pin_hash: Mapped[str] = mapped_column(String(300), default="")
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(nullable=True)
    # deactivated participants keep their reads but cannot sign in (never deleted: reads reference them)
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # set by a coordinator's PIN reset: the participant chooses a new PIN at the next sign-in
    must_change_pin: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class ArmRow(Base):
    __tablename__ = "arm"
    __table_args__ = (UniqueConstraint("study_id", "name"),)
    id: Mapped[str] = _pk()
    study_id: Mapped[str] = mapped_column(ForeignKey("study.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    shows_ai: Mapped[bool] = mapped_column(Boolean, default=False)
    sequential: Mapped[bool] = mapped_column(Boolean, default=False)
    position: Mapped[int] = mapped_column(Integer, default=0)


class AssignmentRow(Base):
    __tablename__ = "assignment"
    __table_args__ = (UniqueConstraint("reader_id", "arm_id", "session"),)
    id: Mapped[str] = _pk()
    study_id: Mapped[str] = mapped_column(ForeignKey("study.id", ondelete="CASCADE"), index=True)
    reader_id: Mapped[str] = mapped_column(ForeignKey("reader.id", ondelete="CASCADE"), index=True)
    arm_id: Mapped[str] = mapped_column(ForeignKey("arm.id", ondelete="CASCADE"))
    session: Mapped[int] = mapped_column(Integer, default=1)
    seed: Mapped[int] = mapped_column(Integer)
    case_ids: Mapped[dict[str, Any]] = mapped_column(JSON)  # {"order": [case ids]}
    not_before: Mapped[datetime | None] = mapped_column(nullable=True)
    # {"at", "by", "reason"}: a coordinator opened this session before its washout date
    reopened: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReadRow(Base):
    __tablename__ = "read"
    __table_args__ = (UniqueConstraint("assignment_id", "case_id", "phase", "revision"),)
    id: Mapped[str] = _pk()
    assignment_id: Mapped[str] = mapped_column(ForeignKey("assignment.id"), index=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("case.id"), index=True)
    reader_id: Mapped[str] = mapped_column(ForeignKey("reader.id"), index=True)
    arm_id: Mapped[str] = mapped_column(ForeignKey("arm.id"))
    session: Mapped[int] = mapped_column(Integer)
    phase: Mapped[str] = mapped_column(String(16), default="unaided")
    revision: Mapped[int] = mapped_column(Integer, default=0)
    probability: Mapped[float] = mapped_column(Float)
    binary: Mapped[int] = mapped_column(Integer)
    confidence: Mapped[int] = mapped_column(Integer)
    time_ms: Mapped[int] = mapped_column(Integer)
    active_ms: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column()
    submitted_at: Mapped[datetime] = mapped_column()
    app_version: Mapped[str] = mapped_column(String(32))
    view_state: Mapped[dict[str, Any]] = mapped_column(default=dict)
    ai_shown: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    corrected_by: Mapped[str | None] = mapped_column(String(32), nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    answers: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)  # {"schema", "values"}; 0007


class AnnotationRow(Base):
    __tablename__ = "annotation"
    __table_args__ = (UniqueConstraint("case_id", "annotator_id", "version"),)
    id: Mapped[str] = _pk()
    case_id: Mapped[str] = mapped_column(ForeignKey("case.id", ondelete="CASCADE"), index=True)
    annotator_id: Mapped[str] = mapped_column(ForeignKey("reader.id"), index=True)
    label_set: Mapped[dict[str, Any]] = mapped_column(default=dict)
    path: Mapped[str] = mapped_column(String(500))
    checksum: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer, default=1)
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("annotation.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LabelSetRow(Base):
    """A study's annotation label set (what new masks start with); ``labels`` is ``LabelSet.to_dict()``."""

    __tablename__ = "label_set"
    id: Mapped[str] = _pk()
    study_id: Mapped[str] = mapped_column(ForeignKey("study.id", ondelete="CASCADE"), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    labels: Mapped[dict[str, Any]] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ModelRow(Base):
    __tablename__ = "model"
    __table_args__ = (UniqueConstraint("study_id", "name", "version"),)
    id: Mapped[str] = _pk()
    study_id: Mapped[str] = mapped_column(ForeignKey("study.id", ondelete="CASCADE"), index=True)
    reader_id: Mapped[str] = mapped_column(ForeignKey("reader.id"))
    name: Mapped[str] = mapped_column(String(200))
    version: Mapped[str] = mapped_column(String(64))
    checkpoint_hash: Mapped[str] = mapped_column(String(64), default="")
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ModelRunRow(Base):
    """One engine job (training, synthesis, batch prediction), run in a child process.

    ``status``: queued, running, cancelled, failed, done or interrupted (a run left running by a
    GUI that was killed). ``model_id`` stays empty until the run's model exists (a training run's
    model is created when it is first added as a reader). ``data``: what the run was given (study,
    case counts, split); ``metrics``: what it measured (held-out evaluation); ``command``: the argv
    of the child process (``python -m readerstudy engine ...``) that Resume runs again.
    """

    __tablename__ = "model_run"
    id: Mapped[str] = _pk()
    model_id: Mapped[str | None] = mapped_column(ForeignKey("model.id", ondelete="CASCADE"), index=True,
                                                 nullable=True)
    study_id: Mapped[str | None] = mapped_column(ForeignKey("study.id", ondelete="CASCADE"), index=True,
                                                 nullable=True)
    kind: Mapped[str] = mapped_column(String(32), default="predict")
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="running")
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(nullable=True)
    preset: Mapped[str | None] = mapped_column(String(32), nullable=True)
    device: Mapped[str] = mapped_column(String(64), default="", server_default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, server_default="{}")
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, server_default="{}")
    out_dir: Mapped[str] = mapped_column(String(1000), default="", server_default="")
    log_path: Mapped[str] = mapped_column(String(1000), default="", server_default="")
    command: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    pid: Mapped[int | None] = mapped_column(Integer, nullable=True)


class PredictionRow(Base):
    __tablename__ = "prediction"
    __table_args__ = (UniqueConstraint("run_id", "case_id"),)
    id: Mapped[str] = _pk()
    run_id: Mapped[str] = mapped_column(ForeignKey("model_run.id", ondelete="CASCADE"), index=True)
    model_id: Mapped[str] = mapped_column(ForeignKey("model.id", ondelete="CASCADE"), index=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("case.id", ondelete="CASCADE"), index=True)
    probability: Mapped[float] = mapped_column(Float)
    saliency_path: Mapped[str | None] = mapped_column(String(500), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The model was trained on this case (the same case, or the same image in another study).
    in_training_set: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class SyntheticImageRow(Base):
    __tablename__ = "synthetic_image"
    id: Mapped[str] = _pk()
    case_id: Mapped[str] = mapped_column(ForeignKey("case.id", ondelete="CASCADE"), index=True)
    model_id: Mapped[str | None] = mapped_column(ForeignKey("model.id"), nullable=True)
    model_hash: Mapped[str] = mapped_column(String(64))
    seed: Mapped[int] = mapped_column(Integer)
    mask_annotation_id: Mapped[str | None] = mapped_column(ForeignKey("annotation.id"), nullable=True)
    class_label: Mapped[int] = mapped_column(Integer)
    prompt: Mapped[str] = mapped_column(Text, default="")
    sampler: Mapped[str] = mapped_column(String(32))
    steps: Mapped[int] = mapped_column(Integer)
    guidance_scale: Mapped[float] = mapped_column(Float, default=1.0)
    path: Mapped[str] = mapped_column(String(500))
    checksum: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditEventRow(Base):
    """Append-only, hash-chained: ``hash = sha256(prev_hash + canonical JSON of the event)``.

    ``chain`` is ``""`` for this database's own chain, else the name of a sealed segment merged
    from another site's database (see ``services/merge.py``).
    """

    __tablename__ = "audit_event"
    # two writers that raced from the same tip cannot both append (a chain never forks)
    __table_args__ = (UniqueConstraint("chain", "prev_hash"),)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    chain: Mapped[str] = mapped_column(String(64), default="", server_default="")
