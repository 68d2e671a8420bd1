"""Repositories: the only code that queries ORM rows. They return core dataclasses.

Roles are not checked here (services do that); repositories only store and fetch.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from readerstudy.core import models as m
from readerstudy.core.errors import ConflictError, NotFoundError
from readerstudy.core.reading import validate_model_probability
from readerstudy.storage import convert
from readerstudy.storage import models as orm


class _Repo:
    def __init__(self, session: Session) -> None:
        self._s = session

    def _get(self, cls: type, key: str, what: str) -> Any:
        row = self._s.get(cls, key)
        if row is None:
            raise NotFoundError(f"No {what} with id {key!r}.")
        return row


class StudyRepository(_Repo):
    def add(self, name: str, description: str = "", protocol: dict[str, Any] | None = None, *,
            study_id: str | None = None) -> m.Study:
        if self._s.scalar(select(orm.StudyRow.id).where(orm.StudyRow.name == name)):
            raise ConflictError(f"A study named {name!r} already exists; choose another name.")
        row = orm.StudyRow(name=name, description=description, protocol=protocol or {})
        if study_id is not None:
            row.id = study_id
        self._s.add(row)
        self._s.flush()
        return convert.study(row)

    def by_name(self, name: str) -> m.Study:
        row = self._s.scalars(select(orm.StudyRow).where(orm.StudyRow.name == name)).first()
        if row is None:
            known = ", ".join(repr(s.name) for s in self.list()) or "none yet"
            raise NotFoundError(f"No study named {name!r} (studies in this database: {known}).")
        return convert.study(row)

    def find(self, name: str) -> m.Study | None:
        row = self._s.scalars(select(orm.StudyRow).where(orm.StudyRow.name == name)).first()
        return convert.study(row) if row else None

    def get(self, study_id: str) -> m.Study:
        return convert.study(self._get(orm.StudyRow, study_id, "study"))

    def list(self) -> list[m.Study]:
        return [convert.study(r) for r in self._s.scalars(select(orm.StudyRow).order_by(orm.StudyRow.name))]

    def set_protocol(self, study_id: str, protocol: dict[str, Any]) -> None:
        self._get(orm.StudyRow, study_id, "study").protocol = protocol


class CaseRepository(_Repo):
    def _site_id(self, study_id: str, name: str | None) -> str | None:
        if not name:
            return None
        q = select(orm.SiteRow.id).where(orm.SiteRow.study_id == study_id, orm.SiteRow.name == name)
        sid = self._s.scalar(q)
        if sid is None:
            row = orm.SiteRow(study_id=study_id, name=name)
            self._s.add(row)
            self._s.flush()
            sid = row.id
        return sid

    def new_pseudonym(self, study_id: str) -> str:
        """An opaque id that leaks nothing (not order, class or source): ``RS-`` + 8 random hex."""
        while True:
            p = "RS-" + secrets.token_hex(4).upper()
            if not self._s.scalar(select(orm.CaseRow.id).where(orm.CaseRow.study_id == study_id,
                                                               orm.CaseRow.pseudonym == p)):
                return p

    def add(self, study_id: str, *, source_ref: str, modality: str, truth: int | None = None,
            split: str = "test", site: str | None = None, pseudonym: str | None = None) -> m.Case:
        if self.by_source(study_id, source_ref) is not None:
            raise ConflictError(f"Case {source_ref!r} is already in this study; use another case id.")
        row = orm.CaseRow(study_id=study_id, pseudonym=pseudonym or self.new_pseudonym(study_id),
                          source_ref=source_ref, modality=modality, truth=truth, split=split,
                          site_id=self._site_id(study_id, site))
        self._s.add(row)
        self._s.flush()
        return convert.case(row, site)

    def _site_names(self, study_id: str) -> dict[str, str]:
        q = select(orm.SiteRow.id, orm.SiteRow.name).where(orm.SiteRow.study_id == study_id)
        return {sid: name for sid, name in self._s.execute(q)}

    def get(self, case_id: str) -> m.Case:
        row = self._get(orm.CaseRow, case_id, "case")
        return convert.case(row, self._site_names(row.study_id).get(row.site_id or ""))

    def blinded(self, case_id: str) -> m.BlindedCase:
        # selects only the blinded columns: a reader session never even reads truth or source_ref
        q = select(orm.CaseRow.id, orm.CaseRow.pseudonym, orm.CaseRow.modality).where(orm.CaseRow.id == case_id)
        row = self._s.execute(q).first()
        if row is None:
            raise NotFoundError(f"No case with id {case_id!r}.")
        return m.BlindedCase(row.id, row.pseudonym, row.modality)

    def by_source(self, study_id: str, source_ref: str) -> m.Case | None:
        q = select(orm.CaseRow).where(orm.CaseRow.study_id == study_id, orm.CaseRow.source_ref == source_ref)
        row = self._s.scalars(q).first()
        return convert.case(row) if row else None

    def by_pseudonym(self, study_id: str, pseudonym: str) -> m.Case:
        q = select(orm.CaseRow).where(orm.CaseRow.study_id == study_id, orm.CaseRow.pseudonym == pseudonym)
        row = self._s.scalars(q).first()
        if row is None:
            raise NotFoundError(f"No case {pseudonym!r} in this study.")
        return convert.case(row)

    def list(self, study_id: str) -> list[m.Case]:
        sites = self._site_names(study_id)
        q = select(orm.CaseRow).where(orm.CaseRow.study_id == study_id).order_by(orm.CaseRow.created_at,
                                                                                 orm.CaseRow.source_ref)
        return [convert.case(r, sites.get(r.site_id or "")) for r in self._s.scalars(q)]

    def count(self, study_id: str) -> int:
        return self._s.scalar(select(func.count()).where(orm.CaseRow.study_id == study_id)) or 0

    def set_phi(self, case_id: str, original: dict[str, Any], date_shift_days: int) -> None:
        self._s.add(orm.PhiMappingRow(case_id=case_id, original=original, date_shift_days=date_shift_days))

    def phi(self, case_id: str) -> dict[str, Any]:
        row = self._s.scalars(select(orm.PhiMappingRow).where(orm.PhiMappingRow.case_id == case_id)).first()
        if row is None:
            return {}
        return {"original": dict(row.original), "date_shift_days": row.date_shift_days}


class AssetRepository(_Repo):
    def add(self, case_id: str, *, kind: str, path: str, checksum: str, format: str,
            meta: dict[str, Any]) -> m.ImageAsset:
        row = orm.ImageAssetRow(case_id=case_id, kind=kind, path=path, checksum=checksum, format=format,
                                meta=meta)
        self._s.add(row)
        self._s.flush()
        return convert.asset(row)

    def for_case(self, case_id: str, kind: str | None = "image") -> list[m.ImageAsset]:
        q = select(orm.ImageAssetRow).where(orm.ImageAssetRow.case_id == case_id)
        if kind is not None:
            q = q.where(orm.ImageAssetRow.kind == kind)
        return [convert.asset(r) for r in self._s.scalars(q.order_by(orm.ImageAssetRow.path))]

    def image(self, case_id: str) -> m.ImageAsset:
        assets = self.for_case(case_id, "image")
        if not assets:
            raise NotFoundError(f"Case {case_id!r} has no stored image.")
        return assets[0]


class ReaderRepository(_Repo):
    def add(self, study_id: str, name: str, role: m.Role, *, seniority: str = "", pin_hash: str = "") -> m.Reader:
        q = select(orm.ReaderRow.id).where(orm.ReaderRow.study_id == study_id, orm.ReaderRow.name == name)
        if self._s.scalar(q):
            raise ConflictError(f"A participant named {name!r} already exists in this study.")
        row = orm.ReaderRow(study_id=study_id, name=name, role=str(role), seniority=seniority, pin_hash=pin_hash)
        self._s.add(row)
        self._s.flush()
        return convert.reader(row)

    def get(self, reader_id: str) -> m.Reader:
        return convert.reader(self._get(orm.ReaderRow, reader_id, "participant"))

    def by_name(self, study_id: str, name: str) -> m.Reader:
        q = select(orm.ReaderRow).where(orm.ReaderRow.study_id == study_id, orm.ReaderRow.name == name)
        row = self._s.scalars(q).first()
        if row is None:
            raise NotFoundError(f"No participant named {name!r} in this study.")
        return convert.reader(row)

    def list(self, study_id: str, role: m.Role | None = None) -> list[m.Reader]:
        q = select(orm.ReaderRow).where(orm.ReaderRow.study_id == study_id)
        if role is not None:
            q = q.where(orm.ReaderRow.role == str(role))
        return [convert.reader(r) for r in self._s.scalars(q.order_by(orm.ReaderRow.name))]

    def credentials(self, reader_id: str) -> tuple[str, int, datetime | None]:
        """(pin_hash, failed_attempts, locked_until): for the sign-in service only."""
        row = self._get(orm.ReaderRow, reader_id, "participant")
        return row.pin_hash, row.failed_attempts, convert.aware(row.locked_until)

    def set_login_state(self, reader_id: str, failed_attempts: int, locked_until: datetime | None) -> None:
        row = self._get(orm.ReaderRow, reader_id, "participant")
        row.failed_attempts = failed_attempts
        row.locked_until = locked_until

    def set_pin_hash(self, reader_id: str, pin_hash: str, *, must_change: bool = False) -> None:
        """Store a new PIN hash; ``must_change`` asks for a new PIN at the next sign-in (a reset)."""
        row = self._get(orm.ReaderRow, reader_id, "participant")
        row.pin_hash = pin_hash
        row.must_change_pin = must_change

    def account(self, reader_id: str) -> tuple[bool, bool]:
        """(active, must_change_pin): for the sign-in and participants services."""
        row = self._get(orm.ReaderRow, reader_id, "participant")
        return bool(row.active), bool(row.must_change_pin)

    def set_active(self, reader_id: str, active: bool) -> None:
        self._get(orm.ReaderRow, reader_id, "participant").active = active

    def rename(self, reader_id: str, new_name: str) -> None:
        row = self._get(orm.ReaderRow, reader_id, "participant")
        q = select(orm.ReaderRow.id).where(orm.ReaderRow.study_id == row.study_id, orm.ReaderRow.name == new_name,
                                           orm.ReaderRow.id != reader_id)
        if self._s.scalar(q):
            raise ConflictError(f"A participant named {new_name!r} already exists in this study; choose another name.")
        row.name = new_name

    def set_seniority(self, reader_id: str, seniority: str) -> None:
        self._get(orm.ReaderRow, reader_id, "participant").seniority = seniority


class ArmRepository(_Repo):
    def add(self, study_id: str, name: str, *, shows_ai: bool = False, sequential: bool = False,
            position: int = 0) -> m.Arm:
        row = orm.ArmRow(study_id=study_id, name=name, shows_ai=shows_ai, sequential=sequential, position=position)
        self._s.add(row)
        self._s.flush()
        return convert.arm(row)

    def list(self, study_id: str) -> list[m.Arm]:
        q = select(orm.ArmRow).where(orm.ArmRow.study_id == study_id).order_by(orm.ArmRow.position)
        return [convert.arm(r) for r in self._s.scalars(q)]

    def get(self, arm_id: str) -> m.Arm:
        return convert.arm(self._get(orm.ArmRow, arm_id, "arm"))

    def update(self, arm_id: str, *, shows_ai: bool, sequential: bool, position: int) -> m.Arm:
        row = self._get(orm.ArmRow, arm_id, "arm")
        row.shows_ai, row.sequential, row.position = shows_ai, sequential, position
        self._s.flush()
        return convert.arm(row)

    def remove_unused(self, arm_id: str) -> None:
        """Delete an arm that no assignment uses (a protocol replaced before any order was given)."""
        used = self._s.scalar(select(func.count()).where(orm.AssignmentRow.arm_id == arm_id))
        if used:
            raise ConflictError("This arm has reader assignments; it cannot be removed.")
        self._s.delete(self._get(orm.ArmRow, arm_id, "arm"))
        self._s.flush()

    def by_name(self, study_id: str, name: str) -> m.Arm:
        for a in self.list(study_id):
            if a.name == name:
                return a
        raise NotFoundError(f"No arm named {name!r} in this study.")


class AssignmentRepository(_Repo):
    def add(self, study_id: str, reader_id: str, arm_id: str, *, session: int, seed: int,
            case_ids: list[str], not_before: datetime | None = None) -> m.Assignment:
        row = orm.AssignmentRow(study_id=study_id, reader_id=reader_id, arm_id=arm_id, session=session,
                                seed=seed, case_ids={"order": list(case_ids)}, not_before=not_before)
        self._s.add(row)
        self._s.flush()
        return convert.assignment(row)

    def get(self, assignment_id: str) -> m.Assignment:
        return convert.assignment(self._get(orm.AssignmentRow, assignment_id, "assignment"))

    def list(self, study_id: str, reader_id: str | None = None) -> list[m.Assignment]:
        q = select(orm.AssignmentRow).where(orm.AssignmentRow.study_id == study_id)
        if reader_id is not None:
            q = q.where(orm.AssignmentRow.reader_id == reader_id)
        q = q.order_by(orm.AssignmentRow.session, orm.AssignmentRow.created_at)
        return [convert.assignment(r) for r in self._s.scalars(q)]

    def set_not_before(self, assignment_id: str, when: datetime | None) -> None:
        """Washout: the session may not start before ``when`` (set when the previous session ends)."""
        self._get(orm.AssignmentRow, assignment_id, "assignment").not_before = when

    def extend(self, assignment_id: str, case_ids: list[str], *, seed: int, at: datetime) -> m.Assignment:
        """Append ``case_ids`` to the order (earlier entries untouched) and record the block's seed."""
        row = self._get(orm.AssignmentRow, assignment_id, "assignment")
        order = list(row.case_ids["order"])
        if set(order) & set(case_ids):
            raise ConflictError("Some of these cases are already in this order; an order lists a case once.")
        record = {"start": len(order), "count": len(case_ids), "seed": seed, "at": at.isoformat()}
        row.case_ids = {**row.case_ids, "order": order + list(case_ids),
                        "extensions": [*row.case_ids.get("extensions", []), record]}  # new dict: JSON change seen
        self._s.flush()
        return convert.assignment(row)

    def set_reopened(self, assignment_id: str, info: dict[str, Any]) -> None:
        """A coordinator opened this session before its washout date (``{"at", "by", "reason"}``)."""
        self._get(orm.AssignmentRow, assignment_id, "assignment").reopened = dict(info)


