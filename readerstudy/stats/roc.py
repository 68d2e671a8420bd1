"""Empirical ROC AUC with DeLong variance, and DeLong tests comparing two AUCs.

References
----------
DeLong ER, DeLong DM, Clarke-Pearson DL. (1988). Comparing the areas under two or more correlated
    receiver operating characteristic curves: a nonparametric approach. Biometrics 44:837-845.
Sun X, Xu W. (2014). Fast implementation of DeLong's algorithm for comparing the areas under
    correlated receiver operating characteristic curves. IEEE Signal Process Lett 21:1389-1393.
Robin X, et al. (2011). pROC: an open-source package for R and S+ to analyze and compare ROC
    curves. BMC Bioinformatics 12:77 (unpaired DeLong test with Welch-type df, ``roc.test``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from readerstudy.core.errors import ValidationError

from . import _dist
from ._placements import placements
from ._validation import (
    ResultMixin,
    as_finite_1d,
    binary_labels,
    check_choice,
    check_level,
    check_same_length,
    two_sided_z,
)

__all__ = ["AUCResult", "DeLongTestResult", "auc_delong", "delong_test", "hanley_mcneil_se"]


@dataclass(frozen=True)
class AUCResult(ResultMixin):
    """Empirical AUC with DeLong variance and Wald CI (truncated to [0, 1]).

    Attributes
    ----------
    auc : P(score_pos > score_neg) + 0.5 P(tie).
    variance : S10/m + S01/n, the DeLong variance (sample variances of the placement values,
        denominators m - 1 and n - 1).
    se : sqrt(variance).
    ci_low, ci_high : auc -/+ z se, clipped to [0, 1] (pROC ``ci.auc(method="delong")``).
    n_positive, n_negative : m and n.
    se_hanley_mcneil : the Hanley & McNeil (1982, Radiology 143:29-36, eq. 2) standard error,
        which assumes exponential score distributions (:func:`hanley_mcneil_se`); shown beside
        DeLong's for comparison with older publications.
    """

    auc: float
    variance: float
    se: float
    ci_low: float
    ci_high: float
    level: float
    n_positive: int
    n_negative: int
    se_hanley_mcneil: float


def _prepare(
    y_true: ArrayLike, scores: ArrayLike, positive: Any, name: str = "scores"
) -> tuple[NDArray[np.bool_], NDArray[np.float64]]:
    is_pos = binary_labels("y_true", y_true, positive)
    s = as_finite_1d(name, scores)
    check_same_length(y_true=is_pos, **{name: s})
    if is_pos.sum() < 2 or (~is_pos).sum() < 2:
        raise ValidationError(
            f"The DeLong variance needs at least two positive and two negative cases; got "
            f"{int(is_pos.sum())} positive and {int((~is_pos).sum())} negative."
        )
    return is_pos, s


def auc_delong(y_true: ArrayLike, scores: ArrayLike, *, positive: Any = 1, level: float = 0.95) -> AUCResult:
    """Empirical (trapezoidal) AUC with DeLong's variance and confidence interval.

    Parameters
    ----------
    y_true : class of each case; ``positive`` marks the diseased class.
    scores : higher means "more likely positive" (the direction is not flipped automatically).
    positive : label of the positive class.
    level : confidence level.

    Returns
    -------
    AUCResult

    Notes
    -----
    Placement values V10 (positives) and V01 (negatives) with ties counting 1/2 (DeLong et al.
    1988) are the midrank shares of Sun & Xu (2014), obtained by sorting each class and binary
    search, in O(n log n) time and O(n) memory.
    """
    level = check_level(level)
    is_pos, s = _prepare(y_true, scores, positive)
    v10, v01, auc = placements(is_pos, s, keep_order=False)
    m, n = len(v10), len(v01)
    var = float(np.var(v10, ddof=1) / m + np.var(v01, ddof=1) / n)
    se = float(np.sqrt(var))
    z = two_sided_z(level)
    return AUCResult(
        auc=auc,
        variance=var,
        se=se,
        ci_low=max(0.0, auc - z * se),
        ci_high=min(1.0, auc + z * se),
        level=level,
        n_positive=m,
        n_negative=n,
        se_hanley_mcneil=hanley_mcneil_se(auc, m, n),
    )


def hanley_mcneil_se(auc: float, n_positive: int, n_negative: int) -> float:
    """Standard error of an AUC by Hanley & McNeil (1982), eq. 2.

    ``SE^2 = [A(1 - A) + (n_a - 1)(Q1 - A^2) + (n_n - 1)(Q2 - A^2)] / (n_a n_n)`` with
    ``Q1 = A / (2 - A)`` and ``Q2 = 2 A^2 / (1 + A)`` (exponential approximation), ``n_a``
    diseased (positive) and ``n_n`` non-diseased cases.

    Raises
    ------
    ValidationError
        when ``auc`` is outside [0, 1] or a class has no case.
    """
    if not 0.0 <= auc <= 1.0:
        raise ValidationError(f"auc must lie in [0, 1], got {auc!r}.")
    if n_positive < 1 or n_negative < 1:
        raise ValidationError(f"Both classes need cases: {n_positive} positive, {n_negative} negative.")
    q1, q2 = auc / (2.0 - auc), 2.0 * auc * auc / (1.0 + auc)
    var = (auc * (1 - auc) + (n_positive - 1) * (q1 - auc * auc) + (n_negative - 1) * (q2 - auc * auc)) / (
        n_positive * n_negative
    )
    return float(np.sqrt(max(var, 0.0)))


@dataclass(frozen=True)
class DeLongTestResult(ResultMixin):
    """Comparison of two AUCs by DeLong's method.

    Attributes
    ----------
    auc1, auc2, difference : the AUCs and auc1 - auc2.
    covariance : Cov(auc1, auc2) (0 for unpaired data).
    se : standard error of the difference.
    z : the test statistic, named "Z" (paired, normal reference) or "D" (unpaired, Student t
        with Welch-type ``df``), as in pROC ``roc.test``.
    df : degrees of freedom for the unpaired test, None for the paired one.
    p_value : for ``alternative`` ("greater": auc1 > auc2).
    ci_low, ci_high : two-sided CI of the difference (normal for paired, t with ``df`` for
        unpaired), whatever the alternative.
    """

    auc1: float
    auc2: float
    difference: float
    covariance: float
    se: float
    z: float
    p_value: float
    ci_low: float
    ci_high: float
    df: float | None
    paired: bool
    alternative: str
    statistic_name: str
    level: float


def _p_value(stat: float, alternative: str, dist: Any) -> float:
    if alternative == "two-sided":
        return float(2.0 * dist.sf(abs(stat)))
    if alternative == "greater":
        return float(dist.sf(stat))
    return float(dist.cdf(stat))


def _ratio(diff: float, se: float) -> float:
    if se > 0:
        return diff / se
    return 0.0 if diff == 0 else float(np.copysign(np.inf, diff))


def _single_var(is_pos: NDArray[np.bool_], s: NDArray[np.float64]) -> tuple[float, float]:
    v10, v01, auc = placements(is_pos, s)
    return auc, float(np.var(v10, ddof=1) / len(v10) + np.var(v01, ddof=1) / len(v01))


def delong_test(
    y_true: ArrayLike,
    scores1: ArrayLike,
    scores2: ArrayLike,
    *,
    y_true2: ArrayLike | None = None,
    paired: bool = True,
    alternative: str = "two-sided",
    positive: Any = 1,
    level: float = 0.95,
) -> DeLongTestResult:
    """Test H0: AUC1 = AUC2 with DeLong's variance estimate.

    Parameters
    ----------
    y_true : classes of the cases scored by ``scores1`` (and by ``scores2`` when paired).
    scores1, scores2 : the two score sets. Paired: the same cases in the same order.
    y_true2 : unpaired only: classes of the cases scored by ``scores2`` (default ``y_true``,
        i.e. the same case classes treated as independent samples).
    paired : True (the same cases scored twice; correlated ROC curves) or False (independent
        samples).
    alternative : "two-sided", "greater" (AUC1 > AUC2) or "less".
    positive : label of the positive class.
    level : confidence level of the CI of the difference.

    Returns
    -------
    DeLongTestResult

    Notes
    -----
    Paired (DeLong et al. 1988): with S10 and S01 the 2x2 sample covariance matrices of the
    placement values, S = S10/m + S01/n and ``z = (auc1 - auc2) / sqrt(S11 + S22 - 2 S12)``,
    referred to N(0, 1). Unpaired (pROC ``delong.unpaired.test``):
    ``D = (auc1 - auc2) / sqrt(V1 + V2)`` with Welch-type
    ``df = (V1 + V2)^2 / (V1^2/(N1 - 1) + V2^2/(N2 - 1))``, N the number of cases of each
    curve, referred to Student's t. When the SE is 0 and the AUCs are equal, z = 0 and p = 1.
    """
    check_choice("alternative", alternative, ("two-sided", "greater", "less"))
    level = check_level(level)
    if paired:
        if y_true2 is not None:
            raise ValidationError("y_true2 is only for unpaired tests; paired data share y_true.")
        is_pos, s1 = _prepare(y_true, scores1, positive, "scores1")
        s2 = as_finite_1d("scores2", scores2)
        check_same_length(y_true=is_pos, scores2=s2)
        v10a, v01a, auc1 = placements(is_pos, s1)
        v10b, v01b, auc2 = placements(is_pos, s2)
        s10 = np.cov(np.vstack([v10a, v10b]), ddof=1)
        s01 = np.cov(np.vstack([v01a, v01b]), ddof=1)
        cov_m = s10 / len(v10a) + s01 / len(v01a)
        var = float(cov_m[0, 0] + cov_m[1, 1] - 2.0 * cov_m[0, 1])
        se = float(np.sqrt(max(var, 0.0)))
        diff = auc1 - auc2
        stat = _ratio(diff, se)
        zc = two_sided_z(level)
        return DeLongTestResult(
            auc1=auc1,
            auc2=auc2,
            difference=diff,
            covariance=float(cov_m[0, 1]),
            se=se,
            z=stat,
            p_value=_p_value(stat, alternative, _dist.norm),
            ci_low=diff - zc * se,
            ci_high=diff + zc * se,
            df=None,
            paired=True,
            alternative=alternative,
            statistic_name="Z",
            level=level,
        )
    pos1, s1 = _prepare(y_true, scores1, positive, "scores1")
    pos2, s2 = _prepare(y_true if y_true2 is None else y_true2, scores2, positive, "scores2")
    auc1, var1 = _single_var(pos1, s1)
    auc2, var2 = _single_var(pos2, s2)
    se = float(np.sqrt(var1 + var2))
    diff = auc1 - auc2
    stat = _ratio(diff, se)
    df = (var1 + var2) ** 2 / (var1**2 / (len(s1) - 1) + var2**2 / (len(s2) - 1)) if se > 0 else float("inf")
    dist = _dist.t(df)
    tc = float(dist.ppf(0.5 + level / 2))
    return DeLongTestResult(
        auc1=auc1,
        auc2=auc2,
        difference=diff,
        covariance=0.0,
        se=se,
        z=stat,
        p_value=_p_value(stat, alternative, dist),
        ci_low=diff - tc * se,
        ci_high=diff + tc * se,
        df=float(df),
        paired=False,
        alternative=alternative,
        statistic_name="D",
        level=level,
    )
