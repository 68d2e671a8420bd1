"""The scipy.special-based distribution functions equal scipy.stats', and importing the statistics
(or building a report) does not import scipy.stats (about a second of every fresh report)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from scipy import stats as sps

from readerstudy.stats import _dist


@pytest.mark.parametrize("x", [-7.5, -1.96, -0.3, 0.0, 0.4, 1.64, 3.1, 9.0])
def test_normal_and_t_match_scipy_stats(x: float) -> None:
    assert _dist.norm.sf(x) == pytest.approx(sps.norm.sf(x), rel=1e-13, abs=1e-300)
    assert _dist.norm.cdf(x) == pytest.approx(sps.norm.cdf(x), rel=1e-13, abs=1e-300)
    for df in (1.5, 4.0, 37.2, 1e4, np.inf):
        assert _dist.t(df).sf(x) == pytest.approx(sps.t(df).sf(x), rel=1e-12, abs=1e-300)
        assert _dist.t(df).cdf(x) == pytest.approx(sps.t(df).cdf(x), rel=1e-12, abs=1e-300)


@pytest.mark.parametrize("q", [0.005, 0.025, 0.5, 0.95, 0.975, 0.9995])
def test_quantiles_match_scipy_stats(q: float) -> None:
    assert _dist.norm.ppf(q) == pytest.approx(sps.norm.ppf(q), rel=1e-13)
    for df in (2.0, 7.3, 150.0, np.inf):
        assert _dist.t(df).ppf(q) == pytest.approx(sps.t(df).ppf(q), rel=1e-11)
    for a, b in ((1, 9), (3.5, 2.0), (40, 60)):
        assert _dist.beta_ppf(q, a, b) == pytest.approx(sps.beta.ppf(q, a, b), rel=1e-11)


def test_chi2_f_binomial_match_scipy_stats() -> None:
    for x in (0.0, 0.2, 1.0, 3.84, 5.475953, 40.0):
        for df in (1, 2, 5):
            assert _dist.chi2_sf(x, df) == pytest.approx(sps.chi2.sf(x, df), rel=1e-12, abs=1e-300)
        for d1, d2 in ((1, 4), (1, 15.26), (3, 80.0)):
            assert _dist.f_sf(x, d1, d2) == pytest.approx(sps.f.sf(x, d1, d2), rel=1e-12, abs=1e-300)
        assert _dist.f_sf(x, 1, np.inf) == pytest.approx(sps.chi2.sf(x, 1), rel=1e-12, abs=1e-300)
    assert np.isnan(_dist.f_sf(np.nan, 1, 4)) and np.isnan(_dist.chi2_sf(np.nan, 1))
    assert _dist.f_sf(np.inf, 1, 4) == 0.0
    for k, n in ((0, 5), (3, 20), (12, 25)):
        assert _dist.binom_cdf(k, n, 0.5) == pytest.approx(sps.binom.cdf(k, n, 0.5), rel=1e-13)


def test_statistics_and_report_code_do_not_import_scipy_stats() -> None:
    code = ("import sys; import readerstudy.stats, readerstudy.reports.document, readerstudy.services.reporting; "
            "print('scipy.stats' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "False"
