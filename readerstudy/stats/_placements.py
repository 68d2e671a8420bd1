"""DeLong placement values by one sort and tie groups (midranks), O(n log n).

The placement of a positive case is the share of negatives it outscores (ties count 1/2); the
placement of a negative case is the share of positives that outscore it. Their means are the
empirical AUC (Mann-Whitney). Sun & Xu (2014, IEEE Signal Process Lett 21:1389-1393) obtain them
from midranks; here the midranks are taken from a single sort of all scores: within a group of
tied scores every positive gets ``(negatives below + negatives tied / 2) / n_neg`` and every
negative ``(positives above + positives tied / 2) / n_pos``, which is the midrank formula.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["TieGroups", "auc_naive", "placements", "tie_groups"]


@dataclass(frozen=True)
class TieGroups:
    """Sorted tie groups of one score vector.

    ``n_pos``/``n_neg`` per group, the group placement values ``v10``/``v01``, the group id of
    every case (in the original case order) and the totals.
    """

    n_pos: NDArray[np.float64]
    n_neg: NDArray[np.float64]
    v10: NDArray[np.float64]
    v01: NDArray[np.float64]
    group_of_case: NDArray[np.intp] | None
    m: int
    n: int

    @property
    def auc(self) -> float:
        return float((self.n_pos * self.v10).sum() / self.m)


def tie_groups(
    is_pos: NDArray[np.bool_], scores: NDArray[np.float64], *, keep_cases: bool = True
) -> TieGroups:
    """Group the cases by tied score after one sort; see the module docstring."""
    order = np.argsort(scores, kind="quicksort")
    s = scores[order]
    lab = is_pos[order]
    starts = np.flatnonzero(np.concatenate(([True], s[1:] != s[:-1])))
    pos_cum = np.concatenate(([0], np.cumsum(lab, dtype=np.int64)))
    bounds = np.concatenate((starts, [len(s)]))
    cum_pos_at = pos_cum[bounds]
    n_pos = np.diff(cum_pos_at).astype(np.float64)
    n_all = np.diff(bounds).astype(np.float64)
    n_neg = n_all - n_pos
    m = int(cum_pos_at[-1])
    n = len(s) - m
    neg_below = np.concatenate(([0.0], np.cumsum(n_neg)[:-1]))
    pos_below = cum_pos_at[:-1].astype(np.float64)
    v10 = (neg_below + 0.5 * n_neg) / n
    v01 = (m - pos_below - 0.5 * n_pos) / m
    group_of_case = None
    if keep_cases:
        gid_sorted = np.repeat(np.arange(len(starts)), n_all.astype(np.intp))
        group_of_case = np.empty(len(s), dtype=np.intp)
        group_of_case[order] = gid_sorted
    return TieGroups(n_pos, n_neg, v10, v01, group_of_case, m, n)


def placements(
    is_pos: NDArray[np.bool_], scores: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64], float]:
    """Per-case placement values ``(v10 for positives, v01 for negatives, auc)``.

    Positives and negatives keep their order of appearance in ``scores``.
    """
    g = tie_groups(is_pos, scores, keep_cases=True)
    assert g.group_of_case is not None
    gid = g.group_of_case
    return g.v10[gid[is_pos]], g.v01[gid[~is_pos]], g.auc


def auc_naive(
    is_pos: NDArray[np.bool_], scores: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64], float]:
    """O(m n) definition of the placements (DeLong et al. 1988), for tests and benchmarks."""
    x = scores[is_pos][:, None]
    y = scores[~is_pos][None, :]
    psi = (x > y) + 0.5 * (x == y)
    return psi.mean(axis=1), psi.mean(axis=0), float(psi.mean())
