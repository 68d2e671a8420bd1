"""Cohen's kappa, Fleiss' kappa and Krippendorff's alpha against published values."""

from __future__ import annotations

import json

import krippendorff
import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score
from stats_datasets import assert_printed
from statsmodels.stats import inter_rater as smir

from readerstudy.core.errors import ValidationError
from readerstudy.stats import cohen_kappa, fleiss_kappa, krippendorff_alpha

# irr package data set `anxiety` (20 subjects x 3 raters), as transcribed in statsmodels'
# statsmodels/stats/tests/test_inter_rater.py (column-major).
ANXIETY = np.array(
    [3, 3, 3, 4, 5, 5, 2, 3, 5, 2, 2, 6, 1, 5, 2, 2, 1, 2, 4, 3,
     3, 6, 4, 6, 2, 4, 2, 4, 3, 3, 2, 3, 3, 3, 2, 2, 1, 3, 3, 4,
     2, 1, 4, 4, 3, 2, 1, 6, 1, 1, 1, 2, 3, 3, 1, 1, 3, 3, 2, 2]
).reshape(20, 3, order="F")  # fmt: skip

# Fleiss (1971) psychiatric diagnoses, 30 subjects x 6 raters, 5 categories (irr `diagnoses`).
DIAGNOSES = np.array(
    [[4, 4, 4, 4, 4, 4], [2, 2, 2, 5, 5, 5], [2, 3, 3, 3, 3, 5], [5, 5, 5, 5, 5, 5], [2, 2, 2, 4, 4, 4],
     [1, 1, 3, 3, 3, 3], [3, 3, 3, 3, 5, 5], [1, 1, 3, 3, 3, 4], [1, 1, 4, 4, 4, 4], [5, 5, 5, 5, 5, 5],
     [1, 4, 4, 4, 4, 4], [1, 2, 4, 4, 4, 4], [2, 2, 2, 3, 3, 3], [1, 4, 4, 4, 4, 4], [2, 2, 4, 4, 4, 5],
     [3, 3, 3, 3, 3, 5], [1, 1, 1, 4, 5, 5], [1, 1, 1, 1, 1, 2], [2, 2, 4, 4, 4, 4], [1, 3, 3, 5, 5, 5],
     [5, 5, 5, 5, 5, 5], [2, 4, 4, 4, 4, 4], [2, 2, 4, 5, 5, 5], [1, 1, 4, 4, 4, 4], [1, 4, 4, 4, 4, 5],
     [2, 2, 2, 2, 2, 4], [1, 1, 1, 1, 5, 5], [2, 2, 4, 4, 4, 4], [1, 3, 3, 3, 3, 3], [5, 5, 5, 5, 5, 5]]
)  # fmt: skip

# SAS PROC FREQ example table, as in statsmodels test_inter_rater.py (UnweightedCohens).
SAS_TABLE = [[0, 4, 1], [0, 8, 0], [0, 1, 5]]


# --- Cohen's kappa -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("weights", "kappa", "z", "p"),
    [
        # irr::kappa2(anxiety[, 2:3]) -> Kappa = -0.006289308, z = -0.0604067, p = 0.9518317
        (None, "-0.006289308", "-0.0604067", "0.9518317"),
        # irr::kappa2(anxiety[, 2:3], "equal") -> 0.1459075, z = 1.282472, p = 0.1996772
        ("linear", "0.1459075", "1.282472", "0.1996772"),
        # irr::kappa2(anxiety[, 2:3], "squared") -> 0.2520325, z = 1.437451, p = 0.1505898
        ("quadratic", "0.2520325", "1.437451", "0.1505898"),
    ],
)
def test_cohen_kappa_matches_irr_kappa2(weights: str | None, kappa: str, z: str, p: str) -> None:
    # Values printed by irr (R) and recorded in statsmodels test_inter_rater.py; irr drops the
    # unobserved category 5, which is what the default categories (observed labels) do.
    res = cohen_kappa(ANXIETY[:, 1], ANXIETY[:, 2], weights=weights)
    assert_printed(res.kappa, kappa)
    assert_printed(res.z, z)
    assert_printed(res.p_value, p)


