"""Append-only, hash-chained audit trail, and the content hashes its events carry.

``hash = sha256(prev_hash + canonical_json(at, actor, action, entity, entity_id, payload))``;
the first event of the local chain chains from 64 zeros. Events merged from another site's
database keep their own hashes in a *sealed segment* (``chain`` = the segment's name) whose first
event chains from the event it forked from (see :mod:`readerstudy.services.merge`).

Appends are serialized: on SQLite the unit of work holds the write lock from its first statement
(``BEGIN IMMEDIATE``, see :mod:`readerstudy.storage.db`); on PostgreSQL :meth:`AuditRepository.append`
takes a transaction-scoped advisory lock before it reads the chain's tip. Either way two writers
can never chain from the same tip (``uq_audit_event_chain_prev_hash`` would refuse it if they did).

Events that record data carry its *content hash* (:func:`row_digest`): the sha256 of the stored
row's canonical JSON over the listed columns, so a read, annotation or prediction edited, inserted
or deleted behind the app's back no longer matches its event. :func:`chain_head` is what reports,
exports and the sidecar anchor (:mod:`readerstudy.storage.anchor`) record.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, select, text
from sqlalchemy.orm import Session

from readerstudy.core.models import AuditEvent
from readerstudy.storage import convert
from readerstudy.storage.models import AuditEventRow, Base

GENESIS = "0" * 64
LOCAL_CHAIN = ""
PG_AUDIT_LOCK = 0x52535F41554449  # "RS_AUDI": pg_advisory_xact_lock key of the audit tip


def event_hash(prev_hash: str, at: datetime, actor: str, action: str, entity: str, entity_id: str,
               payload: dict[str, Any]) -> str:
    at_utc = (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(UTC).isoformat()
    body = json.dumps([at_utc, actor, action, entity, entity_id, payload], sort_keys=True,
                      separators=(",", ":"), default=str)
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


@dataclass(frozen=True)
class ChainHead:
    """The last event of the local chain: what an anchor, a report footer or an export records.

    ``seq`` is the event's sequence number, ``hash`` its 64-hex sha256, ``at`` its time (UTC),
    ``events`` the number of events in the local chain.
    """

    seq: int
    hash: str
    at: datetime
    events: int

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "hash": self.hash, "at": self.at.isoformat(), "events": self.events}

    def short(self) -> str:
        """``#seq:first-16-hex``, for a report footer."""
        return f"#{self.seq}:{self.hash[:16]}"


# --- content hashes ---------------------------------------------------------------------------------

