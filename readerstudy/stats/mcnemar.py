"""McNemar's test for paired binary outcomes (e.g. model vs reader correct/incorrect on the same cases).

References
----------
McNemar Q. (1947). Note on the sampling error of the difference between correlated proportions or
    percentages. Psychometrika 12:153-157.
Edwards AL. (1948). Note on the "correction for continuity" in testing the significance of the
    difference between correlated proportions. Psychometrika 13:185-187.
Agresti A. (2013). Categorical Data Analysis, 3rd ed., sec. 11.1 (exact binomial form).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from readerstudy.core.errors import ValidationError

from . import _dist
from ._validation import ResultMixin, check_choice, check_same_length

__all__ = ["McNemarResult", "mcnemar"]


@dataclass(frozen=True)
class McNemarResult(ResultMixin):
    """McNemar test result.

    Attributes
    ----------
    statistic : exact method: min(b, c) (the binomial count, as statsmodels reports it);
        chi2 method: (|b - c| - 1)^2 / (b + c) with correction, (b - c)^2 / (b + c) without.
    df : 1 for the chi-square method, None for the exact method.
    p_value : two-sided.
    b, c : discordant counts (A positive/correct & B not; A not & B positive/correct).
    method : "exact" or "chi2"; correction : whether the continuity correction was applied.
    """

    statistic: float
    df: int | None
    p_value: float
    b: int
    c: int
    method: str
    correction: bool


def _to_table(table_or_a: ArrayLike, b_correct: ArrayLike | None) -> tuple[int, int]:
    if b_correct is not None:
        return _pair_counts(table_or_a, b_correct)
    arr = np.asarray(table_or_a)
    if arr.shape == (2, 2) and arr.dtype.kind != "b":
        t = arr.astype(np.float64)
        if not np.isfinite(t).all() or (t < 0).any() or (t != np.round(t)).any():
            raise ValidationError("The 2x2 table must hold non-negative whole counts.")
        return int(t[0, 1]), int(t[1, 0])
    if arr.ndim == 2 and arr.shape[0] == 2:
        return _pair_counts(arr[0], arr[1])
    raise ValidationError(
        f"mcnemar needs a 2x2 table of counts or two paired boolean arrays (a_correct, b_correct); "
        f"got shape {arr.shape}."
    )


def _pair_counts(a_correct: ArrayLike, b_correct: ArrayLike) -> tuple[int, int]:
    a, b = np.asarray(a_correct), np.asarray(b_correct)
    if a.ndim != 1 or b.ndim != 1:
        raise ValidationError("a_correct and b_correct must be one-dimensional, one value per case.")
    check_same_length(a_correct=a, b_correct=b)
    for name, arr in (("a_correct", a), ("b_correct", b)):
        if arr.dtype.kind == "f" and np.isnan(arr).any():
            raise ValidationError(f"{name} holds missing (NaN) values: drop cases not scored for both.")
        if not np.isin(arr, (0, 1)).all():
            raise ValidationError(f"{name} must be boolean (True/False or 1/0), one value per case.")
    a, b = a.astype(bool), b.astype(bool)
    return int(np.sum(a & ~b)), int(np.sum(~a & b))


def mcnemar(
    table_or_a: ArrayLike,
    b_correct: ArrayLike | None = None,
    *,
    method: str = "exact",
    correction: bool = True,
) -> McNemarResult:
    """McNemar's test of marginal homogeneity for paired binary data.

    Parameters
    ----------
    table_or_a : either a 2x2 table of counts ``[[a, b], [c, d]]`` (rows: test A yes/no,
        columns: test B yes/no), or the per-case boolean array ``a_correct``. A (2, n) boolean
        array or a pair of sequences is read as ``(a_correct, b_correct)``.
    b_correct : per-case boolean array for B when ``table_or_a`` is ``a_correct``.
    method : "exact" (two-sided binomial test of b vs b + c with p = 0.5, doubled one-sided tail,
        capped at 1) or "chi2" (asymptotic chi-square with 1 df).
    correction : for "chi2", apply Edwards' continuity correction (|b - c| - 1)^2 / (b + c).
        As in R ``mcnemar.test`` the correction is skipped when b == c.

    Returns
    -------
    McNemarResult
        Only the discordant cells b and c enter the test; concordant cells are ignored.
        When b + c = 0 there is no evidence either way: statistic 0 and p = 1.
    """
    check_choice("method", method, ("exact", "chi2"))
    b, c = _to_table(table_or_a, b_correct)
    nd = b + c
    if method == "exact":
        p = 1.0 if nd == 0 else min(1.0, 2.0 * float(_dist.binom_cdf(min(b, c), nd, 0.5)))
        return McNemarResult(float(min(b, c)), None, p, b, c, method, False)
    if nd == 0:
        return McNemarResult(0.0, 1, 1.0, b, c, method, bool(correction))
    yates = 1.0 if (correction and b != c) else 0.0
    stat = (abs(b - c) - yates) ** 2 / nd
    return McNemarResult(float(stat), 1, float(_dist.chi2_sf(stat, 1)), b, c, method, bool(correction))
