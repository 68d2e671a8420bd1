"""Speed of the statistics that run on whole studies: DeLong AUC + CI and the OR MRMC analysis.

Run as a script (prints a table) or call :func:`run` (rows for ``benchmarks/run.py``). Each row:
``name``, ``value``, ``unit``, ``baseline`` (what it is compared with), ``baseline_value`` and
``ratio = value / baseline_value`` (below 1: faster than the baseline).

* ``auc_delong`` (AUC, DeLong variance and CI) on 10^6 cases against sklearn ``roc_auc_score``
  (AUC alone): target ratio <= 1.0.
* the same against R pROC ``ci.auc(roc(...), method = "delong")`` when ``Rscript`` with pROC is
  installed (target >= 5x faster, ratio <= 0.2); otherwise the row is skipped with the reason
  printed. The ``make bench`` target is meant to try ``apt-get install -y r-cran-proc`` first
  (it was measured that way once while writing this file; see the stats report).
* ``mrmc_or`` (RRRC, jackknife and DeLong covariances) on 20 readers x 2 tests x 2000 cases:
  target under 2 s, against the same DeLong OR analysis with the O(m n) placement values of the
  DeLong et al. (1988) definition.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

from readerstudy.stats import auc_delong, mrmc_or
from readerstudy.stats._mrmc_data import _delong_block, parse_mrmc
from readerstudy.stats._placements import auc_naive
from readerstudy.stats.mrmc import or_analysis

N_AUC = 1_000_000
READERS, TESTS, CASES = 20, 2, 2000
REPEATS = 5


def _best(fn: Callable[[], Any], repeats: int = REPEATS) -> float:
    """Best wall time of ``repeats`` calls (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def _row(name: str, value: float, unit: str, baseline: str, baseline_value: float) -> dict[str, Any]:
    return {
        "name": name,
        "value": value,
        "unit": unit,
        "baseline": baseline,
        "baseline_value": baseline_value,
        "ratio": value / baseline_value if baseline_value else float("nan"),
    }


def _auc_data(n: int = N_AUC, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(np.int64)
    return y, rng.normal(size=n) + 0.8 * y


def _mrmc_data(seed: int = 1) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = (rng.random(CASES) < 0.4).astype(np.int64)
    case_effect = rng.normal(size=CASES)
    reader, test, case, score = [], [], [], []
    for t in range(TESTS):
        for r in range(READERS):
            s = case_effect + (1.0 + 0.2 * t) * truth + rng.normal(scale=0.8, size=CASES)
            reader.append(np.full(CASES, r))
            test.append(np.full(CASES, t))
            case.append(np.arange(CASES))
            score.append(np.round(s, 1))  # rounded like a 0-100 probability slider: many ties
    return {
        "reader": np.concatenate(reader),
        "test": np.concatenate(test),
        "case": np.concatenate(case),
        "truth": truth[np.concatenate(case)],
        "score": np.concatenate(score),
    }


def _naive_delong_or(data: dict[str, np.ndarray]) -> None:
    """Baseline: the DeLong OR analysis with O(m n) placement values for every reader-test."""
    d = parse_mrmc(data)
    cov = np.zeros((d.T * d.R, d.T * d.R))
    v10, v01 = [], []
    for t in range(d.T):
        for r in range(d.R):
            a, b, _ = auc_naive(d.truth, d.scores[t, r])
            v10.append(a)
            v01.append(b)
    cov[:, :] = _delong_block(np.vstack(v10), np.vstack(v01))
    or_analysis(d, cov, "RRRC", 0.95, "delong")


def _proc_seconds(y: np.ndarray, s: np.ndarray) -> tuple[float | None, str]:
    """Time of pROC ci.auc(method = "delong") measured inside R (data loading excluded)."""
    rscript = shutil.which("Rscript")
    if rscript is None:
        return None, "Rscript not found (install r-base and r-cran-proc to measure pROC)"
    check = subprocess.run([rscript, "-e", "library(pROC)"], capture_output=True, text=True, check=False)
    if check.returncode != 0:
        return None, "R package pROC not installed (apt-get install -y r-cran-proc)"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "auc.csv"
        np.savetxt(
            path, np.column_stack([y, s]), delimiter=",", header="y,s", comments="", fmt=["%d", "%.17g"]
        )
        code = (
            "suppressMessages(library(pROC)); d <- read.csv('" + str(path) + "'); "
            "f <- function() ci.auc(roc(d$y, d$s, levels = c(0, 1), direction = '<', quiet = TRUE), method = 'delong'); "
            "f(); t <- c(); for (i in 1:3) t <- c(t, system.time(f())[['elapsed']]); cat(min(t))"
        )
        out = subprocess.run([rscript, "-e", code], capture_output=True, text=True, check=False, timeout=1800)
    if out.returncode != 0:
        return None, f"pROC run failed: {out.stderr.strip()[-200:]}"
    return float(out.stdout.strip().split()[-1]), ""


def run() -> list[dict[str, Any]]:
    """Benchmark rows (see the module docstring)."""
    rows = []
    y, s = _auc_data()
    ours = _best(lambda: auc_delong(y, s))
    sk = _best(lambda: roc_auc_score(y, s))
    rows.append(_row("auc_delong with CI, 1e6 cases", ours, "s", "sklearn roc_auc_score (AUC only)", sk))
    proc, reason = _proc_seconds(y, s)
    if proc is None:
        print(f"skipped pROC comparison: {reason}")
    else:
        rows.append(_row("auc_delong with CI, 1e6 cases", ours, "s", 'pROC ci.auc(method = "delong")', proc))
    data = _mrmc_data()
    jack = _best(lambda: mrmc_or(data, cov="jackknife"), repeats=3)
    fast_delong = _best(lambda: mrmc_or(data, cov="delong"), repeats=3)
    naive = _best(lambda: _naive_delong_or(data), repeats=1)
    label = f"mrmc_or RRRC {READERS} readers x {TESTS} tests x {CASES} cases"
    rows.append(
        _row(f"{label}, jackknife", jack, "s", "same OR analysis, naive O(mn) DeLong placements", naive)
    )
    rows.append(
        _row(f"{label}, DeLong", fast_delong, "s", "same OR analysis, naive O(mn) DeLong placements", naive)
    )
    return rows


def main() -> None:
    rows = run()
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        print(
            f"{r['name']:<{width}}  {r['value']:9.4f} {r['unit']}  vs {r['baseline']}: "
            f"{r['baseline_value']:.4f} {r['unit']}  ratio {r['ratio']:.3f}"
        )


if __name__ == "__main__":
    main()
