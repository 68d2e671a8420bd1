"""Unit of work: one transaction per use case, repositories that return core dataclasses.

>>> with UnitOfWork(engine) as uow:          # doctest: +SKIP
...     uow.reads.add(...)
...     uow.commit()

Leaving the block without ``commit()`` rolls back.
"""

from __future__ import annotations

from types import TracebackType

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from readerstudy.storage.audit import AuditRepository
from readerstudy.storage.db import session_factory
from readerstudy.storage.repositories import (
    AnnotationRepository,
    ArmRepository,
    AssetRepository,
    AssignmentRepository,
    CaseRepository,
    ModelRepository,
    ReaderRepository,
    ReadRepository,
    StudyRepository,
    SyntheticRepository,
)


class UnitOfWork:
    def __init__(self, engine: Engine) -> None:
        self._factory = session_factory(engine)
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
        self.models = ModelRepository(s)
        self.synthetic = SyntheticRepository(s)
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

    def rollback(self) -> None:
        assert self.session is not None
        self.session.rollback()
