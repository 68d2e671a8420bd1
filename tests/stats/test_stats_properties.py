"""Invariants of the statistics, checked on random inputs with hypothesis."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from readerstudy.stats import auc_delong, cohen_kappa, delong_test, fleiss_kappa, krippendorff_alpha, mcnemar
from readerstudy.stats._mrmc_data import parse_mrmc
from readerstudy.stats._placements import auc_naive, placements

FAST = settings(max_examples=60, deadline=None)


@st.composite
def labelled_scores(draw: st.DrawFn, max_n: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """Binary labels with >= 2 of each class and integer-valued scores (plenty of ties)."""
    n_pos = draw(st.integers(2, max_n // 2))
    n_neg = draw(st.integers(2, max_n // 2))
    y = np.array([1] * n_pos + [0] * n_neg)
    s = np.array(
        draw(st.lists(st.integers(0, 6), min_size=n_pos + n_neg, max_size=n_pos + n_neg)), dtype=float
    )
    perm = np.array(draw(st.permutations(range(n_pos + n_neg))))
    return y[perm], s[perm]


@FAST
@given(labelled_scores())
def test_fast_placements_equal_the_quadratic_definition(data: tuple[np.ndarray, np.ndarray]) -> None:
    y, s = data
    pos = y == 1
    v10, v01, auc = placements(pos, s)
    n10, n01, nauc = auc_naive(pos, s)
    np.testing.assert_allclose(v10, n10, atol=1e-14)
    np.testing.assert_allclose(v01, n01, atol=1e-14)
    assert abs(auc - nauc) < 1e-14
    res = auc_delong(y, s)
    assert res.variance >= 0.0
    expected_var = np.var(n10, ddof=1) / len(n10) + np.var(n01, ddof=1) / len(n01)
    assert abs(res.variance - expected_var) < 1e-14
    assert abs(res.auc - roc_auc_score(y, s)) < 1e-13


@FAST
@given(labelled_scores())
def test_auc_is_symmetric_under_label_flip(data: tuple[np.ndarray, np.ndarray]) -> None:
    y, s = data
    a, b = auc_delong(y, s), auc_delong(1 - y, s)
    assert abs(a.auc + b.auc - 1.0) < 1e-12
    assert abs(a.variance - b.variance) < 1e-12


@FAST
@given(labelled_scores(), st.integers(0, 10_000))
def test_paired_delong_variance_is_non_negative(data: tuple[np.ndarray, np.ndarray], seed: int) -> None:
    y, s = data
    other = np.random.default_rng(seed).permutation(s)
    res = delong_test(y, s, other)
    assert res.se >= 0.0 and 0.0 <= res.p_value <= 1.0
    same = delong_test(y, s, s)
    assert same.z == 0.0 and same.p_value == 1.0


@FAST
@given(st.lists(st.integers(0, 4), min_size=2, max_size=50).filter(lambda v: len(set(v)) > 1))
def test_kappa_of_identical_raters_is_one(ratings: list[int]) -> None:
    for weights in (None, "linear", "quadratic"):
        assert abs(cohen_kappa(ratings, ratings, weights=weights).kappa - 1.0) < 1e-12
    table = np.column_stack([ratings] * 3)
    assert abs(fleiss_kappa(table, categories=sorted(set(ratings))).kappa - 1.0) < 1e-12
    assert abs(krippendorff_alpha(table.T.astype(float)).alpha - 1.0) < 1e-12


@FAST
@given(
    st.integers(0, 500),
    st.integers(0, 60),
    st.integers(0, 60),
    st.integers(0, 500),
    st.integers(0, 500),
    st.integers(0, 500),
)
def test_mcnemar_ignores_concordant_cells(a: int, b: int, c: int, d: int, a2: int, d2: int) -> None:
    for method, correction in (("exact", False), ("chi2", True), ("chi2", False)):
        one = mcnemar([[a, b], [c, d]], method=method, correction=correction)
        two = mcnemar([[a2, b], [c, d2]], method=method, correction=correction)
        assert one.statistic == two.statistic and one.p_value == two.p_value
        assert 0.0 <= one.p_value <= 1.0


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10_000))
def test_jackknife_auc_from_placements_equals_recomputed(seed: int) -> None:
    rng = np.random.default_rng(seed)
    k = 14
    truth = np.array([1] * 6 + [0] * 8)
    rows = [
        (t, r, c) for t in (1, 2) for r in (1, 2) for c in range(k) if rng.random() > 0.1 or c in (0, 1, 6, 7)
    ]
    t_, r_, c_ = (np.array(v) for v in zip(*rows, strict=True))
    data = {
        "test": t_,
        "reader": r_,
        "case": c_,
        "truth": truth[c_],
        "score": rng.integers(1, 5, len(rows)).astype(float),
    }
    d = parse_mrmc(data)
    for row in range(4):
        t, r = divmod(row, 2)
        read = np.flatnonzero(d.present[t, r])
        for case in range(k):
            keep = read[read != case]
            pos = d.truth[keep]
            if pos.sum() == 0 or (~pos).sum() == 0:
                continue
            expected = auc_naive(pos, d.scores[t, r, keep])[2]
            assert abs(d.jack[row, case] - expected) < 1e-12
