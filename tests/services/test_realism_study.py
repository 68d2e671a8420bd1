"""Realism studies: accepted synthetic images and their real images, imported blind, origin kept for coordinators."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from realism_support import GEN_A, GEN_B, PIN, REALISM, SIZE, SOURCE, source_study
from test_reading_support import LOCAL

from readerstudy.core.errors import NotFoundError, PermissionDenied, ValidationError
from readerstudy.core.models import Role
from readerstudy.services.auth import add_participant, scope, sign_in
from readerstudy.services.realism_study import build_realism_study, origin_ref, parse_origin


@pytest.fixture()
def ctx(tmp_path):
    c = source_study(tmp_path / "realism.db")
    yield c
    c.close()


def _cases(ctx, study):
    with ctx.uow(read=True) as uow:
        s = uow.studies.by_name(study)
        return s, uow.cases.list(s.id), {c.id: uow.assets.image(c.id) for c in uow.cases.list(s.id)}


def test_origin_refs_round_trip_and_other_refs_are_not_origins():
    ref = origin_ref("synthetic", 1, GEN_A, "row-7")
    assert ref == f"synthetic:1:{GEN_A[:12]}:row-7"
    assert parse_origin(ref) == {"origin": "synthetic", "class_label": 1, "generator": GEN_A[:12], "ref": "row-7"}
    assert parse_origin(origin_ref("real", None, GEN_B, "RS-1:x")) == {
        "origin": "real", "class_label": None, "generator": GEN_B[:12], "ref": "RS-1:x"}
    assert parse_origin("benign-1") is None and parse_origin("benign (1).png:a:b:c") is None
    with pytest.raises(ValidationError, match="origin"):
        origin_ref("fake", 1, GEN_A, "x")


def test_builds_every_accepted_image_and_each_real_image_at_the_generator_size(ctx):
    built = build_realism_study(ctx, LOCAL, SOURCE, REALISM, seed=1)
    assert (built.study, built.synthetic, built.real, built.image_size) == (REALISM, 8, 4, SIZE)
    _, src_cases, src_assets = _cases(ctx, SOURCE)
    study, cases, assets = _cases(ctx, REALISM)
    origins = [parse_origin(c.source_ref) for c in cases]
    assert [o["origin"] for o in origins].count("synthetic") == 8 and all(o is not None for o in origins)
    assert all(c.truth == int(o["origin"] == "synthetic") for c, o in zip(cases, origins, strict=True))
    with ctx.uow(read=True) as uow:
        rows = {r["id"]: r for c in src_cases for r in uow.synthetic.list(c.id)}
    by_pseudonym = {c.pseudonym: c for c in src_cases}
    for case, o in zip(cases, origins, strict=True):
        pixels = ctx.store.load_array(assets[case.id].path)
        assert pixels.shape == (1, SIZE, SIZE) and pixels.dtype == np.uint8  # same size and depth for both kinds
        pixels = pixels[0]
        assert case.modality == src_cases[0].modality and case.pseudonym.startswith("RS-")
        if o["origin"] == "synthetic":  # the accepted PNG, pixel for pixel
            row = rows[o["ref"]]
            with Image.open(ctx.store.path(row["path"])) as im:
                assert np.array_equal(pixels, np.asarray(im.convert("L")))
            assert o["generator"] == row["model_hash"][:12] and o["class_label"] == row["class_label"]
        else:  # the source case's image, resized to 32 x 32: it still looks like it
            src = by_pseudonym[o["ref"]]
            assert o["class_label"] == src.truth and o["generator"] == GEN_A[:12]
            full = ctx.store.load_array(src_assets[src.id].path)[0].astype(float)
            small = np.asarray(Image.fromarray(full.astype(np.uint8)).resize((SIZE, SIZE), Image.BILINEAR), float)
            assert np.corrcoef(small.ravel(), pixels.astype(float).ravel())[0, 1] > 0.95
    truths = [c.truth for c in sorted(cases, key=lambda c: c.created_at)]
    assert truths != sorted(truths) and truths != sorted(truths, reverse=True)  # the import order is shuffled
    assert REALISM in study.description or "realism" in study.description


def test_bad_input_is_refused_and_creates_nothing(ctx):
    with ctx.uow(read=True) as uow:
        before = [s.name for s in uow.studies.list()]
    with pytest.raises(ValidationError, match="already exists"):
        build_realism_study(ctx, LOCAL, SOURCE, SOURCE)
    with pytest.raises(ValidationError, match="name"):
        build_realism_study(ctx, LOCAL, SOURCE, "  ")
    with pytest.raises(NotFoundError, match="No study named"):
        build_realism_study(ctx, LOCAL, "No such study", REALISM)
    from test_reading_support import busi_sources

    from readerstudy.services.importing import import_cases

    import_cases(ctx, LOCAL, "Plain", busi_sources(2))
    with pytest.raises(ValidationError, match="no accepted synthetic images"):
        build_realism_study(ctx, LOCAL, "Plain", REALISM)
    with ctx.uow(read=True) as uow:
        assert sorted(s.name for s in uow.studies.list()) == sorted([*before, "Plain"])


def test_only_the_source_studys_coordinators_may_build_it(ctx):
    system = scope(ctx, LOCAL, SOURCE)
    add_participant(ctx, system, "rita", Role.READER, PIN, seniority="senior")
    add_participant(ctx, system, "ann", Role.ANNOTATOR, PIN)
    for name in ("rita", "ann"):
        with pytest.raises(PermissionDenied, match="coordinator"):
            build_realism_study(ctx, sign_in(ctx, SOURCE, name, PIN), SOURCE, REALISM)
    with ctx.uow(read=True) as uow:
        assert uow.studies.find(REALISM) is None


def test_a_signed_in_coordinator_builds_one_and_can_sign_in_to_it(ctx):
    from readerstudy.services.assignments import apply_with_plan, protocol_summary
    from readerstudy.services.participants import list_participants
    from readerstudy.services.realism_study import create_realism_study
    from readerstudy.services.studies import coordinator_in

    add_participant(ctx, scope(ctx, LOCAL, SOURCE), "carol", Role.COORDINATOR, PIN)
    carol = sign_in(ctx, SOURCE, "carol", PIN)
    built = create_realism_study(ctx, carol, REALISM, seed=2)
    assert (built.study, built.synthetic, built.real) == (REALISM, 8, 4)
    there = sign_in(ctx, REALISM, "carol", PIN)  # same name, same PIN
    assert there.role == Role.COORDINATOR
    assert [(p.name, p.role) for p in list_participants(ctx, there)] == [("carol", Role.COORDINATOR)]
    summary = protocol_summary(ctx, there)  # the realism protocol is applied
    assert summary["protocol"] is not None and summary["protocol"]["form"]["positive"] == "Synthetic"
    add_participant(ctx, there, "rita", Role.READER, PIN, seniority="senior")
    apply_with_plan(ctx, there)  # the stored protocol, as the Protocol tab's Apply does
    assert [(r["reader"], r["cases"]) for r in protocol_summary(ctx, there)["assignments"]] == [("rita", 12)]
    assert coordinator_in(ctx, carol, REALISM).study_name == REALISM
    build_realism_study(ctx, LOCAL, SOURCE, "Built by the CLI")  # no coordinator of carol's there
    with pytest.raises(PermissionDenied, match="not a coordinator of study"):
        coordinator_in(ctx, carol, "Built by the CLI")
    with pytest.raises(PermissionDenied, match="study realism"):
        create_realism_study(ctx, LOCAL, "From the CLI")
