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
from .proportions import DiagnosticAccuracy, Estimate, diagnostic_accuracy, proportion_ci
from .roc import AUCResult, DeLongTestResult, auc_delong, delong_test

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
    "auc_delong",
    "cohen_kappa",
    "delong_test",
    "diagnostic_accuracy",
    "fleiss_kappa",
    "krippendorff_alpha",
    "mcnemar",
    "mrmc_dbm",
    "mrmc_or",
    "net_benefit",
    "proportion_ci",
]
