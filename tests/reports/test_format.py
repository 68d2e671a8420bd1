"""Report number formatting: a value that rounds to zero never shows a minus sign ("-0.000")."""

from __future__ import annotations

import re

import pytest

from readerstudy.reports.format import cell, display_table, fixed, fmt_ci, fmt_num
from readerstudy.reports.render import _environment

NEG_ZERO = re.compile(r"(?<![\d.])-0\.0+(?!\d)")


@pytest.mark.parametrize(("v", "digits", "text"), [
    (-1e-17, 3, "0.000"), (-0.0, 3, "0.000"), (-0.0004, 3, "0.000"), (-0.0005001, 3, "-0.001"),
    (-0.004, 2, "0.00"), (-0.04, 1, "0.0"), (-0.06, 1, "-0.1"), (0.0, 4, "0.0000"), (-2.5e-5, 4, "0.0000"),
    (-1.5, 0, "-2"), (-0.4, 0, "0"), (0.1234, 3, "0.123"), (-0.1234, 3, "-0.123"), (-10.0, 3, "-10.000"),
])
def test_fixed_drops_the_sign_of_a_rounded_zero_only(v, digits, text) -> None:
    assert fixed(v, digits) == text


def test_numbers_and_intervals_of_a_constant_rater() -> None:
    # a model that calls every case negative: Cohen's kappa -1e-17 with a zero-width CI (the demo's report
    # printed "-0.000 to 0.000" beside "0.000–0.000" for the same interval)
    assert fmt_num(-1e-17) == "0.000" and fmt_num(-1e-17, 2) == "0.00"
    assert fmt_ci(-1e-17, 1e-17) == "0.000–0.000"
    assert fmt_ci(-0.048, 0.383) == "-0.048 to 0.383"  # a real negative bound keeps "to"
    assert fmt_ci(-0.0001, 0.0004, percent=True) == "0.0–0.0"
    c = cell("kappa", {"value": -1e-17, "ci_low": -1e-17, "ci_high": 0.0}, None)
    assert (c.text, c.ci) == ("0.000", "0.000–0.000")
    assert cell("specificity", {"value": -1e-9, "ci_low": 0.0, "ci_high": 0.05}, None).text == "0.0%"
    assert cell("se", -1e-9, None).text == "0.0000" and cell("median_s", -0.01, None).text == "0.0"
    table = display_table({"columns": ["reader", "difference"],
                           "rows": [{"reader": "R1", "difference": {"value": -2e-4, "ci_low": -0.019,
                                                                    "ci_high": 0.019}}]})
    assert [(c.text, c.ci) for c in table.rows[0]][1] == ("0.000", "-0.019 to 0.019")


def test_mrmc_and_agreement_sections_print_no_negative_zero() -> None:
    env = _environment()
    mrmc = env.from_string("{{ fmt_num(d) }} (95% CI {{ fmt_ci(lo, hi) }})").render(d=-0.00021, lo=-0.019, hi=0.019)
    assert mrmc == "0.000 (95% CI -0.019 to 0.019)"
    for name in ("sections/mrmc.html.j2", "sections/agreement.html.j2"):
        source = env.loader.get_source(env, name)[0]
        assert '|format(' not in source, f"{name} formats numbers itself instead of with fmt_num"
    assert not NEG_ZERO.search("κ 0.000 (0.000–0.000); F = 0.00; difference -0.019 to 0.019")
    assert NEG_ZERO.search("difference -0.000 (95% CI -0.019 to 0.019)")
