"""Multi-reader multi-case ROC analysis: Obuchowski-Rockette (OR) with Hillis' improvements.

References
----------
Obuchowski NA, Rockette HE. (1995). Hypothesis testing of diagnostic accuracy for multiple readers
    and multiple tests: an ANOVA approach with dependent observations. Commun Stat Simul Comput
    24:285-308.
Hillis SL. (2007). A comparison of denominator degrees of freedom methods for multiple observer ROC
    analysis. Stat Med 26:596-619 (ddf_H, used for df2).
Hillis SL, Obuchowski NA, Berbaum KS. (2008/2014). Recent developments in the DBM and OR
    procedures; A marginal-mean ANOVA approach for analyzing multireader multicase radiological
    imaging data. Stat Med 33:330-360 (fixed-reader and fixed-case analyses, nested designs).
Output names follow MRMCaov (Smith & Hillis) and OR-DBM MRMC 2.51 (Iowa).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from readerstudy.core.errors import ValidationError

from . import _dist
from ._mrmc_data import READERS_NESTED, MRMCData, covariance, parse_mrmc, reader_groups
from ._validation import ResultMixin, check_choice, check_level

__all__ = ["MRMCResult", "mrmc_or"]

ANALYSES = ("RRRC", "FRRC", "RRFC")


@dataclass(frozen=True)
class MRMCResult(ResultMixin):
    """Obuchowski-Rockette MRMC analysis (fields named as in MRMCaov/Hillis).

    ``reader_auc`` {test: AUC per reader}, ``test_auc`` {test: reader-averaged AUC}; ANOVA mean
    squares ``MS_T, MS_R, MS_TR``; variance components ``var_R, var_TR``; error variance and
    covariances ``var_error, cov1`` (same reader, different tests), ``cov2`` (different readers,
    same test), ``cov3`` (different readers and tests) and ``corr1..3 = cov / var_error``.
    The global test of equal tests: ``F, df1, df2`` (RRRC, RRFC) or ``X2, df`` (FRRC),
    ``p_value``, with ``error_term_MS`` its denominator. ``difference, se, ci_low, ci_high``
    describe test 1 - test 2 when there are two tests (None otherwise; see ``pairwise`` for all
    pairs). ``single`` holds each test's own CI; ``reader`` (FRRC) the reader-specific
    comparisons. Fields that do not apply to the chosen analysis are None. ``groups`` (split-plot
    designs only): one entry per reader group with its ``readers`` and its ``n_cases``,
    ``n_positive``, ``n_negative``.
    """

    method: str
    cov_method: str
    analysis: str
    level: float
    design: str
    tests: tuple[Any, ...]
    readers: tuple[Any, ...]
    n_cases: int
    n_positive: int
    n_negative: int
    reader_auc: dict[Any, tuple[float, ...]]
    test_auc: dict[Any, float]
    MS_T: float
    MS_R: float
    MS_TR: float
    var_R: float
    var_TR: float
    var_error: float
    cov1: float
    cov2: float
    cov3: float
    corr1: float
    corr2: float
    corr3: float
    error_term_MS: float
    F: float | None
    df1: float | None
    df2: float | None
    X2: float | None
    df: float | None
    p_value: float
    difference: float | None
    se: float | None
    ci_low: float | None
    ci_high: float | None
    pairwise: tuple[dict[str, Any], ...]
    single: dict[Any, dict[str, float | None]]
    reader: dict[str, list[Any]] | None = field(default=None)
    groups: tuple[dict[str, Any], ...] | None = field(default=None)


def safe_div(num: float, den: float) -> float:
    """num / den with IEEE semantics (inf or NaN) instead of ZeroDivisionError, e.g. for a zero
    error term when every reader has the same AUC; ``to_dict`` reports those as None."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.float64(num) / np.float64(den))


def anova_ms(theta: NDArray[np.float64]) -> tuple[float, float, float]:
    """Two-way (test x reader) ANOVA mean squares MS_T, MS_R, MS_TR of a T x R table."""
    t, r = theta.shape
    grand = theta.mean()
    mt, mr = theta.mean(axis=1), theta.mean(axis=0)
    ms_t = r * float(((mt - grand) ** 2).sum()) / (t - 1)
    ms_r = t * float(((mr - grand) ** 2).sum()) / (r - 1)
    resid = theta - mt[:, None] - mr[None, :] + grand
    ms_tr = float((resid**2).sum()) / ((t - 1) * (r - 1))
    return ms_t, ms_r, ms_tr