class ReadRepository(_Repo):
    def add(self, **fields: Any) -> m.Read:
        fields.setdefault("revision", 0)
        fields["phase"] = str(fields.get("phase", m.ReadPhase.UNAIDED))
        row = orm.ReadRow(**fields)
        self._s.add(row)
        self._s.flush()
        return convert.read(row)

    def get(self, read_id: str) -> m.Read:
        return convert.read(self._get(orm.ReadRow, read_id, "read"))

    def for_assignment(self, assignment_id: str) -> list[m.Read]:
        q = select(orm.ReadRow).where(orm.ReadRow.assignment_id == assignment_id)
        return [convert.read(r) for r in self._s.scalars(q.order_by(orm.ReadRow.submitted_at))]

    def for_study(self, study_id: str) -> list[m.Read]:
        q = (select(orm.ReadRow).join(orm.AssignmentRow, orm.ReadRow.assignment_id == orm.AssignmentRow.id)
             .where(orm.AssignmentRow.study_id == study_id).order_by(orm.ReadRow.submitted_at))
        return [convert.read(r) for r in self._s.scalars(q)]

    def for_reader(self, study_id: str, reader_id: str) -> list[m.Read]:
        """Every read (all revisions) of one reader in one study, oldest first."""
        q = (select(orm.ReadRow).join(orm.AssignmentRow, orm.ReadRow.assignment_id == orm.AssignmentRow.id)
             .where(orm.AssignmentRow.study_id == study_id, orm.ReadRow.reader_id == reader_id)
             .order_by(orm.ReadRow.submitted_at, orm.ReadRow.revision))
        return [convert.read(r) for r in self._s.scalars(q)]

    def count_by_reader(self, study_id: str) -> dict[str, int]:
        """Number of stored reads (revision 0) per reader id in one study."""
        q = (select(orm.ReadRow.reader_id, func.count())
             .join(orm.AssignmentRow, orm.ReadRow.assignment_id == orm.AssignmentRow.id)
             .where(orm.AssignmentRow.study_id == study_id, orm.ReadRow.revision == 0)
             .group_by(orm.ReadRow.reader_id))
        return {rid: int(n) for rid, n in self._s.execute(q)}

    def max_revision(self, assignment_id: str, case_id: str, phase: m.ReadPhase) -> int | None:
        q = select(func.max(orm.ReadRow.revision)).where(
            orm.ReadRow.assignment_id == assignment_id, orm.ReadRow.case_id == case_id,
            orm.ReadRow.phase == str(phase))
        return self._s.scalar(q)


