"""McNemar, binomial intervals, diagnostic accuracy and net benefit against published values."""

from __future__ import annotations

import json

import numpy as np
import pytest
import statsmodels.api as sm
from stats_datasets import assert_printed, dcurves_binary
from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar
from statsmodels.stats.proportion import proportion_confint

from readerstudy.core.errors import ValidationError
from readerstudy.stats import diagnostic_accuracy, mcnemar, net_benefit, proportion_ci

# Agresti A. (2007) An Introduction to Categorical Data Analysis, 2nd ed., Table 8.1: presidential
# approval in two surveys of the same 1600 people, [[794, 150], [86, 570]].
AGRESTI = [[794, 150], [86, 570]]


def test_mcnemar_agresti_presidential_approval() -> None:
    # Agresti (2007) sec. 8.1.1: z = (86 - 150)/sqrt(86 + 150) = -4.17, z^2 = 17.36 (1 df).
    res = mcnemar(AGRESTI, method="chi2", correction=False)
    assert_printed(res.statistic, "17.36")
    assert_printed(-np.sqrt(res.statistic), "-4.17")
    assert (res.b, res.c, res.df) == (150, 86, 1)
    assert res.p_value < 0.0001


@pytest.mark.parametrize("correction", [True, False])
@pytest.mark.parametrize("table", [AGRESTI, [[10, 5], [2, 7]], [[0, 12], [3, 0]], [[3, 1], [0, 9]]])
def test_mcnemar_agrees_with_statsmodels(table: list[list[int]], correction: bool) -> None:
    ours = mcnemar(table, method="chi2", correction=correction)
    ref = sm_mcnemar(np.array(table), exact=False, correction=correction)
    assert ours.statistic == pytest.approx(ref.statistic, rel=1e-12)
    assert ours.p_value == pytest.approx(ref.pvalue, rel=1e-12)
    ours_exact = mcnemar(table, method="exact")
    ref_exact = sm_mcnemar(np.array(table), exact=True)
    assert ours_exact.statistic == ref_exact.statistic
    assert ours_exact.p_value == pytest.approx(ref_exact.pvalue, rel=1e-12)
    assert ours_exact.df is None


def test_mcnemar_from_paired_booleans_equals_table() -> None:
    a = np.array([1, 1, 0, 0, 1, 0, 1, 1], dtype=bool)
    b = np.array([1, 0, 1, 0, 0, 0, 1, 0], dtype=bool)
    # b = A correct & B wrong = 3, c = A wrong & B correct = 1
    from_arrays = mcnemar(a, b)
    assert (from_arrays.b, from_arrays.c) == (3, 1)
    assert mcnemar((a, b)).p_value == from_arrays.p_value
    assert mcnemar([[2, 3], [1, 2]]).p_value == from_arrays.p_value
    # R mcnemar.test: no continuity correction when b == c, statistic 0.
    assert mcnemar([[5, 4], [4, 5]], method="chi2").statistic == 0.0
    assert mcnemar([[5, 0], [0, 5]], method="chi2").p_value == 1.0
    assert json.loads(json.dumps(from_arrays.to_dict())) == from_arrays.to_dict()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: mcnemar([[1, 2], [3, 4]], method="midp"), "Unknown method"),
        (lambda: mcnemar([[1, -2], [3, 4]]), "non-negative"),
        (lambda: mcnemar([1, 0, 1], [1, 1]), "Length mismatch"),
        (lambda: mcnemar([1, 2, 1], [1, 1, 0]), "boolean"),
        (lambda: mcnemar(np.ones((3, 3))), "2x2"),
    ],
)
def test_mcnemar_rejects_bad_input(call, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError, match=message):
        call()


# Newcombe RG (1998) Stat Med 17:857-872, Table II: 95% intervals, method 3 (Wilson score,
# no continuity correction) and method 5 (Clopper-Pearson exact), for four examples.
NEWCOMBE = [
    (81, 263, ("0.2553", "0.3662"), ("0.2527", "0.3676")),
    (15, 148, ("0.0624", "0.1605"), ("0.0578", "0.1617")),
    (0, 20, ("0.0000", "0.1611"), ("0.0000", "0.1684")),
    (1, 29, ("0.0061", "0.1718"), ("0.0009", "0.1776")),
]


