"""Use case: merge per-site SQLite databases of one study into one (multi-site without a server).

Sites start from a copy of the same study database and read (or import) on their own; every key
is a UUID, so rows from different sites never collide by accident. For each site, in foreign-key
order, every row is

* **new**: inserted;
* a **duplicate** (same key, same content; e.g. the study, cases and readers every copy shares):
  skipped;
* a **conflict** (same key with different content, or a different key with the same unique
  values, e.g. one reader's read of one case stored at two sites with different answers):
  reported. Any conflict stops the merge before anything is written, unless ``skip_conflicts``,
  which merges the rest and records every skipped row in the audit trail.

Columns that change with use, not with data (sign-in counters, lock times, washout dates,
run status) are not compared (:data:`VOLATILE`); the target keeps its value.

Audit: each site's chain is verified first (a tampered site is refused). The events the target
does not have yet (after the prefix both share) are copied unchanged, hashes included, as a
*sealed segment* (``audit_event.chain``); an ``audit.merge`` event in the target's own chain
records the segment's fork point, head and length, so ``audit verify`` checks every site's chain
and the reads against their own events. Pixel files are copied into the target store (same
path, same bytes: duplicate; same path, other bytes: conflict).
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from readerstudy.core.errors import ConflictError, IntegrityFailure, ValidationError
from readerstudy.services.auth import UserSession, require_coordinator
from readerstudy.services.context import AppContext, open_context
from readerstudy.services.integrity import verify
from readerstudy.storage.audit import GENESIS, LOCAL_CHAIN, canonical
from readerstudy.storage.db import sqlite_path, to_url
from readerstudy.storage.models import AuditEventRow, Base
from readerstudy.storage.store import sha256_file

VOLATILE: dict[str, frozenset[str]] = {
    "reader": frozenset({"failed_attempts", "locked_until", "pin_hash"}),
    "assignment": frozenset({"not_before"}),
    "model_run": frozenset({"status", "finished_at"}),
}
SKIP_TABLES = frozenset({"audit_event", "alembic_version"})


class MergeConflictError(ConflictError):
    """Conflicts stopped the merge (nothing was written); ``report`` lists them all."""

    def __init__(self, message: str, report: MergeReport) -> None:
        super().__init__(message)
        self.report = report


@dataclass(frozen=True)
class MergeConflict:
    site: str
    table: str
    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.site}: {self.table} {self.key}: {self.message}"


@dataclass
class SiteMerge:
    """What one site contributed: rows ``inserted`` and ``duplicates`` per table, files, events."""

    site: str
    inserted: dict[str, int] = field(default_factory=dict)
    duplicates: dict[str, int] = field(default_factory=dict)
    conflicts: list[MergeConflict] = field(default_factory=list)
    files_copied: int = 0
    files_same: int = 0
    segment: str | None = None
    events: int = 0
    shared_events: int = 0

    def line(self) -> str:
        new = sum(self.inserted.values())
        detail = ", ".join(f"{v} {k}" for k, v in sorted(self.inserted.items()) if v) or "nothing new"
        seg = f"; {self.events} audit event(s) as segment {self.segment}" if self.segment else "; no new audit events"
        return (f"{self.site}: {new} new row(s) ({detail}), {sum(self.duplicates.values())} duplicate(s), "
                f"{len(self.conflicts)} conflict(s), {self.files_copied} file(s) copied{seg}")


@dataclass
class MergeReport:
    into: str
    sites: list[SiteMerge] = field(default_factory=list)
    verified: bool = False

    @property
    def conflicts(self) -> list[MergeConflict]:
        return [c for s in self.sites for c in s.conflicts]

    def lines(self) -> list[str]:
        return [s.line() for s in self.sites] + [f"  conflict: {c}" for c in self.conflicts[:20]]


# --- rows ----------------------------------------------------------------------------------------------

def _tables() -> list[Table]:
    return [t for t in Base.metadata.sorted_tables if t.name not in SKIP_TABLES]


def _pk(t: Table) -> list[str]:
    return [c.name for c in t.primary_key.columns]


def _key(t: Table, row: dict[str, Any]) -> str:
    return "/".join(str(row[c]) for c in _pk(t))


def _unique_sets(t: Table) -> list[list[str]]:
    out = [[c.name for c in con.columns] for con in t.constraints
           if con.__class__.__name__ == "UniqueConstraint"]
    out += [[c.name] for c in t.columns if c.unique]
    return out


def _same(t: Table, a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    skip = VOLATILE.get(t.name, frozenset())
    return [c.name for c in t.columns if c.name not in skip and canonical(a.get(c.name)) != canonical(b.get(c.name))]


def _plan_table(t: Table, site_rows: list[dict[str, Any]], target: Session, planned: dict[str, dict],
                merge: SiteMerge) -> list[dict[str, Any]]:
    """Rows of ``t`` to insert from one site; duplicates and conflicts are counted in ``merge``."""
    have = {_key(t, r): r for r in target.execute(select(t)).mappings()}
    have.update(planned.setdefault(t.name, {}))
    uniques = _unique_sets(t)
    taken = {tuple(cols): {tuple(canonical(r[c]) for c in cols): k for k, r in have.items()} for cols in uniques}
    out = []
    for row in site_rows:
        k = _key(t, row)
        if k in have:
            diff = _same(t, row, have[k])
            if diff:
                merge.conflicts.append(MergeConflict(merge.site, t.name, k, f"stored with different {', '.join(diff)}"))
            else:
                merge.duplicates[t.name] = merge.duplicates.get(t.name, 0) + 1
            continue
        clash = next(((cols, taken[tuple(cols)][v]) for cols in uniques
                      if (v := tuple(canonical(row[c]) for c in cols)) in taken[tuple(cols)]), None)
        if clash is not None:
            cols, other = clash
            merge.conflicts.append(MergeConflict(merge.site, t.name, k, f"has the same {', '.join(cols)} as "
                                                 f"{other} (already merged), with another key"))
            continue
        out.append(row)
        have[k] = planned[t.name][k] = row
        for cols in uniques:
            taken[tuple(cols)][tuple(canonical(row[c]) for c in cols)] = k
    merge.inserted[t.name] = len(out)
    return out


# --- audit segments ------------------------------------------------------------------------------------

def _segment_of(site: Session, target: Session, name: str, merge: SiteMerge, planned: set[str]) -> list[dict[str, Any]]:
    """The site's own events the target lacks (after their shared prefix), renamed into segment ``name``.

    ``planned`` holds the hashes of events earlier sites of this merge add; it grows with these.
    """
    cols = [c for c in AuditEventRow.__table__.columns if c.name != "seq"]
    events = [dict(r) for r in site.execute(select(*cols).where(AuditEventRow.chain == LOCAL_CHAIN)
                                            .order_by(AuditEventRow.seq)).mappings()]
    hashes = [e["hash"] for e in events]
    known = {h for h in hashes if h in planned}
    for i in range(0, len(hashes), 500):
        chunk = hashes[i:i + 500]
        known |= set(target.scalars(select(AuditEventRow.hash).where(AuditEventRow.hash.in_(chunk))))
    n_shared = 0
    while n_shared < len(events) and events[n_shared]["hash"] in known:
        n_shared += 1
    rest = events[n_shared:]
    if any(e["hash"] in known for e in rest):
        raise ValidationError(f"{merge.site}: its audit chain and the target's share events out of order; these "
                              "are not copies of one study. Nothing was merged.")
    merge.shared_events = n_shared
    for e in rest:
        e["chain"] = name
        planned.add(e["hash"])
    return rest


def _foreign_segments(site: Session, target: Session, planned: set[str]) -> list[dict[str, Any]]:
    """Segments the site holds from earlier merges that neither the target nor this merge has yet."""
    cols = [c for c in AuditEventRow.__table__.columns if c.name != "seq"]
    have = set(target.scalars(select(AuditEventRow.chain).distinct()))
    rows = [dict(r) for r in site.execute(select(*cols).where(AuditEventRow.chain != LOCAL_CHAIN)
                                          .order_by(AuditEventRow.seq)).mappings()]
    out = [r for r in rows if r["chain"] not in have and r["hash"] not in planned]
    planned.update(r["hash"] for r in out)
    return out


# --- files ---------------------------------------------------------------------------------------------

def _plan_files(site: AppContext, target: AppContext, merge: SiteMerge, planned: dict[Path, Path]) -> None:
    """Store files to copy (added to ``planned``: destination -> source); other bytes at a path conflict."""
    root = site.store.root
    for p in sorted(root.rglob("*")) if root.exists() else []:
        rel = p.relative_to(root)
        if not p.is_file() or rel.parts[0] == ".staging" or ".part" in p.name or p.name.startswith("audit-head"):
            continue
        dest = target.store.root / rel
        other = planned.get(dest, dest if dest.exists() else None)
        if other is None:
            planned[dest] = p
            merge.files_copied += 1
        elif sha256_file(other) == sha256_file(p):
            merge.files_same += 1
        else:
            merge.conflicts.append(MergeConflict(merge.site, "file", rel.as_posix(), "exists with other bytes"))


def _copy_files(copies: dict[Path, Path]) -> list[Path]:
    done = []
    try:
        for dest, src in copies.items():
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_name(dest.name + ".merge-part")
            shutil.copy2(src, tmp)
            tmp.replace(dest)
            done.append(dest)
    except BaseException:
        for d in done:
            d.unlink(missing_ok=True)
        raise
    return done


# --- the use case --------------------------------------------------------------------------------------

def _open_site(path: Path, session: UserSession, name: str) -> AppContext:
    site = open_context(path, read_only=True)
    report = verify(site, session)
    if not report.ok:
        site.close()
        raise IntegrityFailure(f"{name}: its audit trail does not verify ({report.first}); a damaged or tampered "
                               "site is not merged. Nothing was merged.")
    return site


def merge_sites(into: str | Path, sites: list[Path], session: UserSession, *,
                skip_conflicts: bool = False) -> MergeReport:
    """Merge ``sites`` (SQLite files) into ``into`` (created if absent); see the module docstring.

    Raises
    ------
    ConflictError
        a conflict was found and ``skip_conflicts`` is False: nothing was written.
    IntegrityFailure
        a site's audit trail does not verify (nothing was written).
    """
    require_coordinator(session, "merging site databases")
    if not sites:
        raise ValidationError("Name at least one site database to merge.")
    fresh = sqlite_path(to_url(into))
    fresh = fresh if fresh is not None and not fresh.exists() else None
    target = open_context(into)
    report = MergeReport(str(into))
    try:
        return _merge(target, report, sites, session, skip_conflicts)
    except BaseException:
        if fresh is not None:  # a target created for this merge is removed again: nothing is left
            target.close()
            for p in (fresh, *(fresh.with_name(fresh.name + x) for x in ("-wal", "-shm", ".audit-head.json",
                                                                           ".audit-head.json.lock"))):
                p.unlink(missing_ok=True)
            shutil.rmtree(target.store.root, ignore_errors=True)
        raise
    finally:
        target.close()


@dataclass
class _Plan:
    planned: dict[str, dict] = field(default_factory=dict)
    inserts: list[tuple[Table, list[dict[str, Any]]]] = field(default_factory=list)
    events: list[tuple[SiteMerge, list[dict[str, Any]], list[dict[str, Any]]]] = field(default_factory=list)
    copies: dict[Path, Path] = field(default_factory=dict)  # destination -> source
    hashes: set[str] = field(default_factory=set)  # audit events this merge adds


def _plan_site(path: Path, label: str, target: AppContext, tsession: Session, session: UserSession,
               plan: _Plan) -> SiteMerge:
    """Compare one site with the target (and what earlier sites add); nothing is written."""
    m = SiteMerge(label)
    site = _open_site(Path(path), session, m.site)
    try:
        with site.uow() as s_uow:
            assert s_uow.session is not None
            for t in _tables():
                rows = [dict(r) for r in s_uow.session.execute(select(t)).mappings()]
                plan.inserts.append((t, _plan_table(t, rows, tsession, plan.planned, m)))
            name = "seg-" + hashlib.sha256(f"{m.site}:{_head(s_uow.session)}".encode()).hexdigest()[:12]
            plan.events.append((m, _segment_of(s_uow.session, tsession, name, m, plan.hashes),
                                _foreign_segments(s_uow.session, tsession, plan.hashes)))
        _plan_files(site, target, m, plan.copies)
    finally:
        site.close()
    return m


def _merge(target: AppContext, report: MergeReport, sites: list[Path], session: UserSession,
           skip_conflicts: bool) -> MergeReport:
    with target.uow() as uow:
        assert uow.session is not None
        plan = _Plan()
        names = [Path(p).name for p in sites]
        for path, name in zip(sites, names, strict=True):
            label = name if names.count(name) == 1 else str(path)
            report.sites.append(_plan_site(Path(path), label, target, uow.session, session, plan))
        if report.conflicts and not skip_conflicts:
            raise MergeConflictError(f"{len(report.conflicts)} conflict(s), nothing was merged; first: "
                                     f"{report.conflicts[0]}. Resolve them at the site, or merge the rest with "
                                     "--skip-conflicts.", report)
        for t, rows in plan.inserts:
            if rows:
                uow.session.execute(insert(t), rows)
        for m, own, foreign in plan.events:
            _append_events(uow, m, own, foreign)
        written = _copy_files(plan.copies)
        try:
            uow.commit()
        except BaseException:
            for d in written:
                d.unlink(missing_ok=True)
            raise
    check = verify(target, session)
    report.verified = check.ok
    if not check.ok:
        raise IntegrityFailure(f"the merged database does not verify ({check.first}); restore it from the "
                               "backup made before the merge.")
    return report


def _head(session: Session) -> str:
    row = session.scalars(select(AuditEventRow.hash).where(AuditEventRow.chain == LOCAL_CHAIN)
                          .order_by(AuditEventRow.seq.desc()).limit(1)).first()
    return row or GENESIS


def _append_events(uow: Any, m: SiteMerge, own: list[dict[str, Any]], foreign: list[dict[str, Any]]) -> None:
    """Insert the site's segments and record each own segment in the target's chain."""
    if foreign:
        uow.session.execute(insert(AuditEventRow.__table__), foreign)
    payload = {"source": m.site, "rows": m.inserted, "duplicates": m.duplicates, "files": m.files_copied,
               "skipped": [{"table": c.table, "key": c.key, "why": c.message} for c in m.conflicts]}
    if own:
        uow.session.execute(insert(AuditEventRow.__table__), own)
        m.segment, m.events = own[0]["chain"], len(own)
        uow.audit.append("merge", "audit.merge", "database", m.segment,
                         {"segment": m.segment, "fork_from": own[0]["prev_hash"], "head": own[-1]["hash"],
                          "events": len(own), "shared_events": m.shared_events, **payload})
    elif any(m.inserted.values()) or m.conflicts or foreign:
        uow.audit.append("merge", "audit.merge.rows", "database", m.site, payload)


__all__ = ["MergeConflict", "MergeConflictError", "MergeReport", "SiteMerge", "merge_sites"]