def canonical(value: Any) -> Any:
    """A stored value in the form content hashes use (aware UTC ISO datetimes, plain containers)."""
    if isinstance(value, datetime):
        return convert.aware(value).astimezone(UTC).isoformat()  # type: ignore[union-attr]
    if isinstance(value, float):
        return repr(value) if not math.isfinite(value) else value
    if isinstance(value, dict):
        return {str(k): canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [canonical(v) for v in value]
    return value


def _table(name: str) -> Table:
    return Base.metadata.tables[name]


def row_values(session: Session, table: str, row_id: Any, fields: list[str] | None = None) -> dict[str, Any] | None:
    """The stored row ``table[row_id]`` as canonical values (all columns, or ``fields``); None if absent."""
    t = _table(table)
    cols = [t.c[f] for f in fields] if fields is not None else list(t.c)
    pk = list(t.primary_key.columns)[0]
    row = session.execute(select(*cols).where(pk == row_id)).mappings().first()
    return None if row is None else {k: canonical(v) for k, v in row.items()}


def digest_values(values: dict[str, Any]) -> str:
    body = json.dumps(values, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(body.encode()).hexdigest()


def row_digest(session: Session, table: str, row_id: Any) -> dict[str, Any]:
    """``{"table", "sha256", "fields"}`` of a stored (flushed) row, for an audit event's ``content``.

    The hash is over every column as stored now, read back from the database, so verification
    (:func:`check_digest`) recomputes exactly the same bytes. Raises ``LookupError`` when absent.
    """
    session.flush()
    values = row_values(session, table, row_id)
    if values is None:
        raise LookupError(f"{table} {row_id!r} is not stored")
    return {"table": table, "sha256": digest_values(values), "fields": sorted(values)}


def check_digest(session: Session, content: dict[str, Any], row_id: Any) -> str | None:
    """None when ``table[row_id]`` still hashes to ``content``; otherwise what is wrong."""
    table, fields = content.get("table"), content.get("fields")
    if table not in Base.metadata.tables or not isinstance(fields, list):
        return "its event's content hash is malformed"
    missing = [f for f in fields if f not in _table(table).c]
    if missing:
        return f"column(s) {missing} recorded in its event no longer exist"
    values = row_values(session, table, row_id, fields)
    if values is None:
        return "the row is missing"
    if digest_values(values) != content.get("sha256"):
        return "the stored row differs from what its audit event recorded"
    return None


# --- the repository ---------------------------------------------------------------------------------

class AuditRepository:
    def __init__(self, session: Session) -> None:
        self._s = session
        self.last_appended: tuple[int, str] | None = None

    def _lock_tip(self) -> None:
        if self._s.get_bind().dialect.name == "postgresql":
            self._s.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_AUDIT_LOCK})

    def _tip(self, chain: str = LOCAL_CHAIN) -> str | None:
        q = (select(AuditEventRow.hash).where(AuditEventRow.chain == chain)
             .order_by(AuditEventRow.seq.desc()).limit(1))
        return self._s.scalars(q).first()

    def append(self, actor: str, action: str, entity: str, entity_id: str,
               payload: dict[str, Any] | None = None, *, content: dict[str, Any] | None = None) -> AuditEvent:
        """Append one event to the local chain (in the caller's transaction) and return it.

        ``content`` (from :func:`row_digest`) is stored under ``payload["content"]``.
        """
        payload = json.loads(json.dumps(payload or {}, default=str))
        if content is not None:
            payload["content"] = content
        self._lock_tip()
        prev = self._tip() or GENESIS
        at = datetime.now(UTC)
        row = AuditEventRow(at=at, actor=actor, action=action, entity=entity, entity_id=entity_id,
                            payload=payload, prev_hash=prev, chain=LOCAL_CHAIN,
                            hash=event_hash(prev, at, actor, action, entity, entity_id, payload))
        self._s.add(row)
        self._s.flush()
        self.last_appended = (row.seq, row.hash)
        return convert.audit(row)

    def append_row(self, actor: str, action: str, table: str, row_id: str,
                   payload: dict[str, Any] | None = None) -> AuditEvent:
        """Append an event about a stored row, carrying the row's content hash."""
        return self.append(actor, action, table, row_id, payload, content=row_digest(self._s, table, row_id))

    def case_files(self, case_id: str) -> dict[str, dict[str, str]]:
        """``{"assets": {asset id: sha256}, "annotations": {annotation id: sha256}}`` of a case as stored
        now: what a ``case.import`` (or ``asset.add``) event records so pixel files can be verified."""
        from readerstudy.storage.models import AnnotationRow, ImageAssetRow

        self._s.flush()
        assets = self._s.execute(select(ImageAssetRow.id, ImageAssetRow.checksum)
                                 .where(ImageAssetRow.case_id == case_id))
        anns = self._s.execute(select(AnnotationRow.id, AnnotationRow.checksum).where(AnnotationRow.case_id == case_id))
        return {"assets": {i: c for i, c in assets}, "annotations": {i: c for i, c in anns}}

    def list(self, entity_id: str | None = None, action: str | None = None,
             chain: str | None = LOCAL_CHAIN) -> list[AuditEvent]:
        """Events in sequence order: of the local chain (default), of ``chain``, or of all (``None``)."""
        q = select(AuditEventRow).order_by(AuditEventRow.seq)
        if entity_id is not None:
            q = q.where(AuditEventRow.entity_id == entity_id)
        if action is not None:
            q = q.where(AuditEventRow.action == action)
        if chain is not None:
            q = q.where(AuditEventRow.chain == chain)
        return [convert.audit(r) for r in self._s.scalars(q)]

    def chains(self) -> list[str]:
        return sorted(set(self._s.scalars(select(AuditEventRow.chain).distinct())))

    def head(self) -> tuple[int, str] | None:
        """``(seq, hash)`` of the newest event of the local chain (its head), or None when it is empty.

        :func:`chain_head` gives the same with the time and the number of events.
        """
        head = chain_head(self._s)
        return (head.seq, head.hash) if head else None

    def verify_chain(self, chain: str = LOCAL_CHAIN, start: str = GENESIS) -> tuple[bool, int | None]:
        """Recompute one chain. Returns ``(True, None)`` or ``(False, seq of the first bad event)``."""
        prev = start
        for ev in self.list(chain=chain):
            expected = event_hash(prev, ev.at, ev.actor, ev.action, ev.entity, ev.entity_id, ev.payload)
            if ev.prev_hash != prev or ev.hash != expected:
                return False, ev.seq
            prev = ev.hash
        return True, None


def chain_head(session: Session) -> ChainHead | None:
    """The head of the local audit chain (None for an empty trail).

    For report footers and exports: ``chain_head(uow.session).short()`` or ``.to_dict()``.
    """
    from sqlalchemy import func

    q = (select(AuditEventRow).where(AuditEventRow.chain == LOCAL_CHAIN)
         .order_by(AuditEventRow.seq.desc()).limit(1))
    row = session.scalars(q).first()
    if row is None:
        return None
    n = session.scalar(select(func.count()).select_from(AuditEventRow).where(AuditEventRow.chain == LOCAL_CHAIN))
    return ChainHead(row.seq, row.hash, convert.aware(row.at), int(n or 0))  # type: ignore[arg-type]
