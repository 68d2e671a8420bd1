"""Study planning (OR power, Hillis, Obuchowski & Berbaum 2011) against RJafroc's published output.

Source of every expected number: Chakraborty DP, RJafroc vignette "ROC-DBMH sample size using
RJafroc" (dpc10ster/RJafroc, Ch11 sample-size vignette), Van Dyke data (``dataset02``), Wilcoxon
AUC, effect size = the observed RRRC difference (the RJafroc default), alpha 0.05:

* ``SsPowerGivenJK(dataset02, J = 6, K = 112, option = "RRRC")``: power 0.5555789, ncp 4.8,
  ddfH 23.1, F 4.28;
* ``SsSampleSizeKGivenJ(J = 10)``: RRRC K = 163 (power 0.8015625); 90 % power: K = 236
  (0.9003501); FRRC K = 133 (0.8011167); RRFC K = 53 (0.8049666);
* ``SsPowerTable``: J = 3 needs > 2000 cases; J = 4, 5, 6, 10, 20, 37, 100 need 1089, 344, 251,
  163, 126, 112, 103 cases.

RJafroc computes these with DBM (normalised pseudovalues); with jackknife covariances the OR
formulas give the same numbers (Hillis et al. 2005, 2011), which is what these tests check.
"""

from __future__ import annotations

import numpy as np
import pytest
from stats_datasets import assert_printed, vandyke

from readerstudy.core.errors import ValidationError
from readerstudy.stats import ORComponents, cases_for_power, mrmc_power, or_components, power_table
from readerstudy.stats.power import MIN_CASES

PILOT = or_components(vandyke())


def test_pilot_components_are_the_or_jackknife_ones() -> None:
    # [Iowa] OR-DBM MRMC 2.51 on Van Dyke (see test_stats_mrmc.py)
    assert_printed(PILOT.var_TR, "0.00020040")
    assert_printed(PILOT.var_error, "0.00080229")
    assert_printed(PILOT.cov1, "0.00034661")
    assert PILOT.n_cases == 114 and PILOT.n_readers == 5
    assert_printed(PILOT.effect, "-0.04380032")


def test_power_given_readers_and_cases_matches_rjafroc() -> None:
    res = mrmc_power(PILOT.effect, 6, 112, PILOT)
    assert_printed(res.power, "0.5555789")
    assert_printed(res.ncp, "4.8")
    assert_printed(res.ddf, "23.1")
    assert_printed(res.f_crit, "4.28")
    assert res.df1 == 1.0


@pytest.mark.parametrize(
    ("analysis", "target", "cases", "power"),
    [("RRRC", 0.8, 163, "0.8015625"), ("RRRC", 0.9, 236, "0.9003501"),
     ("FRRC", 0.8, 133, "0.8011167"), ("RRFC", 0.8, 53, "0.8049666")],
)  # fmt: skip
def test_cases_for_power_matches_rjafroc(analysis: str, target: float, cases: int, power: str) -> None:
    res = cases_for_power(PILOT.effect, 10, PILOT, target=target, analysis=analysis)
    assert res.cases == cases
    assert_printed(res.power, power)
    below = mrmc_power(PILOT.effect, 10, cases - 1, PILOT, analysis=analysis).power
    assert below < target  # the smallest such number of cases


@pytest.mark.parametrize(("readers", "cases"), [(4, 1089), (5, 344), (6, 251), (10, 163), (20, 126),
                                                (37, 112), (100, 103)])
def test_power_table_rows_match_rjafroc(readers: int, cases: int) -> None:
    assert cases_for_power(PILOT.effect, readers, PILOT).cases == cases


def test_too_few_readers_never_reach_power() -> None:
    res = cases_for_power(PILOT.effect, 3, PILOT, max_cases=2000)  # RJafroc: "> 2000"
    assert res.cases is None and res.power is None


def test_power_table_grid_is_monotone_and_consistent() -> None:
    grid = power_table(0.05, [3, 5, 10], [50, 100, 200, 400], PILOT)
    assert grid["readers"] == [3, 5, 10] and grid["cases"] == [50, 100, 200, 400]
    for i, row in enumerate(grid["power"]):
        assert row == sorted(row)  # more cases, more power
        assert row[1] == mrmc_power(0.05, grid["readers"][i], 100, PILOT).power
    assert [r[2] for r in grid["power"]] == sorted(r[2] for r in grid["power"])  # more readers too


