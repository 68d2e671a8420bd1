"""Unit of work: one transaction per use case, repositories that return core dataclasses.

>>> with UnitOfWork(engine) as uow:          # doctest: +SKIP
...     uow.reads.add(...)
...     uow.commit()

Leaving the block without ``commit()`` rolls back. After a commit that appended audit events the
unit of work moves the sidecar anchor (:mod:`readerstudy.storage.anchor`) to the new chain head.
``read=True`` asks for a deferred ``BEGIN`` on SQLite (the default takes the write lock first,
see :mod:`readerstudy.storage.db`).
"""

from __future__ import annotations

from types import TracebackType

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from readerstudy.storage.anchor import AuditAnchor
from readerstudy.storage.audit import AuditRepository
from readerstudy.storage.db import READ_OPTION, session_factory
from readerstudy.storage.repositories import (
    AnnotationRepository,
    ArmRepository,
    AssetRepository,
    AssignmentRepository,
    CaseRepository,
    LabelSetRepository,
    ModelRepository,
    ReaderRepository,
    ReadRepository,
    StudyRepository,
    SyntheticRepository,
)
from readerstudy.storage.runs import RunRepository


class UnitOfWork:
    def __init__(self, engine: Engine, *, anchor: AuditAnchor | None = None, read: bool = False) -> None:
        self._factory = session_factory(engine.execution_options(**{READ_OPTION: True}) if read else engine)
        self._anchor = anchor
        self.session: Session | None = None

    def __enter__(self) -> UnitOfWork:
        s = self._factory()
        self.session = s
        self.studies = StudyRepository(s)
        self.cases = CaseRepository(s)
        self.assets = AssetRepository(s)
        self.readers = ReaderRepository(s)
        self.arms = ArmRepository(s)
        self.assignments = AssignmentRepository(s)
        self.reads = ReadRepository(s)
        self.annotations = AnnotationRepository(s)
        self.label_sets = LabelSetRepository(s)
        self.models = ModelRepository(s)
        self.synthetic = SyntheticRepository(s)
        self.runs = RunRepository(s)
        self.audit = AuditRepository(s)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        assert self.session is not None
        self.session.rollback()
        self.session.close()
        self.session = None

    def commit(self) -> None:
        assert self.session is not None
        self.session.commit()
        last = self.audit.last_appended
        if last is not None and self._anchor is not None:
            self._anchor.advance(*last)
        self.audit.last_appended = None

    def rollback(self) -> None:
        assert self.session is not None
        self.session.rollback()
