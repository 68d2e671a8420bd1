"""CUDA paths (marker ``gpu``, deselected by default; run with ``pytest -m gpu``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.gpu


@pytest.fixture
def cuda():
    if not torch.cuda.is_available():
        pytest.fail("the gpu tests were selected but CUDA is not available")
    return torch.device("cuda")


def test_pipeline_tiny_on_cuda(busi_cases, tmp_path, cuda):
    from engine.pipelines.classify import predict
    from engine.pipelines.diffkd import run_pipeline

    result = run_pipeline(busi_cases, preset="tiny", out_dir=tmp_path, device=cuda, seed=0)
    assert result.metrics_path.exists()
    test = [c for c in busi_cases if c.split == "test"]
    pred = predict(result.checkpoints["student_full"], [c.image for c in test], device=cuda)
    np.testing.assert_allclose(pred.probabilities,
                               [result.probabilities["student_full"][c.case_id] for c in test], atol=1e-3)


def test_generation_matches_cpu(tiny_vae, tiny_unet, cuda):
    from engine.models import TextEmbedder
    from engine.pipelines.generation import GenerationPipeline
    from engine.training import make_train_scheduler

    mask = np.zeros((32, 32), np.uint8)
    mask[8:20, 8:20] = 1
    kw = dict(seeds=[4], num_inference_steps=5, guidance_scale=2.0)
    cpu = GenerationPipeline(tiny_vae, tiny_unet, make_train_scheduler(), TextEmbedder("hashed"), "cpu")
    a = cpu([mask], [1], ["oval"], **kw)
    gpu = GenerationPipeline(tiny_vae, tiny_unet, make_train_scheduler(), TextEmbedder("hashed"), cuda)
    b = gpu([mask], [1], ["oval"], **kw)
    np.testing.assert_allclose(a, b, atol=2e-3)
