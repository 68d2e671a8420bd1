"""Append-only, hash-chained audit trail.

``hash = sha256(prev_hash + canonical_json(at, actor, action, entity, entity_id, payload))``;
the first event chains from 64 zeros. :func:`verify_chain` recomputes every link.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from readerstudy.core.models import AuditEvent
from readerstudy.storage import convert
from readerstudy.storage.models import AuditEventRow

GENESIS = "0" * 64


def event_hash(prev_hash: str, at: datetime, actor: str, action: str, entity: str, entity_id: str,
               payload: dict[str, Any]) -> str:
    at_utc = (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(UTC).isoformat()
    body = json.dumps([at_utc, actor, action, entity, entity_id, payload], sort_keys=True,
                      separators=(",", ":"), default=str)
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


class AuditRepository:
    def __init__(self, session: Session) -> None:
        self._s = session

    def append(self, actor: str, action: str, entity: str, entity_id: str,
               payload: dict[str, Any] | None = None) -> None:
        payload = json.loads(json.dumps(payload or {}, default=str))
        tip = self._s.scalars(select(AuditEventRow.hash).order_by(AuditEventRow.seq.desc()).limit(1)).first()
        prev = tip or GENESIS
        at = datetime.now(UTC)
        row = AuditEventRow(at=at, actor=actor, action=action, entity=entity, entity_id=entity_id,
                            payload=payload, prev_hash=prev,
                            hash=event_hash(prev, at, actor, action, entity, entity_id, payload))
        self._s.add(row)
        self._s.flush()

    def list(self, entity_id: str | None = None) -> list[AuditEvent]:
        q = select(AuditEventRow).order_by(AuditEventRow.seq)
        if entity_id is not None:
            q = q.where(AuditEventRow.entity_id == entity_id)
        return [convert.audit(r) for r in self._s.scalars(q)]

    def verify_chain(self) -> tuple[bool, int | None]:
        """Recompute the chain. Returns ``(True, None)`` or ``(False, seq of the first bad event)``."""
        prev = GENESIS
        for ev in self.list():
            expected = event_hash(prev, ev.at, ev.actor, ev.action, ev.entity, ev.entity_id, ev.payload)
            if ev.prev_hash != prev or ev.hash != expected:
                return False, ev.seq
            prev = ev.hash
        return True, None