class AnnotationRepository(_Repo):
    def add(self, case_id: str, annotator_id: str, *, label_set: dict[str, Any], path: str, checksum: str,
            parent_id: str | None = None) -> m.AnnotationRecord:
        q = select(func.max(orm.AnnotationRow.version)).where(orm.AnnotationRow.case_id == case_id,
                                                              orm.AnnotationRow.annotator_id == annotator_id)
        version = (self._s.scalar(q) or 0) + 1
        row = orm.AnnotationRow(case_id=case_id, annotator_id=annotator_id, label_set=label_set, path=path,
                                checksum=checksum, version=version, parent_id=parent_id)
        self._s.add(row)
        self._s.flush()
        return convert.annotation(row)

    def get(self, annotation_id: str) -> m.AnnotationRecord:
        return convert.annotation(self._get(orm.AnnotationRow, annotation_id, "annotation"))

    def list(self, case_id: str, annotator_id: str | None = None) -> list[m.AnnotationRecord]:
        q = select(orm.AnnotationRow).where(orm.AnnotationRow.case_id == case_id)
        if annotator_id is not None:
            q = q.where(orm.AnnotationRow.annotator_id == annotator_id)
        q = q.order_by(orm.AnnotationRow.annotator_id, orm.AnnotationRow.version)
        return [convert.annotation(r) for r in self._s.scalars(q)]

    def latest(self, case_id: str, annotator_id: str) -> m.AnnotationRecord | None:
        versions = self.list(case_id, annotator_id)
        return versions[-1] if versions else None

    def count_for_study(self, study_id: str) -> int:
        q = (select(func.count()).select_from(orm.AnnotationRow)
             .join(orm.CaseRow, orm.AnnotationRow.case_id == orm.CaseRow.id).where(orm.CaseRow.study_id == study_id))
        return self._s.scalar(q) or 0


