"""Loaders for the public data sets copied into tests/stats/data (see data/README.md)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parent / "data"


def _rows(name: str) -> list[dict[str, str]]:
    with (DATA / name).open(newline="") as fh:
        return list(csv.DictReader(fh))


def asah() -> dict[str, np.ndarray]:
    """pROC aSAH: outcome (Good/Poor), s100b, ndka, wfns (1-5)."""
    rows = _rows("asah.csv")
    return {
        "outcome": np.array([r["outcome"] for r in rows]),
        "s100b": np.array([float(r["s100b"]) for r in rows]),
        "ndka": np.array([float(r["ndka"]) for r in rows]),
        "wfns": np.array([float(r["wfns"]) for r in rows]),
    }


def vandyke() -> dict[str, np.ndarray]:
    """Van Dyke (1993) MRMC data in the long format of mrmc_or (test = modality)."""
    rows = _rows("vandyke_dataset02.csv")
    return {
        "reader": np.array([int(r["reader"]) for r in rows]),
        "test": np.array([int(r["modality"]) for r in rows]),
        "case": np.array([int(r["case"]) for r in rows]),
        "truth": np.array([int(r["truth"]) for r in rows]),
        "score": np.array([float(r["rating"]) for r in rows]),
    }


def dcurves_binary() -> dict[str, np.ndarray]:
    """dcurves df_binary: cancer (0/1), marker, cancerpredmarker, famhistory."""
    rows = _rows("dcurves_df_binary.csv")
    return {
        "cancer": np.array([int(r["cancer"]) for r in rows]),
        "marker": np.array([float(r["marker"]) for r in rows]),
        "cancerpredmarker": np.array([float(r["cancerpredmarker"]) for r in rows]),
        "famhistory": np.array([int(r["famhistory"]) for r in rows]),
    }


def assert_printed(value: float, printed: str) -> None:
    """``value`` agrees with a published number to every digit printed.

    The tolerance is half a unit in the last printed decimal place (plus 1e-12 for float noise),
    i.e. ``value`` rounds to ``printed``.
    """
    mantissa, _, exponent = printed.lower().partition("e")
    decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
    decimals -= int(exponent) if exponent else 0
    tol = 0.5 * 10.0 ** (-decimals) + 1e-12
    assert abs(value - float(printed)) <= tol, f"{value!r} does not round to the published {printed}"
