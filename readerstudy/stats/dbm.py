"""Dorfman-Berbaum-Metz (DBM) MRMC analysis of jackknife pseudovalues, with Hillis' improvements.

References
----------
Dorfman DD, Berbaum KS, Metz CE. (1992). Receiver operating characteristic rating analysis:
    generalization to the population of readers and patients with the jackknife method.
    Invest Radiol 27:723-731.
Hillis SL. (2005). Monte Carlo validation of the Dorfman-Berbaum-Metz method using normalized
    pseudovalues and less data-based model simplification. Acad Radiol 12:1534-1541.
Hillis SL. (2007). Stat Med 26:596-619 (ddf_H). Output as in JAFROC 4.2.1 / RJafroc ``St(method="DBM")``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from readerstudy.core.errors import ValidationError

from . import _dist
from ._mrmc_data import MRMCData, parse_mrmc
from ._validation import ResultMixin, check_choice, check_level
from .mrmc import ANALYSES, _comparison, _pairs, _single_ci, safe_div

__all__ = ["DBMResult", "mrmc_dbm"]


@dataclass(frozen=True)
class DBMResult(ResultMixin):
    """DBM analysis: pseudovalue ANOVA mean squares, DBM variance components and the tests.

    Variance components (Dorfman et al. 1992; JAFROC "DBM Variance Component Estimates"):
    ``var_R = (MS_R - MS_TR - MS_RC + MS_TRC)/(T K)``, ``var_C = (MS_C - MS_TC - MS_RC +
    MS_TRC)/(T R)``, ``var_TR = (MS_TR - MS_TRC)/K``, ``var_TC = (MS_TC - MS_TRC)/R``,
    ``var_RC = (MS_RC - MS_TRC)/T``, ``var_TRC_error = MS_TRC``. Test fields as in
    :class:`readerstudy.stats.mrmc.MRMCResult` (here every analysis reports F, df1, df2).
    """

    method: str
    analysis: str
    level: float
    tests: tuple[Any, ...]
    readers: tuple[Any, ...]
    n_cases: int
    n_positive: int
    n_negative: int
    reader_auc: dict[Any, tuple[float, ...]]
    test_auc: dict[Any, float]
    MS_T: float
    MS_R: float
    MS_C: float
    MS_TR: float
    MS_TC: float
    MS_RC: float
    MS_TRC: float
    var_R: float
    var_C: float
    var_TR: float
    var_TC: float
    var_RC: float
    var_TRC_error: float
    error_term_MS: float
    F: float
    df1: float
    df2: float
    p_value: float
    difference: float | None
    se: float | None
    ci_low: float | None
    ci_high: float | None
    pairwise: tuple[dict[str, Any], ...]
    single: dict[Any, dict[str, float | None]]
    reader: dict[str, list[Any]] | None


def pseudovalues(d: MRMCData) -> NDArray[np.float64]:
    """Hillis-normalised jackknife pseudovalues, shape (T, R, K), each row averaging to its AUC."""
    k = d.n_cases
    y = (k * d.auc.reshape(-1, 1) - (k - 1) * d.jack).reshape(d.T, d.R, k)
    return y + (d.auc - y.mean(axis=2))[:, :, None]


def _two_way(y: NDArray[np.float64]) -> tuple[float, float, float]:
    """Mean squares of rows, columns and interaction of a two-way table without replication."""
    a, b = y.shape
    g = y.mean()
    ma, mb = y.mean(axis=1), y.mean(axis=0)
    ms_a = b * float(((ma - g) ** 2).sum()) / (a - 1)
    ms_b = a * float(((mb - g) ** 2).sum()) / (b - 1)
    ms_ab = float(((y - ma[:, None] - mb[None, :] + g) ** 2).sum()) / ((a - 1) * (b - 1))
    return ms_a, ms_b, ms_ab


def three_way_ms(y: NDArray[np.float64]) -> dict[str, float]:
    """Test x reader x case ANOVA mean squares (one observation per cell)."""
    t, r, k = y.shape
    g = y.mean()
    mt, mr, mk = y.mean(axis=(1, 2)), y.mean(axis=(0, 2)), y.mean(axis=(0, 1))
    mtr, mtk, mrk = y.mean(axis=2), y.mean(axis=1), y.mean(axis=0)
    ss = {
        "T": r * k * ((mt - g) ** 2).sum(),
        "R": t * k * ((mr - g) ** 2).sum(),
        "C": t * r * ((mk - g) ** 2).sum(),
        "TR": k * ((mtr - mt[:, None] - mr[None, :] + g) ** 2).sum(),
        "TC": r * ((mtk - mt[:, None] - mk[None, :] + g) ** 2).sum(),
        "RC": t * ((mrk - mr[:, None] - mk[None, :] + g) ** 2).sum(),
    }
    resid = (
        y
        - mtr[:, :, None]
        - mtk[:, None, :]
        - mrk[None, :, :]
        + mt[:, None, None]
        + mr[None, :, None]
        + mk[None, None, :]
        - g
    )
    ss["TRC"] = (resid**2).sum()
    df = {
        "T": t - 1,
        "R": r - 1,
        "C": k - 1,
        "TR": (t - 1) * (r - 1),
        "TC": (t - 1) * (k - 1),
        "RC": (r - 1) * (k - 1),
        "TRC": (t - 1) * (r - 1) * (k - 1),
    }
    ms = {key: float(ss[key]) / df[key] for key in ss}
    # Rounding noise of the pseudovalues (~1e-32) must not masquerade as an effect, e.g. when two
    # tests have identical scores; mean squares this small relative to the largest are zero.
    scale = max(ms.values())
    return {key: (0.0 if v <= 1e-14 * scale else v) for key, v in ms.items()}


def mrmc_dbm(data: Any, *, analysis: str = "RRRC", level: float = 0.95, positive: Any = None) -> DBMResult:
    """Dorfman-Berbaum-Metz analysis of the empirical AUC, with normalised pseudovalues and ddf_H.

    Parameters
    ----------
    data : long table (reader, test, case, truth, score), as for :func:`mrmc_or`. DBM needs
        a fully crossed (factorial) design: every reader scores every case in every test.
    analysis : "RRRC", "FRRC" or "RRFC".
    level : confidence level.
    positive : the diseased label when ``truth`` is not 0/1 or boolean (see :func:`mrmc_or`).

    Returns
    -------
    DBMResult

    Notes
    -----
    Pseudovalues ``Y_trk = K theta_tr - (K - 1) theta_tr(-k)`` shifted so that their mean over
    cases is theta_tr (Hillis 2005). RRRC: ``F = MS_T / [MS_TR + max(MS_TC - MS_TRC, 0)]`` with
    ``df2 = [..]^2 / [MS_TR^2/((T-1)(R-1))]``; FRRC: ``F = MS_T / MS_TC`` on (T-1, (T-1)(K-1));
    RRFC: ``F = MS_T / MS_TR`` on (T-1, (T-1)(R-1)). Difference SE ``sqrt(2 E / (R K))`` with E
    the error term; single-test intervals from each test's reader x case ANOVA.
    """
    check_choice("analysis", analysis, ANALYSES)
    level = check_level(level)
    d = parse_mrmc(data, positive)
    if d.design != "factorial":
        raise ValidationError(
            f"DBM needs every reader to score every case in every test; this design is {d.design}. "
            "Use mrmc_or(data, cov='jackknife'), which handles unbalanced and nested designs."
        )
    y = pseudovalues(d)
    t_n, r_n, k = y.shape
    ms = three_way_ms(y)
    means = d.auc.mean(axis=1)
    if analysis == "RRRC":
        denom = ms["TR"] + max(ms["TC"] - ms["TRC"], 0.0)
        df2 = denom**2 / (ms["TR"] ** 2 / ((t_n - 1) * (r_n - 1))) if ms["TR"] > 0 else float("inf")
    elif analysis == "FRRC":
        denom, df2 = ms["TC"], float((t_n - 1) * (k - 1))
    else:
        denom, df2 = ms["TR"], float((t_n - 1) * (r_n - 1))
    f = safe_div(ms["T"], denom)
    se_pair = float(np.sqrt(2.0 * denom / (r_n * k)))
    pairwise = tuple(
        _comparison(lab, means[i] - means[j], se_pair, df2, level) for i, j, lab in _pairs(d.tests)
    )
    single: dict[Any, dict[str, float | None]] = {}
    for t, name in enumerate(d.tests):
        ms_r_t, ms_c_t, ms_rc_t = _two_way(y[t])
        if analysis == "RRRC":
            e_t = ms_r_t + max(ms_c_t - ms_rc_t, 0.0)
            df_t = e_t**2 / (ms_r_t**2 / (r_n - 1)) if ms_r_t > 0 else float("inf")
        elif analysis == "FRRC":
            e_t, df_t = ms_c_t, float(k - 1)
        else:
            e_t, df_t = ms_r_t, float(r_n - 1)
        single[name] = _single_ci(
            means[t], np.sqrt(e_t / (r_n * k)), df_t, level, MS_R=ms_r_t, MS_C=ms_c_t, MS_RC=ms_rc_t
        )
    reader_block = _reader_specific(d, y, level) if analysis == "FRRC" else None
    first = pairwise[0] if t_n == 2 else None
    return DBMResult(
        method="DBM",
        analysis=analysis,
        level=level,
        tests=d.tests,
        readers=d.readers,
        n_cases=k,
        n_positive=int(d.truth.sum()),
        n_negative=int((~d.truth).sum()),
        reader_auc={name: tuple(float(v) for v in d.auc[t]) for t, name in enumerate(d.tests)},
        test_auc={name: float(means[t]) for t, name in enumerate(d.tests)},
        MS_T=ms["T"],
        MS_R=ms["R"],
        MS_C=ms["C"],
        MS_TR=ms["TR"],
        MS_TC=ms["TC"],
        MS_RC=ms["RC"],
        MS_TRC=ms["TRC"],
        var_R=(ms["R"] - ms["TR"] - ms["RC"] + ms["TRC"]) / (t_n * k),
        var_C=(ms["C"] - ms["TC"] - ms["RC"] + ms["TRC"]) / (t_n * r_n),
        var_TR=(ms["TR"] - ms["TRC"]) / k,
        var_TC=(ms["TC"] - ms["TRC"]) / r_n,
        var_RC=(ms["RC"] - ms["TRC"]) / t_n,
        var_TRC_error=ms["TRC"],
        error_term_MS=float(denom),
        F=float(f),
        df1=float(t_n - 1),
        df2=float(df2),
        p_value=float(_dist.f_sf(f, t_n - 1, df2)),
        difference=None if first is None else first["difference"],
        se=None if first is None else first["se"],
        ci_low=None if first is None else first["ci_low"],
        ci_high=None if first is None else first["ci_high"],
        pairwise=pairwise,
        single=single,
        reader=reader_block,
    )


def _reader_specific(d: MRMCData, y: NDArray[np.float64], level: float) -> dict[str, list[Any]]:
    """FRRC part (d): per reader, the test x case ANOVA of that reader's pseudovalues."""
    k = d.n_cases
    out: dict[str, list[Any]] = {
        key: []
        for key in (
            "reader",
            "comparison",
            "difference",
            "se",
            "df",
            "statistic",
            "p_value",
            "ci_low",
            "ci_high",
            "MS_TC",
        )
    }
    for r, reader in enumerate(d.readers):
        _, _, ms_tc_r = _two_way(y[:, r, :])
        se = float(np.sqrt(2.0 * ms_tc_r / k))
        for i, j, lab in _pairs(d.tests):
            c = _comparison(lab, d.auc[i, r] - d.auc[j, r], se, float(k - 1), level)
            out["reader"].append(reader)
            out["MS_TC"].append(ms_tc_r)
            for key in ("comparison", "difference", "se", "df", "statistic", "p_value", "ci_low", "ci_high"):
                out[key].append(c[key])
    return out
