"""Verify a database against its audit trail: chain, anchor, reads, annotations, predictions, files.

What each check catches (each named by the first bad item it finds):

* **chain**: an edited event (its hash no longer matches), a deleted or inserted event (the next
  event no longer chains from the one before it); merged segments end at the head their merge
  event recorded.
* **anchor**: the sidecar head (and any head copied from a report, ``expected``) is still in the
  chain with the same hash: deleting the last events, or editing one and recomputing every hash
  after it, no longer passes.
* **reads, annotations, predictions**: every row has exactly one event whose content hash it still
  matches, and every event's row exists: an edited, inserted or deleted row is found.
* **files**: every image asset and mask is recorded by an event with its sha256, and the file's
  bytes still hash to it: a replaced or removed pixel file is found.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from readerstudy.core.models import AuditEvent
from readerstudy.storage.anchor import AuditAnchor
from readerstudy.storage.audit import (
    GENESIS,
    LOCAL_CHAIN,
    AuditRepository,
    canonical,
    chain_head,
    digest_values,
    event_hash,
)
from readerstudy.storage.models import Base
from readerstudy.storage.store import PixelStore

READ_ACTIONS = ("read.submit", "read.correct")
FILE_ACTIONS = ("case.import", "asset.add")


@dataclass(frozen=True)
class Problem:
    """One thing that does not verify: ``kind`` (chain, anchor, read, annotation, prediction, asset,
    file, database), the ``item`` (an event ``#seq``, a row id, a store path) and what is wrong."""

    kind: str
    item: str
    message: str

    def __str__(self) -> str:
        return f"{self.kind} {self.item}: {self.message}"


@dataclass
class VerifyReport:
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    head: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first(self) -> Problem | None:
        return self.problems[0] if self.problems else None

    def add(self, kind: str, item: str, message: str) -> None:
        self.problems.append(Problem(kind, item, message))

    def summary(self) -> str:
        checked = ", ".join(f"{v} {k}" for k, v in self.counts.items())
        if self.ok:
            return f"audit verified: {checked}; chain head {self._head()}"
        return f"AUDIT FAILED ({len(self.problems)} problem(s)); first: {self.first}"

    def _head(self) -> str:
        return f"#{self.head['seq']}:{self.head['hash'][:16]}" if self.head else "none (no events)"


def _ev_label(ev: AuditEvent) -> str:
    return f"#{ev.seq}" + (f" (segment {ev.chain})" if ev.chain else "")


def _check_chain(events: list[AuditEvent], start: str, report: VerifyReport) -> bool:
    prev = start
    for ev in events:
        if ev.prev_hash != prev:
            report.add("chain", _ev_label(ev), f"{ev.action} of {ev.at:%Y-%m-%d %H:%M:%S} does not chain from the "
                       "event before it: an event before it was deleted or inserted")
            return False
        if ev.hash != event_hash(prev, ev.at, ev.actor, ev.action, ev.entity, ev.entity_id, ev.payload):
            report.add("chain", _ev_label(ev), f"{ev.action} of {ev.at:%Y-%m-%d %H:%M:%S} was edited: its content "
                       "no longer matches its hash")
            return False
        prev = ev.hash
    return True


def _check_chains(audit: AuditRepository, report: VerifyReport) -> list[AuditEvent]:
    local = audit.list(chain=LOCAL_CHAIN)
    _check_chain(local, GENESIS, report)
    segments = {chain: audit.list(chain=chain) for chain in audit.chains() if chain != LOCAL_CHAIN}
    # a segment is recorded by an audit.merge event of this chain, or of a segment merged with it
    merges = {e.payload.get("segment"): e for evs in [local, *segments.values()] for e in evs
              if e.action == "audit.merge"}
    events = list(local)
    for chain, seg in segments.items():
        events.extend(seg)
        merge = merges.get(chain)
        if merge is None:
            report.add("chain", f"segment {chain}", "no audit.merge event of this database records it: it was "
                       "inserted behind the app's back")
            continue
        if _check_chain(seg, str(merge.payload.get("fork_from", GENESIS)), report):
            head = seg[-1].hash if seg else merge.payload.get("fork_from")
            if head != merge.payload.get("head") or len(seg) != merge.payload.get("events"):
                report.add("chain", f"segment {chain}", f"ends at a different event than its merge event #{merge.seq} "
                           "recorded: events of the segment were deleted or added")
    report.counts["events"] = len(events)
    return events


def _check_anchor(local: list[AuditEvent], anchor: AuditAnchor | None, expected: list[tuple[int, str]],
                  report: VerifyReport) -> None:
    by_seq = {e.seq: e for e in local}
    last = local[-1].seq if local else 0
    heads: list[tuple[str, int, str]] = [(f"head {s}:{h[:16]} from a report", s, h) for s, h in expected]
    if anchor is not None:
        try:
            a = anchor.read()
        except ValueError as exc:
            report.add("anchor", anchor.path.name, str(exc))
            a = None
        if a is None and local and not report.problems:
            report.warnings.append(f"no anchor file {anchor.path.name}: the chain head is not anchored outside the "
                                   "database (copied without it?); compare with a head recorded in a report")
        elif a is not None:
            heads.insert(0, (f"anchor {anchor.path.name}", a.seq, a.hash))
            if last > a.seq:
                report.warnings.append(f"{last - a.seq} event(s) after the anchored head #{a.seq} (the app was "
                                       "interrupted before it wrote the anchor?)")
    for what, seq, hash_ in heads:
        ev = by_seq.get(seq)
        if ev is None:
            report.add("anchor", f"#{seq}", f"the {what} names event #{seq}, but the chain ends at #{last}: events "
                       "were deleted")
        elif ev.hash != hash_:
            report.add("anchor", f"#{seq}", f"event #{seq} differs from the {what}: the chain was rewritten")


def _rows(session: Session, table: str) -> dict[Any, dict[str, Any]]:
    t = Base.metadata.tables[table]
    pk = list(t.primary_key.columns)[0].name
    return {r[pk]: {k: v for k, v in r.items()} for r in session.execute(select(t)).mappings()}


def _digest_of(row: dict[str, Any], fields: list[str]) -> str | None:
    if any(f not in row for f in fields):
        return None
    return digest_values({f: canonical(row[f]) for f in fields})


def _check_content(session: Session, events: list[AuditEvent], table: str, actions: tuple[str, ...],
                   report: VerifyReport) -> None:
    rows = _rows(session, table)
    report.counts[f"{table}s"] = len(rows)
    by_row: dict[str, list[AuditEvent]] = defaultdict(list)
    for ev in events:
        if ev.action in actions:
            by_row[ev.entity_id].append(ev)
    legacy = 0
    for rid, row in rows.items():
        evs = by_row.get(rid, [])
        if not evs:
            report.add(table, rid, "has no audit event: it was inserted behind the app's back")
            continue
        if len(evs) > 1:
            report.add(table, rid, f"has {len(evs)} audit events ({', '.join(_ev_label(e) for e in evs)}); one expected")
            continue
        content = evs[0].payload.get("content")
        if content is None:
            legacy += 1
            continue
        if _digest_of(row, list(content.get("fields", []))) != content.get("sha256"):
            report.add(table, rid, f"differs from what its audit event {_ev_label(evs[0])} recorded: it was edited "
                       "or replaced")
    skipped = _merge_skipped(events, table)
    for rid, evs in by_row.items():
        if rid in skipped:
            report.warnings.append(f"{table} {rid} was left out of a merge as a conflict (event {_ev_label(skipped[rid])})")
        elif rid not in rows:
            report.add(table, rid, f"recorded by audit event {_ev_label(evs[0])} is missing: it was deleted")
    if legacy:
        report.warnings.append(f"{legacy} {table} event(s) predate content hashes (written by an older readerstudy)")


def _merge_skipped(events: list[AuditEvent], table: str) -> dict[str, AuditEvent]:
    """Rows of ``table`` a merge left out as conflicts (``--skip-conflicts``), by key."""
    out = {}
    for ev in events:
        if ev.action.startswith("audit.merge") and ev.chain == LOCAL_CHAIN:
            for item in ev.payload.get("skipped", []):
                if isinstance(item, dict) and item.get("table") == table:
                    out[str(item.get("key"))] = ev
    return out


def _recorded(events: list[AuditEvent], key: str, actions: tuple[str, ...]) -> dict[str, tuple[str, AuditEvent]]:
    out: dict[str, tuple[str, AuditEvent]] = {}
    for ev in events:
        if ev.action in actions and isinstance(ev.payload.get(key), dict):
            for rid, value in ev.payload[key].items():
                out[rid] = (str(value), ev)
    return out


def _check_files(session: Session, events: list[AuditEvent], store: PixelStore | None, report: VerifyReport) -> None:
    assets = _rows(session, "image_asset")
    recorded = _recorded(events, "assets", FILE_ACTIONS)
    legacy = sum(1 for e in events if e.action in FILE_ACTIONS and "assets" not in e.payload)
    for rid, row in assets.items():
        rec = recorded.get(rid)
        if rec is None and not legacy:
            report.add("asset", row["path"], "no import event records this pixel file: it was added behind the app's back")
        elif rec is not None and rec[0] != row["checksum"]:
            report.add("asset", row["path"], f"its checksum differs from the one event {_ev_label(rec[1])} recorded")
    for rid, (_, ev) in recorded.items():
        if rid not in assets:
            report.add("asset", rid, f"recorded by event {_ev_label(ev)} is missing: it was deleted")
    anns = _rows(session, "annotation")
    rec_ann = {**_recorded(events, "annotations", FILE_ACTIONS)}
    for ev in events:
        if ev.action == "annotation.save" and "checksum" in ev.payload:
            rec_ann[ev.entity_id] = (str(ev.payload["checksum"]), ev)
    for rid, row in anns.items():
        rec = rec_ann.get(rid)
        if rec is not None and rec[0] != row["checksum"]:
            report.add("annotation", rid, f"its mask checksum differs from the one event {_ev_label(rec[1])} recorded")
        elif rec is None and not legacy:
            report.add("annotation", rid, "no event records this mask: it was added behind the app's back")
    if legacy:
        report.warnings.append(f"{legacy} import event(s) predate file checksums in the audit trail")
    report.counts["files"] = 0
    if store is None:
        return
    for path, checksum in [(r["path"], r["checksum"]) for r in assets.values()] + \
            [(r["path"], r["checksum"]) for r in anns.values()]:
        report.counts["files"] += 1
        if not store.path(path).exists():
            report.add("file", path, "is missing from the pixel store")
        elif not store.verify(path, checksum):
            report.add("file", path, "does not match its checksum: the file was replaced or damaged")


def _check_predictions(session: Session, events: list[AuditEvent], report: VerifyReport) -> None:
    preds = _rows(session, "prediction")
    recorded = _recorded(events, "predictions", ("model.predict",))
    legacy = 0
    for rid, row in preds.items():
        rec = recorded.get(rid)
        if rec is None:
            legacy += 1
            continue
        fields = rec[1].payload.get("prediction_fields") or sorted(row)
        if _digest_of(row, list(fields)) != rec[0]:
            report.add("prediction", rid, f"differs from what event {_ev_label(rec[1])} recorded: it was edited")
    for rid, (_, ev) in recorded.items():
        if rid not in preds:
            report.add("prediction", rid, f"recorded by event {_ev_label(ev)} is missing: it was deleted")
    report.counts["predictions"] = len(preds)
    if legacy:
        report.warnings.append(f"{legacy} prediction(s) not recorded with a content hash (stored outside "
                               "`engine predict`, or by an older readerstudy)")


def verify_database(session: Session, *, store: PixelStore | None, anchor: AuditAnchor | None,
                    expected_heads: list[tuple[int, str]] | None = None) -> VerifyReport:
    """Run every check (see the module docstring); ``store=None`` skips hashing the pixel files."""
    report = VerifyReport()
    if session.get_bind().dialect.name == "sqlite":
        res = session.execute(text("PRAGMA quick_check")).scalars().all()
        if res != ["ok"]:
            report.add("database", "file", f"SQLite quick_check: {'; '.join(res[:3])}")
    audit = AuditRepository(session)
    events = _check_chains(audit, report)
    local = [e for e in events if e.chain == LOCAL_CHAIN]
    head = chain_head(session)
    report.head = head.to_dict() if head else None
    _check_anchor(local, anchor, list(expected_heads or []), report)
    _check_content(session, events, "read", READ_ACTIONS, report)
    _check_content_annotations(session, events, report)
    _check_predictions(session, events, report)
    _check_files(session, events, store, report)
    return report


def _check_content_annotations(session: Session, events: list[AuditEvent], report: VerifyReport) -> None:
    """Annotations saved in the app carry a content hash; those created by an import are checked by checksum."""
    saved = [e for e in events if e.action == "annotation.save" and "content" in e.payload]
    rows = _rows(session, "annotation")
    report.counts["annotations"] = len(rows)
    for ev in saved:
        row = rows.get(ev.entity_id)
        if row is None:
            report.add("annotation", ev.entity_id, f"saved by event {_ev_label(ev)} is missing: it was deleted")
        elif _digest_of(row, list(ev.payload["content"].get("fields", []))) != ev.payload["content"].get("sha256"):
            report.add("annotation", ev.entity_id, f"differs from what event {_ev_label(ev)} recorded: it was edited")


__all__ = ["Problem", "VerifyReport", "verify_database"]