def _cov_terms(cov: NDArray[np.float64], t_count: int, r_count: int) -> tuple[float, float, float, float]:
    tt, rr = np.divmod(np.arange(t_count * r_count), r_count)
    same_t, same_r = tt[:, None] == tt[None, :], rr[:, None] == rr[None, :]
    var_e = float(np.diag(cov).mean())
    cov1 = float(cov[~same_t & same_r].mean())
    cov2 = float(cov[same_t & ~same_r].mean())
    cov3 = float(cov[~same_t & ~same_r].mean())
    return var_e, cov1, cov2, cov3


def _comparison(label: str, diff: float, se: float, df: float, level: float) -> dict[str, Any]:
    dist = _dist.t(df)
    stat = diff / se if se > 0 else (0.0 if diff == 0 else float(np.copysign(np.inf, diff)))
    q = float(dist.ppf(0.5 + level / 2))
    return {
        "comparison": label,
        "difference": float(diff),
        "se": float(se),
        "df": float(df),
        "statistic": float(stat),
        "p_value": float(2 * dist.sf(abs(stat))),
        "ci_low": float(diff - q * se),
        "ci_high": float(diff + q * se),
    }


def _single_ci(auc: float, se: float, df: float, level: float, **extra: float) -> dict[str, float | None]:
    dist = _dist.t(df)
    q = float(dist.ppf(0.5 + level / 2))
    return {
        "auc": float(auc),
        "se": float(se),
        "df": float(df),
        "ci_low": auc - q * se,
        "ci_high": auc + q * se,
        **extra,
    }


def _pairs(tests: tuple[Any, ...]) -> list[tuple[int, int, str]]:
    return [(i, j, f"{tests[i]} - {tests[j]}") for i in range(len(tests)) for j in range(i + 1, len(tests))]


