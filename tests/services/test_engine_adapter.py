"""The engine as a reader: study cases to engine records, predictions with saliency into the DB,
and the whole ``readerstudy engine pipeline`` on a small real BUSI study (tiny preset)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from readerstudy.cli.app import main
from readerstudy.core.errors import NotFoundError
from readerstudy.core.models import Role
from readerstudy.services.auth import local_session
from readerstudy.services.demo import BUSI_STUDY, busi_sources
from readerstudy.services.engine_adapter import engine_cases, evaluate_probabilities, predict_study

LOCAL = local_session("test")  # the CLI's local coordinator session (reaches every study)


def test_engine_cases_carry_image_mask_truth_and_a_stratified_split(demo_ctx) -> None:  # noqa: ANN001
    cases = engine_cases(demo_ctx, LOCAL, BUSI_STUDY, seed=3)
    assert len(cases) == 79 and {c.label for c in cases} == {0, 1}
    test = [c for c in cases if c.split == "test"]
    assert len(test) == 16 and {c.label for c in test} == {0, 1}
    assert all(c.case_id.startswith("RS-") for c in cases)  # pseudonyms only, never file names
    for c in cases[:10]:
        assert c.image.dtype == np.float32 and 0.0 <= c.image.min() and c.image.max() <= 1.0
        assert c.mask.shape == c.image.shape and c.mask.any()  # the expert's tumour mask
    assert [c.split for c in engine_cases(demo_ctx, LOCAL, BUSI_STUDY, seed=3)] == [c.split for c in cases]


def _untrained_student(path: Path) -> Path:
    import torch

    from engine.models import ConvClassifier, student_config

    torch.manual_seed(0)
    ConvClassifier(**student_config(32)).save_pretrained(path)
    return path


def test_predictions_and_saliency_land_in_the_db(demo_ctx, tmp_path: Path) -> None:  # noqa: ANN001
    ckpt = _untrained_student(tmp_path / "student")
    assert predict_study(demo_ctx, LOCAL, BUSI_STUDY, ckpt, model_name="Net") == 79
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
    predict_study(demo_ctx, LOCAL, BUSI_STUDY, ckpt, model_name="Net")
    with demo_ctx.uow() as uow:
        assert len(uow.models.list(study.id)) == 1


def test_missing_checkpoint_is_a_clear_error(demo_ctx, tmp_path: Path) -> None:  # noqa: ANN001
    (tmp_path / "empty").mkdir()
    with pytest.raises(NotFoundError, match="no checkpoint files"):
        predict_study(demo_ctx, LOCAL, BUSI_STUDY, tmp_path / "empty")


def test_bar_progress_measures_each_stage_from_its_own_start(capsys: pytest.CaptureFixture) -> None:
    import time

    from readerstudy.services.job_child import JobReporter

    reporter = JobReporter("bar")  # what `engine ... --progress bar` draws
    for step in (1, 2, 3):
        reporter.progress(step, 120, f"[teacher_real] loss {step}")
    time.sleep(1.2)  # a long training stage ...
    reporter.stage("predict")(1, 79, "classified 1/79")  # ... then prediction: its ETA starts from its own first step
    reporter.close()
    err = capsys.readouterr().err
    line = [x for x in err.replace("\r", "\n").splitlines() if "classified 1/79" in x][-1]
    assert "1/79 [00:00<" in line, line


def test_overrides_are_parsed_as_python_values() -> None:
    from readerstudy.cli.engine_cmd import parse_overrides
    from readerstudy.core.errors import ValidationError

    assert parse_overrides(["teacher_steps=1500", "clf_balanced=True", "augment=classic", "clf_lr=2e-4",
                            "ablations=teacher_real,full"]) == {
        "teacher_steps": 1500, "clf_balanced": True, "augment": "classic", "clf_lr": 2e-4,
        "ablations": ("teacher_real", "full")}
    with pytest.raises(ValidationError, match="FIELD=VALUE"):
        parse_overrides(["teacher_steps"])


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
    external = [s for s in busi_sources() if 30 <= int(s.case_id.split("(")[1].split(")")[0]) <= 34]  # 5 + 5
    ctx = open_context(db)
    import_cases(ctx, LOCAL, "small", sources)
    import_cases(ctx, LOCAL, "external", external)
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
    assert "near-duplicate groups; groups on both sides: 0" in out
    assert out.rstrip().splitlines()[-1].startswith("done in ")  # after the predictions, not before
    assert out.index("added as a reader") < out.index("done in ")
    assert (tmp_path / "out" / "checkpoints" / "generator").is_dir()
    ctx = open_context(db)
    with ctx.uow() as uow:
        study = uow.studies.by_name("small")
        (model,) = uow.models.list(study.id)
        assert len(uow.models.predictions(model.id)) == 20
    ctx.close()
    # train on one study, predict on another: an external test, printed and stored on the model
    code = main(["engine", "pipeline", *common, "--progress", "none", "--predict-study", "external"])
    out = capsys.readouterr().out
    assert code == 0 and "added as a reader of 'external': 10 predictions" in out
    assert "DiffKD-student on 'external' (10 cases with ground truth, 5 positive): AUC" in out
    ctx = open_context(db)
    with ctx.uow() as uow:
        (model,) = uow.models.list(uow.studies.by_name("external").id)
        assert model.config["study_evaluation"]["n"] == 10 and model.config["card"]["held_out"]["n"] > 0
    ctx.close()
    assert main(["engine", "groups", "--db", str(db), "--study", "small"]) == 0
    out = capsys.readouterr().out
    assert "small: 20 cases with ground truth in" in out and "groups on both sides: 0" in out
    assert "malignant/malignant (3).png" in out  # the frames of one lesion are listed as a group
    (tmp_path / "out" / "evaluation.json").unlink()
    assert main(["engine", "evaluate", "--study", "small", "--out", str(tmp_path / "out")]) == 0
    assert "student_full" in capsys.readouterr().out and (tmp_path / "out" / "evaluation.json").is_file()