def test_cohen_kappa_irr_first_two_raters() -> None:
    # irr documentation example kappa2(anxiety[, 1:2]): Kappa = 0.119, z = 1.16, p-value = 0.245
    res = cohen_kappa(ANXIETY[:, 0], ANXIETY[:, 1])
    assert_printed(res.kappa, "0.119")
    assert_printed(res.z, "1.16")
    assert_printed(res.p_value, "0.245")


@pytest.mark.parametrize(
    ("weights", "expected"),
    [
        # SAS PROC FREQ "Simple Kappa Coefficient": kappa 0.4842, ASE 0.1380, CI 0.2137-0.7547,
        # ASE under H0 0.1484, Z 3.2626, two-sided p 0.0011 (statsmodels test_inter_rater.py)
        (None, ["0.4842", "0.1380", "0.2137", "0.7547", "0.1484", "3.2626", "0.0011"]),
        # SAS "Weighted Kappa Coefficient" (Cicchetti-Allison = linear): 0.4701, 0.1457,
        # 0.1845-0.7558, ASE0 0.1426, Z 3.2971, p 0.0010
        ("linear", ["0.4701", "0.1457", "0.1845", "0.7558", "0.1426", "3.2971", "0.0010"]),
    ],
)
def test_cohen_kappa_matches_sas_proc_freq(weights: str | None, expected: list[str]) -> None:
    res = cohen_kappa.from_table(SAS_TABLE, weights=weights)
    got = [res.kappa, res.se, res.ci_low, res.ci_high, res.se0, res.z, res.p_value]
    for value, printed in zip(got, expected, strict=True):
        assert_printed(value, printed)
    assert res.n == 19


@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
def test_cohen_kappa_agrees_with_sklearn_and_statsmodels(weights: str | None) -> None:
    rng = np.random.default_rng(7)
    a = rng.integers(0, 5, 300)
    b = np.where(rng.random(300) < 0.6, a, rng.integers(0, 5, 300))
    res = cohen_kappa(a, b, weights=weights)
    assert res.kappa == pytest.approx(cohen_kappa_score(a, b, weights=weights), abs=1e-12)
    table = np.zeros((5, 5))
    np.add.at(table, (a, b), 1)
    wt = {None: None, "linear": "linear", "quadratic": "quadratic"}[weights]
    sm = smir.cohens_kappa(table, wt=wt) if wt else smir.cohens_kappa(table)
    assert res.kappa == pytest.approx(sm.kappa, abs=1e-12)
    assert res.se == pytest.approx(sm.std_kappa, rel=1e-9)
    assert res.se0 == pytest.approx(sm.std_kappa0, rel=1e-9)


def test_cohen_kappa_categories_and_scores_change_weighted_kappa() -> None:
    a, b = ANXIETY[:, 1], ANXIETY[:, 2]
    # Declaring the unused category 5 spaces the scores 1..6 evenly (as sklearn labels=... does).
    full = cohen_kappa(a, b, weights="linear", categories=[1, 2, 3, 4, 5, 6])
    ref = cohen_kappa_score(a, b, weights="linear", labels=[1, 2, 3, 4, 5, 6])
    assert full.kappa == pytest.approx(ref, abs=1e-12)
    assert full.kappa != pytest.approx(cohen_kappa(a, b, weights="linear").kappa)
    # Explicit scores equal to the labels reproduce the same spacing.
    scored = cohen_kappa(a, b, weights="linear", scores=[1, 2, 3, 4, 6])
    assert scored.kappa == pytest.approx(full.kappa, abs=1e-12)
    assert cohen_kappa(a, b, weights=None, categories=[1, 2, 3, 4, 5, 6]).kappa == pytest.approx(
        cohen_kappa(a, b).kappa
    )


