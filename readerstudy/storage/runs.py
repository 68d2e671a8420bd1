"""Repository of engine jobs (``model_run`` rows) -> :class:`readerstudy.core.jobs.ModelRun`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from readerstudy.core.errors import NotFoundError
from readerstudy.core.jobs import JobStatus, ModelRun
from readerstudy.storage import models as orm
from readerstudy.storage.convert import aware

__all__ = ["RunRepository", "run_record"]

_FIELDS = frozenset({"model_id", "study_id", "kind", "params", "status", "started_at", "finished_at", "preset",
                     "device", "data", "metrics", "out_dir", "log_path", "command", "error", "pid"})


def run_record(r: orm.ModelRunRow) -> ModelRun:
    return ModelRun(
        id=r.id, study_id=r.study_id, model_id=r.model_id, kind=r.kind, status=JobStatus(_status(r.status)),
        preset=r.preset, device=r.device or "", started_at=aware(r.started_at), finished_at=aware(r.finished_at),
        out_dir=r.out_dir or "", log_path=r.log_path or "", command=tuple(r.command or ()),
        data=dict(r.data or {}), metrics=dict(r.metrics or {}), params=dict(r.params or {}), error=r.error,
        pid=r.pid,
    )


def _status(value: str) -> str:
    return "done" if value == "finished" else value  # rows written before revision 0004_jobs


class RunRepository:
    def __init__(self, session: Session) -> None:
        self._s = session

    def _row(self, run_id: str) -> orm.ModelRunRow:
        row = self._s.get(orm.ModelRunRow, run_id)
        if row is None:
            raise NotFoundError(f"No engine job with id {run_id!r}; it may belong to another database.")
        return row

    def add(self, *, kind: str, study_id: str | None, status: JobStatus = JobStatus.QUEUED,
            **fields: Any) -> ModelRun:
        bad = set(fields) - _FIELDS
        if bad:
            raise TypeError(f"unknown model_run fields {sorted(bad)}")
        row = orm.ModelRunRow(kind=kind, study_id=study_id, status=str(status), **fields)
        self._s.add(row)
        self._s.flush()
        return run_record(row)

    def get(self, run_id: str) -> ModelRun:
        return run_record(self._row(run_id))

    def update(self, run_id: str, **fields: Any) -> ModelRun:
        """Set ``fields`` (``status`` as :class:`JobStatus`; ``params``/``metrics``/``data`` replace)."""
        bad = set(fields) - _FIELDS
        if bad:
            raise TypeError(f"unknown model_run fields {sorted(bad)}")
        row = self._row(run_id)
        for k, v in fields.items():
            setattr(row, k, str(v) if k == "status" else v)
        self._s.flush()
        return run_record(row)

    def finish(self, run_id: str, status: JobStatus, **fields: Any) -> ModelRun:
        return self.update(run_id, status=status, finished_at=datetime.now(UTC), **fields)

    def list(self, study_id: str | None = None, *, kinds: tuple[str, ...] | None = None) -> list[ModelRun]:
        """Runs newest first; of one study when ``study_id`` is given."""
        q = select(orm.ModelRunRow)
        if study_id is not None:
            q = q.where(orm.ModelRunRow.study_id == study_id)
        if kinds:
            q = q.where(orm.ModelRunRow.kind.in_(kinds))
        return [run_record(r) for r in self._s.scalars(q.order_by(orm.ModelRunRow.started_at.desc()))]

    def prediction_counts(self, run_id: str) -> tuple[int, int]:
        """(predictions of the run, those on cases the model was trained on)."""
        p = orm.PredictionRow
        n = self._s.scalar(select(func.count()).where(p.run_id == run_id)) or 0
        k = self._s.scalar(select(func.count()).where(p.run_id == run_id, p.in_training_set.is_(True))) or 0
        return int(n), int(k)
