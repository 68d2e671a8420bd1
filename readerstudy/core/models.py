"""Domain records: frozen dataclasses that cross layer boundaries.

Repositories return these, never ORM rows, so nothing lazy or detached reaches a widget
or another thread. Times are timezone-aware UTC ``datetime``; durations are milliseconds.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any


class Role(enum.StrEnum):
    """What a person (or model) may do in a study."""

    READER = "reader"
    ANNOTATOR = "annotator"
    COORDINATOR = "coordinator"
    MODEL = "model"


class Seniority(enum.StrEnum):
    SENIOR = "senior"
    MID = "mid"
    JUNIOR = "junior"
    NONE = ""


class ReadPhase(enum.StrEnum):
    """``unaided`` is a read without AI; ``aided`` the second read of a sequential AI design."""

    UNAIDED = "unaided"
    AIDED = "aided"


@dataclass(frozen=True)
class Study:
    id: str
    name: str
    description: str
    created_at: datetime
    protocol: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Site:
    id: str
    study_id: str
    name: str


@dataclass(frozen=True)
class Case:
    """A case as the coordinator sees it (ground truth included). Readers get :class:`BlindedCase`."""

    id: str
    study_id: str
    pseudonym: str
    modality: str
    truth: int | None
    split: str
    site: str | None
    source_ref: str
    created_at: datetime


@dataclass(frozen=True)
class BlindedCase:
    """What a reader session may know about a case: its pseudonym and how to display it."""

    id: str
    pseudonym: str
    modality: str


@dataclass(frozen=True)
class ImageAsset:
    """A stored pixel file.

    ``shape`` is (frames/slices, rows, cols) for the stored array; ``spacing`` is (z, y, x) in mm
    (1.0 where unknown, and then ``spacing_known`` is False: sizes must be given in pixels); ``origin`` in mm and ``direction`` as a 9-tuple row-major (LPS, as ITK;
    see ``readerstudy.imaging.geometry``). The stored values are modality values (e.g. HU);
    ``invert`` (MONOCHROME1) asks the display to invert the grey *after* the window;
    ``notes`` are what the import checked or changed (e.g. a mask resampled onto this grid).
    """

    id: str
    case_id: str
    kind: str  # "image" | "dicom" | "mask"
    path: str  # relative to the study store
    checksum: str  # sha256 hex of the file
    format: str
    shape: tuple[int, ...]
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    direction: tuple[float, ...]
    dtype: str
    is_volume: bool
    is_cine: bool
    frame_time_ms: float | None
    window: tuple[float, float] | None  # (center, width) suggested by the source
    burned_in_annotation: str = ""  # "YES" / "NO" as the source DICOM says; "" when it does not say
    clean_pixel_rects: tuple[tuple[int, int, int, int], ...] = ()  # (x0, y0, x1, y1) masked at import
    invert: bool = False
    photometric: str = "MONOCHROME2"
    notes: tuple[str, ...] = ()
    spacing_known: bool = True  # False: the source gave no pixel spacing; ``spacing`` is 1 mm by convention


@dataclass(frozen=True)
class Reader:
    """A participant. ``pin_hash`` never leaves storage/services; this record does not carry it."""

    id: str
    study_id: str
    name: str
    role: Role
    seniority: str
    active: bool = True  # deactivated participants keep their reads but cannot sign in


@dataclass(frozen=True)
class Arm:
    id: str
    study_id: str
    name: str
    shows_ai: bool
    sequential: bool
    position: int


@dataclass(frozen=True)
class OrderExtension:
    """Cases appended to an order after it was given: ``case_ids[start:start + count]``.

    Their order is ``numpy.random.default_rng(seed).permutation(count)`` of the new cases in the
    study's case order (import time, then source reference); ``at`` is when they were appended (UTC).
    """

    start: int
    count: int
    seed: int
    at: datetime


@dataclass(frozen=True)
class Assignment:
    """A reader reads ``case_ids`` in this order in one arm and session.

    ``case_ids[:n]`` with ``n`` the length when the order was given is the permutation drawn from
    ``seed``; ``extensions`` record each later block of appended cases (never reordering earlier ones).
    """

    id: str
    study_id: str
    reader_id: str
    arm_id: str
    session: int
    seed: int
    case_ids: tuple[str, ...]
    not_before: datetime | None  # washout: the session may not start before this time
    extensions: tuple[OrderExtension, ...] = ()
    reopened: dict[str, Any] | None = None  # {"at", "by", "reason"}: opened before its washout date


@dataclass(frozen=True)
class Read:
    id: str
    assignment_id: str
    case_id: str
    reader_id: str
    arm_id: str
    session: int
    phase: ReadPhase
    revision: int  # 0 = the reader's read; >0 = coordinator corrections (original kept)
    probability: float
    binary: int
    confidence: int
    time_ms: int
    active_ms: int
    started_at: datetime
    submitted_at: datetime
    app_version: str
    view_state: dict[str, Any]
    ai_shown: dict[str, Any] | None
    corrected_by: str | None = None
    reason: str | None = None
    answers: dict[str, Any] | None = None  # study-defined questions: key -> answer (None: the study has none)
    answers_schema: int | None = None  # version of the stored answers' layout (core.questions.ANSWERS_SCHEMA)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["phase"] = str(self.phase)
        d["started_at"] = self.started_at.isoformat()
        d["submitted_at"] = self.submitted_at.isoformat()
        return d


@dataclass(frozen=True)
class AnnotationRecord:
    """One saved version of one annotator's mask of one case."""

    id: str
    case_id: str
    annotator_id: str
    label_set: dict[str, Any]
    path: str
    checksum: str
    version: int
    parent_id: str | None
    created_at: datetime


@dataclass(frozen=True)
class ModelInfo:
    id: str
    study_id: str
    reader_id: str
    name: str
    version: str
    checkpoint_hash: str
    config: dict[str, Any]


@dataclass(frozen=True)
class Prediction:
    id: str
    run_id: str
    model_id: str
    case_id: str
    probability: float
    saliency_path: str | None
    created_at: datetime
    in_training_set: bool = False  # the model was trained on this case (or on the same image)


@dataclass(frozen=True)
class AuditEvent:
    seq: int
    at: datetime
    actor: str
    action: str
    entity: str
    entity_id: str
    payload: dict[str, Any]
    prev_hash: str
    hash: str
    chain: str = ""  # "" = this database's own chain; else a merged site's sealed segment
