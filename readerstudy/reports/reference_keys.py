"""The names a report's reference may take besides a reader's name (``--reference``, the protocol's
``reference`` key, the Exports tab). Kept apart from :mod:`readerstudy.reports.comparisons` so that
the app can offer them without importing the statistics (scipy) at sign-in."""

from __future__ import annotations

MODEL = "model"
CONSENSUS = "senior-consensus"

__all__ = ["CONSENSUS", "MODEL"]
