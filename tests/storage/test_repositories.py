"""Repositories return core dataclasses; the audit chain verifies; reads are append-only."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError

from readerstudy.core import models as m
from readerstudy.core.errors import ConflictError, NotFoundError


def _study_with_read(ctx):  # noqa: ANN001, ANN202
    with ctx.uow() as uow:
        study = uow.studies.add("S")
        case = uow.cases.add(study.id, source_ref="a.png", modality="US", truth=1, site="Site A")
        reader = uow.readers.add(study.id, "R1", m.Role.READER, seniority="senior")
        arm = uow.arms.add(study.id, "unaided")
        asg = uow.assignments.add(study.id, reader.id, arm.id, session=1, seed=7, case_ids=[case.id])
        now = datetime.now(UTC)
        read = uow.reads.add(assignment_id=asg.id, case_id=case.id, reader_id=reader.id, arm_id=arm.id, session=1,
                             probability=80.0, binary=1, confidence=4, time_ms=1200, active_ms=1100,
                             started_at=now, submitted_at=now, app_version="t", view_state={"zoom": 1.0},
                             ai_shown=None)
        uow.audit.append("R1", "read.submit", "read", read.id, {"p": 80})
        uow.commit()
    return study, case, reader, read


def test_repositories_return_frozen_dataclasses(ctx) -> None:  # noqa: ANN001
    study, case, reader, read = _study_with_read(ctx)
    with ctx.uow() as uow:
        got = uow.cases.get(case.id)
        assert isinstance(got, m.Case) and got.site == "Site A" and got.truth == 1
        assert got.created_at.tzinfo is not None
        blind = uow.cases.blinded(case.id)
        assert set(vars(blind)) == {"id", "pseudonym", "modality"}
        assert uow.reads.for_study(study.id) == [read]
        assert uow.readers.list(study.id, m.Role.READER) == [reader]
        with pytest.raises(AttributeError):
            got.truth = 0  # type: ignore[misc]


def test_duplicates_and_missing_are_clear_errors(ctx) -> None:  # noqa: ANN001
    study, *_ = _study_with_read(ctx)
    with ctx.uow() as uow:
        with pytest.raises(ConflictError, match="already"):
            uow.cases.add(study.id, source_ref="a.png", modality="US")
        with pytest.raises(NotFoundError, match="studies in this database: 'S'"):
            uow.studies.by_name("nope")


def test_pseudonyms_are_opaque_and_unique(ctx) -> None:  # noqa: ANN001
    with ctx.uow() as uow:
        study = uow.studies.add("P")
        names = {uow.cases.add(study.id, source_ref=f"malignant ({i}).png", modality="US").pseudonym
                 for i in range(50)}
        uow.commit()
    assert len(names) == 50
    assert all(n.startswith("RS-") and "malignant" not in n for n in names)


def test_submitted_read_and_audit_cannot_be_changed_even_with_raw_sql(ctx) -> None:  # noqa: ANN001
    _, _, _, read = _study_with_read(ctx)
    for sql in ("UPDATE read SET probability = 1", "DELETE FROM read", "UPDATE audit_event SET actor='x'",
                "DELETE FROM audit_event"):
        with ctx.engine.begin() as conn, pytest.raises(DatabaseError, match="append-only"):
            conn.execute(text(sql))
    with ctx.uow() as uow:
        assert uow.reads.get(read.id).probability == 80.0


def test_audit_chain_verifies_and_detects_tampering(ctx) -> None:  # noqa: ANN001
    _study_with_read(ctx)
    with ctx.uow() as uow:
        for i in range(3):
            uow.audit.append("coord", "note", "study", "x", {"i": i})
        uow.commit()
    with ctx.uow() as uow:
        assert uow.audit.verify_chain() == (True, None)
    with ctx.engine.begin() as conn:  # tamper behind the app's back (needs the trigger dropped)
        conn.execute(text("DROP TRIGGER audit_event_no_update"))
        conn.execute(text("UPDATE audit_event SET payload='{\"i\": 99}' WHERE seq = 3"))
    with ctx.uow() as uow:
        assert uow.audit.verify_chain() == (False, 3)


def test_uow_without_commit_rolls_back(ctx) -> None:  # noqa: ANN001
    with ctx.uow() as uow:
        uow.studies.add("Never")
    with ctx.uow() as uow:
        assert uow.studies.find("Never") is None


@pytest.mark.postgres
def test_same_code_runs_on_postgres(postgres_url: str, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    from readerstudy.services.context import open_context
    from readerstudy.storage import migrate

    monkeypatch.setenv("READERSTUDY_STORE", str(tmp_path / "store"))
    migrate.downgrade(postgres_url, "base")  # start from an empty schema whatever ran before
    pg = open_context(postgres_url)
    try:
        study, case, reader, read = _study_with_read(pg)
        with pg.uow() as uow:
            assert uow.reads.for_study(study.id) == [read]
            assert uow.audit.verify_chain() == (True, None)
        with pg.engine.begin() as conn, pytest.raises(DatabaseError, match="append-only"):
            conn.execute(text("UPDATE read SET probability = 1"))
    finally:
        pg.close()
        migrate.downgrade(postgres_url, "base")
