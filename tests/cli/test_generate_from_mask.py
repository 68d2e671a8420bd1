"""``readerstudy engine generate-from-mask`` with the shipped generator: files, provenance, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from readerstudy.cli.app import main

DEMO = Path(__file__).resolve().parents[2] / "resources" / "demo" / "busi"


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def test_generates_pngs_mask_and_provenance_with_the_shipped_generator(tmp_path, capsys):
    from engine.metrics.mask_fidelity import case_fidelity

    mask = DEMO / "benign" / "benign (10)_mask.png"
    out = tmp_path / "out"
    code = main(["engine", "generate-from-mask", "--mask", str(mask), "--label", "0", "--count", "3",
                 "--seed", "7", "--steps", "12", "--out", str(out), "--image", str(DEMO / "benign" / "benign (10).png")])
    assert code == 0, capsys.readouterr().err
    names = sorted(p.name for p in out.iterdir())
    assert names == ["mask-as-used.png", "variant-00-seed7.json", "variant-00-seed7.png", "variant-01-seed8.json",
                     "variant-01-seed8.png", "variant-02-seed9.json", "variant-02-seed9.png"]
    used = np.asarray(Image.open(out / "mask-as-used.png")) > 0
    assert used.shape == (64, 64) and used.any()
    pauc = []
    for k, seed in enumerate((7, 8, 9)):
        img = np.asarray(Image.open(out / f"variant-{k:02d}-seed{seed}.png"), dtype=np.float32) / 255
        assert img.shape == (64, 64)
        doc = json.loads((out / f"variant-{k:02d}-seed{seed}.json").read_text())
        assert doc["seed"] == seed and doc["class_label"] == 0 and doc["steps"] == 12
        assert doc["guidance_scale"] == 4.0 and doc["sampler"] == "dpm"
        assert doc["mask"]["file"] == str(mask) and len(doc["generator"]["checkpoint_sha256"]) == 64
        assert doc["prompt"].startswith("oval with parallel alignment")
        assert {"psnr_db", "ssim", "contrast", "pauc", "dice"} <= set(doc["metrics"])
        pauc.append(case_fidelity(img, used)[1])
    assert np.mean(pauc) > 0.7  # the lesion is where the mask is
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["images"] == 3 and summary["seconds_per_variant"] > 0


def test_bad_inputs_exit_3_with_one_line_and_write_nothing(tmp_path, capsys):
    empty = tmp_path / "empty.png"
    Image.fromarray(np.zeros((40, 40), np.uint8)).save(empty)
    out = tmp_path / "out"
    assert main(["engine", "generate-from-mask", "--mask", str(empty), "--count", "1", "--seed", "0",
                 "--out", str(out)]) == 3
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "mask is empty" in err
    assert main(["engine", "generate-from-mask", "--mask", str(tmp_path / "missing.png"), "--count", "1",
                 "--seed", "0", "--out", str(out)]) == 3
    assert "cannot read the mask" in capsys.readouterr().err
    assert main(["engine", "generate-from-mask", "--mask", str(DEMO / "benign" / "benign (10)_mask.png"),
                 "--model", str(tmp_path), "--count", "1", "--seed", "0", "--out", str(out)]) == 3
    assert "not a generator folder" in capsys.readouterr().err
    assert not out.exists()
    assert main(["engine", "generate-from-mask", "--count", "1", "--seed", "0", "--out", str(out)]) == 2
