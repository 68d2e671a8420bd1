"""The few distribution functions the statistics need, from ``scipy.special``.

``scipy.stats`` costs about a second to import (it builds ~100 distribution objects and parses
their docstrings), which the report pays in every fresh process; these are the same special
functions ``scipy.stats`` evaluates for ``norm``, ``t``, ``chi2``, ``f``, ``binom`` and ``beta``
(cephes/Boost through ``scipy.special``), so results are identical to the last bit for the
calls made here. Each object mirrors the ``scipy.stats`` method names used (``sf``, ``cdf``,
``ppf``).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special as _sc

__all__ = ["beta_ppf", "binom_cdf", "chi2_sf", "f_sf", "norm", "t"]


class _Norm:
    """Standard normal: ``sf``, ``cdf``, ``ppf`` (as ``scipy.stats.norm``)."""

    @staticmethod
    def sf(x: float) -> float:
        return float(_sc.ndtr(-x))

    @staticmethod
    def cdf(x: float) -> float:
        return float(_sc.ndtr(x))

    @staticmethod
    def ppf(q: float) -> float:
        return float(_sc.ndtri(q))


norm = _Norm()


class t:  # noqa: N801 - named as scipy.stats.t
    """Student's t with ``df`` degrees of freedom (``df = inf``: the standard normal)."""

    def __init__(self, df: float) -> None:
        self.df = float(df)

    def sf(self, x: float) -> float:
        return norm.sf(x) if math.isinf(self.df) else float(_sc.stdtr(self.df, -x))

    def cdf(self, x: float) -> float:
        return norm.cdf(x) if math.isinf(self.df) else float(_sc.stdtr(self.df, x))

    def ppf(self, q: float) -> float:
        return norm.ppf(q) if math.isinf(self.df) else float(_sc.stdtrit(self.df, q))


def chi2_sf(x: float, df: float) -> float:
    """P(X > x), X ~ chi-square(df) (NaN for NaN x)."""
    return float(_sc.chdtrc(df, x)) if x >= 0 else (1.0 if not np.isnan(x) else float("nan"))


def f_sf(x: float, dfn: float, dfd: float) -> float:
    """P(X > x), X ~ F(dfn, dfd); ``dfd = inf`` is chi-square(dfn)/dfn."""
    if np.isnan(x):
        return float("nan")
    if x <= 0:
        return 1.0
    if math.isinf(dfd):
        return chi2_sf(dfn * x, dfn)
    return float(_sc.fdtrc(dfn, dfd, x))


def binom_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k), X ~ Binomial(n, p)."""
    return float(_sc.bdtr(k, n, p))


def beta_ppf(q: float, a: float, b: float) -> float:
    """Quantile of Beta(a, b)."""
    return float(_sc.betaincinv(a, b, q))
