"""Synthesis use cases: variants with figures and provenance, files of the CLI, accepted SyntheticImages."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from readerstudy.core.errors import ConflictError, NotFoundError, PermissionDenied, ValidationError
from readerstudy.services import synthesis as syn
from readerstudy.services.auth import sign_in

BUSI = "BUSI benign vs malignant"
EXPERT = "Expert annotator"


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    from synthesis_models import save_tiny_models

    torch.set_num_threads(1)
    return save_tiny_models(tmp_path_factory.mktemp("models"))


def _mask(h=48, w=60):
    m = np.zeros((h, w), np.uint8)
    m[10:30, 15:40] = 1
    return m


def _gen(tiny_models, **kw):
    settings = kw.pop("settings", syn.SamplerSettings("ddim", 3, 2.0, 5, 2))
    return syn.generate_variants(kw.pop("mask", _mask()), kw.pop("label", 1), kw.pop("prompt", "irregular mass"),
                                 settings, model_dir=tiny_models / "generator",
                                 segmenter_dir=tiny_models / "segmenter", **kw)


def test_variants_have_figures_and_full_provenance(tiny_models):
    image = np.random.default_rng(0).random((48, 60)).astype(np.float32)
    batch = _gen(tiny_models, image=image, mask_source={"annotation_id": "a1", "annotation_version": 3})
    assert [v.seed for v in batch.variants] == [5, 6]
    assert batch.mask.shape == (32, 32) and batch.real.shape == (32, 32)
    v = batch.variants[0]
    assert v.image.shape == (32, 32) and v.image.dtype == np.float32
    assert set(v.metrics) == {"contrast", "pauc", "psnr_db", "ssim", "dice"}
    assert 0.0 <= v.metrics["pauc"] <= 1.0 and 0.0 <= v.metrics["dice"] <= 1.0
    prov = v.provenance
    assert prov["generator"]["checkpoint_sha256"] == batch.model["sha256"] and len(batch.model["sha256"]) == 64
    assert (prov["seed"], prov["sampler"], prov["steps"], prov["guidance_scale"]) == (5, "ddim", 3, 2.0)
    assert prov["class_label"] == 1 and prov["prompt"] == "irregular mass"
    assert prov["mask"]["annotation_id"] == "a1" and prov["mask"]["annotation_version"] == 3
    assert prov["mask"]["source_shape"] == [48, 60] and prov["mask"]["source_pixels"] == 20 * 25
    assert batch.variants[1].provenance["seed"] == 6
    # the same seed gives the same image; the mask decides the input of the U-Net
    again = _gen(tiny_models, settings=syn.SamplerSettings("ddim", 3, 2.0, 6, 1))
    np.testing.assert_allclose(again.variants[0].image, batch.variants[1].image, atol=1e-5)
    moved = np.roll(_mask(), 20, axis=1)
    other = _gen(tiny_models, mask=moved, settings=syn.SamplerSettings("ddim", 3, 2.0, 6, 1))
    assert np.abs(other.variants[0].image - batch.variants[1].image).mean() > 1e-4


@pytest.mark.parametrize("kwargs, match", [
    ({"mask": np.zeros((20, 20), np.uint8)}, "empty"),
    ({"mask": np.ones((2, 8, 8), np.uint8)}, "2D"),
    ({"label": 2}, "class"),
    ({"prompt": "   "}, "prompt"),
    ({"settings": syn.SamplerSettings("euler")}, "sampler"),
    ({"settings": syn.SamplerSettings(steps=0)}, "steps"),
    ({"settings": syn.SamplerSettings(count=100)}, "count"),
    ({"settings": syn.SamplerSettings(guidance_scale=float("nan"))}, "guidance"),
])
def test_bad_input_is_one_clear_error(tiny_models, kwargs, match):
    with pytest.raises(ValidationError, match=match):
        _gen(tiny_models, **kwargs)


def test_a_folder_that_is_not_a_generator_is_refused(tmp_path):
    with pytest.raises(NotFoundError, match="not a generator"):
        syn.generate_variants(_mask(), 1, "x", syn.SamplerSettings(), model_dir=tmp_path)


def test_write_variants_writes_pngs_mask_and_provenance(tiny_models, tmp_path):
    from PIL import Image

    batch = _gen(tiny_models)
    paths = syn.write_variants(batch, tmp_path / "out")
    assert [p.name for p in paths] == ["variant-00-seed5.png", "variant-01-seed6.png"]
    with Image.open(paths[0]) as im:
        assert im.size == (32, 32) and im.mode == "L"
    assert np.array_equal(syn.read_mask_png(tmp_path / "out" / "mask-as-used.png"), batch.mask)
    doc = json.loads(paths[1].with_suffix(".json").read_text())
    assert doc["seed"] == 6 and doc["image_sha256"] == syn._sha256(paths[1].read_bytes())
    assert set(doc["metrics"]) >= {"contrast", "pauc", "dice"}


def test_accept_stores_the_image_with_its_provenance(tiny_models, demo_ctx):
    with demo_ctx.uow() as uow:
        case = uow.cases.list(uow.studies.by_name(BUSI).id)[0]
    expert = sign_in(demo_ctx, BUSI, EXPERT, "0000")
    batch = _gen(tiny_models)
    row_id = syn.accept_variant(demo_ctx, expert, case.id, batch, 1)
    rows = syn.stored_variants(demo_ctx, expert, case.id)
    assert [r["id"] for r in rows] == [row_id]
    r = rows[0]
    assert (r["seed"], r["sampler"], r["steps"], r["class_label"]) == (6, "ddim", 3, 1)
    assert r["model_hash"] == batch.model["sha256"]
    assert demo_ctx.store.verify(r["path"], r["checksum"])
    assert r["provenance"]["mask"]["as_used_sha256"] == batch.variants[1].provenance["mask"]["as_used_sha256"]
    assert demo_ctx.store.path(r["path"][:-4] + ".mask.png").is_file()
    with demo_ctx.uow() as uow:
        events = uow.audit.list(row_id)
    assert [e.action for e in events] == ["synthetic.accept"] and events[0].actor == EXPERT
    with pytest.raises(ConflictError):
        syn.accept_variant(demo_ctx, expert, case.id, batch, 1)
    with pytest.raises(ValidationError):
        syn.accept_variant(demo_ctx, expert, case.id, batch, 7)


def test_readers_cannot_store_or_see_synthetic_images(tiny_models, demo_ctx):
    from readerstudy.core.models import Role

    with demo_ctx.uow() as uow:
        study = uow.studies.by_name(BUSI)
        case = uow.cases.list(study.id)[0]
        reader = next(r for r in uow.readers.list(study.id) if r.role == Role.READER)
    as_reader = sign_in(demo_ctx, BUSI, reader.name, "0000")
    with pytest.raises(PermissionDenied):
        syn.accept_variant(demo_ctx, as_reader, case.id, _gen(tiny_models), 0)
    with pytest.raises(PermissionDenied):
        syn.stored_variants(demo_ctx, as_reader, case.id)  # provenance never reaches a reader
    assert syn.stored_variants(demo_ctx, sign_in(demo_ctx, BUSI, EXPERT, "0000"), case.id) == []


def test_the_class_hint_is_for_coordinators_only(demo_ctx):
    from readerstudy.core.models import Role

    with demo_ctx.uow() as uow:
        study = uow.studies.by_name(BUSI)
        case = uow.cases.list(study.id)[0]
        coord = next(r for r in uow.readers.list(study.id) if r.role == Role.COORDINATOR)
    assert syn.case_class_hint(demo_ctx, sign_in(demo_ctx, BUSI, EXPERT, "0000"), case.id) is None
    assert syn.case_class_hint(demo_ctx, sign_in(demo_ctx, BUSI, coord.name, "0000"), case.id) == case.truth
