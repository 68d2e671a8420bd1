"""Lesion segmenter: shapes, fp16 round trip, joint augmentation, training on phantoms, inference at any size."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.metrics.mask_fidelity import dice
from engine.models.segmenter import LesionSegmenter
from engine.pipelines.segment import clean_mask, load_segmenter, segment
from engine.training.lesion_segmenter import joint_augment, train_lesion_segmenter
from engine.training.loop import LoopConfig

SMALL = dict(image_size=32, channels=(8, 16, 32), num_res_units=1, dropout=0.0)


def _phantoms(n, size=32, seed=0):
    """Bright speckled background with one dark disc at a random place: (N,1,S,S) images and masks."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    imgs, masks = [], []
    for _ in range(n):
        cx, cy, r = rng.uniform(8, size - 8), rng.uniform(8, size - 8), rng.uniform(3, 7)
        m = ((xx - cx) ** 2 + (yy - cy) ** 2 <= r * r).astype(np.float32)
        img = 0.65 + 0.1 * rng.standard_normal((size, size)) - 0.4 * m
        imgs.append(np.clip(img, 0, 1).astype(np.float32))
        masks.append(m)
    return torch.from_numpy(np.stack(imgs))[:, None], torch.from_numpy(np.stack(masks))[:, None]


def test_shapes_and_size_check():
    m = LesionSegmenter(**SMALL)
    assert m(torch.rand(2, 1, 32, 32)).shape == (2, 1, 32, 32)
    with pytest.raises(ValueError, match="divisible"):
        LesionSegmenter(image_size=30, channels=(8, 16, 32))


def test_fp16_checkpoint_loads_as_float32(tmp_path):
    torch.manual_seed(0)
    m = LesionSegmenter(**SMALL).eval()
    x = torch.rand(1, 1, 32, 32)
    m.to(torch.float16).save_pretrained(tmp_path / "seg")
    loaded = load_segmenter(tmp_path / "seg")
    assert next(loaded.parameters()).dtype == torch.float32
    ref = m.to(torch.float32)(x)
    torch.testing.assert_close(loaded(x), ref)


def test_joint_augment_moves_image_and_mask_together():
    imgs, masks = _phantoms(6)
    g = torch.Generator().manual_seed(1)
    a, b = joint_augment(masks.clone(), masks.clone(), g, jitter=0.0)
    assert set(torch.unique(b).tolist()) <= {0.0, 1.0}
    # the mask pushed through the image path (bilinear) and the mask path (nearest) agree
    assert ((a > 0.5).float() != b).float().mean() < 0.03
    assert not torch.equal(b, masks)


def test_training_learns_to_find_dark_discs():
    torch.set_num_threads(1)  # small convolutions: one thread is faster than two on a loaded machine
    imgs, masks = _phantoms(48)
    torch.manual_seed(0)
    model = LesionSegmenter(**SMALL)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    res = train_lesion_segmenter(model, opt, imgs, masks, loop=LoopConfig(steps=120, batch_size=8, seed=0), device="cpu")
    assert np.mean(res.losses[-10:]) < 0.6 * np.mean(res.losses[:10])
    test_imgs, test_masks = _phantoms(8, seed=99)
    out = segment(model, list(test_imgs[:, 0].numpy()))
    d = [dice(p, t) for p, t in zip(out.masks, test_masks[:, 0].numpy(), strict=True)]
    assert np.mean(d) > 0.75


def test_segment_returns_masks_at_each_image_size():
    torch.manual_seed(0)
    model = LesionSegmenter(**SMALL).eval()
    out = segment(model, [np.random.rand(40, 70).astype(np.float32), np.random.rand(32, 32)], clean=False)
    assert [m.shape for m in out.masks] == [(40, 70), (32, 32)]
    assert [p.shape for p in out.probabilities] == [(40, 70), (32, 32)]
    assert all(set(np.unique(m)) <= {0, 1} for m in out.masks)
    with pytest.raises(ValueError, match="2-D"):
        segment(model, [np.zeros((2, 32, 32))])


def test_clean_mask_keeps_the_largest_component_without_holes():
    m = np.zeros((20, 20), np.uint8)
    m[2:12, 2:12] = 1
    m[5:8, 5:8] = 0  # a hole
    m[15:18, 15:18] = 1  # a smaller island
    c = clean_mask(m)
    assert c[6, 6] == 1 and c[16, 16] == 0
    assert c.sum() == 100
    assert clean_mask(np.zeros((5, 5))).sum() == 0