def test_entered_components_and_bad_input() -> None:
    entered = ORComponents(var_TR=PILOT.var_TR, var_error=PILOT.var_error, cov1=PILOT.cov1, cov2=PILOT.cov2,
                           cov3=PILOT.cov3, n_cases=114)
    assert mrmc_power(PILOT.effect, 6, 112, entered).power == pytest.approx(0.5555789, abs=5e-8)
    assert mrmc_power(0.0, 6, 112, entered).power == pytest.approx(0.05)  # no effect: power = alpha
    with pytest.raises(ValidationError, match="var_error"):
        ORComponents(var_TR=0.0, var_error=0.0, cov1=0.0, cov2=0.0, cov3=0.0, n_cases=50)
    with pytest.raises(ValidationError, match="readers"):
        mrmc_power(0.05, 1, 100, entered)
    with pytest.raises(ValidationError, match="cases"):
        mrmc_power(0.05, 5, 1, entered)
    with pytest.raises(ValidationError, match="analysis"):
        mrmc_power(0.05, 5, 100, entered, analysis="XYZ")
    with pytest.raises(ValidationError, match="two tests"):
        vd = vandyke()
        first = vd["test"] == 1
        three = {k: np.r_[v, v[first]] for k, v in vd.items()}
        three["test"][len(vd["test"]):] = 3  # a third test: a copy of test 1
        or_components(three)


def _entered(**kw: float) -> ORComponents:
    base = {"var_TR": PILOT.var_TR, "var_error": PILOT.var_error, "cov1": PILOT.cov1, "cov2": PILOT.cov2,
            "cov3": PILOT.cov3, "n_cases": 114}
    return ORComponents(**{**base, **kw})  # type: ignore[arg-type]


@pytest.mark.parametrize("effect", [1.5, 1.0, -1.0, float("nan"), float("inf")])
def test_an_effect_no_auc_difference_can_have_is_refused(effect: float) -> None:
    # two AUCs in [0, 1] differ by less than 1: 1.5 used to give "power 1.000 with 2 cases"
    with pytest.raises(ValidationError, match=r"\|effect\| < 1"):
        mrmc_power(effect, 6, 100, PILOT)
    with pytest.raises(ValidationError, match=r"\|effect\| < 1"):
        cases_for_power(effect, 6, PILOT)


def test_the_sign_of_the_effect_does_not_change_the_two_sided_power() -> None:
    assert mrmc_power(-0.05, 6, 100, PILOT).power == mrmc_power(0.05, 6, 100, PILOT).power


def test_too_few_planned_or_pilot_cases_are_refused() -> None:
    assert MIN_CASES == 10
    with pytest.raises(ValidationError, match=">= 10"):
        mrmc_power(0.05, 6, 9, PILOT)
    assert mrmc_power(0.05, 6, 10, PILOT).cases == 10
    # a large effect reaches the target at once: the search starts at MIN_CASES, not at 2
    assert cases_for_power(0.9, 6, PILOT).cases == MIN_CASES
    with pytest.raises(ValidationError, match="at least 10 cases"):
        _entered(n_cases=9)


@pytest.mark.parametrize(("field", "value", "match"), [
    ("var_TR", float("nan"), "var_TR must be a finite"), ("cov2", float("inf"), "cov2 must be a finite"),
    ("var_R", float("nan"), "var_R must be a finite"), ("aucs", (0.9, 1.2), r"AUC must lie in \[0, 1\]"),
    ("aucs", (float("nan"), 0.8), r"AUC must lie in \[0, 1\]"), ("effect", 1.2, r"difference must lie in \[-1, 1\]"),
])  # fmt: skip
def test_impossible_components_are_refused(field: str, value: object, match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        _entered(**{field: value})  # type: ignore[arg-type]


def test_negative_var_tr_and_cov2_minus_cov3_are_set_to_zero_and_listed() -> None:
    # Hillis, Obuchowski & Berbaum (2011) (and RJafroc) replace them by 0 in the power formulas
    neg = _entered(var_TR=-0.00018, cov2=0.0001, cov3=0.0002)
    assert neg.truncated() == {"var_TR": -0.00018, "cov2 - cov3": pytest.approx(-0.0001)}
    zero = _entered(var_TR=0.0, cov2=0.0002, cov3=0.0002)
    for analysis in ("RRRC", "FRRC", "RRFC"):
        assert mrmc_power(0.05, 6, 100, neg, analysis=analysis).power == pytest.approx(
            mrmc_power(0.05, 6, 100, zero, analysis=analysis).power, rel=1e-12)
    assert PILOT.truncated() == {}


def test_or_components_in_the_order_asked() -> None:
    # [Iowa] OR-DBM MRMC 2.51 on Van Dyke: AUC 0.89703704 (modality 1), 0.94083736 (modality 2)
    assert PILOT.tests == (1, 2)
    assert_printed(PILOT.aucs[0], "0.89703704")
    assert_printed(PILOT.aucs[1], "0.94083736")
    rev = or_components(vandyke(), tests=(2, 1))
    assert rev.tests == (2, 1) and rev.aucs == PILOT.aucs[::-1] and rev.effect == -PILOT.effect
    assert (rev.var_TR, rev.var_error, rev.cov1, rev.cov2, rev.cov3) == (
        PILOT.var_TR, PILOT.var_error, PILOT.cov1, PILOT.cov2, PILOT.cov3)
    with pytest.raises(ValidationError, match="not the pilot's two tests"):
        or_components(vandyke(), tests=(1, 3))
