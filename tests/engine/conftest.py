"""Shared fixtures of the engine tests: tiny CPU configs, 2 threads, fixed seeds, real BUSI cases."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from engine.data import load_busi, split_cases

BUSI = Path(__file__).resolve().parents[2] / "resources" / "demo" / "busi"


@pytest.fixture(autouse=True)
def _threads_and_seed():
    torch.set_num_threads(2)
    torch.manual_seed(0)
    yield


@pytest.fixture(scope="session")
def busi_cases():
    """Eight real BUSI cases (4 benign, 4 malignant), 2 + 2 of them in the test split."""
    return split_cases(load_busi(BUSI, limit_per_class=4), test_fraction=0.5, seed=0)


@pytest.fixture
def tiny_vae():
    from engine.models import USVAE
    from engine.presets import get_preset

    p = get_preset("tiny")
    torch.manual_seed(0)
    return USVAE(image_size=p.image_size, **p.vae)


@pytest.fixture
def tiny_unet():
    from engine.models import ConditionalLatentUNet
    from engine.presets import get_preset

    p = get_preset("tiny")
    torch.manual_seed(0)
    return ConditionalLatentUNet(latent_size=8, latent_channels=4, **p.unet)
