"""The report as a document: every table, every figure and the list of sections the template iterates.

:func:`build_tables` computes every statistic (pure; JSON-ready dicts). :data:`SECTIONS` is the
report's outline: each :class:`SectionSpec` names a template under ``resources/report/sections/``
and a function that returns the template's context (or None to leave the section out). A new
statistic adds one entry here (the generic ``sections/tables.html.j2`` renders any list of
table dicts and figures), so the HTML and the PDF get it from one source.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .comparisons import decision_table, delong_table, discordant_table, mcnemar_table, resolve_reference
from .figures import FigureSpec
from .format import display_table
from .model import ReportInput
from .mrmc_tables import ai_effect_table, mrmc_plan, mrmc_table
from .question_tables import question_agreement_tables
from .realism import is_realism_study, realism_tables
from .tables import (
    accuracy_table,
    arm_order,
    auc_se_table,
    corrections_table,
    focus_arm,
    kappa_table,
    missing_table,
    time_table,
)

__all__ = ["SECTIONS", "ReportOptions", "ReportParts", "SectionSpec", "build_tables", "sections"]


@dataclass(frozen=True)
class ReportOptions:
    """Which arm the reference comparisons use and who the reference is (see :func:`resolve_reference`)."""

    arm: str | None = None
    reference: str | None = None
    level: float = 0.95


def build_tables(data: ReportInput, options: ReportOptions | None = None) -> dict[str, Any]:
    """Every report table, keyed by name, plus the focus arm and the reference used."""
    opts = options or ReportOptions()
    arm = focus_arm(data, opts.arm)
    ref = resolve_reference(data, arm, opts.reference)
    kappas = {a: kappa_table(data, a, opts.level) for a in arm_order(data)}
    sequential = [a.name for a in (data.info.arms if data.info else ()) if a.sequential]
    return {
        "focus_arm": arm,
        "reference": ref.name,
        "reference_how": ref.how,
        "reference_na": ref.na,
        "accuracy": accuracy_table(data, opts.level),
        "auc_se": auc_se_table(data, opts.level),
        "kappa": kappas.get(arm) if arm in kappas else kappa_table(data, arm, opts.level),
        "kappa_by_arm": kappas,
        "mcnemar": mcnemar_table(data, arm, ref),
        "delong": delong_table(data, arm, ref, opts.level),
        "mrmc": [mrmc_table(data, label, a, b, opts.level) for label, a, b in mrmc_plan(data, arm)],
        "ai_effect": [ai_effect_table(data, a, opts.level) for a in sequential],
        "reading_time": time_table(data),
        "discordant": discordant_table(data, arm, opts.level),
        "decision_curve": decision_table(data, arm),
        "missing": missing_table(data.missing),
        "corrections": corrections_table(data.corrections),
        "questions": question_agreement_tables(data, opts.level),
        "realism": realism_tables(data, opts.level),
    }


@dataclass
class ReportParts:
    """What section builders see: the input, the options, the tables and the figures by key."""

    data: ReportInput
    options: ReportOptions
    tables: dict[str, Any]
    figures: dict[str, FigureSpec]
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SectionSpec:
    key: str
    title: str
    template: str
    build: Callable[[ReportParts], dict[str, Any] | None]


def _shown(tbl: dict[str, Any], columns: list[str] | None = None) -> dict[str, Any]:
    return {"t": tbl, "d": display_table(tbl, columns)}


def _summary(p: ReportParts) -> dict[str, Any]:
    names = ("synthetic", "real") if is_realism_study(p.data) else ("positive (malignant)", "negative")
    return {"info": p.data.info, "conventions": p.data.conventions, "meta": p.meta, "truth_names": names}


def _accuracy(p: ReportParts) -> dict[str, Any]:
    return {"tables": [_shown(p.tables["accuracy"]), _shown(p.tables["auc_se"])], "figures": [p.figures["roc"]]}


def _agreement(p: ReportParts) -> dict[str, Any]:
    return {"kappas": list(p.tables["kappa_by_arm"].values()), "figures": []}


def _comparisons(p: ReportParts) -> dict[str, Any]:
    t = p.tables
    return {"reference": t["reference"], "how": t["reference_how"], "ref_na": t["reference_na"],
            "tables": [_shown(t["mcnemar"]), _shown(t["delong"]), _shown(t["discordant"])]}


def _mrmc(p: ReportParts) -> dict[str, Any]:
    return {"comparisons": [{"t": m, "d": display_table(m)} for m in p.tables["mrmc"]],
            "figures": [p.figures["forest"]]}


def _ai(p: ReportParts) -> dict[str, Any] | None:
    if not p.tables["ai_effect"]:
        return None  # the study has no sequential AI arm
    return {"tables": [_shown(t) for t in p.tables["ai_effect"]], "figures": [p.figures["ai_flow"]]}


def _ordinal(p: ReportParts) -> dict[str, Any] | None:
    """BI-RADS / ordinal and categorical agreement: for studies whose protocol asks such questions."""
    tables = p.tables["questions"]
    if not tables:
        return None
    return {"tables": [_shown(t) for t in tables], "figures": [],
            "text": "Pairwise agreement of the readers on each categorical question of the protocol, per arm "
                    "(weighted kappa for ordinal questions such as the BI-RADS assessment)."}


def _realism(p: ReportParts) -> dict[str, Any] | None:
    """Real vs synthetic (visual Turing test): for realism studies only."""
    tables = p.tables["realism"]
    if not tables:
        return None
    return {"tables": [_shown(t) for t in tables], "figures": [],
            "text": "Real and accepted synthetic images were read blind, in one random order, through the same "
                    "pseudonymised case view. Could the readers tell them apart, how realistic did each kind look, "
                    "and did the readers agree?"}


def _time(p: ReportParts) -> dict[str, Any]:
    return {"tables": [_shown(p.tables["reading_time"])], "figures": [p.figures["reading_time"]]}


def _decision(p: ReportParts) -> dict[str, Any]:
    return {"tables": [], "figures": [p.figures["decision_curve"], p.figures["calibration"]],
            "text": p.tables["decision_curve"]["test"]}


def _data_quality(p: ReportParts) -> dict[str, Any]:
    return {"tables": [_shown(p.tables["missing"]), _shown(p.tables["corrections"])]}


SECTIONS: list[SectionSpec] = [
    SectionSpec("summary", "Study summary", "sections/summary.html.j2", _summary),
    SectionSpec("methods", "Statistical methods", "sections/methods.html.j2", lambda p: {"t": p.tables}),
    SectionSpec("realism", "Real or synthetic? (visual Turing test)", "sections/tables.html.j2", _realism),
    SectionSpec("accuracy", "Diagnostic accuracy", "sections/tables.html.j2", _accuracy),
    SectionSpec("agreement", "Agreement between raters", "sections/agreement.html.j2", _agreement),
    SectionSpec("comparisons", "Each rater against the reference", "sections/comparisons.html.j2", _comparisons),
    SectionSpec("mrmc", "Multi-reader multi-case ROC analysis", "sections/mrmc.html.j2", _mrmc),
    SectionSpec("ai", "Effect of the AI reveal on the readers' calls", "sections/tables.html.j2", _ai),
    SectionSpec("ordinal", "Agreement on the study-defined questions (BI-RADS)", "sections/tables.html.j2", _ordinal),
    SectionSpec("time", "Reading time", "sections/tables.html.j2", _time),
    SectionSpec("decision", "Decision curves and calibration", "sections/tables.html.j2", _decision),
    SectionSpec("data", "Missing and corrected reads", "sections/tables.html.j2", _data_quality),
]


def sections(parts: ReportParts) -> list[dict[str, Any]]:
    """The sections to render, in order: ``{key, title, template, number, ...context}``."""
    out = []
    for spec in SECTIONS:
        ctx = spec.build(parts)
        if ctx is None:
            continue
        out.append({"key": spec.key, "title": spec.title, "template": spec.template, "number": len(out) + 1, **ctx})
    return out
