"""Use case: plan an MRMC study (readers x cases for a target power) from a pilot study's reads.

The pilot is a study of this database whose readers read at least two arms (the tests
compared); its Obuchowski-Rockette variance components (jackknife) are scaled to the planned
numbers of readers and cases by :mod:`readerstudy.stats.power` (Hillis, Obuchowski & Berbaum
2011). Components can also be entered by hand (e.g. from a published pilot).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from readerstudy.core.errors import ValidationError
from readerstudy.services.auth import UserSession
from readerstudy.services.context import AppContext
from readerstudy.services.report_data import MODEL_SENIORITY, collect_report_data
from readerstudy.stats import ORComponents, SampleSizeResult, cases_for_power, or_components, power_table

__all__ = ["Plan", "make_plan", "pilot_arms", "pilot_components", "parse_components"]

COMPONENT_KEYS = ("var_TR", "var_error", "cov1", "cov2", "cov3", "n_cases")


@dataclass(frozen=True)
class Plan:
    """A planning result: the components used, the power grid and the cases needed per reader count."""

    components: ORComponents
    source: str  # "study <name>: <arm1> vs <arm2>" or "entered"
    effect: float
    analysis: str
    alpha: float
    target: float
    grid: dict[str, Any]  # readers, cases, power[i][j]
    needed: tuple[SampleSizeResult, ...]  # one per number of readers

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "components": self.components.to_dict(), "effect": self.effect,
                "analysis": self.analysis, "alpha": self.alpha, "target": self.target, "grid": self.grid,
                "needed": [n.to_dict() for n in self.needed]}


def _reader_reads(ctx: AppContext, session: UserSession, study_name: str) -> tuple[pd.DataFrame, tuple[str, ...]]:
    data = collect_report_data(ctx, session, study_name)
    t = data.table
    return t[(t["seniority"] != MODEL_SENIORITY) & t["truth"].notna()], data.arms


def pilot_arms(ctx: AppContext, session: UserSession, study_name: str) -> list[str]:
    """Arms (report labels, e.g. "unaided", "AI-aided (pre-AI)") read by at least two readers,
    in protocol order (coordinators)."""
    reads, order = _reader_reads(ctx, session, study_name)
    per_arm = reads.groupby("arm")["reader"].nunique()
    return [a for a in order if per_arm.get(a, 0) >= 2]


def pilot_components(ctx: AppContext, session: UserSession, study_name: str,
                     arms: Sequence[str] | None = None) -> tuple[ORComponents, str]:
    """OR variance components of ``study_name`` comparing two arms (default: the first two arms
    read by >= 2 readers). Returns the components and a one-line description of the pilot.

    Raises
    ------
    ValidationError
        when the study has no two such arms, or the named arms are unknown, or a reader-arm
        has fewer than two cases of each truth class.
    """
    available = pilot_arms(ctx, session, study_name)
    chosen = list(arms) if arms else available[:2]
    if len(chosen) != 2:
        raise ValidationError(
            f"A pilot needs two arms read by at least two readers each; study {study_name!r} has "
            f"{available or 'none'}. Read more cases, or enter the variance components by hand."
        )
    unknown = [a for a in chosen if a not in available]
    if unknown:
        raise ValidationError(f"Arm(s) {unknown} have no reads by two readers in {study_name!r}; choose from {available}.")
    reads, _ = _reader_reads(ctx, session, study_name)
    sub = reads[reads["arm"].isin(chosen)]
    data = pd.DataFrame({"reader": sub["reader"], "test": sub["arm"], "case": sub["case"],
                         "truth": sub["truth"].astype(int), "score": sub["probability"].astype(float)})
    comps = or_components(data)
    return comps, f"study {study_name!r}: {comps.tests[0]} vs {comps.tests[1]} ({comps.n_readers} readers, {comps.n_cases} cases)"


def parse_components(text: str) -> ORComponents:
    """``"var_TR=0.0002,var_error=0.0008,cov1=0.00035,cov2=0.00034,cov3=0.00024,n_cases=114"``."""
    values: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, raw = part.partition("=")
        if not sep or key.strip() not in COMPONENT_KEYS:
            raise ValidationError(f"{part!r}: give the components as key=value with keys {list(COMPONENT_KEYS)}.")
        try:
            values[key.strip()] = float(raw)
        except ValueError:
            raise ValidationError(f"{part!r}: {raw!r} is not a number.") from None
    missing = [k for k in COMPONENT_KEYS if k not in values]
    if missing:
        raise ValidationError(f"Missing variance component(s) {missing}; all of {list(COMPONENT_KEYS)} are needed.")
    n = values.pop("n_cases")
    if n != int(n):
        raise ValidationError(f"n_cases (cases of the pilot) must be a whole number, got {n}.")
    return ORComponents(n_cases=int(n), **values)


def make_plan(components: ORComponents, source: str, *, effect: float | None, readers: Sequence[int],
              cases: Sequence[int], target: float = 0.8, analysis: str = "RRRC", alpha: float = 0.05,
              max_cases: int = 5000) -> Plan:
    """Power over ``readers x cases`` and, for each number of readers, the cases for ``target``.

    ``effect`` None takes the pilot's observed AUC difference (RJafroc's default), which needs
    components computed from a study.
    """
    if effect is None:
        if components.effect is None:
            raise ValidationError("Give the effect size to detect (AUC difference, e.g. 0.05): entered "
                                  "components carry no observed effect.")
        effect = abs(components.effect)
    if effect == 0:
        raise ValidationError("The effect size is 0: no study has power to detect no difference; give e.g. 0.05.")
    grid = power_table(effect, list(readers), list(cases), components, analysis=analysis, alpha=alpha)
    needed = tuple(cases_for_power(effect, r, components, target=target, analysis=analysis, alpha=alpha,
                                   max_cases=max_cases) for r in grid["readers"])
    return Plan(components, source, float(effect), analysis, alpha, target, grid, needed)