@pytest.mark.parametrize(("x", "n", "wilson", "exact"), NEWCOMBE)
def test_proportion_ci_matches_newcombe_1998(
    x: int, n: int, wilson: tuple[str, str], exact: tuple[str, str]
) -> None:
    for got, printed in zip(proportion_ci(x, n, method="wilson"), wilson, strict=True):
        assert_printed(got, printed)
    for got, printed in zip(proportion_ci(x, n, method="clopper_pearson"), exact, strict=True):
        assert_printed(got, printed)


@pytest.mark.parametrize("level", [0.8, 0.95, 0.99])
@pytest.mark.parametrize(("x", "n"), [(0, 1), (1, 1), (3, 10), (50, 50), (17, 1000)])
def test_proportion_ci_agrees_with_statsmodels(x: int, n: int, level: float) -> None:
    alpha = 1 - level
    ref_w = proportion_confint(x, n, alpha=alpha, method="wilson")
    ref_b = proportion_confint(x, n, alpha=alpha, method="beta")
    np.testing.assert_allclose(proportion_ci(x, n, level=level), ref_w, atol=1e-12)
    np.testing.assert_allclose(proportion_ci(x, n, method="clopper_pearson", level=level), ref_b, atol=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"successes": 5, "n": 3}, "exceed"),
        ({"successes": 1, "n": 0}, "n is 0"),
        ({"successes": 1.5, "n": 3}, "whole number"),
        ({"successes": 1, "n": 3, "method": "agresti"}, "Unknown method"),
        ({"successes": 1, "n": 3, "level": 95}, "between 0 and 1"),
    ],
)
def test_proportion_ci_rejects_bad_input(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        proportion_ci(**kwargs)  # type: ignore[arg-type]


def test_diagnostic_accuracy_counts_and_intervals() -> None:
    res = diagnostic_accuracy(81, 20, 182, 400)
    assert res.sensitivity.value == pytest.approx(81 / 263)
    # sensitivity 81/263 with the Newcombe (1998) Wilson interval 0.2553-0.3662
    assert_printed(res.sensitivity.ci_low, "0.2553")
    assert_printed(res.sensitivity.ci_high, "0.3662")
    assert res.specificity.value == pytest.approx(400 / 420)
    assert res.ppv.value == pytest.approx(81 / 101)
    assert res.npv.value == pytest.approx(400 / 582)
    assert res.accuracy.value == pytest.approx(481 / 683)
    assert res.prevalence.value == pytest.approx(263 / 683)
    assert res.f1.value == pytest.approx(2 * 81 / (2 * 81 + 20 + 182))
    # F1 CI = Wilson interval of the Jaccard index J = TP/(TP+FP+FN) mapped by 2J/(1+J).
    j_low, j_high = proportion_ci(81, 283)
    assert res.f1.ci_low == pytest.approx(2 * j_low / (1 + j_low))
    assert res.f1.ci_high == pytest.approx(2 * j_high / (1 + j_high))
    assert res.f1.ci_low < res.f1.value < res.f1.ci_high
    exact = diagnostic_accuracy(81, 20, 182, 400, ci_method="clopper_pearson")
    assert_printed(exact.sensitivity.ci_low, "0.2527")
    assert_printed(exact.sensitivity.ci_high, "0.3676")


def test_diagnostic_accuracy_from_labels_and_undefined_metrics() -> None:
    y_true = ["pos", "pos", "neg", "neg", "neg"]
    y_pred = ["neg", "neg", "neg", "neg", "neg"]
    res = diagnostic_accuracy.from_labels(y_true, y_pred, positive="pos")
    assert (res.tp, res.fp, res.fn, res.tn) == (0, 0, 2, 3)
    assert np.isnan(res.ppv.value)  # no positive call: PPV undefined
    d = res.to_dict()
    assert d["ppv"]["value"] is None
    assert json.loads(json.dumps(d, allow_nan=False)) == d
    with pytest.raises(ValidationError, match="one class only"):
        diagnostic_accuracy.from_labels([1, 1], [1, 0])
    with pytest.raises(ValidationError, match="nothing to summarise"):
        diagnostic_accuracy(0, 0, 0, 0)
    with pytest.raises(ValidationError, match="Length mismatch"):
        diagnostic_accuracy.from_labels([1, 0, 1], [1, 0])


# dcurves R package, tests/benchmark_data/r_case3_results.csv (MSKCC-Epi-Bio/dcurves): output of
# dca(cancer ~ marker, data = df_binary, as_probability = "marker", harm = list(marker = 0.0333),
#     thresholds = seq(0, 0.35, 0.01)); "marker" rows, column net_benefit, and "all" rows.
DCURVES_MARKER_NB = [
    0.10670000000000002, 0.09801313131313133, 0.08914897959183674, 0.08010206185567012,
    0.07086666666666669, 0.06143684210526317, 0.05180638297872341, 0.04159605734767024,
    0.03249710144927536, 0.029747619047619044, 0.02907037037037038, 0.02530674157303372,
    0.02360909090909092, 0.023496934865900383, 0.02390930232558139, 0.013366666666666673,
    0.011144444444444443, 0.009752208835341357, 0.0016918699186991917, 7.411522633744907e-4,
    -0.004300000000000002, -0.00823670886075949, -0.014291452991452989, -0.014650649350649348,
    -0.014212280701754381, -0.017299999999999996, -0.02018288288288288, -0.020185844748858452,
    -0.019670370370370376, -0.02278356807511737, -0.020347619047619052, -0.02060434782608696,
    -0.020829411764705888, -0.02303134328358209, -0.024491919191919197, -0.02653076923076923,
]  # fmt: skip
DCURVES_TREAT_ALL_NB = [
    0.14, 0.13131313131313133, 0.12244897959183675, 0.11340206185567012, 0.10416666666666669,
    0.09473684210526317, 0.08510638297872342, 0.07526881720430108, 0.06521739130434784,
    0.05494505494505496, 0.04444444444444445, 0.03370786516853934, 0.02272727272727275,
    0.011494252873563232, 0, -0.011764705882352927, -0.023809523809523808, -0.03614457831325302,
    -0.04878048780487801, -0.061728395061728364, -0.07499999999999998, -0.08860759493670883,
    -0.10256410256410253, -0.11688311688311687, -0.13157894736842102, -0.1466666666666666,
    -0.16216216216216217, -0.1780821917808219, -0.19444444444444448, -0.2112676056338028,
    -0.2285714285714286, -0.24637681159420294, -0.2647058823529412, -0.28358208955223885,
    -0.3030303030303031, -0.32307692307692304,
]  # fmt: skip


def test_net_benefit_matches_dcurves() -> None:
    df = dcurves_binary()
    thresholds = np.round(np.arange(36) * 0.01, 2)
    # dcurves' as_probability: the marker is converted by an (unpenalised) logistic regression.
    fit = sm.GLM(df["cancer"], sm.add_constant(df["marker"]), family=sm.families.Binomial()).fit(tol=1e-14)
    res = net_benefit(df["cancer"], fit.fittedvalues, thresholds, harm=0.0333)
    np.testing.assert_allclose(res.model, DCURVES_MARKER_NB, atol=1e-12)
    np.testing.assert_allclose(res.treat_all, DCURVES_TREAT_ALL_NB, atol=1e-12)
    assert res.treat_none == (0.0,) * 36
    assert res.prevalence == pytest.approx(0.14)  # dcurves pos_rate
    assert res.n == 750


def test_net_benefit_definition_on_a_small_example() -> None:
    y = [1, 1, 0, 0, 0]
    risk = [0.9, 0.4, 0.5, 0.1, 0.0]
    res = net_benefit(y, risk, [0.0, 0.3, 0.5])
    # p_t = 0 -> 1e-9: treat risk > 0: TP = 2, FP = 2, NB = 2/5 - 2/5 * 1e-9/(1-1e-9) ~ 0.4 - 0 (odds 0)
    assert res.model[0] == pytest.approx(2 / 5 - 2 / 5 * 0.0)
    # p_t = 0.3: TP = 2, FP = 1 -> 0.4 - 0.2 * 0.3/0.7
    assert res.model[1] == pytest.approx(0.4 - 0.2 * 0.3 / 0.7)
    # p_t = 0.5 (risk >= 0.5): TP = 1, FP = 1 -> 0.2 - 0.2 * 1
    assert res.model[2] == pytest.approx(0.0)
    assert res.treat_all[2] == pytest.approx(0.4 - 0.6)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (([1, 0], [0.2, 1.5], [0.1]), r"\[0, 1\]"),
        (([1, 0], [0.2, 0.5], [1.0]), "p_t = 1"),
        (([1, 0, 1], [0.2, 0.5], [0.1]), "Length mismatch"),
        (([1, 1], [0.2, 0.5], [0.1]), "one class"),
        (([1, 0], [0.2, np.nan], [0.1]), "missing"),
    ],
)
def test_net_benefit_rejects_bad_input(args: tuple[object, ...], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        net_benefit(*args)  # type: ignore[arg-type]
