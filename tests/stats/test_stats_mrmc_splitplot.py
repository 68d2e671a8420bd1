"""Not fully crossed MRMC designs: split-plot (reader groups, each reading its own cases in both
tests) and readers nested within tests (each reader reads one test).

Source of the expected numbers: [MRMCaov] ``summary(mrmc(empirical_auc(truth, score), test,
reader, case, data = d, cov = ...))`` of MRMCaov 0.3.0 (Smith & Hillis; brian-j-smith/MRMCaov at
commit d79e49b, R 4.2.2), run on the split-plot subset of the Van Dyke data built by
:func:`vandyke_split_plot` (readers 1-2 read the odd-numbered cases, readers 3-5 the even ones,
in both modalities; 570 rows). MRMCaov prints this design as "factorial (partially paired)"
and analyses it with the same OR formulas. No published split-plot analysis with its data was
found, so these values were computed by that reference implementation, not taken from a paper;
the simulation below checks the variance and the type I error of the split-plot analysis.
"""

from __future__ import annotations

import numpy as np
import pytest
from stats_datasets import assert_printed, vandyke

from readerstudy.core.errors import ValidationError
from readerstudy.stats import mrmc_dbm, mrmc_or
from readerstudy.stats.power import or_components

SPLIT = "split-plot (cases nested within reader groups)"


def vandyke_split_plot() -> dict[str, np.ndarray]:
    vd = vandyke()
    keep = np.where(vd["reader"] <= 2, vd["case"] % 2 == 1, vd["case"] % 2 == 0)
    return {k: v[keep] for k, v in vd.items()}


SP = vandyke_split_plot()


def _check(result: dict[str, object], expected: dict[str, str]) -> None:
    for key, printed in expected.items():
        value = result[key]
        assert isinstance(value, float), key
        assert_printed(value, printed)


def test_split_plot_design_and_groups() -> None:
    res = mrmc_or(SP)
    assert len(SP["score"]) == 570
    assert res.design == SPLIT
    assert res.groups == (
        {"readers": [1, 2], "n_cases": 57, "n_positive": 22, "n_negative": 35},
        {"readers": [3, 4, 5], "n_cases": 57, "n_positive": 23, "n_negative": 34},
    )
    assert mrmc_or(vandyke()).groups is None


def test_split_plot_jackknife_rrrc_matches_mrmcaov() -> None:
    d = mrmc_or(SP).to_dict()
    # [MRMCaov] OR variance components, global test and pairwise difference (jackknife)
    _check(d, {"var_R": "0.0022587162771", "var_TR": "0.0004288533862", "var_error": "0.0016358261067",
               "cov1": "0.0006244562970", "cov2": "0.0002206700641", "cov3": "0.0001560297748",
               "MS_T": "0.006310013173", "MS_TR": "0.001375582906", "error_term_MS": "0.001698784353",
               "F": "3.714428592", "df2": "6.100465213", "p_value": "0.1014309953",
               "difference": "-0.05023947919", "se": "0.02606748437", "ci_low": "-0.1137705501",
               "ci_high": "0.0132915917"})  # fmt: skip
    # [MRMCaov] single-test CIs, each from that test's data
    _check(d["single"]["1"], {"auc": "0.8916371608", "MS_R": "0.006711615371", "cov2": "0.0003187275837",
                              "se": "0.04075598923", "df": "6.125078162", "ci_low": "0.7924024212",
                              "ci_high": "0.9908719004"})  # fmt: skip
    _check(d["single"]["2"], {"cov2": "0.0001226125446", "se": "0.02052753645", "df": "7.956855325"})


