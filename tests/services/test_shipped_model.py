"""The shipped DiffKD student (resources/models/diffkd-student-busi): files match their provenance,
the checkpoint loads and reproduces the stored predictions, and ``readerstudy demo`` adds it as the
AI reader of the demo study with the external-test figures its provenance states."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from readerstudy.paths import shipped_model_dir
from readerstudy.services.auth import local_session
from readerstudy.services.context import open_context
from readerstudy.services.demo import BUSI_STUDY, SHIPPED_MODEL
from readerstudy.stats import auc_delong, diagnostic_accuracy

PROV = shipped_model_dir() / "provenance.json"


LOCAL = local_session("test")  # the CLI's local coordinator session (reaches every study)


@pytest.fixture(scope="module")
def provenance() -> dict:
    return json.loads(PROV.read_text())


@pytest.fixture
def fresh(fresh_demo_db, copy_db, tmp_path):  # noqa: ANN001, ANN201
    ctx = open_context(copy_db(fresh_demo_db, tmp_path))
    yield ctx
    ctx.close()


def test_shipped_files_match_their_provenance(provenance):
    files = sorted(p for p in shipped_model_dir().rglob("*") if p.is_file() and p.parent.name == "student")
    assert [p.relative_to(shipped_model_dir()).as_posix() for p in files] == sorted(provenance["files"])
    for p in files:
        entry = provenance["files"][p.relative_to(shipped_model_dir()).as_posix()]
        assert hashlib.sha256(p.read_bytes()).hexdigest() == entry["sha256"] and p.stat().st_size == entry["bytes"]
    total = sum(p.stat().st_size for p in files)
    assert total < 10_000_000  # small enough for the repository
    assert provenance["seed"] == 0 and provenance["preset"] == "default" and provenance["device"] == "cpu"
    assert provenance["training_data"]["split"]["straddling_groups"] == 0
    assert any("engine pipeline" in c and "--study busi-train" in c for c in provenance["commands"])
    assert len(provenance["training_data"]["manifest_csv_sha256"]) == 64
    assert {"torch", "diffusers", "readerstudy"} <= set(provenance["versions"])
    assert (shipped_model_dir() / "PROVENANCE.md").read_text().count(
        f"{provenance['external_test']['auc']['auc']:.3f}") >= 1


def test_demo_adds_the_shipped_model_with_its_external_test(fresh, provenance):
    from readerstudy.services.engine_adapter import checkpoint_hash
    from readerstudy.services.model_card import model_card

    with fresh.uow() as uow:
        study = uow.studies.by_name(BUSI_STUDY)
        (model,) = uow.models.list(study.id)
        preds = uow.models.predictions(model.id)
        truth = {c.id: c.truth for c in uow.cases.list(study.id)}
    assert model.name == SHIPPED_MODEL and len(preds) == 79 and all(p.saliency_path for p in preds)
    assert model.checkpoint_hash == checkpoint_hash(shipped_model_dir() / "student")
    assert model.checkpoint_hash == provenance["external_test"]["checkpoint_hash"]
    y = np.array([truth[p.case_id] for p in preds])
    prob = np.array([p.probability for p in preds])
    auc = auc_delong(y, prob)
    stored = provenance["external_test"]
    assert stored["n"] == 79 and stored["positives"] == int(y.sum()) == 40
    assert auc.auc == pytest.approx(stored["auc"]["auc"], abs=1e-12)
    assert auc.ci_low == pytest.approx(stored["auc"]["ci_low"], abs=1e-12)
    acc = diagnostic_accuracy.from_labels(y, (prob >= 0.5).astype(int))
    assert acc.sensitivity.value == pytest.approx(stored["accuracy"]["sensitivity"]["value"])
    assert acc.specificity.value == pytest.approx(stored["accuracy"]["specificity"]["value"])
    card = model_card(fresh, LOCAL, BUSI_STUDY)
    assert card.evaluation["auc"]["auc"] == pytest.approx(auc.auc)
    assert "busi-train" in card.trained_on and card.trained_at and card.held_out["auc"]["auc"] is not None
    assert card.held_out["auc"] == provenance["validation"]["auc"]
    text = "\n".join(card.lines())
    assert "held-out validation: AUC" in text and f"on {BUSI_STUDY!r}: AUC {auc.auc:.3f}" in text


def test_shipped_checkpoint_reproduces_the_stored_predictions(fresh):
    from engine.pipelines.classify import load_classifier, predict
    from readerstudy.services.engine_adapter import _display_frame

    model = load_classifier(shipped_model_dir() / "student")
    assert model.config.image_size == 64
    with fresh.uow() as uow:
        study = uow.studies.by_name(BUSI_STUDY)
        (m,) = uow.models.list(study.id)
        preds = uow.models.predictions(m.id)[:12]
        assets = [uow.assets.image(p.case_id) for p in preds]
    images = [_display_frame(fresh, a) for a in assets]  # the pixels exactly as predict_study reads them
    again = predict(shipped_model_dir() / "student", images, saliency=True)
    np.testing.assert_allclose(again.probabilities, [p.probability for p in preds], atol=1e-6)
    for p, sal in zip(preds, again.saliency, strict=True):
        stored = fresh.store.load_array(p.saliency_path)
        assert stored.shape == sal.shape and 0.99 <= float(stored.max()) <= 1.0  # peak 1 at 64 px, upsampled
        np.testing.assert_allclose(stored, sal, atol=1e-5)


def test_fresh_demo_simulated_readers_complete_every_arm(fresh):
    from readerstudy.core.models import ReadPhase
    from readerstudy.services.simulate import simulate_readers

    report = simulate_readers(fresh, LOCAL, BUSI_STUDY, 3, seed=2)
    assert not report.skipped and report.deferred == 0, report.summary()
    assert len(report.readers) == 3 and report.reads == 3 * (79 + 2 * 79)  # unaided arm + AI arm (2 reads)
    with fresh.uow() as uow:
        study = uow.studies.by_name(BUSI_STUDY)
        reads = uow.reads.for_study(study.id)
        arms = {a.id: a.name for a in uow.arms.list(study.id)}
    aided = [r for r in reads if r.phase == ReadPhase.AIDED]
    assert len(aided) == 3 * 79 and {arms[r.arm_id] for r in aided} == {"AI-aided"}
    assert all(r.ai_shown["model_name"] == SHIPPED_MODEL and r.ai_shown["saliency_shown"] for r in aided)
    # the phantom CT study has no AI arm (no model reads CT): its readers finish too (5 scored cases,
    # phantom00 is the practice case)
    from readerstudy.services.demo import PHANTOM_STUDY

    phantom = simulate_readers(fresh, LOCAL, PHANTOM_STUDY, 2, seed=2)
    assert not phantom.skipped and phantom.reads == 2 * 5 and phantom.deferred == 0, phantom.summary()
