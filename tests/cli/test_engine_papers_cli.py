"""``readerstudy engine disc|ssl|reactkd``: each pipeline end to end at the tiny preset, the finer
actions, a study as the data source, and the errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from readerstudy.cli.app import main


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)
    yield


def _png_ok(path: str) -> None:
    with Image.open(path) as im:
        assert im.size[0] > 16 and im.size[1] > 16


def test_disc_pipeline_tiny_then_sample(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "disc"
    assert main(["engine", "disc", "pipeline", "--preset", "tiny", "--out", str(out), "--progress", "jsonl"]) == 0
    text = capsys.readouterr().out
    events = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    assert any(e.get("stage") == "sd" for e in events) and events[-1]["message"].startswith("done")
    assert all(e["event"] == "progress" and "eta_s" in e for e in events)
    doc = json.loads((out / "metrics.json").read_text())
    assert set(doc["seconds_per_image"]) == {"sd", "sd_sc", "sd_disc", "sd_disc_cotrain"}
    assert doc["sc_cost_vs_vanilla"] > 0 and "SC / vanilla" in text
    assert {"real_test_images", "sd_tile_masks", "sd_sc_tile_masks", "sd_shuffled_masks"} <= set(doc["fidelity"])
    assert "clf_real_only_lambda0" in doc["classifiers"] and "clf_sd_disc_lambda0.3" in doc["classifiers"]
    for g in doc["grids"]:
        _png_ok(g)
    assert main(["engine", "disc", "sample", "--out", str(out), "--model", "sd_disc", "--mode", "sc",
                 "--count", "2", "--steps", "2"]) == 0
    sampled = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert len(sampled["images"]) == 2
    with Image.open(sampled["images"][0]) as im:
        assert im.size == (16, 16)


def test_disc_train_stage_then_sample_refuses_missing_model(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "disc"
    assert main(["engine", "disc", "train", "--preset", "tiny", "--out", str(out), "--progress", "none"]) == 0
    assert "train done" in capsys.readouterr().out
    assert (out / "checkpoints" / "sd" / "config.json").exists()
    assert main(["engine", "disc", "sample", "--out", str(out), "--model", "sd_disc", "--count", "1"]) == 3
    assert "run 'engine disc train' (and 'distill') first" in capsys.readouterr().err


def test_ssl_pipeline_tiny(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "ssl"
    assert main(["engine", "ssl", "pipeline", "--preset", "tiny", "--out", str(out), "--progress", "none"]) == 0
    text = capsys.readouterr().out
    doc = json.loads((out / "metrics.json").read_text())
    assert doc["p_uncond"] == 0.1 and doc["threshold"] == 0.2
    for k in ("real", "real_synthetic"):
        r = doc["classifiers"][k]
        assert len(r["threshold_sweep"]) == 10 and len(r["image_mean_probability"]) == doc["n_test_images"]
    assert doc["fid"]["real_train_vs_synthetic"] >= 0 and "not Inception" in doc["fid"]["feature_extractor"]
    assert "FID (own-encoder features)" in text
    _png_ok(doc["grids"][0])


def test_reactkd_pipeline_tiny_with_decision_curves(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "re"
    assert main(["engine", "reactkd", "pipeline", "--preset", "tiny", "--out", str(out), "--progress", "none"]) == 0
    doc = json.loads((out / "metrics.json").read_text())
    student = doc["results"]["student_react_kd"]
    assert {"ct+pet", "ct_only", "pet_only", "ct_dose0.1+pet", "ct_dose0.1_only"} <= set(student)
    for r in student.values():
        assert set(r) >= {"accuracy", "macro_accuracy", "precision", "recall", "f1", "auc_ovr"}
    dca = doc["decision_curves"]
    assert set(dca["events"]) == {"poorly_differentiated", "moderate_or_poor"}
    curves = dca["events"]["poorly_differentiated"]
    assert {"student_react_kd", "teacher_petct", "treat_all", "treat_none"} <= set(curves)
    assert len(curves["student_react_kd"]) == len(dca["thresholds"])
    _png_ok(str(out / "decision_curves.png"))
    assert "decision curves" in capsys.readouterr().out


def test_reactkd_refuses_a_study_and_unknown_preset(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["engine", "reactkd", "train", "--preset", "tiny", "--out", str(tmp_path), "--study", "S",
                 "--db", str(tmp_path / "x.sqlite")]) == 3
    assert "not supported for reactkd" in capsys.readouterr().err
    assert main(["engine", "ssl", "pipeline", "--preset", "huge", "--out", str(tmp_path)]) == 2


def test_disc_trains_on_a_study(copy_demo, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    db = copy_demo(tmp_path)
    out = tmp_path / "disc_study"
    assert main(["engine", "disc", "train", "--preset", "tiny", "--out", str(out), "--db", str(db),
                 "--study", "Phantom liver CT/PET", "--progress", "none"]) == 0
    assert (out / "checkpoints" / "generator" / "unet" / "config.json").exists()
    assert main(["engine", "ssl", "train", "--preset", "tiny", "--out", str(tmp_path / "s"), "--db", str(db),
                 "--study", "No such study", "--progress", "none"]) == 3