def or_analysis(
    d: MRMCData, cov: NDArray[np.float64], analysis: str, level: float, cov_method: str
) -> MRMCResult:
    """Obuchowski-Rockette tests and intervals from the AUC table and its covariance matrix."""
    theta = d.auc
    t_n, r_n = theta.shape
    ms_t, ms_r, ms_tr = anova_ms(theta)
    var_e, cov1, cov2, cov3 = _cov_terms(cov, t_n, r_n)
    var_tr = ms_tr - var_e + cov1 + cov2 - cov3
    var_r = (ms_r - var_tr - var_e - (t_n - 1) * cov1 + cov2 + (t_n - 1) * cov3) / t_n
    means = theta.mean(axis=1)
    f = df1 = df2 = x2 = dfx = None
    reader_block: dict[str, list[Any]] | None = None
    single: dict[Any, dict[str, float | None]] = {}
    if analysis == "RRRC":
        denom = ms_tr + r_n * max(cov2 - cov3, 0.0)
        f, df1 = safe_div(ms_t, denom), float(t_n - 1)
        df2 = denom**2 / (ms_tr**2 / ((t_n - 1) * (r_n - 1))) if ms_tr > 0 else float("inf")
        p = float(_dist.f_sf(f, df1, df2))
        se_pair, df_pair = np.sqrt(2.0 / r_n * denom), df2
    elif analysis == "FRRC":
        denom = var_e - cov1 + (r_n - 1) * max(cov2 - cov3, 0.0)
        x2, dfx = safe_div((t_n - 1) * ms_t, denom), float(t_n - 1)
        p = float(_dist.chi2_sf(x2, dfx))
        se_pair, df_pair = np.sqrt(2.0 / r_n * denom), float("inf")
    else:
        denom = ms_tr
        f, df1, df2 = safe_div(ms_t, denom), float(t_n - 1), float((t_n - 1) * (r_n - 1))
        p = float(_dist.f_sf(f, df1, df2))
        se_pair, df_pair = np.sqrt(2.0 / r_n * denom), df2
    pairwise = tuple(
        _comparison(lab, means[i] - means[j], se_pair, df_pair, level) for i, j, lab in _pairs(d.tests)
    )
    for t, name in enumerate(d.tests):
        block = cov[t * r_n : (t + 1) * r_n, t * r_n : (t + 1) * r_n]
        var_e_t = float(np.diag(block).mean())
        cov2_t = float(block[~np.eye(r_n, dtype=bool)].mean())
        ms_r_t = float(np.var(theta[t], ddof=1))
        if analysis == "RRRC":
            num = ms_r_t + r_n * max(cov2_t, 0.0)
            df_t = num**2 / (ms_r_t**2 / (r_n - 1)) if ms_r_t > 0 else float("inf")
            single[name] = _single_ci(
                means[t], np.sqrt(num / r_n), df_t, level, cov2=cov2_t, MS_R=ms_r_t, var_error=var_e_t
            )
        elif analysis == "FRRC":
            se_t = np.sqrt((var_e_t + (r_n - 1) * max(cov2_t, 0.0)) / r_n)
            single[name] = _single_ci(
                means[t], se_t, float("inf"), level, cov2=cov2_t, MS_R=ms_r_t, var_error=var_e_t
            )
        else:
            single[name] = _single_ci(
                means[t],
                np.sqrt(ms_r_t / r_n),
                float(r_n - 1),
                level,
                cov2=cov2_t,
                MS_R=ms_r_t,
                var_error=var_e_t,
            )
    if analysis == "FRRC":
        reader_block = _reader_specific(d, cov, level)
    first = pairwise[0] if t_n == 2 else None
    return MRMCResult(
        method="OR",
        cov_method=cov_method,
        analysis=analysis,
        level=level,
        design=d.design,
        tests=d.tests,
        readers=d.readers,
        n_cases=d.n_cases,
        n_positive=int(d.truth.sum()),
        n_negative=int((~d.truth).sum()),
        reader_auc={name: tuple(float(v) for v in theta[t]) for t, name in enumerate(d.tests)},
        test_auc={name: float(means[t]) for t, name in enumerate(d.tests)},
        MS_T=ms_t,
        MS_R=ms_r,
        MS_TR=ms_tr,
        var_R=float(var_r),
        var_TR=float(var_tr),
        var_error=var_e,
        cov1=cov1,
        cov2=cov2,
        cov3=cov3,
        corr1=safe_div(cov1, var_e),
        corr2=safe_div(cov2, var_e),
        corr3=safe_div(cov3, var_e),
        error_term_MS=float(denom),
        F=None if f is None else float(f),
        df1=df1,
        df2=None if df2 is None else float(df2),
        X2=None if x2 is None else float(x2),
        df=dfx,
        p_value=p,
        difference=None if first is None else first["difference"],
        se=None if first is None else first["se"],
        ci_low=None if first is None else first["ci_low"],
        ci_high=None if first is None else first["ci_high"],
        pairwise=pairwise,
        single=single,
        reader=reader_block,
        groups=_groups(d),
    )


def _groups(d: MRMCData) -> tuple[dict[str, Any], ...] | None:
    found = reader_groups(d.present)
    if found is None:
        return None
    out = []
    for members in found:
        cases = d.present[0, members[0]]
        pos = int(d.truth[cases].sum())
        out.append({"readers": [d.readers[r] for r in members], "n_cases": int(cases.sum()),
                    "n_positive": pos, "n_negative": int(cases.sum()) - pos})
    return tuple(out)


def _reader_specific(d: MRMCData, cov: NDArray[np.float64], level: float) -> dict[str, list[Any]]:
    """FRRC part (d): test differences within each reader, SE from that reader's own (co)variances."""
    r_n = d.R
    out: dict[str, list[Any]] = {
        k: []
        for k in (
            "reader",
            "comparison",
            "difference",
            "se",
            "statistic",
            "p_value",
            "ci_low",
            "ci_high",
            "cov1",
            "var_error",
        )
    }
    for r, reader in enumerate(d.readers):
        rows = np.arange(d.T) * r_n + r
        block = cov[np.ix_(rows, rows)]
        var_e_r = float(np.diag(block).mean())
        cov1_r = float(block[~np.eye(d.T, dtype=bool)].mean())
        for i, j, lab in _pairs(d.tests):
            se = np.sqrt(max(block[i, i] + block[j, j] - 2 * block[i, j], 0.0))
            c = _comparison(lab, d.auc[i, r] - d.auc[j, r], se, float("inf"), level)
            out["reader"].append(reader)
            out["cov1"].append(cov1_r)
            out["var_error"].append(var_e_r)
            for k in ("comparison", "difference", "se", "statistic", "p_value", "ci_low", "ci_high"):
                out[k].append(c[k])
    return out


