"""Obuchowski-Rockette and DBM MRMC analyses of the Van Dyke data against published output.

Sources of the expected numbers:

* [MRMCaov] Smith BJ, Hillis SL. MRMCaov JSS manuscript, docs/jss/MRMCaov.tex in
  brian-j-smith/MRMCaov: ``summary(mrmc(empirical_auc(truth, rating), treatment, reader, case,
  data = VanDyke, cov = ...))`` for DeLong, unbiased, fixed readers, fixed cases and the nested
  designs (case2, case3).
* [Iowa] OR-DBM MRMC 2.51 (Schartz, Hillis, Pesce, Berbaum), "VanDyke trap area jackknife anova",
  RJafroc inst/IowaResults/VanDyke.txt: jackknife OR analyses 1-3 and the DBM components.
* [JAFROC] JAFROC 4.2.1 DBM output, RJafroc inst/JAFROC/VanDykeROC.txt. JAFROC works in single
  precision (its reader AUCs differ from the exact ones in the 8th digit), so its pseudovalue
  mean squares are compared at 1e-6; the Iowa DBM components agree to every printed digit.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from stats_datasets import assert_printed, vandyke

from readerstudy.core.errors import ValidationError
from readerstudy.stats import mrmc_dbm, mrmc_or

VD = vandyke()


def _check(result: dict[str, object], expected: dict[str, str]) -> None:
    for key, printed in expected.items():
        value = result[key]
        assert isinstance(value, float), key
        assert_printed(value, printed)


def test_or_jackknife_rrrc_matches_iowa() -> None:
    res = mrmc_or(VD)  # jackknife, RRRC by default
    d = res.to_dict()
    # [Iowa] TREATMENT x READER AUC ESTIMATES
    for got, printed in zip(
        d["reader_auc"]["1"],
        ["0.91964573", "0.85877617", "0.90386473", "0.97310789", "0.82979066"],
        strict=True,
    ):
        assert_printed(got, printed)
    for got, printed in zip(
        d["reader_auc"]["2"],
        ["0.94782609", "0.90531401", "0.92173913", "0.99935588", "0.92995169"],
        strict=True,
    ):
        assert_printed(got, printed)
    assert_printed(d["test_auc"]["1"], "0.89703704")
    assert_printed(d["test_auc"]["2"], "0.94083736")
    # [Iowa] ANOVA of AUCs, OR components, Analysis 1 (a)-(b)
    _check(d, {
        "MS_T": "0.00479617", "MS_R": "0.00383620", "MS_TR": "0.00055103",
        "var_R": "0.00153500", "var_TR": "0.00020040", "cov1": "0.00034661", "cov2": "0.00034407",
        "cov3": "0.00023903", "var_error": "0.00080229", "corr1": "0.43203138", "corr2": "0.42886683",
        "corr3": "0.29793328", "error_term_MS": "0.00107626", "F": "4.46", "df2": "15.26", "p_value": "0.0517",
        "difference": "-0.04380032", "se": "0.02075", "ci_low": "-0.08796", "ci_high": "0.00036",
    })  # fmt: skip
    # MRMCaov vignette (jackknife, empirical AUC): F = 4.456, df2 = 15.26, p = 0.0517
    assert_printed(d["F"], "4.456")
    assert d["df1"] == 1.0 and d["X2"] is None
    # [Iowa] Analysis 1 (c): single-treatment CIs
    s1, s2 = d["single"]["1"], d["single"]["2"]
    _check(
        s1,
        {
            "se": "0.03317360",
            "df": "12.74",
            "ci_low": "0.82522360",
            "ci_high": "0.96885048",
            "cov2": "0.00048396",
            "MS_R": "0.00308263",
        },
    )
    _check(
        s2,
        {
            "se": "0.02156637",
            "df": "12.71",
            "ci_low": "0.89413783",
            "ci_high": "0.98753689",
            "cov2": "0.00020419",
            "MS_R": "0.00130460",
        },
    )
    assert json.loads(json.dumps(d, allow_nan=False)) == d


def test_or_fixed_readers_matches_iowa_and_mrmcaov() -> None:
    d = mrmc_or(VD, analysis="FRRC").to_dict()
    # [Iowa] Analysis 2 (a)-(b); [MRMCaov] fixed(reader): X2 = 5.475953, p = 0.01927984
    _check(
        d,
        {
            "X2": "5.475953",
            "p_value": "0.01927984",
            "se": "0.01871748",
            "ci_low": "-0.08048591",
            "ci_high": "-0.00711473",
        },
    )
    assert d["df"] == 1.0 and d["F"] is None
    # [Iowa] Analysis 2 (c)
    _check(
        d["single"]["1"],
        {"se": "0.02428971", "ci_low": "0.84943008", "ci_high": "0.94464399", "var_error": "0.00101410"},
    )
    _check(
        d["single"]["2"],
        {"se": "0.01677632", "ci_low": "0.90795637", "ci_high": "0.97371835", "var_error": "0.00059047"},
    )
    # [MRMCaov] reader-specific comparisons; [Iowa] Analysis 2 (d) Var(Error) and Cov1
    rd = d["reader"]
    expected = {
        "difference": ["-0.02818035", "-0.04653784", "-0.01787440", "-0.02624799", "-0.10016103"],
        "se": ["0.02551213", "0.02630183", "0.03120965", "0.01729129", "0.04405746"],
        "p_value": ["0.26933885", "0.07683102", "0.56683414", "0.12901715", "0.02300099"],
        "var_error": ["0.00069890", "0.00110605", "0.00084234", "0.00015058", "0.00121357"],
        "cov1": ["0.00037347", "0.00076016", "0.00035532", "0.00000108", "0.00024304"],
    }
    for key, values in expected.items():
        for got, printed in zip(rd[key], values, strict=True):
            assert_printed(got, printed)
    assert rd["reader"] == [1, 2, 3, 4, 5]


def test_or_fixed_cases_matches_iowa() -> None:
    d = mrmc_or(VD, analysis="RRFC").to_dict()
    # [MRMCaov] fixed(case): F = 8.704, df 1 and 4, p = 0.04195875; [Iowa] Analysis 3
    _check(
        d,
        {
            "F": "8.704",
            "df2": "4",
            "p_value": "0.04195875",
            "se": "0.01484629",
            "ci_low": "-0.08502022",
            "ci_high": "-0.00258042",
        },
    )
    _check(d["single"]["1"], {"se": "0.02482994", "ci_low": "0.82809808", "ci_high": "0.96597599"})
    _check(d["single"]["2"], {"se": "0.01615303", "ci_low": "0.89598936", "ci_high": "0.98568536"})


@pytest.mark.parametrize(
    ("cov", "expected", "single1"),
    [
        (  # [MRMCaov] cov = DeLong
            "delong",
            {"var_R": "0.0015364254", "var_TR": "0.0002045840", "var_error": "0.0007921325", "cov1": "0.0003420090",
             "cov2": "0.0003395265", "cov3": "0.0002358497", "corr1": "0.4317573", "error_term_MS": "0.001069415",
             "F": "4.484854", "df2": "15.06611", "p_value": "0.05123303", "se": "0.0206825",
             "ci_low": "-0.0878671960", "ci_high": "0.0002665519"},
            {"cov2": "0.0004775239", "se": "0.03307642", "df": "12.59597", "ci_low": "0.8253461", "ci_high": "0.9687280"},
        ),
        (  # [MRMCaov] cov = unbiased
            "unbiased",
            {"var_R": "0.0015365290", "var_TR": "0.0002077588", "var_error": "0.0007883925", "cov1": "0.0003416706",
             "cov2": "0.0003390650", "cov3": "0.0002356148", "corr1": "0.4333762", "error_term_MS": "0.001068281",
             "F": "4.489614", "df2": "15.03418", "p_value": "0.0511618", "se": "0.02067154",
             "ci_low": "-0.0878519409", "ci_high": "0.0002512968"},
            {"cov2": "0.0004771788", "se": "0.0330712", "df": "12.58802", "ci_low": "0.8253526", "ci_high": "0.9687214"},
        ),
    ],
)  # fmt: skip
def test_or_delong_and_unbiased_covariances_match_mrmcaov(
    cov: str, expected: dict[str, str], single1: dict[str, str]
) -> None:
    d = mrmc_or(VD, cov=cov).to_dict()
    _check(d, expected)
    assert_printed(d["difference"], "-0.04380032")
    _check(d["single"]["1"], single1)


def test_or_nested_designs_match_mrmcaov() -> None:
    # [MRMCaov] case2 = cases nested within readers; case3 = cases nested within treatments.
    within_reader = dict(VD, case=VD["reader"] * 1000 + VD["case"])
    d = mrmc_or(within_reader).to_dict()
    assert d["design"] == "cases nested within readers"
    _check(d, {"var_R": "1.293517e-03", "var_TR": "9.213005e-05", "var_error": "8.079682e-04", "cov1": "3.490676e-04",
               "F": "8.704", "p_value": "0.04195875", "se": "0.01484629"})  # fmt: skip
    assert d["cov2"] == 0.0 and d["cov3"] == 0.0 and d["df2"] == 4.0
    within_test = dict(VD, case=VD["test"] * 1000 + VD["case"])
    d = mrmc_or(within_test).to_dict()
    assert d["design"] == "cases nested within tests"
    _check(d, {"var_R": "1.642585e-03", "var_TR": "9.078969e-05", "var_error": "8.058382e-04", "cov2": "3.455973e-04",
               "error_term_MS": "0.002279017", "F": "2.104491", "df2": "68.42325", "p_value": "0.1514363",
               "se": "0.03019283", "ci_low": "-0.10404242", "ci_high": "0.01644178"})  # fmt: skip
    assert d["cov1"] == 0.0 and d["cov3"] == 0.0
    _check(d["single"]["1"], {"cov2": "0.0004861032", "se": "0.03320586", "df": "12.79430"})
    # delong/unbiased handle the nested designs (pairs with no common case have covariance 0)
    assert mrmc_or(within_test, cov="delong").cov1 == 0.0
    with pytest.raises(ValidationError, match="every reader to score every case"):
        mrmc_dbm(within_test)


def test_dbm_matches_iowa_and_jafroc() -> None:
    d = mrmc_dbm(VD).to_dict()
    # [Iowa] "Corresponding DBM variance component and covariance estimates"
    _check(d, {"var_R": "0.00153500", "var_C": "0.02724923", "var_TR": "0.00020040", "var_TC": "0.01197530",
               "var_RC": "0.01226473", "var_TRC_error": "0.03997160"})  # fmt: skip
    # [JAFROC] Analysis 1: F = 4.46, df 15.26, p = 0.0517, SE 0.02075, CI (-0.08796, 0.00036)
    _check(
        d,
        {
            "F": "4.46",
            "df2": "15.26",
            "p_value": "0.0517",
            "se": "0.02075",
            "ci_low": "-0.08796",
            "ci_high": "0.00036",
        },
    )
    # [JAFROC] TREATMENT X READER X CASE ANOVA (single precision; see module docstring)
    jafroc_ms = {"MS_T": 0.54676316, "MS_R": 0.43732679, "MS_C": 0.39686891, "MS_TR": 0.06281753,
                 "MS_TC": 0.09984813, "MS_RC": 0.06450099, "MS_TRC": 0.03997167, "error_term_MS": 0.12269399}  # fmt: skip
    for key, value in jafroc_ms.items():
        assert d[key] == pytest.approx(value, abs=1.1e-6), key
    # DBM with normalised pseudovalues equals OR with jackknife covariances (Hillis 2005), so the
    # single-test CIs are [Iowa] Analysis 1 (c); JAFROC prints 0.03317359 (single precision).
    _check(
        d["single"]["1"], {"se": "0.03317360", "df": "12.74", "ci_low": "0.82522360", "ci_high": "0.96885048"}
    )
    assert d["single"]["1"]["se"] == pytest.approx(0.03317359, abs=2e-8)


def test_dbm_fixed_readers_and_fixed_cases_match_jafroc() -> None:
    fr = mrmc_dbm(VD, analysis="FRRC").to_dict()
    # [JAFROC] Analysis 2: F(1, 113) = 5.48, p = 0.0210, CI -0.08088, -0.00672; per-reader (d)
    _check(
        fr,
        {
            "F": "5.48",
            "df2": "113",
            "p_value": "0.0210",
            "se": "0.01872",
            "ci_low": "-0.08088",
            "ci_high": "-0.00672",
        },
    )
    # JAFROC Analysis 2 (c): SE 0.02428969 (single precision; exact 0.024289710 = [Iowa] 0.02428971)
    _check(fr["single"]["1"], {"se": "0.02428971"})
    assert fr["single"]["1"]["ci_low"] == pytest.approx(0.84891477, abs=1e-7)
    assert fr["single"]["1"]["ci_high"] == pytest.approx(0.94515930, abs=1e-7)
    for got, printed in zip(
        fr["reader"]["p_value"], ["0.2717", "0.0795", "0.5680", "0.1318", "0.0249"], strict=True
    ):
        assert_printed(got, printed)
    for got, printed in zip(
        fr["reader"]["ci_low"], ["-0.07872", "-0.09865", "-0.07971", "-0.06051", "-0.18745"], strict=True
    ):
        assert_printed(got, printed)
    rf = mrmc_dbm(VD, analysis="RRFC").to_dict()
    # [JAFROC] Analysis 3: F(1, 4) = 8.70, p = 0.0420, CI -0.08502, -0.00258
    _check(
        rf,
        {
            "F": "8.70",
            "df2": "4.00",
            "p_value": "0.0420",
            "se": "0.01485",
            "ci_low": "-0.08502",
            "ci_high": "-0.00258",
        },
    )
    # single test 2: JAFROC prints (0.89598934, 0.98568534) in single precision; [Iowa] Analysis 3 (c)
    # gives the exact (0.89598936, 0.98568536) for the same fixed-case interval.
    _check(rf["single"]["2"], {"se": "0.01615303", "ci_low": "0.89598936", "ci_high": "0.98568536"})


def test_mrmc_accepts_dataframe_and_labels() -> None:
    frame = pd.DataFrame(VD)
    frame["test"] = frame["test"].map({1: "CINE", 2: "SE"})
    frame["reader"] = "R" + frame["reader"].astype(str)
    d = mrmc_or(frame).to_dict()
    assert d["tests"] == ["CINE", "SE"] and d["readers"][0] == "R1"
    assert d["pairwise"][0]["comparison"] == "CINE - SE"
    assert_printed(d["F"], "4.456")


def test_mrmc_three_tests_gives_global_test_and_all_pairs() -> None:
    third = {k: v[VD["test"] == 2].copy() for k, v in VD.items()}
    third["test"][:] = 3
    rng = np.random.default_rng(5)
    third["score"] = np.clip(third["score"] + rng.integers(-1, 2, len(third["score"])), 1, 5)
    data = {k: np.concatenate([VD[k], third[k]]) for k in VD}
    for analysis in ("RRRC", "FRRC", "RRFC"):
        res = mrmc_or(data, analysis=analysis)
        assert [p["comparison"] for p in res.pairwise] == ["1 - 2", "1 - 3", "2 - 3"]
        assert res.difference is None and res.se is None
        assert 0.0 < res.p_value < 1.0
        assert res.pairwise[0]["difference"] == pytest.approx(mrmc_or(VD).difference)
        dbm = mrmc_dbm(data, analysis=analysis)
        assert dbm.df1 == 2.0 and len(dbm.pairwise) == 3
    frrc = mrmc_or(data, analysis="FRRC")
    assert frrc.df == 2.0 and frrc.reader is not None and len(frrc.reader["difference"]) == 15


def test_mrmc_partially_paired_data() -> None:
    drop = (VD["reader"] == 1) & (VD["case"] <= 10)
    data = {k: v[~drop] for k, v in VD.items()}
    res = mrmc_or(data)
    assert res.design == "partially paired"
    full = mrmc_or(VD)
    assert res.reader_auc[1][1:] == full.reader_auc[1][1:]  # readers 2-5 unchanged
    assert 0.0 < res.p_value < 1.0 and res.df2 is not None and res.df2 > 1
    for cov in ("delong", "unbiased"):
        with pytest.raises(ValidationError, match="partially paired"):
            mrmc_or(data, cov=cov)
    with pytest.raises(ValidationError, match="partially paired"):
        mrmc_dbm(data)


def _bad(**changes: object) -> dict[str, object]:
    out: dict[str, object] = dict(VD)
    out.update(changes)
    return out


@pytest.mark.parametrize(
    ("data", "kwargs", "message"),
    [
        ({k: v for k, v in VD.items() if k != "truth"}, {}, "'truth' is missing"),
        (
            _bad(score=np.where(np.arange(len(VD["score"])) == 3, np.nan, VD["score"])),
            {},
            "missing or infinite",
        ),
        (_bad(truth=np.where(np.arange(len(VD["truth"])) == 0, 1, VD["truth"])), {}, "different truth"),
        ({k: np.concatenate([v, v[:1]]) for k, v in VD.items()}, {}, "more than once"),
        (_bad(test=np.ones_like(VD["test"])), {}, "found 1 test"),
        (_bad(reader=np.ones_like(VD["reader"])), {}, "at least two readers"),
        (VD, {"cov": "bootstrap"}, "Unknown cov"),
        (VD, {"analysis": "RRXX"}, "Unknown analysis"),
        (_bad(truth=VD["truth"] * 2 + (VD["case"] == 1)), {}, "two classes"),
        ({k: v[: len(v) - 1] if k == "score" else v for k, v in VD.items()}, {}, "different lengths"),
    ],
)
def test_mrmc_rejects_bad_input(data: dict[str, object], kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        mrmc_or(data, **kwargs)


def test_mrmc_degenerate_identical_tests_is_undefined_not_significant() -> None:
    # Two readers x two tests with identical scores everywhere: no test effect and no error term.
    rng = np.random.default_rng(0)
    truth = np.array([1] * 5 + [0] * 7)
    score = rng.normal(size=12) + truth
    t, r, k = (
        np.array(v) for v in zip(*[(t, r, k) for t in (1, 2) for r in (1, 2) for k in range(12)], strict=True)
    )
    data = {"test": t, "reader": r, "case": k, "truth": truth[k], "score": score[k]}
    for analysis in ("RRRC", "FRRC", "RRFC"):
        for res in (mrmc_or(data, analysis=analysis), mrmc_dbm(data, analysis=analysis)):
            d = res.to_dict()
            assert d["p_value"] is None  # 0/0: undefined, reported as None rather than a spurious p
            assert d["difference"] == 0.0
            json.dumps(d, allow_nan=False)


def test_mrmc_text_truth_needs_the_positive_label() -> None:
    # "normal"/"abnormal" sorted alphabetically made "normal" the diseased class (the issue saw
    # AUC 0.2222 instead of 0.7778; on this table 1/9 instead of 8/9); text truth needs positive=.
    data = {"reader": [1] * 12 + [2] * 12, "test": ([1] * 6 + [2] * 6) * 2, "case": list(range(6)) * 4,
            "truth": ["normal"] * 3 + ["abnormal"] * 3, "score": [1, 2, 4, 3, 5, 6] * 4}
    data["truth"] = data["truth"] * 4
    with pytest.raises(ValidationError, match="positive="):
        mrmc_or(data)
    with pytest.raises(ValidationError, match="positive="):
        mrmc_dbm(data)
    res = mrmc_or(data, positive="abnormal")
    assert res.test_auc[1] == pytest.approx(8 / 9)
    numeric = dict(data, truth=[1 if t == "abnormal" else 0 for t in data["truth"]])
    assert mrmc_or(numeric).test_auc[1] == pytest.approx(8 / 9)
    assert mrmc_dbm(data, positive="abnormal").test_auc[1] == pytest.approx(8 / 9)
    assert mrmc_or(data, positive="normal").test_auc[1] == pytest.approx(1 / 9)
    with pytest.raises(ValidationError, match="not one of the truth labels"):
        mrmc_or(data, positive="diseased")
