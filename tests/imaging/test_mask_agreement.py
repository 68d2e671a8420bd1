"""Overlap, surface distance and consensus on masks with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from readerstudy.core.errors import ValidationError
from readerstudy.imaging.mask_agreement import (
    compare_masks,
    dice,
    hausdorff95,
    jaccard,
    majority_vote,
    pairwise_agreement,
    staple,
)


def square(shape, r0, c0, size) -> np.ndarray:
    m = np.zeros(shape, bool)
    m[r0:r0 + size, c0:c0 + size] = True
    return m


@pytest.mark.parametrize("spacing", [(1.0, 1.0), (1.0, 0.7), (2.0, 0.5)])
def test_squares_shifted_by_three_pixels(spacing) -> None:
    a = square((60, 60), 10, 10, 20)
    b = square((60, 60), 10, 13, 20)  # shifted along x
    assert dice(a, b) == pytest.approx(2 * 17 * 20 / 800)
    assert jaccard(a, b) == pytest.approx(17 * 20 / (23 * 20))
    assert hausdorff95(a, b, spacing) == pytest.approx(3 * spacing[1])
    res = compare_masks(a, b, spacing=(1.0, *spacing))
    assert res.hd95_mm == pytest.approx(3 * spacing[1])
    assert res.volume_difference_ml == pytest.approx(0.0)
    assert set(res.to_dict()) >= {"dice", "jaccard", "hd95_mm", "volume_difference_ml"}


def test_hd95_in_3d_uses_z_spacing() -> None:
    a = np.zeros((30, 30, 30), bool)
    a[5:15, 5:25, 5:25] = True
    b = np.zeros_like(a)
    b[9:19, 5:25, 5:25] = True  # shifted 4 slices
    assert hausdorff95(a, b, (2.5, 1.0, 1.0)) == pytest.approx(10.0)


def test_identical_empty_and_one_sided_masks() -> None:
    a = square((20, 20), 2, 2, 5)
    assert dice(a, a) == 1.0 and hausdorff95(a, a) == 0.0
    empty = np.zeros_like(a)
    assert dice(empty, empty) == 1.0 and hausdorff95(empty, empty) == 0.0
    assert dice(a, empty) == 0.0 and math.isinf(hausdorff95(a, empty))
    res = compare_masks(a, empty, spacing=(1.0, 2.0, 2.0))
    assert res.volume_difference_ml == pytest.approx(-25 * 4 / 1000) and res.relative_volume_difference == -1
    with pytest.raises(ValidationError):
        dice(a, np.zeros((5, 5)))


def test_pairwise_agreement_covers_each_pair_and_label() -> None:
    base = np.zeros((1, 20, 20), np.uint8)
    base[0, 2:8, 2:8] = 1
    base[0, 10:15, 10:15] = 2
    other = base.copy()
    other[0, 2:8, 2] = 0
    rows = pairwise_agreement({"r1": base, "r2": base, "r3": other}, [1, 2])
    assert len(rows) == 3 * 2
    by = {(r.a, r.b, r.label): r for r in rows}
    assert by[("r1", "r2", 1)].agreement.dice == 1.0
    assert by[("r1", "r3", 1)].agreement.dice == pytest.approx(2 * 30 / 66)
    assert by[("r2", "r3", 2)].to_dict()["dice"] == 1.0


def test_majority_vote_binary_and_multilabel() -> None:
    a, b, c = square((10, 10), 0, 0, 4), square((10, 10), 1, 1, 4), square((10, 10), 2, 2, 4)
    cons = majority_vote([a, b, c])
    expected = (a.astype(int) + b + c) >= 2
    np.testing.assert_array_equal(cons.labels[0].astype(bool), expected)
    l1 = np.array([[1, 1, 2, 0]])
    l2 = np.array([[1, 2, 2, 0]])
    l3 = np.array([[0, 2, 1, 3]])
    assert majority_vote([l1, l2, l3]).labels[0].tolist() == [[1, 2, 2, 0]]
    assert cons.to_dict()["method"] == "majority"


def test_staple_recovers_truth_and_flags_the_bad_rater() -> None:
    rng = np.random.default_rng(1)
    truth = np.zeros((1, 64, 64), bool)
    yy, xx = np.mgrid[0:64, 0:64]
    truth[0] = (yy - 32) ** 2 + (xx - 32) ** 2 <= 15**2
    raters = []
    for flip in (0.02, 0.03, 0.25):
        noise = rng.random(truth.shape) < flip
        raters.append(truth ^ noise)
    cons = staple(raters)
    assert dice(cons.labels, truth) > max(dice(r, truth) for r in raters)
    assert cons.sensitivity[2] < min(cons.sensitivity[:2]) - 0.1
    assert cons.specificity[2] < min(cons.specificity[:2]) - 0.1
    assert cons.probability is not None and cons.probability.shape == truth.shape
    multi = [truth.astype(np.uint8) * 2 for _ in range(3)]
    multi[0][0, 0:3, 0:3] = 1
    out = staple(multi)
    assert out.method == "staple-multilabel" and np.array_equal(out.labels, truth.astype(np.uint8) * 2)
