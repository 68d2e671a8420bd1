"""Validated statistics for reader studies: agreement, ROC/DeLong, accuracy, decision curves, MRMC.

Pure functions: numpy arrays (or sequences) in, frozen result dataclasses out; every result has
``to_dict()`` returning plain JSON-serialisable Python types. Invalid input raises
:class:`readerstudy.core.errors.ValidationError` with a message saying what to fix.
"""

from __future__ import annotations

from .agreement import CohenKappaResult, FleissKappaResult, cohen_kappa, fleiss_kappa
from .dbm import DBMResult, mrmc_dbm
from .decision import NetBenefitResult, net_benefit
from .krippendorff import KrippendorffAlphaResult, krippendorff_alpha
from .mcnemar import McNemarResult, mcnemar
from .mrmc import MRMCResult, mrmc_or
from .power import (
    ORComponents,
    PowerResult,
    SampleSizeResult,
    cases_for_power,
    mrmc_power,
    or_components,
    power_table,
)
from .proportions import DiagnosticAccuracy, Estimate, diagnostic_accuracy, proportion_ci
from .roc import AUCResult, DeLongTestResult, auc_delong, delong_test, hanley_mcneil_se

__all__ = [
    "AUCResult",
    "CohenKappaResult",
    "DBMResult",
    "DeLongTestResult",
    "DiagnosticAccuracy",
    "Estimate",
    "FleissKappaResult",
    "KrippendorffAlphaResult",
    "MRMCResult",
    "McNemarResult",
    "NetBenefitResult",
    "ORComponents",
    "PowerResult",
    "SampleSizeResult",
    "auc_delong",
    "cases_for_power",
    "cohen_kappa",
    "delong_test",
    "diagnostic_accuracy",
    "fleiss_kappa",
    "hanley_mcneil_se",
    "krippendorff_alpha",
    "mcnemar",
    "mrmc_dbm",
    "mrmc_or",
    "mrmc_power",
    "net_benefit",
    "or_components",
    "power_table",
    "proportion_ci",
]
