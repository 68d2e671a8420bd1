"""AUC with DeLong CI and DeLong tests against pROC (aSAH data) and sklearn."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score
from stats_datasets import asah, assert_printed

from readerstudy.core.errors import ValidationError
from readerstudy.stats import auc_delong, delong_test, hanley_mcneil_se

ASAH = asah()
Y = ASAH["outcome"]


def test_auc_delong_s100b_matches_proc() -> None:
    # pROC documentation / Robin et al. (2011): roc(aSAH$outcome, aSAH$s100b)
    # "Area under the curve: 0.7314", ci.auc: "95% CI: 0.6301-0.8326 (DeLong)".
    res = auc_delong(Y, ASAH["s100b"], positive="Poor")
    assert_printed(res.auc, "0.7314")
    assert_printed(res.ci_low, "0.6301")
    assert_printed(res.ci_high, "0.8326")
    assert (res.n_positive, res.n_negative) == (41, 72)


def test_auc_delong_ndka_matches_proc_test_suite() -> None:
    # pROC tests/testthat/test-ci.auc.R: expected.ci.auc for ci.auc(r.ndka) =
    # c(0.501244999271703, 0.611957994579946, 0.722670989888189)
    res = auc_delong(Y, ASAH["ndka"], positive="Poor")
    assert_printed(res.ci_low, "0.501244999271703")
    assert_printed(res.auc, "0.611957994579946")
    assert_printed(res.ci_high, "0.722670989888189")


# pROC tests/testthat/test-roc.test.R ("roc.test statistic and p are as expected with defaults"):
# t1 = roc.test(r.wfns, r.s100b), t2 = roc.test(r.wfns, r.ndka), t3 = roc.test(r.ndka, r.s100b).
PAIRED = [
    ("wfns", "s100b", "2.20898359144091", "0.0271757822291882", "0.0104061769564846", "0.174214419249478"),
    ("wfns", "ndka", "2.79777591868904", "0.00514557970691098", "0.0634011709339876", "0.3600405634833566"),
    ("ndka", "s100b", "-1.39077002573558", "0.164295175223054", "-0.2876917446341914", "0.0488706064228094"),
]


@pytest.mark.parametrize(("m1", "m2", "z", "p", "lo", "hi"), PAIRED)
def test_paired_delong_matches_proc(m1: str, m2: str, z: str, p: str, lo: str, hi: str) -> None:
    res = delong_test(Y, ASAH[m1], ASAH[m2], positive="Poor")
    assert_printed(res.z, z)
    assert_printed(res.p_value, p)
    assert_printed(res.ci_low, lo)
    assert_printed(res.ci_high, hi)
    assert res.statistic_name == "Z" and res.df is None
    assert res.difference == pytest.approx(res.auc1 - res.auc2)
    # reversing the curves flips the statistic and keeps p (pROC "identical p values when reversed")
    rev = delong_test(Y, ASAH[m2], ASAH[m1], positive="Poor")
    assert rev.z == pytest.approx(-res.z) and rev.p_value == pytest.approx(res.p_value)


def test_paired_delong_one_sided_matches_proc() -> None:
    # pROC test-roc.test.R: roc.test(r.wfns, r.s100b, alternative = "greater"/"less")
    assert_printed(delong_test(Y, ASAH["wfns"], ASAH["s100b"], positive="Poor", alternative="greater").p_value,
                   "0.0135878911145941")  # fmt: skip
    assert_printed(delong_test(Y, ASAH["wfns"], ASAH["s100b"], positive="Poor", alternative="less").p_value,
                   "0.986412108885406")  # fmt: skip


# pROC test-roc.test.R ("unpaired roc.test statistic and p are as expected"): paired = FALSE
UNPAIRED = [
    ("wfns", "s100b", "1.43490640926908", "0.152825378808796"),
    ("wfns", "ndka", "3.10125096778969", "0.00220950791756457"),
    ("ndka", "s100b", "-1.55995743389685", "0.120192832430845"),
]


@pytest.mark.parametrize(("m1", "m2", "d", "p"), UNPAIRED)
def test_unpaired_delong_matches_proc(m1: str, m2: str, d: str, p: str) -> None:
    res = delong_test(Y, ASAH[m1], ASAH[m2], positive="Poor", paired=False)
    assert_printed(res.z, d)
    assert_printed(res.p_value, p)
    assert res.statistic_name == "D" and res.df is not None and res.covariance == 0.0


def test_unpaired_delong_one_sided_and_separate_samples() -> None:
    # pROC test-roc.test.R: roc.test(r.wfns, r.s100b, alternative = "greater", paired = FALSE)
    res = delong_test(Y, ASAH["wfns"], ASAH["s100b"], positive="Poor", paired=False, alternative="greater")
    assert_printed(res.p_value, "0.076412689404398")
    # Two genuinely different samples: y_true2 labels the second one.
    half = len(Y) // 2
    two = delong_test(
        Y[:half], ASAH["s100b"][:half], ASAH["ndka"][half:], y_true2=Y[half:], positive="Poor", paired=False
    )
    assert two.auc1 == pytest.approx(auc_delong(Y[:half], ASAH["s100b"][:half], positive="Poor").auc)
    assert two.auc2 == pytest.approx(auc_delong(Y[half:], ASAH["ndka"][half:], positive="Poor").auc)


def test_auc_agrees_with_sklearn_with_ties() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 5000)
    s = np.round(rng.normal(size=5000) + y, 1)  # many ties
    assert auc_delong(y, s).auc == pytest.approx(roc_auc_score(y, s), abs=1e-13)


def test_auc_to_dict_and_levels() -> None:
    res = auc_delong(Y, ASAH["s100b"], positive="Poor", level=0.9)
    wide = auc_delong(Y, ASAH["s100b"], positive="Poor", level=0.99)
    assert wide.ci_low < res.ci_low < res.auc < res.ci_high < wide.ci_high
    assert json.loads(json.dumps(res.to_dict(), allow_nan=False)) == res.to_dict()
    perfect = auc_delong([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])
    assert perfect.auc == 1.0 and perfect.ci_high == 1.0  # CI truncated to [0, 1]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: auc_delong([0, 1, 1], [0.1, 0.2]), "Length mismatch"),
        (lambda: auc_delong([1, 1, 1, 1], [0.1, 0.2, 0.3, 0.4]), "one class"),
        (lambda: auc_delong([0, 1, 0, 1], [0.1, np.nan, 0.3, 0.4]), "missing"),
        (lambda: auc_delong([0, 1, 2, 1], [0.1, 0.2, 0.3, 0.4]), "two classes"),
        (lambda: auc_delong([0, 1, 0], [0.1, 0.2, 0.3]), "at least two positive"),
        (lambda: auc_delong(["a", "b", "a", "b"], [1, 2, 3, 4]), "positive=1"),
        (lambda: auc_delong([0, 1, 0, 1], [1, 2, 3, 4], level=1.5), "between 0 and 1"),
        (lambda: delong_test([0, 1, 0, 1], [1, 2, 3, 4], [1, 2, 3]), "Length mismatch"),
        (
            lambda: delong_test([0, 1, 0, 1], [1, 2, 3, 4], [1, 2, 3, 4], alternative="up"),
            "Unknown alternative",
        ),
        (lambda: delong_test([0, 1, 0, 1], [1, 2, 3, 4], [1, 2, 3, 4], y_true2=[0, 1, 0, 1]), "unpaired"),
    ],
)
def test_roc_rejects_bad_input(call, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError, match=message):
        call()


def test_hanley_mcneil_se_matches_their_1982_ct_example() -> None:
    # Hanley & McNeil (1982), Radiology 143:29-36, Table 1: 109 CT images rated 1-5;
    # 58 normal (33, 6, 6, 11, 2) and 51 abnormal (3, 2, 2, 11, 33): area 0.893, SE 0.032.
    neg = np.repeat([1, 2, 3, 4, 5], [33, 6, 6, 11, 2])
    pos = np.repeat([1, 2, 3, 4, 5], [3, 2, 2, 11, 33])
    res = auc_delong(np.r_[np.zeros(58), np.ones(51)], np.r_[neg, pos])
    assert_printed(res.auc, "0.893")
    assert_printed(res.se_hanley_mcneil, "0.032")
    assert res.se_hanley_mcneil == hanley_mcneil_se(res.auc, 51, 58)
    assert res.se != res.se_hanley_mcneil  # DeLong's SE is reported beside it, not replaced
    for bad in ((1.2, 5, 5), (0.8, 0, 5)):
        with pytest.raises(ValidationError):
            hanley_mcneil_se(*bad)


def test_unpaired_delong_df_reproduces_proc_printed_p_values() -> None:
    # pROC reports D with Welch-type df; the df that turns each printed D into its printed p
    # (2 P(T_df > |D|)) must be the df we compute.
    from scipy import optimize
    from scipy import stats as sps

    for m1, m2, d, p in UNPAIRED:
        res = delong_test(Y, ASAH[m1], ASAH[m2], positive="Poor", paired=False)
        implied = optimize.brentq(lambda df, d=float(d), p=float(p): 2 * sps.t.sf(abs(d), df) - p, 2, 1e4)
        assert res.df == pytest.approx(implied, rel=1e-6)
