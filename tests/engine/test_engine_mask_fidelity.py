"""Mask fidelity: ring, contrast, pAUC against hand counts, Dice, bootstrap CIs, moved and shuffled controls."""

from __future__ import annotations

import numpy as np
import pytest

from engine.metrics.mask_fidelity import (
    bootstrap_mean,
    case_fidelity,
    dice,
    fidelity_per_case,
    move_mask,
    ring_mask,
    shuffled_pairs,
)


def _disc(size=32, cx=16, cy=16, r=6):
    yy, xx = np.mgrid[:size, :size]
    return ((xx - cx) ** 2 + (yy - cy) ** 2 <= r * r).astype(np.uint8)


def test_ring_is_outside_the_mask_within_4_px():
    m = _disc()
    ring = ring_mask(m)
    assert not (ring & (m > 0)).any()
    from scipy import ndimage

    dist = ndimage.distance_transform_edt(m == 0)
    np.testing.assert_array_equal(ring, (dist > 0) & (dist <= 4))
    # a 1-px mask in the middle: the ring is the Euclidean disc of radius 4 minus the pixel (48 pixels)
    one = np.zeros((21, 21), np.uint8)
    one[10, 10] = 1
    assert ring_mask(one).sum() == 48
    assert not ring_mask(np.zeros((8, 8))).any()


def test_dark_lesion_gives_positive_contrast_and_pauc_one():
    m = _disc()
    img = np.where(m > 0, 0.2, 0.7)
    contrast, pauc = case_fidelity(img, m)
    assert contrast == pytest.approx(0.5)
    assert pauc == pytest.approx(1.0)
    contrast, pauc = case_fidelity(1 - img, m)  # a bright lesion: the other way round
    assert contrast == pytest.approx(-0.5) and pauc == pytest.approx(0.0)
    assert case_fidelity(np.full((32, 32), 0.4), m) == (pytest.approx(0.0, abs=1e-12), 0.5)


def test_pauc_equals_the_pairwise_count_with_ties_half():
    rng = np.random.default_rng(3)
    m = _disc(24, 12, 12, 4)
    img = rng.integers(0, 5, size=(24, 24)) / 4.0  # many ties
    ring = ring_mask(m)
    out, ins = img[ring], img[m > 0]
    expected = ((out[:, None] > ins[None]).sum() + 0.5 * (out[:, None] == ins[None]).sum()) / (out.size * ins.size)
    contrast, pauc = case_fidelity(img, m)
    assert pauc == pytest.approx(expected, abs=1e-12)
    assert contrast == pytest.approx(out.mean() - ins.mean())


def test_empty_mask_is_nan_and_shapes_are_checked():
    c, p = case_fidelity(np.zeros((8, 8)), np.zeros((8, 8)))
    assert np.isnan(c) and np.isnan(p)
    with pytest.raises(ValueError, match="same shape"):
        case_fidelity(np.zeros((8, 8)), np.zeros((8, 9)))
    with pytest.raises(ValueError, match="same"):
        fidelity_per_case(np.zeros((2, 8, 8)), np.zeros((3, 8, 8)))


def test_dice_known_values():
    a = np.zeros((10, 10), np.uint8)
    b = np.zeros((10, 10), np.uint8)
    a[:, :5] = 1
    b[:, 3:8] = 1  # overlap 2 columns of 10: 2*20 / (50+50)
    assert dice(a, b) == pytest.approx(0.4)
    assert dice(a, a) == 1.0 and dice(a, 1 - a) == 0.0
    assert dice(np.zeros((4, 4)), np.zeros((4, 4))) == 1.0


def test_bootstrap_mean_ci_covers_the_mean_and_is_seeded():
    v = np.random.default_rng(0).normal(0.3, 0.1, 60)
    s = bootstrap_mean(np.r_[v, np.nan])
    assert s.n == 60 and s.mean == pytest.approx(v.mean())
    assert s.ci_low < s.mean < s.ci_high
    # roughly mean +- 1.96 * sd / sqrt(n)
    assert s.ci_high - s.ci_low == pytest.approx(2 * 1.96 * v.std(ddof=1) / np.sqrt(60), rel=0.25)
    assert bootstrap_mean(v) == bootstrap_mean(v)
    assert bootstrap_mean([np.nan]).n == 0


def test_move_mask_goes_a_quarter_towards_the_free_side():
    m = _disc(64, 16, 30, 5)
    moved = move_mask(m)
    assert moved.sum() == m.sum()
    assert np.nonzero(moved)[1].mean() == pytest.approx(np.nonzero(m)[1].mean() + 16)
    right = _disc(64, 50, 30, 5)
    assert np.nonzero(move_mask(right))[1].mean() == pytest.approx(np.nonzero(right)[1].mean() - 16)
    wide = np.zeros((8, 8), np.uint8)
    wide[:, :7] = 1  # centre left of the middle: moves right by 2, one column falls off
    assert move_mask(wide).sum() == 8 * 6


def test_shuffled_pairs_is_a_seeded_derangement():
    for n in (2, 3, 10, 79):
        p = shuffled_pairs(n, seed=5)
        assert sorted(p.tolist()) == list(range(n))
        assert not (p == np.arange(n)).any()
    np.testing.assert_array_equal(shuffled_pairs(10, 1), shuffled_pairs(10, 1))
    with pytest.raises(ValueError):
        shuffled_pairs(1)


def test_real_busi_images_are_darker_inside_their_masks(busi_cases):
    from engine.data.tensors import resize_image, resize_mask

    imgs = np.stack([resize_image(c.image, 64)[0].numpy() for c in busi_cases])
    masks = np.stack([resize_mask(c.mask, 64)[0].numpy() for c in busi_cases])
    own = fidelity_per_case(imgs, masks)
    shuf = fidelity_per_case(imgs, masks[shuffled_pairs(len(masks))])
    assert own["pauc"].mean() > 0.75 and own["contrast"].mean() > 0.15
    assert own["pauc"].mean() - shuf["pauc"].mean() > 0.2