def test_cohen_kappa_to_dict_is_plain_json() -> None:
    d = cohen_kappa(["x", "y", "x", "y"], ["x", "y", "y", "y"]).to_dict()
    assert json.loads(json.dumps(d, allow_nan=False)) == d
    assert d["categories"] == ["x", "y"]
    assert d["table"] == [[1, 1], [0, 2]]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: cohen_kappa([1, 2, 3], [1, 2]), "Length mismatch"),
        (lambda: cohen_kappa([1.0, np.nan], [1.0, 2.0]), "NaN"),
        (lambda: cohen_kappa([1, 2], [1, 2], weights="cubic"), "Unknown weights"),
        (lambda: cohen_kappa([1, 2], [1, 3], categories=[1, 2]), "not among categories"),
        (lambda: cohen_kappa([1, 1], [1, 1]), "undefined"),
        (lambda: cohen_kappa.from_table([[1, 2, 3]]), "square"),
        (lambda: cohen_kappa([1, 2], [2, 1], weights="linear", scores=[1]), "one number per category"),
    ],
)
def test_cohen_kappa_rejects_bad_input(call, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError, match=message):
        call()


# --- Fleiss' kappa -------------------------------------------------------------------------


def test_fleiss_kappa_matches_fleiss_1971_and_irr() -> None:
    res = fleiss_kappa(DIAGNOSES)
    # Fleiss (1971) p. 380: kappa = 0.430; irr::kappam.fleiss(diagnoses): Kappa = 0.4302445,
    # z = 17.65183 (values recorded in statsmodels test_inter_rater.py), p-value = 0.
    assert_printed(res.kappa, "0.430")
    assert_printed(res.kappa, "0.4302445")
    assert_printed(res.z, "17.65183")
    assert res.p_value < 1e-60
    # Fleiss (1971) Table 2 marginals p_j = 0.144, 0.144, 0.167, 0.306, 0.239.
    for value, printed in zip(
        res.category_proportions, ["0.144", "0.144", "0.167", "0.306", "0.239"], strict=True
    ):
        assert_printed(value, printed)
    # irr::agree(diagnoses): %-agree = 16.7 (5 of 30 subjects unanimous).
    assert_printed(res.percent_agreement, "16.7")


def test_fleiss_kappa_from_counts_matches_statsmodels_and_wikipedia() -> None:
    counts, _ = smir.aggregate_raters(DIAGNOSES)
    assert fleiss_kappa.from_counts(counts).kappa == pytest.approx(smir.fleiss_kappa(counts), abs=1e-14)
    # Wikipedia "Fleiss' kappa" worked example (10 subjects, 14 raters, 5 categories):
    # P_bar = 0.378, P_bar_e = 0.213, kappa = 0.210; same table as statsmodels' test.
    wiki = [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
            [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]  # fmt: skip
    res = fleiss_kappa.from_counts(wiki)
    assert_printed(res.p_observed, "0.378")
    assert_printed(res.p_expected, "0.213")
    assert_printed(res.kappa, "0.210")
    assert_printed(res.subject_agreement[1], "0.253")  # P_2 in the worked example


def test_fleiss_refuses_ratings_passed_as_counts() -> None:
    # statsmodels issue 7657: raw ratings fed to fleiss_kappa(counts) give a silent wrong answer.
    with pytest.raises(ValidationError, match="raw ratings"):
        fleiss_kappa.from_counts(DIAGNOSES)
    with pytest.raises(ValidationError, match="raw ratings"):
        fleiss_kappa.from_counts([["a", "b"], ["a", "a"]])


def test_fleiss_refuses_counts_passed_as_ratings_unless_categories_given() -> None:
    counts, _ = smir.aggregate_raters(DIAGNOSES)
    with pytest.raises(ValidationError, match="count table"):
        fleiss_kappa(counts)
    # The escape hatch: explicit categories force the ratings reading.
    forced = fleiss_kappa(counts, categories=sorted(set(counts.ravel().tolist())))
    assert forced.n_raters == counts.shape[1]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: fleiss_kappa(np.array([[1.0, np.nan], [1.0, 2.0]])), "missing"),
        (lambda: fleiss_kappa([1, 2, 3]), "subjects x raters"),
        (lambda: fleiss_kappa.from_counts([[1, -1], [0, 0]]), "non-negative"),
        (lambda: fleiss_kappa.from_counts([[1, 0], [1, 0]]), "at least two ratings"),
        (lambda: fleiss_kappa([[1, 1], [1, 1]], categories=[1]), "undefined"),
    ],
)
def test_fleiss_rejects_bad_input(call, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError, match=message):
        call()


