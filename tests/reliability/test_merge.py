"""Multi-site merge: two sites read overlapping cases of one study; the merged database holds
everything once, each site's audit chain as a verifiable sealed segment, and both pixel stores."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import support
from support import STUDY, copy_db, raw

from readerstudy.cli.app import main
from readerstudy.core.errors import IntegrityFailure
from readerstudy.core.reading import ReadingState
from readerstudy.services.auth import local_session, sign_in
from readerstudy.services.context import open_context
from readerstudy.services.importing import import_cases
from readerstudy.services.integrity import verify
from readerstudy.services.merge import MergeConflictError, merge_sites
from readerstudy.services.reading import ReadingService

LOCAL = local_session("test")


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """origin (6 cases, readers alice, bob, dora), copied to site 1 and site 2, which then read."""
    root = tmp_path_factory.mktemp("merge")
    ctx = support.build(root / "origin" / "origin.sqlite", n_cases=6, readers=["alice", "bob", "dora"],
                        tiny_in=root / "img")
    ctx.close()
    s1, s2, s3 = (copy_db(root / "origin" / "origin.sqlite", root / f"site{i}", f"site{i}.sqlite") for i in (1, 2, 3))
    ctx = open_context(s1)
    support.read_cases(ctx, "alice")
    support.read_cases(ctx, "dora", limit=3)
    ctx.close()
    ctx = open_context(s2)
    support.read_cases(ctx, "bob")  # the same cases as alice's at site 1
    report = import_cases(ctx, LOCAL, STUDY, [support.CaseSource(f"site2-{i}", p.image, truth=p.truth, modality="US")
                                       for i, p in enumerate(support.tiny_sources(root / "img2", 2, seed=5))])
    assert len(report.imported) == 2
    ctx.close()
    ctx = open_context(s3)
    support.read_cases(ctx, "alice", limit=2, seed=99)  # alice again, other answers: conflicts with site 1
    ctx.close()
    return {"site1": s1, "site2": s2, "site3": s3, "root": root}


def _count(db: Path, sql: str) -> int:
    con = sqlite3.connect(db)
    try:
        return con.execute(sql).fetchone()[0]
    finally:
        con.close()


def _head(db: Path) -> str:
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT hash FROM audit_event WHERE chain = '' ORDER BY seq DESC LIMIT 1").fetchone()[0]
    finally:
        con.close()


def test_two_sites_merge_into_one_verifiable_database(sites: dict[str, Path], tmp_path: Path, capsys) -> None:  # noqa: ANN001
    merged = tmp_path / "merged.sqlite"
    report = merge_sites(merged, [sites["site1"], sites["site2"]], LOCAL)
    s1, s2 = report.sites
    assert report.verified and report.conflicts == []
    assert s1.inserted["read"] == 9 and s2.inserted["read"] == 6
    assert s2.inserted["case"] == 2 and s2.duplicates["case"] == 6 and s2.duplicates["study"] == 1
    assert s2.files_copied == 2 and s2.files_same == 6
    assert _count(merged, "SELECT count(*) FROM read") == 15
    assert _count(merged, "SELECT count(*) FROM \"case\"") == 8
    # each site's chain is a sealed segment ending at that site's head; site 2 forks where the copies diverged
    with open_context(merged, read_only=True).uow() as uow:
        merges = [e for e in uow.audit.list() if e.action == "audit.merge"]
    assert [e.payload["head"] for e in merges] == [_head(sites["site1"]), _head(sites["site2"])]
    assert merges[0].payload["fork_from"] == "0" * 64 and merges[1].payload["shared_events"] > 0
    ctx = open_context(merged)
    check = verify(ctx, LOCAL)
    assert check.ok and check.warnings == [] and check.counts["reads"] == 15
    # dora read 3 cases at site 1: in the merged database she resumes at her 4th, pixels verified
    svc = ReadingService(ctx, sign_in(ctx, STUDY, "dora", support.PIN), prefetch=False)
    flow = svc.open()
    assert flow.done == 3 and svc.start_case() is not None and flow.state == ReadingState.BLACK_SCREEN
    svc.close()
    ctx.close()
    with capsys.disabled():
        print("\nmerge: " + " | ".join(report.lines()))


def test_merging_the_same_sites_again_changes_nothing(sites: dict[str, Path], tmp_path: Path) -> None:
    merged = tmp_path / "merged.sqlite"
    merge_sites(merged, [sites["site1"], sites["site2"]], LOCAL)
    events = _count(merged, "SELECT count(*) FROM audit_event")
    again = merge_sites(merged, [sites["site2"], sites["site1"]], LOCAL)
    assert all(sum(s.inserted.values()) == 0 and s.segment is None for s in again.sites)
    assert _count(merged, "SELECT count(*) FROM audit_event") == events
    assert _count(merged, "SELECT count(*) FROM read") == 15


def test_conflicting_reads_stop_the_merge_and_change_nothing(sites: dict[str, Path], tmp_path: Path) -> None:
    merged = tmp_path / "merged.sqlite"
    merge_sites(merged, [sites["site1"]], LOCAL)
    before = merged.read_bytes()
    with pytest.raises(MergeConflictError, match="2 conflict") as info:
        merge_sites(merged, [sites["site3"]], LOCAL)
    conflicts = info.value.report.conflicts
    assert {c.table for c in conflicts} == {"read"}
    assert all("same assignment_id, case_id, phase, revision" in c.message for c in conflicts)
    assert merged.read_bytes() == before
    fresh = tmp_path / "fresh.sqlite"
    with pytest.raises(MergeConflictError):
        merge_sites(fresh, [sites["site1"], sites["site3"]], LOCAL)
    assert not fresh.exists() and not (tmp_path / "fresh.sqlite.store").exists()  # nothing left behind
    # --skip-conflicts: the rest merges, the left-out reads are named in the audit trail and verify says so
    skipped = merge_sites(merged, [sites["site3"]], LOCAL, skip_conflicts=True)
    assert skipped.verified and len(skipped.conflicts) == 2
    check = verify(open_context(merged, read_only=True), LOCAL)
    assert check.ok and sum("left out of a merge as a conflict" in w for w in check.warnings) == 2


def test_a_tampered_site_is_refused(sites: dict[str, Path], tmp_path: Path) -> None:
    bad = copy_db(sites["site1"], tmp_path / "bad")
    raw(bad, "UPDATE read SET probability = 0 WHERE rowid = 1")
    with pytest.raises(IntegrityFailure, match="does not verify"):
        merge_sites(tmp_path / "m.sqlite", [bad], LOCAL)
    assert not (tmp_path / "m.sqlite").exists()


def test_cli_merge(sites: dict[str, Path], tmp_path: Path, capsys) -> None:  # noqa: ANN001
    merged = tmp_path / "m.sqlite"
    assert main(["merge", "--into", str(merged), str(sites["site1"]), str(sites["site2"])]) == 0
    out = capsys.readouterr().out
    assert "site2.sqlite: 10 new row(s) (2 case, 2 image_asset, 6 read)" in out and "audit verified: True" in out
    assert main(["merge", "--into", str(merged), str(sites["site3"])]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "2 conflict(s), nothing was merged" in err[0]
