"""Use case: plan an MRMC study (readers x cases for a target power) from a pilot study's reads.

The pilot is a study of this database whose readers read at least two arms (the tests
compared); its Obuchowski-Rockette variance components (jackknife) are scaled to the planned
numbers of readers and cases by :mod:`readerstudy.stats.power` (Hillis, Obuchowski & Berbaum
2011). Components can also be entered by hand (e.g. from a published pilot).

The default comparison is the study's primary one, named and ordered as the report's MRMC section
(:func:`readerstudy.reports.mrmc_tables.mrmc_plan`): the first unaided arm vs the first AI-aided
arm (its final read), effect = AUC(first) - AUC(second).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd

from readerstudy.core.errors import ValidationError
from readerstudy.reports.model import ReportInput
from readerstudy.reports.mrmc_tables import mrmc_plan
from readerstudy.services.auth import UserSession
from readerstudy.services.context import AppContext
from readerstudy.services.report_data import MODEL_SENIORITY, collect_report_data
from readerstudy.stats import ORComponents, SampleSizeResult, cases_for_power, or_components, power_table

__all__ = ["Plan", "make_plan", "pilot_arms", "pilot_components", "parse_components"]

COMPONENT_KEYS = ("var_TR", "var_error", "cov1", "cov2", "cov3", "n_cases")
OPTIONAL_KEYS = ("auc1", "auc2")  # the pilot's reader-averaged AUCs of test 1 and test 2
HILLIS = "Hillis, Obuchowski & Berbaum 2011"


@dataclass(frozen=True)
class Plan:
    """A planning result: the components used, the power grid and the cases needed per reader count.

    ``effect`` is the AUC difference powered, > 0 (AUC units; the test is two-sided); ``notes``
    say in words what was taken other than as given (the sign of the effect).
    """

    components: ORComponents
    source: str  # "study <name>: <arm1> vs <arm2>" or "entered"
    effect: float
    analysis: str
    alpha: float
    target: float
    grid: dict[str, Any]  # readers, cases, power[i][j]
    needed: tuple[SampleSizeResult, ...]  # one per number of readers
    notes: tuple[str, ...] = ()

    def component_lines(self) -> list[str]:
        """The OR components, one per line (AUC^2 units), each estimate the power formulas set to 0
        saying so (:meth:`~readerstudy.stats.ORComponents.truncated`)."""
        c = self.components
        zeroed = c.truncated()
        rows: list[tuple[str, float, str]] = [
            ("var(TR)", c.var_TR, "negative estimate: set to 0 for the power calculation" if "var_TR" in zeroed else ""),
            ("var(error)", c.var_error, ""), ("cov1", c.cov1, ""), ("cov2", c.cov2, ""), ("cov3", c.cov3, ""),
            ("cov2 - cov3", c.cov2 - c.cov3,
             "negative: set to 0 for the power calculation" if "cov2 - cov3" in zeroed else ""),
        ]
        lines = [f"{name:<11} = {value:.6g}" + (f" ({why}, Hillis 2011)" if why else "") for name, value, why in rows]
        if c.var_R is not None:  # var_R cancels from a difference of tests: say so rather than "set to 0"
            lines.append(f"{'var(R)':<11} = {c.var_R:.6g} ({'negative estimate; ' if c.var_R < 0 else ''}"
                         "not used: the power of a difference of tests does not depend on it)")
        return lines

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "components": self.components.to_dict(), "effect": self.effect,
                "analysis": self.analysis, "alpha": self.alpha, "target": self.target, "grid": self.grid,
                "needed": [n.to_dict() for n in self.needed], "notes": list(self.notes),
                "set_to_zero": self.components.truncated()}


def _reader_reads(data: ReportInput) -> pd.DataFrame:
    t = data.table
    return t[(t["seniority"] != MODEL_SENIORITY) & t["truth"].notna()]


def _arms_read(data: ReportInput) -> list[str]:
    per_arm = _reader_reads(data).groupby("arm")["reader"].nunique()
    return [a for a in data.arms if per_arm.get(a, 0) >= 2]


def _primary(data: ReportInput, available: list[str]) -> list[str]:
    """The report's first MRMC comparison both of whose arms have a pilot (unaided vs AI-aided),
    else the first two such arms in protocol order."""
    for _, a, b in mrmc_plan(data, None):
        if a in available and b in available:
            return [a, b]
    return available[:2]


def pilot_arms(ctx: AppContext, session: UserSession, study_name: str) -> list[str]:
    """Arms (report labels, e.g. "unaided", "AI-aided (pre-AI)") read by at least two readers
    (coordinators): the two of the primary comparison first, in its order (as ``readerstudy plan``
    compares them by default), then the rest in protocol order."""
    data = collect_report_data(ctx, session, study_name)
    arms = _arms_read(data)
    primary = _primary(data, arms)
    return [*primary, *(a for a in arms if a not in primary)]


def pilot_components(ctx: AppContext, session: UserSession, study_name: str,
                     arms: Sequence[str] | None = None) -> tuple[ORComponents, str]:
    """OR variance components of ``study_name`` comparing two arms, in the order given: the
    effect is AUC(arms[0]) - AUC(arms[1]) (AUC units). Default: the study's primary comparison
    as the report's MRMC section names it (first unaided arm vs first AI-aided arm, its final
    read), else the first two arms read by >= 2 readers. Returns the components and a one-line
    description of the pilot.

    Raises
    ------
    ValidationError
        when the study has no two such arms, or the named arms are unknown, or a reader-arm
        has fewer than two cases of each truth class.
    """
    data = collect_report_data(ctx, session, study_name)
    available = _arms_read(data)
    chosen = list(arms) if arms else _primary(data, available)
    if len(chosen) != 2:
        raise ValidationError(
            f"A pilot needs two arms read by at least two readers each; study {study_name!r} has "
            f"{available or 'none'}. Read more cases, or enter the variance components by hand."
        )
    unknown = [a for a in chosen if a not in available]
    if unknown:
        raise ValidationError(f"Arm(s) {unknown} have no reads by two readers in {study_name!r}; choose from {available}.")
    if chosen[0] == chosen[1]:
        raise ValidationError(f"Compare two different arms, got {chosen[0]!r} twice; choose from {available}.")
    reads = _reader_reads(data)
    sub = reads[reads["arm"].isin(chosen)]
    long = pd.DataFrame({"reader": sub["reader"], "test": sub["arm"], "case": sub["case"],
                         "truth": sub["truth"].astype(int), "score": sub["probability"].astype(float)})
    comps = or_components(long, tests=chosen)
    return comps, f"study {study_name!r}: {comps.tests[0]} vs {comps.tests[1]} ({comps.n_readers} readers, {comps.n_cases} cases)"


def parse_components(text: str) -> ORComponents:
    """Entered OR components, e.g.
    ``"var_TR=0.0002,var_error=0.0008,cov1=0.00035,cov2=0.00034,cov3=0.00024,n_cases=114"``.

    Variances and covariances in AUC^2 units (finite), ``n_cases`` the pilot's cases K*;
    optionally ``auc1=``, ``auc2=``, the pilot's reader-averaged AUCs (each in [0, 1]), whose
    difference ``auc1 - auc2`` is then the default effect. A covariance larger in size than
    ``var_error`` is refused: it would be a correlation outside [-1, 1] (Obuchowski & Rockette
    1995), most often a mistyped exponent.

    Raises
    ------
    ValidationError
        for an unknown key, a value that is not a number, a missing component or one out of range.
    """
    values: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, raw = part.partition("=")
        if not sep or key.strip() not in COMPONENT_KEYS + OPTIONAL_KEYS:
            raise ValidationError(f"{part!r}: give the components as key=value with keys {list(COMPONENT_KEYS)} "
                                  f"(and optionally {list(OPTIONAL_KEYS)}).")
        try:
            values[key.strip()] = float(raw)
        except ValueError:
            raise ValidationError(f"{part!r}: {raw!r} is not a number.") from None
    missing = [k for k in COMPONENT_KEYS if k not in values]
    if missing:
        raise ValidationError(f"Missing variance component(s) {missing}; all of {list(COMPONENT_KEYS)} are needed.")
    n = values.pop("n_cases")
    if not math.isfinite(n) or n != int(n):
        raise ValidationError(f"n_cases (cases of the pilot) must be a whole number, got {n}.")
    aucs = [values.pop(k) for k in OPTIONAL_KEYS if k in values]
    if len(aucs) == 1:
        raise ValidationError("Give both pilot AUCs, auc1 and auc2, or neither.")
    pair = (aucs[0], aucs[1]) if aucs else None
    comps = ORComponents(n_cases=int(n), aucs=pair, **values)  # finite, var_error > 0, AUCs in [0, 1]
    for name in ("cov1", "cov2", "cov3"):
        if abs(values[name]) > comps.var_error:
            raise ValidationError(f"|{name}| = {abs(values[name]):g} exceeds var_error = {comps.var_error:g}: a "
                                  "correlation beyond [-1, 1]; check the entered value (e.g. its exponent).")
    return replace(comps, effect=pair[0] - pair[1]) if pair else comps


def make_plan(components: ORComponents, source: str, *, effect: float | None, readers: Sequence[int],
              cases: Sequence[int], target: float = 0.8, analysis: str = "RRRC", alpha: float = 0.05,
              max_cases: int = 5000) -> Plan:
    """Power over ``readers x cases`` and, for each number of readers, the cases for ``target``.

    ``effect`` is the AUC difference to detect (AUC units, ``0 < |effect| < 1``); None takes the
    pilot's observed difference (RJafroc's default), which needs components from a study or
    entered AUCs. The test is two-sided (Hillis, Obuchowski & Berbaum 2011), so a negative
    effect has the power of its size: it is accepted, and ``Plan.notes`` says that ``|effect|``
    was used. Planned cases must be at least :data:`readerstudy.stats.power.MIN_CASES`.

    Raises
    ------
    ValidationError
        for an effect of 0 or of size >= 1, too few readers or cases, or a target or alpha
        outside (0, 1).
    """
    notes: list[str] = []
    if effect is None:
        if components.effect is None:
            raise ValidationError("Give the effect size to detect (AUC difference, e.g. 0.05): entered "
                                  "components without auc1, auc2 carry no observed effect.")
        given, what = components.effect, "the pilot's observed difference"
        if len(components.tests) == 2:
            what += f" {components.tests[0]} - {components.tests[1]}"
    else:
        given, what = float(effect), "the effect given"
    if given == 0:
        raise ValidationError("The effect size is 0: no study has power to detect no difference; give e.g. 0.05.")
    if not abs(given) < 1:  # also refuses NaN and inf
        raise ValidationError(f"The effect size must be an AUC difference with 0 < |effect| < 1 (AUCs lie in [0, 1]), "
                              f"got {given!r}; give e.g. 0.05.")
    if given < 0:
        notes.append(f"power is two-sided; |effect| used ({what} = {given:.4f})")
    size = abs(given)
    grid = power_table(size, list(readers), list(cases), components, analysis=analysis, alpha=alpha)
    needed = tuple(cases_for_power(size, r, components, target=target, analysis=analysis, alpha=alpha,
                                   max_cases=max_cases) for r in grid["readers"])
    return Plan(components, source, float(size), analysis, alpha, target, grid, needed, tuple(notes))
