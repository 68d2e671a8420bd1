"""Decision-curve analysis: net benefit of a risk model against treat-all and treat-none.

References
----------
Vickers AJ, Elkin EB. (2006). Decision curve analysis: a novel method for evaluating prediction
    models. Med Decis Making 26:565-574.
Conventions follow the dcurves R/Python packages (MSKCC-Epi-Bio/dcurves; Sjoberg's ``dca``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from readerstudy.core.errors import ValidationError

from ._validation import ResultMixin, as_finite_1d, binary_labels, check_same_length

__all__ = ["NetBenefitResult", "net_benefit"]

_ZERO_THRESHOLD = 1e-9  # dcurves: "Thresholds at zero are replaced with 10e-10"


@dataclass(frozen=True)
class NetBenefitResult(ResultMixin):
    """Net benefit per threshold probability.

    Attributes
    ----------
    thresholds : the threshold probabilities p_t, as given.
    model : TP/n - FP/n * p_t / (1 - p_t) - harm, a case being positive when risk >= p_t.
    treat_all : prevalence - (1 - prevalence) * p_t / (1 - p_t).
    treat_none : 0 at every threshold.
    tp_rate, fp_rate : TP/n and FP/n of the model at each threshold.
    n, prevalence, harm : number of cases, share of positives, harm subtracted from the model.
    """

    thresholds: tuple[float, ...]
    model: tuple[float, ...]
    treat_all: tuple[float, ...]
    treat_none: tuple[float, ...]
    tp_rate: tuple[float, ...]
    fp_rate: tuple[float, ...]
    n: int
    prevalence: float
    harm: float


def net_benefit(
    y_true: ArrayLike,
    risk: ArrayLike,
    thresholds: ArrayLike,
    *,
    positive: Any = 1,
    harm: float = 0.0,
) -> NetBenefitResult:
    """Net benefit of treating when ``risk >= p_t``, for each threshold probability p_t.

    Parameters
    ----------
    y_true : outcome per case (two classes; ``positive`` marks the event).
    risk : predicted probability of the event, in [0, 1].
    thresholds : threshold probabilities in [0, 1). A threshold of exactly 0 is replaced by
        1e-9 for the model's classification, as dcurves does, so a risk of 0 is not "treated".
    positive : label of the event in ``y_true``.
    harm : harm of the test itself, subtracted from the model's net benefit (dcurves ``harm``).

    Returns
    -------
    NetBenefitResult
        ``model = TP/n - FP/n * p_t/(1 - p_t) - harm``, ``treat_all = prev - (1 - prev) *
        p_t/(1 - p_t)`` and ``treat_none = 0`` (Vickers & Elkin 2006).
    """
    truth = binary_labels("y_true", y_true, positive)
    r = as_finite_1d("risk", risk)
    check_same_length(y_true=truth, risk=r)
    if (r < 0).any() or (r > 1).any():
        raise ValidationError(
            "risk must be a probability in [0, 1]; convert scores to risks first (e.g. by logistic regression)."
        )
    t = as_finite_1d("thresholds", thresholds)
    if (t < 0).any() or (t >= 1).any():
        raise ValidationError("thresholds must lie in [0, 1): net benefit is undefined at p_t = 1.")
    harm_f = float(harm)
    if not np.isfinite(harm_f):
        raise ValidationError("harm must be a finite number.")
    n = len(r)
    prev = float(truth.mean())
    cut = np.where(t == 0.0, _ZERO_THRESHOLD, t)
    # Count cases with risk >= cut via sorted risks: O((n + k) log n) for k thresholds.
    pos_sorted = np.sort(r[truth])
    neg_sorted = np.sort(r[~truth])
    tp = len(pos_sorted) - np.searchsorted(pos_sorted, cut, side="left")
    fp = len(neg_sorted) - np.searchsorted(neg_sorted, cut, side="left")
    odds = t / (1.0 - t)
    tp_rate, fp_rate = tp / n, fp / n
    model = tp_rate - fp_rate * odds - harm_f
    treat_all = prev - (1.0 - prev) * odds
    return NetBenefitResult(
        thresholds=tuple(float(v) for v in t),
        model=tuple(float(v) for v in model),
        treat_all=tuple(float(v) for v in treat_all),
        treat_none=tuple(0.0 for _ in t),
        tp_rate=tuple(float(v) for v in tp_rate),
        fp_rate=tuple(float(v) for v in fp_rate),
        n=n,
        prevalence=prev,
        harm=harm_f,
    )
