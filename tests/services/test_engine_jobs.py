"""Training data of an engine job (the engine's split, or the cases a coordinator marked as training)
and the marking of predictions on training cases, also in another study holding the same images."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from readerstudy.core.errors import ValidationError
from readerstudy.services.auth import local_session
from readerstudy.services.demo import busi_sources
from readerstudy.services.engine_adapter import predict_study
from readerstudy.services.engine_jobs import find_manifest, load_trained_on, training_cases
from readerstudy.services.importing import import_cases

LOCAL = local_session("test")  # the CLI's local coordinator session (reaches every study)


def _number(source) -> int:  # noqa: ANN001
    return int(source.case_id.split("(")[1].split(")")[0])


@pytest.fixture
def two_studies(ctx):  # noqa: ANN001, ANN201
    """Study A: 10 benign + 10 malignant, numbers 1-7 of each marked 'train'. Study B: the same images."""
    sources = [s for s in busi_sources() if _number(s) <= 10]
    import_cases(ctx, LOCAL, "A", [replace(s, split="train" if _number(s) <= 7 else "test") for s in sources])
    import_cases(ctx, LOCAL, "B", sources)
    return ctx


def test_marked_split_trains_on_the_marked_cases(two_studies) -> None:  # noqa: ANN001
    ctx = two_studies
    cases, manifest = training_cases(ctx, LOCAL, "A", split="marked")
    with ctx.uow() as uow:
        marked = {c.pseudonym for c in uow.cases.list(uow.studies.by_name("A").id) if c.split == "train"}
    assert {c.case_id for c in cases if c.split == "train"} == marked and len(marked) == 14
    assert manifest.summary() == {"study": "A", "split": "marked", "seed": 0, "cases": 20, "train": 14, "test": 6,
                                  "train_positive": 7, "test_positive": 3}
    auto_cases, auto = training_cases(ctx, LOCAL, "A", split="auto")
    # the engine's own split groups near-duplicates (malignant (3)-(9) are frames of one lesion), so
    # its test side can be larger than 20 %; both sides exist
    assert auto.summary()["test"] >= 4 and {c.split for c in auto_cases} == {"train", "test"}


def test_a_marked_side_without_both_truths_is_refused(ctx) -> None:  # noqa: ANN001
    sources = [s for s in busi_sources() if _number(s) <= 4]
    import_cases(ctx, LOCAL, "C", [replace(s, split="train" if "benign" in s.case_id else "test") for s in sources])
    with pytest.raises(ValidationError, match="marked 'train'.*need both truths"):
        training_cases(ctx, LOCAL, "C", split="marked")


def test_predictions_are_marked_by_case_and_by_image_in_another_study(two_studies, tmp_path: Path) -> None:  # noqa: ANN001
    import torch

    from engine.models import ConvClassifier, student_config

    ctx = two_studies
    _, manifest = training_cases(ctx, LOCAL, "A", split="marked", run_id="R1")
    out = tmp_path / "run"
    path = manifest.write(out)
    torch.manual_seed(0)
    ConvClassifier(**student_config(32)).save_pretrained(out / "checkpoints" / "student_full")
    assert find_manifest(out / "checkpoints" / "student_full") == path
    trained_on = load_trained_on(path)
    assert trained_on.run_id == "R1" and len(trained_on.case_ids) == 14
    for study in ("A", "B"):
        assert predict_study(ctx, LOCAL, study, out / "checkpoints" / "student_full", trained_on=trained_on) == 20
    with ctx.uow() as uow:
        for study in ("A", "B"):
            sid = uow.studies.by_name(study).id
            (model,) = uow.models.list(sid)
            preds = uow.models.predictions(model.id)
            marked = {uow.cases.get(p.case_id).source_ref for p in preds if p.in_training_set}
            assert len(marked) == 14 and all(_n(ref) <= 7 for ref in marked), study
            assert model.config["training_run_id"] == "R1"
    with pytest.raises(ValidationError, match="not a training manifest"):
        load_trained_on(tmp_path / "missing.json")


def _n(source_ref: str) -> int:
    return int(source_ref.split("(")[1].split(")")[0])
