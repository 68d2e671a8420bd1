"""MRMC input parsing, reader-test AUCs and the covariance estimators of the Obuchowski-Rockette model.

Covariances of the reader x test AUC estimates (Hillis 2014; MRMCaov ``cov_methods``):

* jackknife: delete-one-case jackknife over all cases in the study,
  ``Cov = (K - 1)/K * sum_k (theta_(-k) - mean)(theta_(-k) - mean)^T``; a case a reader-test
  did not read leaves its AUC unchanged. For the empirical AUC the leave-one-out AUCs follow
  from the placement values: removing positive i gives ``(m theta - V10_i)/(m - 1)``, removing
  negative j gives ``(n theta - V01_j)/(n - 1)``, so the whole jackknife costs one sort.
* delong: DeLong et al. (1988) ``S10/m + S01/n`` between reader-tests.
* unbiased: the U-statistic estimator of Gallas (2006, Acad Radiol 13:353-362; Gallas et al.
  2007) from the four moments of the success kernel.

Two reader-tests that read no case in common have covariance 0 by design (nested and split-plot
designs); delong and unbiased also need identical case sets for the pairs that do share cases,
which split-plot designs have (every reader of a group reads the group's cases in every test).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from readerstudy.core.errors import ValidationError

from ._placements import placements

__all__ = ["READERS_NESTED", "SPLIT_PLOT", "MRMCData", "covariance", "parse_mrmc", "reader_groups"]

_COLUMNS = ("reader", "test", "case", "truth", "score")


@dataclass(frozen=True)
class MRMCData:
    """Reader-test AUCs and the per-case quantities the covariance estimators need."""

    tests: tuple[Any, ...]
    readers: tuple[Any, ...]
    n_cases: int
    truth: NDArray[np.bool_]  # (K,)
    scores: NDArray[np.float64]  # (T, R, K), NaN where not read
    present: NDArray[np.bool_]  # (T, R, K)
    auc: NDArray[np.float64]  # (T, R)
    jack: NDArray[np.float64]  # (T*R, K) leave-one-case-out AUCs
    v10: tuple[NDArray[np.float64], ...]  # per reader-test, positives in case order
    v01: tuple[NDArray[np.float64], ...]
    design: str

    @property
    def T(self) -> int:
        return len(self.tests)

    @property
    def R(self) -> int:
        return len(self.readers)


def _factorize(name: str, values: NDArray[Any]) -> tuple[tuple[Any, ...], NDArray[np.intp]]:
    if values.dtype.kind == "f" and np.isnan(values).any():
        raise ValidationError(f"Column {name!r} holds missing values: every row needs a {name}.")
    if values.dtype.kind in "biuf":
        uniq, inv = np.unique(values, return_inverse=True)
        labels = tuple(v.item() for v in uniq)
    else:
        if any(v is None for v in values.tolist()):
            raise ValidationError(f"Column {name!r} holds missing values: every row needs a {name}.")
        uniq, inv = np.unique(values.astype(str), return_inverse=True)
        labels = tuple(str(v) for v in uniq)
    return labels, inv.astype(np.intp)


def _column(data: Any, name: str) -> NDArray[Any]:
    try:
        col = data[name]
    except (KeyError, IndexError, TypeError, ValueError):
        have = (
            list(data.keys()) if isinstance(data, Mapping) or hasattr(data, "keys") else type(data).__name__
        )
        raise ValidationError(
            f"MRMC data needs the columns {list(_COLUMNS)}; {name!r} is missing (got {have})."
        ) from None
    arr = np.asarray(col)
    if arr.ndim != 1:
        raise ValidationError(f"Column {name!r} must be one-dimensional.")
    return arr


def _truth_per_case(
    truth_raw: NDArray[Any], case_idx: NDArray[np.intp], n_cases: int, cases: tuple[Any, ...],
    positive: Any = None,
) -> NDArray[np.bool_]:
    labels, t_idx = _factorize("truth", truth_raw)
    if len(labels) != 2:
        raise ValidationError(
            f"truth must hold two classes (0 = non-diseased, 1 = diseased), found {list(labels)}."
        )
    if positive is not None:
        if positive not in labels:
            raise ValidationError(f"positive={positive!r} is not one of the truth labels {list(labels)}.")
        t_idx = (np.asarray(labels, dtype=object)[t_idx] == positive).astype(np.intp)
    elif set(labels) not in ({0, 1}, {False, True}):
        raise ValidationError(
            f"truth holds {list(labels)}: use 0 = non-diseased and 1 = diseased (or booleans), or pass "
            "positive=<label of the diseased class>, as for the ROC functions."
        )
    per_case = np.full(n_cases, -1, dtype=np.intp)
    per_case[case_idx] = t_idx
    if np.any(per_case[case_idx] != t_idx):
        bad = int(case_idx[np.flatnonzero(per_case[case_idx] != t_idx)[0]])
        raise ValidationError(
            f"Case {cases[bad]!r} has different truth values in different rows: truth belongs to the case."
        )
    return per_case == 1  # the larger label (1/True) is the positive class, as in MRMCaov


SPLIT_PLOT = "split-plot (cases nested within reader groups)"


def reader_groups(present: NDArray[np.bool_]) -> tuple[tuple[int, ...], ...] | None:
    """Reader groups of a split-plot design, or None when the design is not split-plot.

    A split-plot design (Obuchowski 2009, Acad Radiol 16:209-217; Obuchowski, Gallas & Hillis 2012,
    Acad Radiol 19:1508-1517): the readers fall into G >= 2 groups; the readers of one group read
    the same cases, and those same cases in every test; no case is read by two groups.
    ``present`` is (T, R, K); the groups are tuples of reader indices, in order of first reader.
    """
    t_n, r_n, _ = present.shape
    if not (present == present[:1]).all():  # a reader reads other cases in another test
        return None
    masks = present[0]  # (R, K)
    _, group = np.unique(masks, axis=0, return_inverse=True)
    group = np.asarray(group).ravel()
    order = list(dict.fromkeys(group.tolist()))
    if len(order) < 2 or len(order) == r_n:
        return None  # one group is factorial; one reader per group is cases nested within readers
    reps = masks[[int(np.flatnonzero(group == g)[0]) for g in order]].astype(np.int64)
    overlap = reps @ reps.T
    np.fill_diagonal(overlap, 0)
    if overlap.any():
        return None
    return tuple(tuple(int(r) for r in np.flatnonzero(group == g)) for g in order)


READERS_NESTED = "readers nested within tests"


def _design(present: NDArray[np.bool_]) -> str:
    if present.all():
        return "factorial"
    read_in = present.any(axis=2)
    if not read_in.all():
        return READERS_NESTED
    by_reader = present.any(axis=0)  # (R, K)
    by_test = present.any(axis=1)  # (T, K)
    if (by_reader.sum(axis=0) == 1).all() and present.shape[1] > 1:
        return "cases nested within readers"
    if (by_test.sum(axis=0) == 1).all() and present.shape[0] > 1:
        return "cases nested within tests"
    if reader_groups(present) is not None:
        return SPLIT_PLOT
    return "partially paired"


def parse_mrmc(data: Any, positive: Any = None) -> MRMCData:
    """Validate a long table (reader, test, case, truth, score) and compute AUCs and jackknife values.

    ``truth`` is 0/1 (or False/True) with 1 the diseased class; other labels need ``positive``
    (the diseased label), so that "normal"/"abnormal" is never ordered alphabetically.
    """
    cols = {c: _column(data, c) for c in _COLUMNS}
    lengths = {c: len(v) for c, v in cols.items()}
    if len(set(lengths.values())) != 1:
        raise ValidationError(f"MRMC columns have different lengths: {lengths}.")
    if lengths["score"] == 0:
        raise ValidationError("MRMC data is empty.")
    try:
        score = cols["score"].astype(np.float64)
    except (TypeError, ValueError):
        raise ValidationError(
            "Column 'score' must be numeric (the reader's rating or probability)."
        ) from None
    if not np.isfinite(score).all():
        raise ValidationError(
            f"Column 'score' holds {int((~np.isfinite(score)).sum())} missing or infinite value(s): "
            "drop unread cases rather than leaving them empty."
        )
    tests, ti = _factorize("test", cols["test"])
    readers, ri = _factorize("reader", cols["reader"])
    cases, ki = _factorize("case", cols["case"])
    T, R, K = len(tests), len(readers), len(cases)
    if T < 2:
        raise ValidationError(f"MRMC analysis compares tests: found {T} test; use auc_delong for one test.")
    if R < 2:
        raise ValidationError(
            f"MRMC analysis needs at least two readers, found {R}; use delong_test for one reader."
        )
    truth = _truth_per_case(cols["truth"], ki, K, cases, positive)
    flat = (ti * R + ri) * K + ki
    uniq, counts = np.unique(flat, return_counts=True)
    if (counts > 1).any():
        f = int(uniq[np.argmax(counts > 1)])
        raise ValidationError(
            f"Reader {readers[(f // K) % R]!r} scored case {cases[f % K]!r} in test {tests[f // (K * R)]!r} "
            "more than once: keep one score per reader, test and case."
        )
    scores = np.full((T, R, K), np.nan)
    scores[ti, ri, ki] = score
    present = ~np.isnan(scores)
    read_in = present.any(axis=2)  # (T, R)
    nested_readers = bool((read_in.sum(axis=0) == 1).all())
    if not read_in.all() and not nested_readers:
        t, r = (int(i[0]) for i in np.nonzero(~read_in))
        raise ValidationError(
            f"Reader {readers[r]!r} scored no case in test {tests[t]!r} but reads in other tests: every "
            "reader reads in every test, or (readers nested within tests) each reader in one test only."
        )
    auc = np.empty((T, R))
    jack = np.empty((T * R, K))
    v10s: list[NDArray[np.float64]] = []
    v01s: list[NDArray[np.float64]] = []
    for t in range(T):
        for r in range(R):
            idx = np.flatnonzero(present[t, r])
            if idx.size == 0:  # readers nested within tests: this reader reads another test
                auc[t, r] = np.nan
                jack[t * R + r] = np.nan
                v10s.append(np.empty(0))
                v01s.append(np.empty(0))
                continue
            pos = truth[idx]
            m, n = int(pos.sum()), int((~pos).sum())
            if m < 2 or n < 2:
                raise ValidationError(
                    f"Reader {readers[r]!r} in test {tests[t]!r} scored {m} diseased and {n} non-diseased "
                    "case(s): each reader-test needs at least two of each."
                )
            v10, v01, theta = placements(pos, scores[t, r, idx])
            auc[t, r] = theta
            row = jack[t * R + r]
            row[:] = theta
            row[idx[pos]] = (m * theta - v10) / (m - 1)
            row[idx[~pos]] = (n * theta - v01) / (n - 1)
            v10s.append(v10)
            v01s.append(v01)
    return MRMCData(
        tests, readers, K, truth, scores, present, auc, jack, tuple(v10s), tuple(v01s), _design(present)
    )


def _jackknife_cov(d: MRMCData) -> NDArray[np.float64]:
    centred = d.jack - d.jack.mean(axis=1, keepdims=True)
    centred[np.isnan(centred)] = 0.0  # reader-tests never read (readers nested within tests)
    k = d.n_cases
    return (k - 1) / k * (centred @ centred.T)


def _case_groups(d: MRMCData, method: str) -> list[NDArray[np.intp]]:
    """Reader-test rows grouped by identical case sets; refuses partial overlap between groups."""
    masks = d.present.reshape(d.T * d.R, -1)
    _, group = np.unique(masks, axis=0, return_inverse=True)
    group = group.ravel()
    groups = [np.flatnonzero(group == g) for g in range(group.max() + 1)]
    reps = np.array([masks[g[0]] for g in groups])
    overlap = reps.astype(np.int64) @ reps.T.astype(np.int64)
    np.fill_diagonal(overlap, 0)
    if overlap.any():
        raise ValidationError(
            f"cov={method!r} needs every pair of reader-tests to read either the same cases or no common "
            "case; this study is partially paired. Use cov='jackknife'."
        )
    return groups


def _delong_block(v10: NDArray[np.float64], v01: NDArray[np.float64]) -> NDArray[np.float64]:
    return (
        np.atleast_2d(np.cov(v10, ddof=1)) / v10.shape[1] + np.atleast_2d(np.cov(v01, ddof=1)) / v01.shape[1]
    )


def _unbiased_block(x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.float64]:
    """Gallas (2006) unbiased covariance of AUCs for G reader-tests scoring the same m + n cases.

    x: (G, m) positive-case scores, y: (G, n) negative-case scores.
    """
    g, m = x.shape
    n = y.shape[1]
    s11 = np.zeros((g, g))
    chunk = max(1, int(2_000_000 // max(1, g * n)))
    for i0 in range(0, m, chunk):
        xi = x[:, i0 : i0 + chunk, None]
        psi = (xi > y[:, None, :]).astype(np.float64) + 0.5 * (xi == y[:, None, :])
        flat = psi.reshape(g, -1)
        s11 += flat @ flat.T
    is_pos = np.concatenate([np.ones(m, dtype=bool), np.zeros(n, dtype=bool)])
    rows = np.empty((g, m))
    cols_sum = np.empty((g, n))
    for a in range(g):
        v10, v01, _ = placements(is_pos, np.concatenate([x[a], y[a]]))
        rows[a], cols_sum[a] = n * v10, m * v01
    rr = rows @ rows.T
    cc = cols_sum @ cols_sum.T
    tot = rows.sum(axis=1)
    mn = float(m * n)
    m1 = s11 / mn
    m2 = (rr - s11) / (mn * (n - 1))
    m3 = (cc - s11) / (mn * (m - 1))
    m4 = (np.outer(tot, tot) - rr - cc + s11) / (mn * (m - 1) * (n - 1))
    return m1 / mn + (n - 1) / mn * m2 + (m - 1) / mn * m3 + ((m - 1) * (n - 1) / mn - 1.0) * m4


def covariance(d: MRMCData, method: str) -> NDArray[np.float64]:
    """(T*R) x (T*R) covariance matrix of the AUCs, row index t * R + r."""
    tr = d.T * d.R
    shares = d.present.reshape(tr, -1).astype(np.int64)
    disjoint = (shares @ shares.T) == 0
    if method == "jackknife":
        cov = _jackknife_cov(d)
    else:
        cov = np.zeros((tr, tr))
        for rows in _case_groups(d, method):
            if method == "delong":
                block = _delong_block(
                    np.vstack([d.v10[i] for i in rows]), np.vstack([d.v01[i] for i in rows])
                )
            else:
                t_idx, r_idx = np.divmod(rows, d.R)
                mask = d.present[t_idx[0], r_idx[0]]
                s = d.scores[t_idx, r_idx][:, mask]
                pos = d.truth[mask]
                block = _unbiased_block(s[:, pos], s[:, ~pos])
            cov[np.ix_(rows, rows)] = block
    cov[disjoint] = 0.0
    return cov
