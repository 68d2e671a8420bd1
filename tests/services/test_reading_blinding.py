"""Blinding: what a reader session receives and the SQL it issues carry no truth, PHI or others' reads."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from sqlalchemy import event
from test_reading_support import PIN, SEQUENTIAL, build_study

from readerstudy.core.models import BlindedCase
from readerstudy.services.auth import sign_in
from readerstudy.services.hanging import SecondaryView
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
        "case", "pixels", "hints", "index", "total", "session", "arm_name", "ai", "secondaries", "practice"}
    assert {f.name for f in dataclasses.fields(SecondaryView)} == {"kind", "pixels", "window", "spacing", "slice_of"}
    assert {f.name for f in dataclasses.fields(DisplayHints)} == {
        "modality", "shape", "is_volume", "is_cine", "frame_time_ms", "window", "spacing", "invert"}
    assert {f.name for f in dataclasses.fields(AiView)} == {
        "model_name", "model_version", "probability_pct", "saliency", "saliency_target"}


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


def test_realism_cases_reach_the_reader_without_provenance(tmp_path):
    """Real and synthetic images of a realism study: same view model, same hints, no origin anywhere."""
    from realism_support import GEN_A, GEN_B, REALISM, SOURCE, source_study, with_readers
    from realism_support import PIN as RPIN
    from test_reading_support import LOCAL

    from readerstudy.services.realism_study import build_realism_study

    ctx = source_study(tmp_path / "realism.db", n_cases=2)
    try:
        build_realism_study(ctx, LOCAL, SOURCE, REALISM, seed=3)
        with_readers(ctx, REALISM, (("rita", "senior"),))
        with ctx.uow(read=True) as uow:
            src = [c.pseudonym for c in uow.cases.list(uow.studies.by_name(SOURCE).id)]
            refs = [c.source_ref for c in uow.cases.list(uow.studies.by_name(REALISM).id)]
        statements: list[tuple[str, object]] = []

        def capture(conn, cursor, statement, parameters, context, executemany):
            statements.append((statement, parameters))

        user = sign_in(ctx, REALISM, "rita", RPIN)
        event.listen(ctx.engine, "before_cursor_execute", capture)
        try:
            svc = ReadingService(ctx, user, prefetch=True)
            svc.open()
            seen = []
            while (view := svc.start_case()) is not None:
                seen.append(view)
                svc.display()
                svc.submit(70, 1, 4, {"window": [1, 2]}, {"realism": 2})
            form, questions = svc.protocol.form, [q.key for q in svc.questions]
            svc.close()
        finally:
            event.remove(ctx.engine, "before_cursor_execute", capture)
    finally:
        ctx.close()
    assert len(seen) == len(refs) == 6 and statements
    for sql, params in statements:
        low = sql.lower()
        for word in (*FORBIDDEN, "synthetic"):  # nor the synthetic_image table
            assert word not in low, f"reader session read {word!r}: {sql}"
        assert not any(r in str(params) for r in refs)
    secrets = ("synthetic", "real:", "'real'", GEN_A[:12], GEN_B[:12], "image0", *src)
    for view in seen:
        assert isinstance(view.case, BlindedCase)
        text = repr(dataclasses.replace(view, pixels=np.zeros(1)))
        assert not any(s in text for s in secrets), text
    # nothing but the pixels tells one case from another: same shape, dtype, modality and display hints
    kinds = {(v.pixels.shape, str(v.pixels.dtype), v.case.modality, v.hints.shape, v.hints.modality, v.hints.is_volume,
              v.hints.is_cine, v.hints.spacing, v.hints.invert) for v in seen}
    assert len(kinds) == 1
    assert (form.positive, form.negative, questions) == ("Synthetic", "Real", ["realism"])