# --- Krippendorff's alpha ------------------------------------------------------------------

NAN = np.nan
# Krippendorff (2011) "Computing Krippendorff's alpha-reliability", section C: 4 observers x 12 units.
KRIPP = np.array(
    [[1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
     [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
     [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
     [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN]]
)  # fmt: skip


@pytest.mark.parametrize(
    # Krippendorff (2011), sections C-F: nominal 0.743, ordinal 0.815, interval 0.849, ratio 0.797
    ("level", "expected"),
    [("nominal", "0.743"), ("ordinal", "0.815"), ("interval", "0.849"), ("ratio", "0.797")],
)
def test_krippendorff_alpha_matches_paper(level: str, expected: str) -> None:
    res = krippendorff_alpha(KRIPP, level=level)
    assert_printed(res.alpha, expected)
    assert res.n_units == 11  # unit 12 has a single value and is not pairable
    assert res.n_values == 40


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval", "ratio"])
def test_krippendorff_alpha_agrees_with_krippendorff_package(level: str) -> None:
    rng = np.random.default_rng(11)
    truth = rng.integers(1, 6, 60)
    data = np.vstack(
        [np.where(rng.random(60) < 0.7, truth, rng.integers(1, 6, 60)) for _ in range(4)]
    ).astype(float)
    data[rng.random(data.shape) < 0.15] = np.nan
    ours = krippendorff_alpha(data, level=level).alpha
    assert ours == pytest.approx(
        krippendorff.alpha(reliability_data=data, level_of_measurement=level), abs=1e-12
    )


def test_krippendorff_rejects_bad_input() -> None:
    with pytest.raises(ValidationError, match="Unknown level"):
        krippendorff_alpha(KRIPP, level="cardinal")
    with pytest.raises(ValidationError, match="pairable"):
        krippendorff_alpha([[1, NAN], [NAN, 2]])
    with pytest.raises(ValidationError, match="undefined"):
        krippendorff_alpha([[1, 1], [1, 1]])
    with pytest.raises(ValidationError, match="non-negative"):
        krippendorff_alpha([[-1, 2], [1, 2]], level="ratio")


def test_randolph_free_marginal_kappa_matches_published_agreement_and_statsmodels() -> None:
    # Randolph (2005): kappa_free = (P_bar - 1/q) / (1 - 1/q). Fleiss (1971) p. 380 prints
    # P_bar = 0.556 for the 30 x 6 psychiatric diagnoses (q = 5): kappa_free = 0.444.
    res = fleiss_kappa(DIAGNOSES)
    assert_printed(res.p_observed, "0.556")
    assert_printed(res.kappa_free, "0.444")
    counts, _ = smir.aggregate_raters(DIAGNOSES)
    assert res.kappa_free == pytest.approx(smir.fleiss_kappa(counts, method="randolph"), abs=1e-14)
    # Wikipedia worked example: P_bar = 0.378 (printed to 3 decimals), q = 5 -> (0.378 - 0.2) / 0.8,
    # within the rounding of P_bar (0.0005 / 0.8).
    wiki = [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
            [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]  # fmt: skip
    assert fleiss_kappa.from_counts(wiki).kappa_free == pytest.approx((0.378 - 0.2) / 0.8, abs=0.0005 / 0.8)
    # The number of categories offered counts, not only those used: a third, unused category
    # lowers chance agreement from 1/2 to 1/3.
    two = fleiss_kappa([[0, 0], [1, 1], [0, 1]])
    three = fleiss_kappa([[0, 0], [1, 1], [0, 1]], categories=[0, 1, 2])
    assert two.kappa_free == pytest.approx((2 / 3 - 1 / 2) / (1 / 2))
    assert three.kappa_free == pytest.approx((2 / 3 - 1 / 3) / (2 / 3))
