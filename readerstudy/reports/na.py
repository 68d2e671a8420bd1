"""Statistics that cannot be computed yet: "n/a" with the reason in a coordinator's words.

A report is written for any state of a study (interim, partial, without truth). A value that
cannot be computed is ``{"na": reason}`` in the report tables (JSON), rendered as "n/a" with
the reason as a footnote. The reasons are the phrases below, chosen by what is missing, so a
coordinator knows what to do (read more cases, import the truth, add readers).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "FEW_FOR_VARIANCE", "FEWER_THAN_2_READERS", "NO_COMMON_CASES", "NO_MODEL", "NO_NEGATIVE_CALLS", "NO_POSITIVE_CALLS", "NO_READS",
    "NO_TIMES", "NO_TRUTH", "NO_TRUTH_READ", "ONE_CATEGORY", "ONLY_NEGATIVE", "ONLY_POSITIVE",
    "class_reason", "few_for_variance", "is_na", "na",
]

NO_READS = "no reads yet"
NO_TRUTH = "no ground truth imported"
NO_TRUTH_READ = "none of the cases read so far has ground truth"
ONLY_NEGATIVE = "only negative cases read so far"
ONLY_POSITIVE = "only positive cases read so far"
NO_POSITIVE_CALLS = "no positive calls made"
NO_NEGATIVE_CALLS = "no negative calls made"
FEWER_THAN_2_READERS = "fewer than 2 readers"
NO_MODEL = "no model in this study"
NO_COMMON_CASES = "no case read by both"
CONSTANT_RATER = ("one rater made the same call on every case, so kappa is 0 whatever the other calls "
                  "and has no confidence interval")
ONE_CATEGORY = "every call was the same, so chance agreement is 1 and kappa is undefined"
NO_TIMES = "no reading times recorded"
FEW_FOR_VARIANCE = "fewer than 2 positive and 2 negative cases read so far, too few for a DeLong variance"


def few_for_variance(y: Any) -> bool:
    """Whether DeLong's variance is undefined (fewer than 2 cases of a class)."""
    y = np.asarray(y, dtype=float)
    return bool(min((y == 1).sum(), (y == 0).sum()) < 2)


def na(reason: str) -> dict[str, str]:
    """A value that cannot be computed, with the reason shown to the coordinator."""
    return {"na": reason}


def is_na(value: Any) -> bool:
    return isinstance(value, dict) and "na" in value


def class_reason(truth: Any, study_has_truth: bool, *, need: str = "both") -> str | None:
    """Why a statistic needing cases of class ``need`` ("both", "positive", "negative" or "any")
    cannot be computed on cases with these ``truth`` values (NaN/None = no truth); None if it can."""
    y = np.asarray([v for v in truth if v is not None and v == v], dtype=float)
    if not study_has_truth:
        return NO_TRUTH
    if len(y) == 0:
        return NO_TRUTH_READ
    pos, neg = bool((y == 1).any()), bool((y == 0).any())
    if need in ("both", "positive") and not pos:
        return ONLY_NEGATIVE if need == "both" else "no positive cases read so far"
    if need in ("both", "negative") and not neg:
        return ONLY_POSITIVE if need == "both" else "no negative cases read so far"
    return None