def test_split_plot_fixed_readers_and_fixed_cases_match_mrmcaov() -> None:
    fr = mrmc_or(SP, analysis="FRRC").to_dict()
    # [MRMCaov] Fixed Readers and Random Cases
    _check(fr, {"error_term_MS": "0.001269930967", "X2": "4.968784396", "p_value": "0.02580878011",
                "se": "0.02253824276", "ci_low": "-0.094413623283", "ci_high": "-0.006065335099"})  # fmt: skip
    _check(fr["single"]["1"], {"var_error": "0.002098384915", "se": "0.02597419970"})
    _check(fr["single"]["2"], {"var_error": "0.001173267299", "se": "0.01824125805"})
    assert fr["reader"] is not None
    for got, printed in zip(fr["reader"]["se"], ["0.03372692328", "0.02196614017", "0.04620270717",
                                                  "0.02413242577", "0.07600406111"], strict=True):
        assert_printed(got, printed)
    rf = mrmc_or(SP, analysis="RRFC").to_dict()
    # [MRMCaov] Random Readers and Fixed Cases
    _check(rf, {"F": "4.587155848", "p_value": "0.09889160353", "se": "0.02345704932"})
    _check(rf["single"]["2"], {"se": "0.01728488381"})


def test_split_plot_unbiased_covariance_matches_mrmcaov() -> None:
    d = mrmc_or(SP, cov="unbiased").to_dict()
    # [MRMCaov] cov = unbiased
    _check(d, {"var_error": "0.0015661055441", "cov1": "0.0006012678610", "cov2": "0.0002122022383",
               "cov3": "0.0001504259881", "F": "3.746006197", "df2": "5.99804886",
               "p_value": "0.1010918235", "se": "0.02595738167"})  # fmt: skip
    _check(d["single"]["2"], {"se": "0.02039607151", "df": "7.754972069"})
    # DeLong covariances apply too: the readers of a group share one case set
    dl = mrmc_or(SP, cov="delong")
    assert dl.design == SPLIT and 0.0 < dl.p_value < 1.0


def test_split_plot_cross_group_covariances_are_zero() -> None:
    """Readers of different groups share no case: their AUCs are independent, whatever the method.
    The averaged cov2 is then the within-group covariance times (number of within-group pairs) /
    (number of all pairs); checked against the covariances of each group analysed alone. The
    jackknife runs over all K = 114 cases, as MRMCaov's does, so its factor (K - 1)/K differs from
    the (K_g - 1)/K_g of one group's 57 cases alone."""
    full = mrmc_or(SP)
    g1 = mrmc_or({k: v[SP["reader"] <= 2] for k, v in SP.items()})
    g2 = mrmc_or({k: v[SP["reader"] >= 3] for k, v in SP.items()})
    assert g1.design == g2.design == "factorial"
    scale = (113 / 114) / (56 / 57)
    # within-group ordered pairs: 2*1 + 3*2 = 8 of 5*4 = 20
    assert full.cov2 == pytest.approx(scale * (2 * g1.cov2 + 6 * g2.cov2) / 20, rel=1e-12)
    assert full.cov3 == pytest.approx(scale * (2 * g1.cov3 + 6 * g2.cov3) / 20, rel=1e-12)
    delong = mrmc_or(SP, cov="delong")  # no such factor: exactly the pooled group covariances
    d1 = mrmc_or({k: v[SP["reader"] <= 2] for k, v in SP.items()}, cov="delong")
    d2 = mrmc_or({k: v[SP["reader"] >= 3] for k, v in SP.items()}, cov="delong")
    assert delong.cov2 == pytest.approx((2 * d1.cov2 + 6 * d2.cov2) / 20, rel=1e-12)
    # a reader's AUCs are those of its group analysed alone
    assert full.reader_auc[1][:2] == g1.reader_auc[1]
    assert full.reader_auc[2][2:] == g2.reader_auc[2]


def test_designs_that_are_not_split_plot() -> None:
    vd = vandyke()
    # one group reads other cases in the second modality: partially paired, not split-plot
    odd = vd["case"] % 2 == 1
    keep = np.where(vd["reader"] <= 2, np.where(vd["test"] == 1, odd, vd["case"] % 4 != 0), ~odd)
    res = mrmc_or({k: v[keep] for k, v in vd.items()})
    assert res.design == "partially paired" and res.groups is None
    # every reader in a group of one: cases nested within readers (MRMCaov case2)
    nested = dict(vd, case=vd["reader"] * 1000 + vd["case"])
    assert mrmc_or(nested).design == "cases nested within readers"
    with pytest.raises(ValidationError, match="split-plot"):
        mrmc_dbm(SP)


