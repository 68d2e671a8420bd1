"""Near-duplicate grouping and the group split (engine.data.grouping), on the real demo BUSI images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.data import load_busi, split_cases
from engine.data.grouping import grouped_split, near_duplicate_groups, split_summary, thumbnails

BUSI = Path(__file__).resolve().parents[2] / "resources" / "demo" / "busi"


@pytest.fixture(scope="module")
def demo_cases():
    return load_busi(BUSI)  # the 79 benign + malignant demo images


def test_thumbnail_rows_give_pearson_r():
    rng = np.random.default_rng(0)
    a, b = rng.random((80, 100)), rng.random((80, 100))
    t = thumbnails([a, 3 * a + 7, b, np.ones((5, 5))])
    assert t[0] @ t[1] == pytest.approx(1.0, abs=1e-5)  # Pearson r ignores gain and offset
    assert abs(t[0] @ t[2]) < 0.2 and not t[3].any()  # unrelated noise; a constant image is a zero row
    ta, tb = thumbnails([a])[0], thumbnails([b])[0]
    assert float(ta @ tb) == pytest.approx(float(np.corrcoef(ta, tb)[0, 1]), abs=1e-5)


def test_demo_frames_of_one_lesion_form_one_group(demo_cases):
    grouping = near_duplicate_groups([c.image for c in demo_cases])
    ids = [c.case_id for c in demo_cases]
    frames = {ids.index(f"malignant-{k}") for k in range(3, 10)}
    assert len({int(grouping.groups[i]) for i in frames}) == 1
    group = next(m for m in grouping.members() if frames <= set(m))
    assert set(group) == frames  # and nothing else at r >= 0.9
    assert grouping.n_groups == 70 and len(grouping.members()) == 4  # 79 images; 3 more pairs
    # the busi-train README counts 25 pairs at r >= 0.9 among the 99 demo images (normal included)
    assert len(grouping.pairs) == 24


def test_groups_are_transitive_and_follow_identifiers():
    rng = np.random.default_rng(1)
    a = rng.random((64, 64))
    b = a + rng.normal(0, 0.25, a.shape)  # r(a, b) ~ 0.76
    c = b + rng.normal(0, 0.25, a.shape)
    d, e = rng.random((64, 64)), rng.random((64, 64))
    t = thumbnails([a, b, c])
    th = float(min(t[0] @ t[1], t[1] @ t[2])) - 1e-3
    assert float(t[0] @ t[2]) < th  # a and c are not linked directly...
    g = near_duplicate_groups([a, b, c, d, e], threshold=th, keys=[[], [], [], ["patient:7"], ["", "patient:7"]])
    assert g.groups[0] == g.groups[1] == g.groups[2]  # ... but through b
    assert g.groups[3] == g.groups[4] != g.groups[0]  # same patient ID, unrelated pixels
    assert (3, 4) in {(i, j) for i, j, _, why in g.pairs if why == "id"}
    with pytest.raises(ValueError, match="threshold"):
        near_duplicate_groups([a], threshold=1.5)
    with pytest.raises(ValueError, match="keys"):
        near_duplicate_groups([a, b], keys=[[]])


def test_split_keeps_every_group_on_one_side(demo_cases):
    for seed in range(5):
        cases = split_cases(demo_cases, 0.2, seed=seed)
        sides: dict[str, set[str]] = {}
        for c in cases:
            sides.setdefault(c.group, set()).add(c.split)
        assert all(len(s) == 1 for s in sides.values())
        frames = {c.split for c in cases if c.case_id in {f"malignant-{k}" for k in range(3, 10)}}
        assert len(frames) == 1
        test = [c for c in cases if c.split == "test"]
        assert 10 <= len(test) <= 22 and {c.label for c in test} == {0, 1}
    again = split_cases(demo_cases, 0.2, seed=4)
    assert [c.split for c in again] == [c.split for c in cases]


def test_grouped_split_and_summary_count_groups():
    labels = [0] * 12 + [1] * 8
    groups = [0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 10, 11, 12, 13, 14, 15, 16]
    test = grouped_split(labels, groups, test_fraction=0.25, seed=0)
    s = split_summary(groups, test, labels)
    assert s["straddling_groups"] == 0 and s["n_groups"] == 17 and s["multi_image_groups"] == 2
    assert s["test_cases"] + s["train_cases"] == 20 and s["test_groups"] + s["train_groups"] == 17
    assert s["test_positives"] >= 1 and s["test_negatives"] >= 1
    with pytest.raises(ValueError, match="groups cannot be split"):
        grouped_split([0, 1, 0, 1], [0, 0, 0, 0], test_fraction=0.5)
    with pytest.raises(ValueError, match="at least 2 cases"):
        grouped_split([0, 1, 0], [0, 1, 2], test_fraction=0.5)
    # a small study (2 + 2 cases) is split with fewer folds instead of failing in scikit-learn
    small = grouped_split([0, 0, 1, 1], [0, 1, 2, 3], test_fraction=0.2, seed=0)
    assert small.sum() == 2 and sorted(np.asarray([0, 0, 1, 1])[small].tolist()) == [0, 1]
