"""Study planning: power and sample size of an MRMC ROC study from pilot variance components.

The Obuchowski-Rockette (OR) model of a pivotal study with ``J`` readers and ``K`` cases is
scaled from a pilot study with ``K*`` cases (Hillis, Obuchowski & Berbaum 2011): the error
variance and covariances of a reader's AUC shrink as ``K*/K``, the reader x test variance
``var_TR`` does not. For the comparison of two tests (modalities/arms) with true AUC difference
``d``, the F statistic of the pivotal study follows a non-central F(1, ddf, lambda):

* random readers and cases (RRRC)::

      den    = var_TR+ + K*/K (var_error - cov1 + (J - 1) (cov2 - cov3)+)
      lambda = J d^2 / (2 den)
      ddf    = den^2 / [(var_TR+ + K*/K (var_error - cov1 - (cov2 - cov3)+))^2 / (J - 1)]

* fixed readers, random cases (FRRC): ``den = K*/K (var_error - cov1 + (J - 1)(cov2 - cov3)+)``,
  ``ddf = K - 1``;
* random readers, fixed cases (RRFC): ``den = var_TR+ + K*/K (var_error - cov1 - (cov2 - cov3)+)``,
  ``ddf = J - 1``;

where ``x+ = max(x, 0)``: a negative estimate of ``var_TR`` or of ``cov2 - cov3`` is set to 0
(Hillis, Obuchowski & Berbaum 2011, as RJafroc does; :meth:`ORComponents.truncated` lists them).
Power is ``P(F > F_{1-alpha}(1, ddf))`` under that non-central F.
The test is two-sided, so power depends on ``d^2`` only. With jackknife covariances these are the same numbers as the DBM power of Hillis & Berbaum
(2004) with Hillis-normalised pseudovalues, so the published DBMH examples validate them.

References
----------
Hillis SL, Obuchowski NA, Berbaum KS (2011). Power estimation for multireader ROC methods: an
    updated and unified approach. Acad Radiol 18:129-142.
Hillis SL, Berbaum KS (2004). Power estimation for the Dorfman-Berbaum-Metz method. Acad
    Radiol 11:1260-1273.
Obuchowski NA, Rockette HE (1995). Commun Stat Simul Comput 24:285-308.
Chakraborty DP (2017). Observer Performance Methods for Diagnostic Imaging, ch. 11 (RJafroc
    ``SsPowerGivenJK``, ``SsPowerTable``, ``SsSampleSizeKGivenJ``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from readerstudy.core.errors import ValidationError

from ._mrmc_data import READERS_NESTED, SPLIT_PLOT
from ._validation import ResultMixin, check_choice
from .mrmc import MRMCResult, mrmc_or

__all__ = [
    "MIN_CASES",
    "ORComponents",
    "PowerResult",
    "SampleSizeResult",
    "cases_for_power",
    "mrmc_power",
    "or_components",
    "power_table",
]

ANALYSES = ("RRRC", "FRRC", "RRFC")
MIN_CASES = 10
"""Fewest cases, pilot (K*) or planned (K), that planning accepts (a judgement, not a theorem).
The scaling of the pilot's error variance and covariances by K*/K and the F approximation are
large-sample results: the empirical AUC of a handful of cases takes only a few values and its
jackknife variance estimates nothing. Ten cases at a prevalence of 20-80 % still hold two of
each class, the least :func:`~readerstudy.stats.mrmc_or` accepts for a reader-test."""


@dataclass(frozen=True)
class ORComponents(ResultMixin):
    """Obuchowski-Rockette variance components of a pilot study.

    Variances and covariances are in AUC^2 units: ``var_TR`` reader x test variance;
    ``var_error`` error variance of one reader-test AUC; ``cov1`` same reader, different tests;
    ``cov2`` different readers, same test; ``cov3`` different readers and tests; ``var_R``
    reader variance (not used by the power of a test difference). ``n_cases`` the pilot's number
    of cases K* (at least :data:`MIN_CASES`); ``aucs`` the two tests' reader-averaged AUCs
    (``tests`` order, each in [0, 1]) and ``effect`` their observed difference (test 1 - test 2,
    AUC units), or None when not known (components entered by hand without AUCs). Source:
    Obuchowski & Rockette (1995); Hillis, Obuchowski & Berbaum (2011).

    Raises
    ------
    ValidationError
        for a non-finite component, ``var_error <= 0``, fewer than :data:`MIN_CASES` pilot cases,
        an AUC outside [0, 1] or an effect outside [-1, 1].
    """

    var_TR: float
    var_error: float
    cov1: float
    cov2: float
    cov3: float
    n_cases: int
    var_R: float | None = None
    effect: float | None = None
    n_readers: int | None = None
    tests: tuple[Any, ...] = ()
    aucs: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        for name in ("var_TR", "var_error", "cov1", "cov2", "cov3", "var_R"):
            value = getattr(self, name)
            if value is not None and not np.isfinite(value):
                raise ValidationError(f"Variance component {name} must be a finite number (AUC^2 units), got "
                                      f"{value!r}: check the pilot or the entered value.")
        if self.var_error <= 0:
            raise ValidationError(f"var_error must be > 0 (the variance of one reader's AUC), got {self.var_error}.")
        if int(self.n_cases) < MIN_CASES:
            raise ValidationError(f"The pilot needs at least {MIN_CASES} cases (n_cases = K*) for its variance "
                                  f"components to be estimates, got {self.n_cases}: use a larger pilot.")
        for auc in self.aucs or ():
            if not 0.0 <= auc <= 1.0:  # also refuses NaN
                raise ValidationError(f"A pilot AUC must lie in [0, 1], got {auc!r}: check the entered AUCs.")
        if self.effect is not None and not abs(self.effect) <= 1.0:
            raise ValidationError(f"The pilot's AUC difference must lie in [-1, 1], got {self.effect!r}.")

    def truncated(self) -> dict[str, float]:
        """Estimates that the power formulas replace by 0 (Hillis, Obuchowski & Berbaum 2011):
        ``{"var_TR": v}`` when ``var_TR < 0`` and ``{"cov2 - cov3": d}`` when ``cov2 < cov3``
        (AUC^2 units), as estimated."""
        out: dict[str, float] = {}
        if self.var_TR < 0:
            out["var_TR"] = float(self.var_TR)
        if self.cov2 - self.cov3 < 0:
            out["cov2 - cov3"] = float(self.cov2 - self.cov3)
        return out


@dataclass(frozen=True)
class PowerResult(ResultMixin):
    """Power of one design: ``power`` in [0, 1], non-centrality ``ncp``, ``df1`` = 1 and ``ddf``,
    the critical value ``f_crit`` of F(1, ddf) at ``alpha``."""

    power: float
    ncp: float
    df1: float
    ddf: float
    f_crit: float
    effect: float
    readers: int
    cases: int
    analysis: str
    alpha: float


@dataclass(frozen=True)
class SampleSizeResult(ResultMixin):
    """The fewest cases ``cases`` giving at least ``target`` power with ``readers`` readers
    (None when even ``max_cases`` does not), and the power reached there."""

    cases: int | None
    power: float | None
    readers: int
    target: float
    effect: float
    analysis: str
    alpha: float
    max_cases: int


def or_components(pilot: Any, tests: Sequence[Any] | None = None) -> ORComponents:
    """Pilot OR variance components from MRMC data or an :class:`~readerstudy.stats.MRMCResult`.

    Parameters
    ----------
    pilot : a long table accepted by :func:`~readerstudy.stats.mrmc_or` (columns reader, test,
        case, truth, score; exactly two tests) or the result of ``mrmc_or(..., cov="jackknife")``.
    tests : the two tests in the order wanted: ``effect = AUC(tests[0]) - AUC(tests[1])`` (AUC
        units). Default: the order of first appearance in ``pilot``. The variance components
        do not depend on the order.

    Raises
    ------
    ValidationError
        when the pilot does not compare exactly two tests, ``tests`` names others, or the
        pilot's design is not fully crossed.
    """
    res = pilot if isinstance(pilot, MRMCResult) else mrmc_or(pilot, cov="jackknife", analysis="RRRC")
    if len(res.tests) != 2:
        raise ValidationError(
            f"Planning compares two tests; the pilot has {len(res.tests)} ({list(res.tests)}): keep two."
        )
    if res.design in (SPLIT_PLOT, READERS_NESTED):
        # Cov2/Cov3 of these designs average in reader pairs that share no case (or Cov1 is absent),
        # so they are not the components of the fully crossed study that planning sizes.
        raise ValidationError(
            f"The pilot's design is {res.design}; planning sizes a fully crossed study and needs a pilot in "
            "which the readers read the same cases in both tests (or enter the OR components by hand)."
        )
    order = tuple(res.tests) if tests is None else tuple(tests)
    if len(order) != 2 or set(order) != set(res.tests):
        raise ValidationError(f"tests {list(order)} are not the pilot's two tests {list(res.tests)}.")
    effect = res.difference
    if effect is not None and order != tuple(res.tests):
        effect = -effect  # mrmc_or's difference is tests[0] - tests[1] in order of first appearance
    return ORComponents(
        var_TR=res.var_TR, var_error=res.var_error, cov1=res.cov1, cov2=res.cov2, cov3=res.cov3,
        n_cases=res.n_cases, var_R=res.var_R, effect=effect, n_readers=len(res.readers), tests=order,
        aucs=(float(res.test_auc[order[0]]), float(res.test_auc[order[1]])),
    )


def _check_design(readers: int, cases: int, alpha: float) -> None:
    if int(readers) != readers or readers < 2:
        raise ValidationError(f"readers must be a whole number >= 2, got {readers!r}.")
    if int(cases) != cases or cases < MIN_CASES:
        raise ValidationError(
            f"cases must be a whole number >= {MIN_CASES}, got {cases!r}: the pilot's variances scale to the "
            "planned cases only in large samples; plan at least that many (e.g. 50).")
    if not 0 < alpha < 1:
        raise ValidationError(f"alpha must lie in (0, 1), got {alpha!r}.")


def mrmc_power(effect: float, readers: int, cases: int, components: ORComponents, *,
               analysis: str = "RRRC", alpha: float = 0.05) -> PowerResult:
    """Power of an OR MRMC comparison of two tests (Hillis, Obuchowski & Berbaum 2011).

    Parameters
    ----------
    effect : the true AUC difference to detect (AUC units, e.g. 0.05; ``|effect| < 1``). The test
        is two-sided: the sign is irrelevant, and 0 gives power = alpha.
    readers, cases : J and K of the pivotal study (every reader reads every case in both tests;
        ``J >= 2``, ``K >= MIN_CASES``, the pilot's case mix).
    components : pilot variance components (:func:`or_components`, or entered by hand).
    analysis : "RRRC" (random readers and cases), "FRRC" (fixed readers) or "RRFC" (fixed cases).
    alpha : two-sided significance level.

    Returns
    -------
    PowerResult

    Raises
    ------
    ValidationError
        for fewer than 2 readers or :data:`MIN_CASES` cases, ``|effect| >= 1``, alpha outside
        (0, 1), or a non-positive error term.
    """
    check_choice("analysis", analysis, ANALYSES)
    _check_design(readers, cases, alpha)
    if not abs(effect) < 1.0:  # also refuses NaN and inf
        raise ValidationError(f"effect must be an AUC difference with |effect| < 1 (AUCs lie in [0, 1]), got "
                              f"{effect!r}: give e.g. 0.05.")
    c = components
    scale = c.n_cases / cases
    tr = max(c.var_TR, 0.0)
    between = max(c.cov2 - c.cov3, 0.0)
    with_readers = scale * (c.var_error - c.cov1 + (readers - 1) * between)
    within = scale * (c.var_error - c.cov1 - between)
    if analysis == "RRRC":
        den, ddf = tr + with_readers, (tr + with_readers) ** 2 / ((tr + within) ** 2 / (readers - 1))
    elif analysis == "FRRC":
        den, ddf = with_readers, float(cases - 1)
    else:
        den, ddf = tr + within, float(readers - 1)
    if not den > 0:
        raise ValidationError(
            "The variance of the AUC difference is not positive with these components "
            f"(var_error - cov1 = {c.var_error - c.cov1:.3g}); check the pilot or the entered values."
        )
    from scipy import stats as _sps  # noncentral F; imported here: scipy.stats costs ~1 s at import

    ncp = readers * effect**2 / (2.0 * den)
    f_crit = float(_sps.f.ppf(1.0 - alpha, 1.0, ddf))
    # scipy's ncf.sf is wrong at ncp = 0 (it returned -0.95 for alpha 0.05): use the central F there
    power = float(_sps.ncf.sf(f_crit, 1.0, ddf, ncp) if ncp > 0 else _sps.f.sf(f_crit, 1.0, ddf))
    return PowerResult(power=power, ncp=float(ncp), df1=1.0, ddf=float(ddf), f_crit=f_crit, effect=float(effect),
                       readers=int(readers), cases=int(cases), analysis=analysis, alpha=float(alpha))


def cases_for_power(effect: float, readers: int, components: ORComponents, *, target: float = 0.8,
                    analysis: str = "RRRC", alpha: float = 0.05, max_cases: int = 2000) -> SampleSizeResult:
    """The fewest cases reaching ``target`` power with ``readers`` readers (RJafroc
    ``SsSampleSizeKGivenJ`` searches the same way: the smallest K with power >= target).

    Power increases with K for every analysis, so a bisection over ``MIN_CASES..max_cases`` finds it;
    ``cases`` is None when ``max_cases`` cases are not enough (e.g. too few readers for RRRC,
    whose power is bounded by the reader x test variance).
    """
    if not 0 < target < 1:
        raise ValidationError(f"target power must lie in (0, 1), got {target!r}.")

    def power(k: int) -> float:
        return mrmc_power(effect, readers, k, components, analysis=analysis, alpha=alpha).power

    hi_power = power(max_cases)
    if hi_power < target:
        return SampleSizeResult(None, None, int(readers), target, float(effect), analysis, alpha, max_cases)
    lo, hi = MIN_CASES, max_cases
    if power(lo) >= target:
        hi = lo
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if power(mid) >= target:
            hi = mid
        else:
            lo = mid
    return SampleSizeResult(hi, power(hi), int(readers), target, float(effect), analysis, alpha, max_cases)


def power_table(effect: float, readers: list[int] | range, cases: list[int] | range,
                components: ORComponents, *, analysis: str = "RRRC", alpha: float = 0.05) -> dict[str, Any]:
    """Power over a readers x cases grid: ``{"readers": [...], "cases": [...], "power": [[...]]}``
    with ``power[i][j]`` the power for ``readers[i]`` readers and ``cases[j]`` cases."""
    r_list, c_list = [int(r) for r in readers], [int(k) for k in cases]
    if not r_list or not c_list:
        raise ValidationError("power_table needs at least one number of readers and one number of cases.")
    grid = [[mrmc_power(effect, r, k, components, analysis=analysis, alpha=alpha).power for k in c_list]
            for r in r_list]
    return {"readers": r_list, "cases": c_list, "power": grid, "effect": float(effect), "analysis": analysis,
            "alpha": float(alpha)}