def _simulate(rng: np.random.Generator, groups: int = 3, per_group: int = 2, cases: int = 40) -> dict[str, np.ndarray]:
    """Split-plot data under H0 (equal tests): Roe-Metz-like case, case x test, reader, reader x
    test and error effects on a latent score, ``d = 1`` between the classes."""
    cols: dict[str, list[np.ndarray]] = {k: [] for k in ("reader", "test", "case", "truth", "score")}
    truth = np.repeat([0, 1], cases // 2)
    for g in range(groups):
        case_eff, case_test = rng.normal(size=cases), rng.normal(scale=0.5, size=(2, cases))
        for j in range(per_group):
            reader_eff = rng.normal(scale=0.3)
            for t in range(2):
                score = truth + case_eff + case_test[t] + reader_eff + rng.normal(scale=0.4)
                cols["score"].append(score + rng.normal(scale=0.7, size=cases))
                cols["reader"].append(np.full(cases, g * per_group + j))
                cols["test"].append(np.full(cases, t))
                cols["case"].append(g * 1000 + np.arange(cases))
                cols["truth"].append(truth)
    return {k: np.concatenate(v) for k, v in cols.items()}


def test_split_plot_variance_and_type_one_error_by_simulation() -> None:
    """300 simulated split-plot studies (3 groups x 2 readers, 40 cases per group) under H0: the
    mean estimated variance of the AUC difference matches its Monte Carlo variance (1500 runs
    gave 0.001418 vs 0.001412), and the 5 % test rejects near 5 % (6.3 % in 1500 runs; OR is
    slightly liberal with 6 readers, as it is for the factorial design of the same size)."""
    rng = np.random.default_rng(1)
    diffs, var_hat, reject = [], [], 0
    for _ in range(300):
        res = mrmc_or(_simulate(rng))
        assert res.design == SPLIT
        assert res.difference is not None and res.se is not None
        diffs.append(res.difference)
        var_hat.append(res.se**2)
        reject += res.p_value < 0.05
    ratio = float(np.mean(var_hat) / np.var(diffs, ddof=1))
    assert 0.8 < ratio < 1.25, ratio
    assert 0.015 <= reject / 300 <= 0.10, reject


# Readers nested within tests (MRMCaov design 4): each reader reads one test only. Van Dyke with
# the readers of modality 2 renamed (11-15), so that ten readers each read one modality; and the
# same without reader 15 (5 + 4 readers). [MRMCaov] as above, design printed as "reader nested
# within test".
def _readers_nested(drop_last: bool = False) -> dict[str, np.ndarray]:
    vd = vandyke()
    keep = ~((vd["test"] == 2) & (vd["reader"] == 5)) if drop_last else np.ones(len(vd["score"]), bool)
    out = {k: v[keep].copy() for k, v in vd.items()}
    out["reader"] = np.where(out["test"] == 2, out["reader"] + 10, out["reader"])
    return out


@pytest.mark.parametrize(
    ("drop_last", "expected", "single2"),
    [
        (False, {"var_error": "0.0008022882656", "cov2": "0.0003440748289", "cov3": "0.0002605454386",
                 "MS_T": "0.004796170532", "MS_R": "0.002193615305"},
         {"se": "0.02156636837", "df": "12.71018964", "cov2": "0.0002041878550"}),
        (True, {"var_error": "0.0008151468766", "cov2": "0.0003855874230", "cov3": "0.0002829016551",
                "MS_T": "0.004809493804", "MS_R": "0.002485828604"},
         {"se": "0.02538018758", "df": "6.972655603", "cov2": "0.0002216301235"}),
    ],
)  # fmt: skip
def test_readers_nested_within_tests_components_match_mrmcaov(
    drop_last: bool, expected: dict[str, str], single2: dict[str, str]
) -> None:
    res = mrmc_or(_readers_nested(drop_last))
    d = res.to_dict()
    assert d["design"] == "readers nested within tests" and d["cov1"] == 0.0
    _check(d, expected)  # MS_R is MRMCaov's MS[R(T)]
    _check(d["single"]["1"], {"se": "0.03317359696", "df": "12.74464760", "cov2": "0.0004839618027"})
    _check(d["single"]["2"], single2)
    assert len(res.reader_auc[2]) == (4 if drop_last else 5)


def test_readers_nested_error_term_uses_the_positive_multiplier() -> None:
    """E = MS[R(T)] + n* (Cov2 - Cov3), n* = (J - sum J_t^2 / J)/(T - 1): for 5 + 5 readers n* = 5,
    the readers per test, as R in the crossed OR error term, so that (1/J_1 + 1/J_2) E estimates
    Var(mean_1 - mean_2) = (1/J_1 + 1/J_2)(var_R + var_error - Cov2) + 2 (Cov2 - Cov3).
    MRMCaov 0.3.0 (summary.R, .summary_nested.mrmc_rrrc) computes n* as
    (J - sum J_t^2) / (J (T - 1)) = -4 here and prints E = 0.001859497744, F = 2.579282791; the
    simulation below supports the positive multiplier, so this test does not follow MRMCaov there."""
    res = mrmc_or(_readers_nested())
    n_star = (10 - (25 + 25) / 10) / 1
    assert res.error_term_MS == pytest.approx(res.MS_R + n_star * (res.cov2 - res.cov3), rel=1e-12)
    assert res.se == pytest.approx(np.sqrt((1 / 5 + 1 / 5) * res.error_term_MS), rel=1e-12)
    assert res.F == pytest.approx(res.MS_T / res.error_term_MS, rel=1e-12)
    with pytest.raises(ValidationError, match="analysis='RRRC'"):
        mrmc_or(_readers_nested(), analysis="FRRC")
    with pytest.raises(ValidationError, match="cov='jackknife'"):
        mrmc_or(_readers_nested(), cov="delong")


def test_readers_nested_variance_by_simulation() -> None:
    """300 studies, 5 readers per test, 60 cases read in both tests with case and case x test
    effects (Cov2 > Cov3 > 0): the mean estimated Var(difference) is near its Monte Carlo value
    (600 runs: 0.00290 vs 0.00316); on Van Dyke MRMCaov's multiplier gives an error term 29 % lower."""
    rng = np.random.default_rng(4)
    diffs, var_hat = [], []
    truth = np.repeat([0, 1], 30)
    for _ in range(300):
        cols: dict[str, list[np.ndarray]] = {k: [] for k in ("reader", "test", "case", "truth", "score")}
        case_eff, case_test = rng.normal(size=60), rng.normal(scale=0.7, size=(2, 60))
        for r in range(10):
            t = r // 5
            cols["score"].append(truth + case_eff + case_test[t] + rng.normal(scale=0.3)
                                 + rng.normal(scale=0.7, size=60))
            cols["reader"].append(np.full(60, r))
            cols["test"].append(np.full(60, t))
            cols["case"].append(np.arange(60))
            cols["truth"].append(truth)
        res = mrmc_or({k: np.concatenate(v) for k, v in cols.items()})
        assert res.difference is not None and res.se is not None
        diffs.append(res.difference)
        var_hat.append(res.se**2)
    ratio = float(np.mean(var_hat) / np.var(diffs, ddof=1))
    assert 0.75 < ratio < 1.3, ratio


def test_planning_refuses_pilots_that_are_not_crossed() -> None:
    """Planning sizes a fully crossed study: a split-plot pilot's averaged Cov2/Cov3 (diluted by the
    reader pairs of different groups) or a nested pilot's missing Cov1 would mis-size it."""
    for pilot in (SP, _readers_nested()):
        with pytest.raises(ValidationError, match="fully crossed"):
            or_components(pilot)
    assert or_components(vandyke()).n_readers == 5
