"""DeLong placement values in O(n log n) by sorting and binary search (midranks).

The placement of a positive case is the share of negatives it outscores (ties count 1/2); the
placement of a negative case is the share of positives that outscore it. Their means are the
empirical AUC (Mann-Whitney). Sun & Xu (2014, IEEE Signal Process Lett 21:1389-1393) obtain them
from midranks: ``V10_i = (T_Z(i) - T_X(i)) / n`` with T_Z the midrank among all cases and T_X the
midrank among positives. Equivalently ``V10_i = (#{neg < x_i} + #{neg <= x_i}) / (2 n)``, which
two binary searches in the sorted negative scores give without ranking all cases; likewise
``V01_j = 1 - (#{pos < y_j} + #{pos <= y_j}) / (2 m)``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["auc_naive", "placements"]


def _share_below(sorted_ref: NDArray[np.float64], query: NDArray[np.float64]) -> NDArray[np.float64]:
    """(#{ref < q} + #{ref <= q}) / (2 len(ref)) for every q: the midrank share, ties counting 1/2."""
    lo = np.searchsorted(sorted_ref, query, side="left")
    hi = np.searchsorted(sorted_ref, query, side="right")
    return (lo + hi) / (2.0 * len(sorted_ref))


def placements(
    is_pos: NDArray[np.bool_], scores: NDArray[np.float64], *, keep_order: bool = True
) -> tuple[NDArray[np.float64], NDArray[np.float64], float]:
    """Placement values ``(v10 for positives, v01 for negatives, auc)``.

    With ``keep_order`` the positives and negatives keep their order of appearance in
    ``scores`` (needed to pair them across readers or tests); without it both come sorted,
    which is faster for a single AUC.
    """
    x = scores[is_pos]
    y = scores[~is_pos]
    xs, ys = np.sort(x), np.sort(y)
    v10 = _share_below(ys, x if keep_order else xs)
    v01 = 1.0 - _share_below(xs, y if keep_order else ys)
    return v10, v01, float(v10.mean())


def auc_naive(
    is_pos: NDArray[np.bool_], scores: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64], float]:
    """O(m n) definition of the placements (DeLong et al. 1988), for tests and benchmarks."""
    x = scores[is_pos][:, None]
    y = scores[~is_pos][None, :]
    psi = (x > y) + 0.5 * (x == y)
    return psi.mean(axis=1), psi.mean(axis=0), float(psi.mean())
