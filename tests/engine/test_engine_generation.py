"""Sampling: deterministic for a seed, the condition matters, samplers, save/load."""

from __future__ import annotations

import numpy as np
import pytest

from engine.models import TextEmbedder
from engine.pipelines.generation import GenerationPipeline
from engine.training import make_train_scheduler


@pytest.fixture
def pipe(tiny_vae, tiny_unet):
    return GenerationPipeline(tiny_vae, tiny_unet, make_train_scheduler(), TextEmbedder("hashed"))


def _masks():
    a = np.zeros((40, 50), np.uint8)
    a[5:15, 5:15] = 1
    b = np.zeros((40, 50), np.uint8)
    b[10:38, 10:48] = 1
    return a, b


def test_sampling_is_deterministic_for_a_seed(pipe):
    a, _ = _masks()
    kw = dict(num_inference_steps=4, guidance_scale=2.0)
    x1 = pipe([a, a], [0, 1], ["oval", "irregular"], seeds=[7, 8], **kw)
    x2 = pipe([a, a], [0, 1], ["oval", "irregular"], seeds=[7, 8], **kw)
    assert x1.shape == (2, 32, 32) and x1.dtype == np.float32
    np.testing.assert_array_equal(x1, x2)
    # an image does not depend on the batch it was generated in
    x3 = pipe([a], [1], ["irregular"], seeds=[8], **kw)
    np.testing.assert_allclose(x3[0], x1[1], atol=1e-5)
    x4 = pipe([a], [1], ["irregular"], seeds=[9], **kw)
    assert np.abs(x4[0] - x1[1]).mean() > 1e-4


def test_condition_changes_the_output(pipe):
    a, b = _masks()
    kw = dict(seeds=[3], num_inference_steps=4, guidance_scale=3.0)
    base = pipe([a], [0], ["oval"], **kw)
    # Same seed and code path: a repeated call is bit-identical, so any change comes from the
    # condition. The model is untrained, so the effect is small but must be there.
    np.testing.assert_array_equal(pipe([a], [0], ["oval"], **kw), base)
    assert np.abs(pipe([b], [0], ["oval"], **kw) - base).mean() > 1e-5       # mask
    assert np.abs(pipe([a], [1], ["oval"], **kw) - base).mean() > 1e-5       # label
    assert np.abs(pipe([a], [0], ["spiculated"], **kw) - base).mean() > 1e-5  # prompt


@pytest.mark.parametrize("sampler", ["ddim", "dpm"])
def test_samplers_and_strength(pipe, sampler):
    a, _ = _masks()
    init = [np.full((40, 50), 0.5, np.float32)]
    x = pipe([a], [1], ["p"], seeds=[0], num_inference_steps=4, sampler=sampler,
             strength=0.5, init_images=init)
    assert x.shape == (1, 32, 32) and np.isfinite(x).all()
    with pytest.raises(ValueError, match="init_images"):
        pipe([a], [1], ["p"], strength=0.5)
    with pytest.raises(ValueError, match="sampler"):
        pipe([a], [1], ["p"], sampler="euler")


@pytest.mark.parametrize("sampler", ["ddim", "dpm"])
def test_pipeline_save_load_roundtrip(pipe, tmp_path, sampler):
    """A reloaded pipeline samples exactly like the in-memory one (the sampler options must not
    depend on whether the DDPM config came from memory or from disk)."""
    a, _ = _masks()
    kw = dict(seeds=[1], num_inference_steps=6, sampler=sampler)
    x = pipe([a], [1], ["irregular"], **kw)
    pipe.save_pretrained(tmp_path / "gen")
    loaded = GenerationPipeline.from_pretrained(tmp_path / "gen")
    np.testing.assert_allclose(loaded([a], [1], ["irregular"], **kw), x, atol=1e-6)


def test_sampler_options_are_explicit():
    from diffusers import DDPMScheduler

    from engine.pipelines.generation import make_sampler

    sched = make_train_scheduler()
    assert sched.config.clip_sample is False
    for kind in ("ddim", "dpm"):
        s = make_sampler(DDPMScheduler(beta_schedule="squaredcos_cap_v2", timestep_spacing="trailing").config,
                         kind)
        s.set_timesteps(50)
        assert 940 < int(s.timesteps[0]) <= 981  # "leading" + offset 1, never t = 999
        assert s.config.beta_schedule == "squaredcos_cap_v2"


def test_text_backend_mismatch_is_refused(tiny_vae, tiny_unet):
    tiny_unet.register_to_config(text_encoder="minilm")
    with pytest.raises(ValueError, match="text backend"):
        GenerationPipeline(tiny_vae, tiny_unet, make_train_scheduler(), TextEmbedder("hashed"))