class LabelSetRepository(_Repo):
    """One label set per study (a dict as :meth:`LabelSet.to_dict` gives), or none."""

    def get(self, study_id: str) -> dict[str, Any] | None:
        row = self._s.scalar(select(orm.LabelSetRow).where(orm.LabelSetRow.study_id == study_id))
        return None if row is None else dict(row.labels)

    def put(self, study_id: str, labels: dict[str, Any]) -> str:
        """Insert or replace the study's label set; returns the row id."""
        row = self._s.scalar(select(orm.LabelSetRow).where(orm.LabelSetRow.study_id == study_id))
        if row is None:
            row = orm.LabelSetRow(study_id=study_id, name=str(labels.get("name") or "labels"), labels=labels)
            self._s.add(row)
        else:
            row.name, row.labels = str(labels.get("name") or "labels"), labels
        self._s.flush()
        return row.id


class ModelRepository(_Repo):
    def add(self, study_id: str, reader_id: str, *, name: str, version: str, checkpoint_hash: str = "",
            config: dict[str, Any] | None = None) -> m.ModelInfo:
        row = orm.ModelRow(study_id=study_id, reader_id=reader_id, name=name, version=version,
                           checkpoint_hash=checkpoint_hash, config=config or {})
        self._s.add(row)
        self._s.flush()
        return convert.model(row)

    def list(self, study_id: str) -> list[m.ModelInfo]:
        q = select(orm.ModelRow).where(orm.ModelRow.study_id == study_id).order_by(orm.ModelRow.created_at)
        return [convert.model(r) for r in self._s.scalars(q)]

    def find(self, study_id: str, name: str, version: str) -> m.ModelInfo | None:
        q = select(orm.ModelRow).where(orm.ModelRow.study_id == study_id, orm.ModelRow.name == name,
                                       orm.ModelRow.version == version)
        row = self._s.scalars(q).first()
        return convert.model(row) if row else None

    def start_run(self, model_id: str, kind: str = "predict", params: dict[str, Any] | None = None) -> str:
        model = self._get(orm.ModelRow, model_id, "model")
        row = orm.ModelRunRow(model_id=model_id, study_id=model.study_id, kind=kind, params=params or {})
        self._s.add(row)
        self._s.flush()
        return row.id

    def finish_run(self, run_id: str, status: str = "done") -> None:
        row = self._get(orm.ModelRunRow, run_id, "model run")
        row.status = status
        row.finished_at = datetime.now(UTC)

    def add_prediction(self, run_id: str, model_id: str, case_id: str, probability: float,
                       saliency_path: str | None = None, *, in_training_set: bool = False) -> m.Prediction:
        probability = validate_model_probability(probability, f"prediction for case {case_id}")
        row = orm.PredictionRow(run_id=run_id, model_id=model_id, case_id=case_id, probability=probability,
                                saliency_path=saliency_path, in_training_set=in_training_set)
        self._s.add(row)
        self._s.flush()
        return convert.prediction(row)

    def latest_prediction(self, case_id: str, model_id: str | None = None) -> m.Prediction | None:
        q = select(orm.PredictionRow).where(orm.PredictionRow.case_id == case_id)
        if model_id is not None:
            q = q.where(orm.PredictionRow.model_id == model_id)
        row = self._s.scalars(q.order_by(orm.PredictionRow.created_at.desc())).first()
        return convert.prediction(row) if row else None

    def predictions(self, model_id: str) -> list[m.Prediction]:
        """The latest prediction of the model for each case."""
        q = select(orm.PredictionRow).where(orm.PredictionRow.model_id == model_id).order_by(
            orm.PredictionRow.created_at)
        latest: dict[str, m.Prediction] = {}
        for r in self._s.scalars(q):
            latest[r.case_id] = convert.prediction(r)
        return list(latest.values())

    def get(self, model_id: str) -> m.ModelInfo:
        return convert.model(self._get(orm.ModelRow, model_id, "model"))

    def run_params(self, model_id: str) -> list[dict[str, Any]]:
        """The ``params`` of the model's runs, oldest first (copies)."""
        q = select(orm.ModelRunRow.params).where(orm.ModelRunRow.model_id == model_id).order_by(
            orm.ModelRunRow.started_at)
        return [dict(p or {}) for p in self._s.scalars(q)]

    def update_config(self, model_id: str, values: dict[str, Any]) -> m.ModelInfo:
        """Merge ``values`` into the model's JSON ``config`` (top-level keys replaced)."""
        row = self._get(orm.ModelRow, model_id, "model")
        row.config = {**(row.config or {}), **values}
        self._s.flush()
        return convert.model(row)


class SyntheticRepository(_Repo):
    def add(self, **fields: Any) -> str:
        row = orm.SyntheticImageRow(**fields)
        self._s.add(row)
        self._s.flush()
        return row.id

    def list(self, case_id: str) -> list[dict[str, Any]]:
        q = select(orm.SyntheticImageRow).where(orm.SyntheticImageRow.case_id == case_id)
        cols = orm.SyntheticImageRow.__table__.columns.keys()
        return [{c: getattr(r, c) for c in cols} for r in self._s.scalars(q.order_by(orm.SyntheticImageRow.seed))]
