"""Image metrics on known values; the BUSI loader and the split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from engine.data import classic_augment, load_busi, split_cases
from engine.metrics import feature_matching_score, mse, psnr, ssim, summarize

BUSI = Path(__file__).resolve().parents[2] / "resources" / "demo" / "busi"


def test_psnr_mse_ssim_known_values():
    a = np.full((32, 32), 0.4)
    b = a + 0.1
    assert mse(a, b) == pytest.approx(0.01)
    assert psnr(a, b) == pytest.approx(20.0)
    assert psnr(a, a) == float("inf")
    rng = np.random.default_rng(0)
    img = rng.random((32, 32))
    assert ssim(img, img) == pytest.approx(1.0)
    assert ssim(img, rng.random((32, 32))) < 0.2
    with pytest.raises(ValueError):
        mse(a, a[:10])


def test_fms_is_one_for_identical_images():
    from engine.models import ConvClassifier, teacher_config

    m = ConvClassifier(**teacher_config(32))
    img = np.random.default_rng(1).random((32, 32)).astype(np.float32)
    fakes = np.stack([img, np.roll(img, 5, axis=0)])
    fms = feature_matching_score(m, img, fakes)
    assert fms[0] == pytest.approx(1.0, abs=1e-5)
    assert fms[1] < 1.0


def test_raw_fms_is_near_one_for_anything_the_centred_fms_is_not():
    import torch

    from engine.metrics.image import label_agreement, mean_feature
    from engine.models import ConvClassifier, teacher_config

    torch.manual_seed(0)
    m = ConvClassifier(**teacher_config(32))
    rng = np.random.default_rng(2)
    images = rng.random((40, 32, 32)).astype(np.float32)
    raw = feature_matching_score(m, images[0], images[1:])
    center = mean_feature(m, images)
    centred = feature_matching_score(m, images[0], images[1:], center=center)
    assert raw.min() > 0.95  # unrelated noise images: the raw cosine cannot tell them apart
    assert abs(float(centred.mean())) < 0.3 and centred.max() < 0.9  # the centred one can
    same = feature_matching_score(m, images[0], images[:1], center=center)
    assert same[0] == pytest.approx(1.0, abs=1e-5)
    agree = label_agreement(m, images, np.r_[np.zeros(20, int), np.ones(20, int)])
    assert agree["n"] == 40 and agree["all"] == pytest.approx((agree["label0"] + agree["label1"]) / 2)


def test_summarize_drops_inf():
    s = summarize([1.0, 3.0, float("inf")])
    assert (s.mean, s.n) == (2.0, 2)


def test_load_busi_real_files():
    cases = load_busi(BUSI, limit_per_class=5)
    assert len(cases) == 10
    assert {c.label for c in cases} == {0, 1}
    benign4 = next(c for c in cases if c.case_id == "benign-4")
    assert benign4.mask.dtype == np.uint8 and benign4.mask.shape == benign4.image.shape
    assert 0 <= benign4.image.min() and benign4.image.max() <= 1
    # benign (4) has two lesion masks; both are OR-ed in.
    from PIL import Image

    m0 = np.asarray(Image.open(BUSI / "benign" / "benign (4)_mask.png").convert("L")) > 0
    m1 = np.asarray(Image.open(BUSI / "benign" / "benign (4)_mask_1.png").convert("L")) > 0
    assert benign4.mask.sum() == (m0 | m1).sum() > m0.sum()


def test_split_is_stratified_by_group_and_seeded():
    cases = load_busi(BUSI, limit_per_class=5)
    a, b = split_cases(cases, 0.4, seed=3), split_cases(cases, 0.4, seed=3)
    assert [c.split for c in a] == [c.split for c in b]
    test = [c.case_id for c in a if c.split == "test"]
    # malignant (3)-(5) are frames of one lesion: one group, held out together
    assert sorted(test) == ["benign-1", "benign-4", "malignant-3", "malignant-4", "malignant-5"]
    assert len({c.group for c in a if c.case_id.startswith("malignant-") and c.case_id[-1] in "345"}) == 1


def test_classic_augment_is_seeded_and_bounded():
    x = torch.rand(4, 1, 32, 32)
    a = classic_augment(x, torch.Generator().manual_seed(0))
    b = classic_augment(x, torch.Generator().manual_seed(0))
    torch.testing.assert_close(a, b)
    assert a.shape == x.shape and float(a.min()) >= 0 and float(a.max()) <= 1
    assert not torch.allclose(a, x)
