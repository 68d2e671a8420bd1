"""The engine as a reader: study cases to engine records, predictions with saliency into the DB,
and the whole ``readerstudy engine pipeline`` on a small real BUSI study (tiny preset)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from readerstudy.cli.app import main
from readerstudy.core.errors import NotFoundError
from readerstudy.core.models import Role
from readerstudy.services.demo import BUSI_STUDY, busi_sources
from readerstudy.services.engine_adapter import engine_cases, evaluate_probabilities, predict_study


def test_engine_cases_carry_image_mask_truth_and_a_stratified_split(demo_ctx) -> None:  # noqa: ANN001
    cases = engine_cases(demo_ctx, BUSI_STUDY, seed=3)
    assert len(cases) == 79 and {c.label for c in cases} == {0, 1}
    test = [c for c in cases if c.split == "test"]
    assert len(test) == 16 and {c.label for c in test} == {0, 1}
    assert all(c.case_id.startswith("RS-") for c in cases)  # pseudonyms only, never file names
    for c in cases[:10]:
        assert c.image.dtype == np.float32 and 0.0 <= c.image.min() and c.image.max() <= 1.0
        assert c.mask.shape == c.image.shape and c.mask.any()  # the expert's tumour mask
    assert [c.split for c in engine_cases(demo_ctx, BUSI_STUDY, seed=3)] == [c.split for c in cases]


def _untrained_student(path: Path) -> Path:
    import torch

    from engine.models import ConvClassifier, student_config

    torch.manual_seed(0)
    ConvClassifier(**student_config(32)).save_pretrained(path)
    return path


def test_predictions_and_saliency_land_in_the_db(demo_ctx, tmp_path: Path) -> None:  # noqa: ANN001
    ckpt = _untrained_student(tmp_path / "student")
    assert predict_study(demo_ctx, BUSI_STUDY, ckpt, model_name="Net") == 79
    with demo_ctx.uow() as uow:
        study = uow.studies.by_name(BUSI_STUDY)
        (model,) = uow.models.list(study.id)
        assert uow.readers.get(model.reader_id).role == Role.MODEL and model.name == "Net"
        preds = uow.models.predictions(model.id)
        case = uow.cases.get(preds[0].case_id)
        image = uow.assets.image(case.id)
    assert len(preds) == 79 and all(0.0 <= p.probability <= 1.0 for p in preds)
    assert len(model.checkpoint_hash) == 64 and model.version == model.checkpoint_hash[:12]
    saliency = demo_ctx.store.load_array(preds[0].saliency_path)
    assert saliency.shape == tuple(image.shape[1:]) and 0.0 <= saliency.min() and saliency.max() <= 1.0
    # same weights again: same model version, a second run
    predict_study(demo_ctx, BUSI_STUDY, ckpt, model_name="Net")
    with demo_ctx.uow() as uow:
        assert len(uow.models.list(study.id)) == 1


def test_missing_checkpoint_is_a_clear_error(demo_ctx, tmp_path: Path) -> None:  # noqa: ANN001
    (tmp_path / "empty").mkdir()
    with pytest.raises(NotFoundError, match="no checkpoint files"):
        predict_study(demo_ctx, BUSI_STUDY, tmp_path / "empty")


def test_evaluation_uses_delong_and_wilson() -> None:
    probs = {"m": {"a": 0.9, "b": 0.8, "c": 0.3, "d": 0.6}}
    (row,) = evaluate_probabilities(probs, {"a": 1, "b": 0, "c": 0, "d": 1})
    assert row.n == 4 and row.auc["auc"] == pytest.approx(0.75) and row.auc["ci_low"] is not None
    assert row.accuracy["accuracy"]["value"] == pytest.approx(0.75)
    (tiny,) = evaluate_probabilities({"m": {"a": 0.9, "b": 0.2}}, {"a": 1, "b": 0})
    assert tiny.auc["auc"] is None and "at least two positive" in tiny.auc["note"]


def test_engine_pipeline_cli_adds_the_model_as_a_reader(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    db = tmp_path / "small.sqlite"
    from readerstudy.services.context import open_context
    from readerstudy.services.importing import import_cases

    sources = [s for s in busi_sources() if int(s.case_id.split("(")[1].split(")")[0]) <= 10]  # 10 + 10
    ctx = open_context(db)
    import_cases(ctx, "small", sources)
    ctx.close()
    common = ["--db", str(db), "--study", "small", "--preset", "tiny", "--out", str(tmp_path / "out")]
    assert main(["engine", "train-vae", *common, "--progress", "none"]) == 0  # a stage, then resume
    staged = capsys.readouterr().out
    assert "train-vae done; checkpoints: teacher_real, vae" in staged
    assert not (tmp_path / "out" / "checkpoints" / "generator").exists()
    code = main(["engine", "pipeline", *common, "--progress", "jsonl"])
    captured = capsys.readouterr()
    out = captured.out
    assert code == 0, captured.err
    assert (tmp_path / "out" / "metrics.json").is_file() and (tmp_path / "out" / "evaluation.json").is_file()
    assert '"step"' in out and "held-out AUC" in out and "DiffKD-student added as a reader" in out
    assert (tmp_path / "out" / "checkpoints" / "generator").is_dir()
    ctx = open_context(db)
    with ctx.uow() as uow:
        study = uow.studies.by_name("small")
        (model,) = uow.models.list(study.id)
        assert len(uow.models.predictions(model.id)) == 20
    ctx.close()
    (tmp_path / "out" / "evaluation.json").unlink()
    assert main(["engine", "evaluate", "--study", "small", "--out", str(tmp_path / "out")]) == 0
    assert "student_full" in capsys.readouterr().out and (tmp_path / "out" / "evaluation.json").is_file()
