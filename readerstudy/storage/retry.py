"""Retry a unit of work on transient lock/serialization errors, with jittered exponential backoff.

SQLite already waits ``busy_timeout`` (10 s) for its write lock; a retry covers the rare case
that it is still busy after that, and PostgreSQL's serialization failures and deadlocks. The
function must be a whole transaction (open, work, commit), so re-running it is safe.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError

from readerstudy.storage.errors import StorageError, is_transient

T = TypeVar("T")
log = logging.getLogger(__name__)


def with_retry(fn: Callable[[], T], *, attempts: int = 8, base_s: float = 0.02, cap_s: float = 1.0,
               sleep: Callable[[float], None] = time.sleep) -> T:
    """Call ``fn`` until it succeeds or fails with a non-transient error.

    Raises :class:`~readerstudy.storage.errors.StorageError` when every attempt found the database
    busy (``fn`` rolled back each time, so nothing was changed).
    """
    for i in range(attempts):
        try:
            return fn()
        except DBAPIError as exc:
            if not is_transient(exc):
                raise
            if i == attempts - 1:
                raise StorageError("The database stayed busy (another program held its write lock too long); "
                                   "nothing was changed. Try again.") from exc
            delay = min(cap_s, base_s * 2 ** i) * random.uniform(0.5, 1.5)
            log.info("database busy (%s); retry %d in %.2f s", exc.orig, i + 1, delay)
            sleep(delay)
    raise AssertionError("unreachable")
