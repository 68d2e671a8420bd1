"""What a report is built from: the tidy read table plus the study's description and provenance.

:class:`ReportInput` is plain data (pandas frames and frozen dataclasses), built by
:func:`readerstudy.services.report_data.collect_report_data` from the database and consumed by
the pure functions of this package, so any subset of a study's reads can be reported without a
database (the property tests do exactly that).

The tidy table has one row per counted read (the latest revision of each assignment x case x
phase) or model prediction. The columns the statistics use are :data:`STAT_COLUMNS`; the
stored fields of a read that ``reads.csv`` also carries follow (:data:`READ_COLUMNS`), then
one ``view_<key>`` / ``ai_<key>`` column per further key of the stored view state or AI log,
then ``answer_<question>`` and ``practice`` columns when reads carry them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd

__all__ = [
    "MODEL_ARM",
    "MODEL_SENIORITY",
    "PRE_AI_SUFFIX",
    "READ_COLUMNS",
    "TRAINING_SUFFIX",
    "STAT_COLUMNS",
    "ArmInfo",
    "ModelCard",
    "Provenance",
    "ReaderInfo",
    "ReportInput",
    "StudyInfo",
]

MODEL_ARM = "model"
MODEL_SENIORITY = "model"
PRE_AI_SUFFIX = " (pre-AI)"
TRAINING_SUFFIX = " (training cases)"  # reader and arm suffix of a model's predictions on its training cases
SENIORITY_ORDER = {"senior": 0, "mid": 1, "junior": 2}

STAT_COLUMNS: tuple[str, ...] = (
    "study", "case", "reader", "seniority", "arm", "session", "probability", "binary",
    "confidence", "time_ms", "active_ms", "submitted_at", "truth",
)
READ_COLUMNS: tuple[str, ...] = (
    "study", "read_id", "case", "reader", "seniority", "arm", "arm_name", "phase", "session", "revision",
    "truth", "probability", "binary", "confidence", "time_ms", "active_ms", "started_at", "submitted_at",
    "view_window_center", "view_window_width", "view_preset", "view_zoom", "view_center_x", "view_center_y",
    "view_slice", "view_slices",
    "ai_model", "ai_model_version", "ai_checkpoint_hash", "ai_prediction_id", "ai_probability_pct",
    "ai_saliency_shown", "ai_shown_at",
    "corrected_by", "correction_reason", "app_version", "assignment_id",
)
INT_COLUMNS = ("session", "revision", "binary", "confidence", "time_ms", "active_ms", "truth", "view_slice",
               "view_slices")


@dataclass(frozen=True)
class ArmInfo:
    """One arm as the protocol defines it (a sequential arm yields two report arms)."""

    name: str
    shows_ai: bool
    sequential: bool
    model: str | None = None


@dataclass(frozen=True)
class ReaderInfo:
    name: str
    role: str
    seniority: str
    n_reads: int = 0


@dataclass(frozen=True)
class ModelCard:
    """A model that reads as a reader: identity, what it was trained on and how, from its stored config."""

    name: str
    version: str
    checkpoint_hash: str
    config: dict[str, Any]
    n_predictions: int


@dataclass(frozen=True)
class StudyInfo:
    """The study summary page: design, arms, readers, cases, truth source, models."""

    name: str
    description: str = ""
    protocol: dict[str, Any] | None = None  # Protocol.to_dict(), None before a protocol is applied
    arms: tuple[ArmInfo, ...] = ()
    readers: tuple[ReaderInfo, ...] = ()
    n_cases: int = 0
    n_positive: int = 0
    n_negative: int = 0
    modalities: dict[str, int] = field(default_factory=dict)
    sites: dict[str, int] = field(default_factory=dict)
    truth_source: str = ""
    models: tuple[ModelCard, ...] = ()

    @property
    def n_without_truth(self) -> int:
        return self.n_cases - self.n_positive - self.n_negative


@dataclass(frozen=True)
class Provenance:
    """What makes the report reproducible (printed in every page footer and in report.json)."""

    app_version: str = ""
    generated_at: str = ""
    database: str = ""  # the database as the user named it (no password)
    data_checksum: str = ""  # sha256 of the study's stored reads, cases, readers and predictions
    audit_head_seq: int | None = None
    audit_head_hash: str = ""
    audit_verified: bool | None = None
    command: str = ""


@dataclass(frozen=True)
class ReportInput:
    """Everything a report shows; ``table`` columns: see the module docstring."""

    study: str
    table: pd.DataFrame
    missing: pd.DataFrame  # reader, arm, expected, read, missing
    arms: tuple[str, ...]  # report arm labels in protocol order (pre-AI label before the aided one)
    models: tuple[str, ...]
    conventions: tuple[str, ...] = field(default=())
    info: StudyInfo | None = None
    corrections: pd.DataFrame | None = None  # one row per corrected read: original and final answers
    provenance: Provenance = field(default_factory=Provenance)
    reference: str | None = None  # the protocol's reference, if it names one
    # a model's predictions on cases it was trained on (reader "<model> (training cases)", arm
    # "model (training cases)"): never in ``table``, so in no statistic; reads.csv lists them
    training_predictions: pd.DataFrame | None = None
    # realism studies only (readerstudy.services.realism_study): one row per case, columns ``case``
    # (pseudonym), ``origin`` ("real"/"synthetic"), ``class_label`` (Int64) and ``generator`` (12 hex
    # digits of the checkpoint sha256), from the cases' source_ref; None for any other study
    origins: pd.DataFrame | None = None

    @property
    def export_table(self) -> pd.DataFrame:
        """``table`` plus the training-case predictions, marked by reader and arm: what reads.csv lists.

        A realism study's reads also carry the case's ``origin``, ``origin_class`` and
        ``origin_generator`` (reads.csv is the coordinator's).
        """
        extra = self.training_predictions
        table = self.table if extra is None or extra.empty else pd.concat([self.table, extra], ignore_index=True)
        if self.origins is None or self.origins.empty:
            return table
        o = self.origins.rename(columns={"class_label": "origin_class", "generator": "origin_generator"})
        return table.merge(o, on="case", how="left")

    def with_table(self, table: pd.DataFrame) -> ReportInput:
        """The same study with another (e.g. a subset of the) read table."""
        return replace(self, table=table)

    @property
    def has_truth(self) -> bool:
        """Whether any case of the study has ground truth (the table, or the study summary, says so)."""
        if self.info is not None and (self.info.n_positive + self.info.n_negative) > 0:
            return True
        return bool(self.table["truth"].notna().any()) if len(self.table) else False


def empty_table() -> pd.DataFrame:
    t = pd.DataFrame({c: pd.Series(dtype="object") for c in READ_COLUMNS})
    for c in INT_COLUMNS:
        t[c] = t[c].astype("Int64")
    t["probability"] = t["probability"].astype(float)
    return t
