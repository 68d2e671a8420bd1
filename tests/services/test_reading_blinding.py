"""Blinding: what a reader session receives and the SQL it issues carry no truth, PHI or others' reads."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from sqlalchemy import event
from test_reading_support import PIN, SEQUENTIAL, build_study

from readerstudy.core.models import BlindedCase
from readerstudy.services.auth import sign_in
from readerstudy.services.reading import AiView, CaseView, DisplayHints, ReadingService

FORBIDDEN = ("truth", "phi_mapping", "source_ref", "pin_hash", "site")


@pytest.fixture()
def ctx(tmp_path):
    c = build_study(tmp_path, n_cases=3, protocol=SEQUENTIAL, predictions=True)
    with c.uow() as uow:  # give the cases PHI to leak
        for case in uow.cases.list(uow.studies.by_name("Pilot").id):
            uow.cases.set_phi(case.id, {"PatientName": "DOE^JANE"}, 12)
        uow.commit()
    yield c
    c.close()


def test_view_models_have_only_blinded_fields():
    assert [f.name for f in dataclasses.fields(BlindedCase)] == ["id", "pseudonym", "modality"]
    assert {f.name for f in dataclasses.fields(CaseView)} == {
        "case", "pixels", "hints", "index", "total", "session", "arm_name", "ai"}
    assert {f.name for f in dataclasses.fields(DisplayHints)} == {
        "modality", "shape", "is_volume", "is_cine", "frame_time_ms", "window", "spacing"}
    assert {f.name for f in dataclasses.fields(AiView)} == {
        "model_name", "model_version", "probability_pct", "saliency"}


def test_reader_session_sql_never_touches_truth_phi_or_other_readers(ctx):
    # bob reads first, so there are other readers' reads to leak
    other = ReadingService(ctx, sign_in(ctx, "Pilot", "bob", PIN), prefetch=False)
    other.open()
    other.start_case()
    other.display()
    other.submit(99, 1, 5)
    other.close()

    user = sign_in(ctx, "Pilot", "alice", PIN)
    statements: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        statements.append((statement, parameters))

    event.listen(ctx.engine, "before_cursor_execute", capture)
    try:
        svc = ReadingService(ctx, user, prefetch=True)
        svc.open()
        seen = []
        while (view := svc.start_case()) is not None:
            seen.append(view)
            svc.display()
            svc.submit(40, 0, 3, {"window": [1, 2]})
            svc.reveal_ai()
            svc.submit(60, 1, 4)
        svc.close()
    finally:
        event.remove(ctx.engine, "before_cursor_execute", capture)

    assert len(seen) == 3 and statements
    for sql, _params in statements:
        low = sql.lower()
        for word in FORBIDDEN:
            assert word not in low, f"reader session read {word!r}: {sql}"
        if "from read" in low and "where" in low:
            assert "read.assignment_id" in low  # reads are fetched only per (own) assignment
    bob_id = other.user.participant_id
    assert all(bob_id not in str(p) for _, p in statements)
    for view in seen:
        assert isinstance(view.case, BlindedCase) and view.ai is None
        assert view.case.pseudonym.startswith("RS-") and isinstance(view.pixels, np.ndarray)
        text = repr(dataclasses.replace(view, pixels=np.zeros(1)))
        assert "benign" not in text and "malignant" not in text and "DOE" not in text