def mrmc_or(data: Any, *, cov: str = "jackknife", analysis: str = "RRRC", level: float = 0.95,
            positive: Any = None) -> MRMCResult:
    """Obuchowski-Rockette MRMC comparison of tests by the empirical (trapezoidal) AUC.

    Parameters
    ----------
    data : long table with columns ``reader, test, case, truth, score`` (a pandas DataFrame or
        a mapping of equal-length arrays); one row per reader, test and case read. ``truth`` is
        0/1 (or False/True) per case and must agree across rows of the same case; higher
        ``score`` means more suspicious.
    cov : "jackknife" (any design, the MRMCaov default), "delong" or "unbiased" (Gallas) for
        the AUC error covariances; the latter two need each pair of reader-tests to read the
        same cases or disjoint cases.
    analysis : "RRRC" (random readers and cases; F with Hillis 2007 ddf), "FRRC" (fixed
        readers: chi-square test and reader-specific comparisons) or "RRFC" (fixed cases:
        the conventional test x reader ANOVA).
    level : confidence level for the intervals.
    positive : the diseased label when ``truth`` is not 0/1 or boolean (e.g. "abnormal");
        other labels without it are refused rather than ordered alphabetically.

    Returns
    -------
    MRMCResult

    Notes
    -----
    RRRC: ``F = MS_T / [MS_TR + R max(cov2 - cov3, 0)]``, ``df2 = [MS_TR + R max(cov2 - cov3,
    0)]^2 / [MS_TR^2 / ((T-1)(R-1))]``; pairwise SE ``sqrt(2/R * error term)``; single-test SE
    ``sqrt([MS_R(t) + R max(cov2_t, 0)]/R)`` with ``df = [..]^2 / [MS_R(t)^2/(R-1)]``.
    FRRC: ``X2 = (T-1) MS_T / [var_error - cov1 + (R-1) max(cov2 - cov3, 0)]`` on T-1 df.
    RRFC: ``F = MS_T / MS_TR`` on (T-1, (T-1)(R-1)) df. Unbalanced (partially paired or nested)
    designs are analysed with the case-jackknife over all cases, pairs of reader-tests without
    a common case having covariance 0, as MRMCaov does.

    Split-plot designs (reader groups, each reading its own cases in every test; Obuchowski 2009,
    Obuchowski, Gallas & Hillis 2012) need no other formula: cov2 and cov3 are averages over all
    pairs of readers, those of different groups contributing 0. With c2, c3 the within-group
    covariances, G groups of R/G readers, ``(R - 1) cov2 = (R/G - 1) c2``, so
    ``E[MS_TR + R (cov2 - cov3)] = var_TR + var_error - cov1 + (R/G - 1)(c2 - c3)``, which is
    R/2 times the variance of the reader-averaged difference under the split-plot OR model; the
    single-test and fixed-reader variances follow likewise. All three covariance methods apply
    (the readers of a group share one case set); ``groups`` lists the groups found.

    Readers nested within tests (each reader reads one test; MRMCaov design 4) are analysed by
    :func:`readers_nested_analysis` (RRRC with jackknife covariances only).
    """
    check_choice("cov", cov, ("jackknife", "delong", "unbiased"))
    check_choice("analysis", analysis, ANALYSES)
    level = check_level(level)
    d = parse_mrmc(data, positive)
    if d.design == READERS_NESTED:
        if analysis != "RRRC" or cov != "jackknife":
            raise ValidationError(
                "Readers nested within tests (each reader reads one test) is analysed with random readers and "
                "cases and jackknife covariances only: use analysis='RRRC', cov='jackknife'."
            )
        return readers_nested_analysis(d, covariance(d, cov), level)
    return or_analysis(d, covariance(d, cov), analysis, level, cov)


