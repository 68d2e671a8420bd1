"""Binomial confidence intervals and the diagnostic-accuracy table (sensitivity, specificity, ...).

References
----------
Wilson EB. (1927). Probable inference, the law of succession, and statistical inference.
    J Am Stat Assoc 22:209-212.
Clopper CJ, Pearson ES. (1934). The use of confidence or fiducial limits illustrated in the case
    of the binomial. Biometrika 26:404-413.
Newcombe RG. (1998). Two-sided confidence intervals for the single proportion: comparison of
    seven methods. Stat Med 17:857-872 (reference values used in the tests).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from readerstudy.core.errors import ValidationError

from . import _dist
from ._validation import ResultMixin, binary_labels, check_choice, check_level, check_same_length, two_sided_z

__all__ = ["DiagnosticAccuracy", "Estimate", "diagnostic_accuracy", "proportion_ci"]

_METHODS = ("wilson", "clopper_pearson")


def _whole(name: str, value: Any) -> int:
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise ValidationError(f"{name} must be a whole number, got {value!r}.") from None
    if not np.isfinite(f) or f != round(f) or f < 0:
        raise ValidationError(f"{name} must be a non-negative whole number, got {value!r}.")
    return int(round(f))


def proportion_ci(
    successes: int, n: int, *, method: str = "wilson", level: float = 0.95
) -> tuple[float, float]:
    """Two-sided confidence interval for a binomial proportion successes / n.

    Parameters
    ----------
    successes, n : whole counts, 0 <= successes <= n, n >= 1.
    method : "wilson" (score interval, Wilson 1927; Newcombe 1998 method 3, no continuity
        correction) or "clopper_pearson" (exact, from beta quantiles; Newcombe 1998 method 5).
    level : confidence level.

    Returns
    -------
    (low, high) : bounds in [0, 1].
    """
    check_choice("method", method, _METHODS)
    level = check_level(level)
    x, n_ = _whole("successes", successes), _whole("n", n)
    if n_ == 0:
        raise ValidationError("n is 0: a proportion needs at least one trial.")
    if x > n_:
        raise ValidationError(f"successes ({x}) exceed n ({n_}).")
    alpha = 1.0 - level
    if method == "clopper_pearson":
        low = 0.0 if x == 0 else float(_dist.beta_ppf(alpha / 2, x, n_ - x + 1))
        high = 1.0 if x == n_ else float(_dist.beta_ppf(1 - alpha / 2, x + 1, n_ - x))
        return low, high
    z = two_sided_z(level)
    p = x / n_
    denom = 1.0 + z * z / n_
    centre = (p + z * z / (2 * n_)) / denom
    half = z * np.sqrt(p * (1 - p) / n_ + z * z / (4 * n_ * n_)) / denom
    return max(0.0, float(centre - half)), min(1.0, float(centre + half))


@dataclass(frozen=True)
class Estimate(ResultMixin):
    """A proportion with its CI; value/ci are NaN (``None`` in ``to_dict``) when the denominator is 0."""

    value: float
    ci_low: float
    ci_high: float
    numerator: int
    denominator: int


@dataclass(frozen=True)
class DiagnosticAccuracy(ResultMixin):
    """Confusion-matrix summaries, each an :class:`Estimate` with its confidence interval.

    sensitivity = TP/(TP+FN), specificity = TN/(TN+FP), ppv = TP/(TP+FP), npv = TN/(TN+FN),
    accuracy = (TP+TN)/n, prevalence = (TP+FN)/n: binomial CIs by ``ci_method``.
    f1 = 2TP/(2TP+FP+FN): CI from the Jaccard index J = TP/(TP+FP+FN), see
    :func:`diagnostic_accuracy`.
    """

    tp: int
    fp: int
    fn: int
    tn: int
    sensitivity: Estimate
    specificity: Estimate
    ppv: Estimate
    npv: Estimate
    accuracy: Estimate
    prevalence: Estimate
    f1: Estimate
    ci_method: str
    level: float


def _estimate(x: int, n: int, method: str, level: float) -> Estimate:
    if n == 0:
        nan = float("nan")
        return Estimate(nan, nan, nan, x, n)
    low, high = proportion_ci(x, n, method=method, level=level)
    return Estimate(x / n, low, high, x, n)


def _f1_estimate(tp: int, fp: int, fn: int, method: str, level: float) -> Estimate:
    n_j = tp + fp + fn
    if n_j == 0:
        nan = float("nan")
        return Estimate(nan, nan, nan, 2 * tp, 2 * tp + fp + fn)
    j_low, j_high = proportion_ci(tp, n_j, method=method, level=level)

    def to_f1(j: float) -> float:
        return 2.0 * j / (1.0 + j)

    return Estimate(2.0 * tp / (2 * tp + fp + fn), to_f1(j_low), to_f1(j_high), 2 * tp, 2 * tp + fp + fn)


class _DiagnosticAccuracy:
    """Callable ``diagnostic_accuracy(tp, fp, fn, tn)`` with ``.from_labels(y_true, y_pred)``."""

    def __call__(
        self,
        tp: int,
        fp: int,
        fn: int,
        tn: int,
        *,
        ci_method: str = "wilson",
        level: float = 0.95,
    ) -> DiagnosticAccuracy:
        """Sensitivity, specificity, PPV, NPV, accuracy, prevalence and F1 with CIs.

        Parameters
        ----------
        tp, fp, fn, tn : confusion-matrix counts.
        ci_method : "wilson" or "clopper_pearson" (see :func:`proportion_ci`).
        level : confidence level.

        Notes
        -----
        F1 CI: conditional on the number of cases that are not true negatives,
        N' = TP + FP + FN, the TP count is binomial with probability J = TP/(TP+FP+FN) (the
        Jaccard index) under multinomial sampling. The interval for J from ``ci_method`` is
        mapped through the increasing function F1 = 2J / (1 + J). This keeps the interval
        inside [0, 1], is exact for Clopper-Pearson, and needs no bootstrap or delta method.
        A metric whose denominator is 0 (e.g. PPV with no positive call) is NaN.
        """
        check_choice("ci_method", ci_method, _METHODS)
        level = check_level(level)
        tp_, fp_, fn_, tn_ = (_whole(k, v) for k, v in (("tp", tp), ("fp", fp), ("fn", fn), ("tn", tn)))
        n = tp_ + fp_ + fn_ + tn_
        if n == 0:
            raise ValidationError("All four counts are 0: there is nothing to summarise.")

        def est(x: int, d: int) -> Estimate:
            return _estimate(x, d, ci_method, level)

        return DiagnosticAccuracy(
            tp=tp_,
            fp=fp_,
            fn=fn_,
            tn=tn_,
            sensitivity=est(tp_, tp_ + fn_),
            specificity=est(tn_, tn_ + fp_),
            ppv=est(tp_, tp_ + fp_),
            npv=est(tn_, tn_ + fn_),
            accuracy=est(tp_ + tn_, n),
            prevalence=est(tp_ + fn_, n),
            f1=_f1_estimate(tp_, fp_, fn_, ci_method, level),
            ci_method=ci_method,
            level=level,
        )

    def from_labels(
        self,
        y_true: ArrayLike,
        y_pred: ArrayLike,
        *,
        positive: Any = 1,
        ci_method: str = "wilson",
        level: float = 0.95,
    ) -> DiagnosticAccuracy:
        """Same as calling with counts, from per-case truth and binary calls.

        ``y_true`` must hold both classes; ``y_pred`` uses the same labels (a call equal to
        ``positive`` is a positive call, anything else negative).
        """
        truth = binary_labels("y_true", y_true, positive)
        pred = np.asarray(y_pred)
        if pred.ndim != 1:
            raise ValidationError("y_pred must be one-dimensional, one call per case.")
        check_same_length(y_true=truth, y_pred=pred)
        if pred.dtype.kind == "f" and np.isnan(pred).any():
            raise ValidationError("y_pred holds missing (NaN) calls: drop those cases first.")
        called = np.asarray(
            pred.astype(str) == str(positive) if pred.dtype.kind in "OU" else pred == positive
        )
        tp = int(np.sum(truth & called))
        fp = int(np.sum(~truth & called))
        fn = int(np.sum(truth & ~called))
        tn = int(np.sum(~truth & ~called))
        return self(tp, fp, fn, tn, ci_method=ci_method, level=level)


diagnostic_accuracy = _DiagnosticAccuracy()
