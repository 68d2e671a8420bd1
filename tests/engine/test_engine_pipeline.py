"""run_pipeline end to end (tiny preset, real BUSI images), predict and input validation."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from engine.pipelines.classify import predict
from engine.pipelines.diffkd import planned_stages, run_pipeline
from engine.pipelines.generation import GenerationPipeline
from engine.presets import ABLATIONS, get_preset
from engine.progress import Cancelled, CancelToken, split_stage


@pytest.fixture(scope="module")
def tiny_run(busi_cases, tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny_run")
    messages = []
    result = run_pipeline(busi_cases, preset="tiny", out_dir=out, device="cpu", seed=0,
                          progress=lambda s, t, m: messages.append((s, t, m)))
    return result, messages


def test_pipeline_writes_metrics_and_grids(tiny_run, busi_cases):
    result, messages = tiny_run
    doc = json.loads(result.metrics_path.read_text())
    test_ids = sorted(c.case_id for c in busi_cases if c.split == "test")
    assert sorted(doc["test_labels"]) == test_ids
    expected_models = {"teacher_real", "teacher_real_syn", "student_no_kd", "teacher_classic_aug",
                       "student_kd_classic_aug", "student_full"}
    assert set(doc["probabilities"]) == expected_models
    for probs in doc["probabilities"].values():
        assert sorted(probs) == test_ids and all(0.0 <= v <= 1.0 for v in probs.values())
    for key in ("psnr", "ssim", "mse", "fms", "fms_centred"):
        assert doc["generation"][key]["n"] == doc["n_synthetic"] > 0
    agree = doc["generation"]["teacher_real_label_agreement"]
    assert agree["synthetic"]["n"] == doc["n_synthetic"] and 0.0 <= agree["real_train"]["all"] <= 1.0
    assert doc["split"]["straddling_groups"] == 0 and doc["split"]["test_cases"] == len(test_ids)
    assert doc["preset_fields"]["values"]["teacher_steps"] == 3 and doc["preset_fields"]["changed_from_named_preset"] == []
    # tiny preset: 2 per negative, 1 per positive, 2 + 2 training cases
    assert doc["n_synthetic"] == 2 * 2 + 2 * 1
    assert doc["text_backend"] == "hashed"
    fid = doc["generation"]["mask_fidelity"]  # 4 training cases, own / shuffled / moved masks
    assert fid["n_cases"] == 4 and fid["ring_px"] == 4 and fid["image_size"] == 32
    rows = {(r["images"], r["mask"]): r for r in fid["rows"]}
    assert set(rows) >= {("real", "own"), ("real", "shuffled"), ("vae", "own"), ("generator", "own"),
                         ("generator", "shuffled"), ("generator", "moved")}
    assert rows[("real", "own")]["pauc"]["mean"] > 0.7  # BUSI lesions are darker than their ring
    for grid, n_variants in zip(result.grid_paths, (2, 1), strict=True):
        with Image.open(grid) as im:
            w, h = im.size
        assert h == 2 * (32 + 2) + 2  # 2 training cases per label
        assert w == (2 + n_variants) * (32 + 2) + 2  # real, outline, the variants
    assert messages[-1][2].startswith("[evaluation] done") and any("[ldm]" in m for _, _, m in messages)
    stages = list(dict.fromkeys(split_stage(m)[0] for _, _, m in messages))
    assert stages == planned_stages("tiny")  # the plan a job shows as "stage k of n" is what runs


def test_checkpoints_load_and_predict(tiny_run, busi_cases):
    result, _ = tiny_run
    test = [c for c in busi_cases if c.split == "test"]
    pred = predict(result.checkpoints["student_full"], [c.image for c in test], device="cpu")
    assert pred.probabilities.shape == (len(test),)
    np.testing.assert_allclose(pred.probabilities,
                               [result.probabilities["student_full"][c.case_id] for c in test], atol=1e-5)
    for c, sal in zip(test, pred.saliency, strict=True):
        assert sal.shape == c.image.shape and sal.dtype == np.float32
        assert 0.0 <= sal.min() and sal.max() == pytest.approx(1.0)  # the predicted class always has a map
    gen = GenerationPipeline.from_pretrained(result.checkpoints["generator"])
    assert gen.vae.config.scaling_factor != 1.0  # fitted from the training latents
    imgs = gen([test[0].mask], [test[0].label], [test[0].prompt], seeds=[0], num_inference_steps=2)
    assert imgs.shape == (1, 32, 32)


def test_rerun_resumes_from_train_state(tiny_run, busi_cases):
    result, _ = tiny_run
    state = result.out_dir / "train_state"
    assert {p.name for p in state.iterdir()} >= {"vae-last.pt", "ldm-last.pt", "student_full-last.pt"}


def test_cancel_stops_the_pipeline(busi_cases, tmp_path):
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        run_pipeline(busi_cases, preset="tiny", out_dir=tmp_path, cancel=token)


def test_ablation_subset(busi_cases, tmp_path):
    p = get_preset("tiny", ablations=("teacher_real", "full"), synth_per_negative=1)
    result = run_pipeline(busi_cases, preset=p, out_dir=tmp_path, seed=1)
    assert set(result.probabilities) == {"teacher_real", "teacher_real_syn", "student_full"}


def test_invalid_inputs_are_refused(busi_cases, tmp_path):
    dup = busi_cases + [busi_cases[0]]
    with pytest.raises(ValueError, match="duplicate"):
        run_pipeline(dup, preset="tiny", out_dir=tmp_path)
    one_label = [replace(c, split="test") if c.label == 0 else c for c in busi_cases]
    with pytest.raises(ValueError, match="both labels"):
        run_pipeline(one_label, preset="tiny", out_dir=tmp_path)
    with pytest.raises(ValueError, match="unknown preset"):
        get_preset("huge")
    with pytest.raises(ValueError, match="unknown ablations"):
        get_preset("tiny", ablations=("bogus",))
    assert set(get_preset("default").ablations) == set(ABLATIONS)