def readers_nested_analysis(d: MRMCData, cov: NDArray[np.float64], level: float) -> MRMCResult:
    """OR analysis when each reader reads one test only (MRMCaov design 4; Hillis 2014, Stat Med 33:330).

    With J_t readers in test t and J = sum J_t: ``MS_T = sum_t J_t (mean_t - mean)^2 / (T - 1)``,
    ``MS[R(T)] = sum_t sum_r (theta_tr - mean_t)^2 / (J - T)``; Cov1 = 0 (no reader reads two
    tests), Cov2 and Cov3 averaged over the reader pairs that exist. ``E = MS[R(T)] + n* max(Cov2
    - Cov3, 0)`` with ``n* = (J - sum J_t^2 / J) / (T - 1)``, ``F = MS_T / E`` on (T - 1,
    ``E^2 / [MS[R(T)]^2 / (J - T)]``) df; difference SE ``sqrt((1/J_i + 1/J_j) E)``. ``MS_R``
    holds MS[R(T)]; ``MS_TR``, ``var_TR`` are NaN and ``var_R = MS[R(T)] - var_error + Cov2``.
    """
    read_in = d.present.any(axis=2)  # (T, R)
    t_n = d.T
    j_t = read_in.sum(axis=1)
    j = int(j_t.sum())
    theta = d.auc
    means = np.array([theta[t, read_in[t]].mean() for t in range(t_n)])
    grand = float(theta[read_in].mean())
    ms_t = float((j_t * (means - grand) ** 2).sum()) / (t_n - 1)
    ms_r = float(sum(((theta[t, read_in[t]] - means[t]) ** 2).sum() for t in range(t_n))) / (j - t_n)
    rows = read_in.ravel()
    tt, rr = np.divmod(np.arange(t_n * d.R), d.R)
    both = rows[:, None] & rows[None, :]
    same_t = tt[:, None] == tt[None, :]
    off = rr[:, None] != rr[None, :]
    var_e = float(np.diag(cov)[rows].mean())
    cov2 = float(cov[both & same_t & off].mean())
    cov3 = float(cov[both & ~same_t & off].mean())
    n_star = (j - float((j_t**2).sum()) / j) / (t_n - 1)
    denom = ms_r + n_star * max(cov2 - cov3, 0.0)
    df2 = denom**2 / (ms_r**2 / (j - t_n)) if ms_r > 0 else float("inf")
    f = safe_div(ms_t, denom)
    pairwise = tuple(
        _comparison(lab, means[a] - means[b], float(np.sqrt((1 / j_t[a] + 1 / j_t[b]) * denom)), df2, level)
        for a, b, lab in _pairs(d.tests)
    )
    single: dict[Any, dict[str, float | None]] = {}
    for t, name in enumerate(d.tests):
        idx = np.flatnonzero(read_in[t]) + t * d.R
        block = cov[np.ix_(idx, idx)]
        k = len(idx)
        cov2_t = float(block[~np.eye(k, dtype=bool)].mean()) if k > 1 else 0.0
        ms_r_t = float(np.var(theta[t, read_in[t]], ddof=1))
        num = ms_r_t + k * max(cov2_t, 0.0)
        df_t = num**2 / (ms_r_t**2 / (k - 1)) if ms_r_t > 0 else float("inf")
        single[name] = _single_ci(means[t], np.sqrt(num / k), df_t, level, cov2=cov2_t, MS_R=ms_r_t,
                                  var_error=float(np.diag(block).mean()))
    first = pairwise[0] if t_n == 2 else None
    nan = float("nan")
    return MRMCResult(
        method="OR", cov_method="jackknife", analysis="RRRC", level=level, design=d.design, tests=d.tests,
        readers=d.readers, n_cases=d.n_cases, n_positive=int(d.truth.sum()), n_negative=int((~d.truth).sum()),
        reader_auc={name: tuple(float(v) for v in theta[t][read_in[t]]) for t, name in enumerate(d.tests)},
        test_auc={name: float(means[t]) for t, name in enumerate(d.tests)},
        MS_T=ms_t, MS_R=ms_r, MS_TR=nan, var_R=ms_r - var_e + cov2, var_TR=nan, var_error=var_e, cov1=0.0,
        cov2=cov2, cov3=cov3, corr1=0.0, corr2=safe_div(cov2, var_e), corr3=safe_div(cov3, var_e),
        error_term_MS=float(denom), F=float(f), df1=float(t_n - 1), df2=float(df2), X2=None, df=None,
        p_value=float(_dist.f_sf(f, t_n - 1, df2)),
        difference=None if first is None else first["difference"], se=None if first is None else first["se"],
        ci_low=None if first is None else first["ci_low"], ci_high=None if first is None else first["ci_high"],
        pairwise=pairwise, single=single, reader=None, groups=None,
    )
