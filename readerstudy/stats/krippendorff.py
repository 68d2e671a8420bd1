"""Krippendorff's alpha for any number of raters, missing data and four levels of measurement.

Reference
---------
Krippendorff K. (2011). Computing Krippendorff's alpha-reliability. Annenberg School for
Communication Departmental Papers 43 (the coincidence-matrix algorithm and the
difference functions implemented here). Krippendorff K. (2019). Content Analysis, 4th ed., ch. 12.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from readerstudy.core.errors import ValidationError

from ._validation import ResultMixin, check_choice

__all__ = ["KrippendorffAlphaResult", "krippendorff_alpha"]

_LEVELS = ("nominal", "ordinal", "interval", "ratio")


@dataclass(frozen=True)
class KrippendorffAlphaResult(ResultMixin):
    """Krippendorff's alpha = 1 - D_o / D_e.

    Attributes
    ----------
    alpha : reliability coefficient (1 perfect, 0 chance, < 0 systematic disagreement).
    level : level of measurement used for the difference function.
    observed_disagreement, expected_disagreement : D_o and D_e.
    n_units : units with at least two values (pairable); others are ignored.
    n_values : number of pairable values n.
    values : the distinct values, in sorted order.
    """

    alpha: float
    level: str
    observed_disagreement: float
    expected_disagreement: float
    n_units: int
    n_values: int
    values: tuple[float, ...]


def _delta2(values: NDArray[np.float64], n_c: NDArray[np.float64], level: str) -> NDArray[np.float64]:
    """Squared difference function delta^2(c, k) for the distinct values (Krippendorff 2011, sec. E)."""
    c, k = values[:, None], values[None, :]
    if level == "nominal":
        return (c != k).astype(np.float64)
    if level == "interval":
        return (c - k) ** 2
    if level == "ratio":
        denom = c + k
        with np.errstate(invalid="ignore", divide="ignore"):
            d = np.where(denom == 0, 0.0, (c - k) / np.where(denom == 0, 1.0, denom))
        return d**2
    # ordinal: (sum_{g=c..k} n_g - (n_c + n_k) / 2)^2 over ranks of the values
    cum = np.concatenate([[0.0], np.cumsum(n_c)])
    i, j = np.meshgrid(np.arange(len(values)), np.arange(len(values)), indexing="ij")
    lo, hi = np.minimum(i, j), np.maximum(i, j)
    between = cum[hi + 1] - cum[lo]
    return (between - (n_c[lo] + n_c[hi]) / 2.0) ** 2


def krippendorff_alpha(data: ArrayLike, *, level: str = "nominal") -> KrippendorffAlphaResult:
    """Krippendorff's alpha reliability coefficient.

    Parameters
    ----------
    data : raters x units array of numeric values; ``data[r][u]`` is what rater r gave unit u,
        NaN where rater r did not code unit u. Units coded by fewer than two raters are not
        pairable and are ignored, as in Krippendorff (2011).
    level : "nominal", "ordinal", "interval" or "ratio" (difference functions of Krippendorff
        2011; ordinal uses the ranks of the observed values, ratio needs non-negative values).

    Returns
    -------
    KrippendorffAlphaResult
        ``alpha = 1 - (n - 1) * sum_ck o_ck d2_ck / sum_ck n_c n_k d2_ck`` with o the value
        coincidence matrix and n_c its marginals.
    """
    check_choice("level", level, _LEVELS)
    arr = np.asarray(data)
    if arr.ndim != 2:
        raise ValidationError(f"data must be a raters x units table, got shape {arr.shape}.")
    try:
        x = arr.astype(np.float64)
    except (TypeError, ValueError):
        raise ValidationError(
            "data must be numeric (code categories as numbers), with NaN for missing."
        ) from None
    if np.isinf(x).any():
        raise ValidationError("data holds infinite values: use NaN for missing values.")
    if level == "ratio" and (x[~np.isnan(x)] < 0).any():
        raise ValidationError("Ratio-level alpha needs non-negative values; use level='interval'.")
    present = ~np.isnan(x)
    m_u = present.sum(axis=0)
    pairable = m_u >= 2
    if not pairable.any():
        raise ValidationError("No unit was coded by two or more raters: alpha needs pairable values.")
    x, present, m_u = x[:, pairable], present[:, pairable], m_u[pairable]
    values, codes = np.unique(x[present], return_inverse=True)
    unit_idx = np.nonzero(present)[1]
    counts = np.zeros((x.shape[1], len(values)), dtype=np.float64)  # units x values
    np.add.at(counts, (unit_idx, codes), 1.0)
    weighted = counts / (m_u[:, None] - 1.0)
    coincidence = counts.T @ weighted - np.diag(weighted.sum(axis=0))
    n_c = coincidence.sum(axis=1)
    n = float(n_c.sum())
    d2 = _delta2(values, n_c, level)
    d_o = float((coincidence * d2).sum() / n)
    d_e = float((np.outer(n_c, n_c) * d2).sum() / (n * (n - 1.0)))
    if d_e == 0.0:
        raise ValidationError(
            "Alpha is undefined: all pairable values are identical (no expected disagreement)."
        )
    return KrippendorffAlphaResult(
        alpha=1.0 - d_o / d_e,
        level=level,
        observed_disagreement=d_o,
        expected_disagreement=d_e,
        n_units=int(pairable.sum()),
        n_values=int(round(n)),
        values=tuple(float(v) for v in values),
    )
