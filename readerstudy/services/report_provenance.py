"""What makes a report reproducible: app version, the study data's checksum, the audit chain head, the command."""

from __future__ import annotations

import hashlib
import json
from dataclasses import is_dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import make_url

from readerstudy import __version__
from readerstudy.reports.model import Provenance
from readerstudy.storage.uow import UnitOfWork

__all__ = ["data_checksum", "provenance", "safe_url"]


def safe_url(url: str) -> str:
    """The database URL without its password (SQLite: the file path)."""
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        return u.database or url
    return u.render_as_string(hide_password=True)


def _canon(record: Any) -> Any:
    # vars() of a frozen dataclass is its fields (asdict would deep-copy every nested dict)
    return vars(record) if is_dataclass(record) else record


def data_checksum(*groups: list[Any]) -> str:
    """sha256 of records (dataclasses) in a canonical JSON form: each group sorted by ``id``.

    The same stored data gives the same checksum on SQLite and PostgreSQL, whatever the row order.
    """
    h = hashlib.sha256()
    for group in groups:
        for rec in sorted(group, key=lambda r: str(getattr(r, "id", ""))):
            h.update(json.dumps(_canon(rec), sort_keys=True, default=str, separators=(",", ":")).encode())
            h.update(b"\n")
        h.update(b"\x1e")
    return h.hexdigest()


def provenance(uow: UnitOfWork, url: str, study: Any, reads: list, cases: dict, people: dict, arms: dict,
               assignments: list, predictions: dict, command: str) -> Provenance:
    """The reproducibility record of a report on ``study`` (inside the caller's unit of work)."""
    checksum = data_checksum(reads, list(cases.values()), list(people.values()), list(arms.values()),
                             assignments, [p for ps in predictions.values() for p in ps])
    head = uow.audit.head()
    verified, _ = uow.audit.verify_chain() if head else (None, None)
    return Provenance(app_version=__version__, generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
                      database=safe_url(url), data_checksum=checksum,
                      audit_head_seq=head[0] if head else None, audit_head_hash=head[1] if head else "",
                      audit_verified=verified, command=command)
