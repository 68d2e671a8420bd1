"""simulate-readers: seeded readers go through the same services (sign-in, orders, timer, audit)."""

from __future__ import annotations

import numpy as np
from test_reading_support import COUNTERBALANCED, PIN, build_study

from readerstudy.cli.app import main
from readerstudy.core.models import ReadPhase, Role
from readerstudy.services.auth import local_session  # noqa: E402
from readerstudy.services.simulate import simulate_readers

LOCAL = local_session("test")  # the CLI's local coordinator session (reaches every study)

PROTO = COUNTERBALANCED.replace('name = "ai-aided"\nshows_ai = true', 'name = "ai-seq"\nshows_ai = true\nsequential = true')


def test_simulated_readers_read_everything_through_the_services(tmp_path):
    ctx = build_study(tmp_path, n_cases=12, protocol=PROTO, predictions=True,
                      readers=(("senior-1", "senior"),))
    report = simulate_readers(ctx, LOCAL, "Pilot", 3, seed=5, pin=PIN)
    assert report.created == ["sim-reader-02", "sim-reader-03"] and not report.skipped
    assert report.reads == 3 * (12 + 24)  # unaided arm + sequential arm (unaided + aided) per reader
    with ctx.uow() as uow:
        study = uow.studies.by_name("Pilot")
        reads = uow.reads.for_study(study.id)
        truth = {c.id: c.truth for c in uow.cases.list(study.id)}
        readers = {r.id: r for r in uow.readers.list(study.id, Role.READER)}
        submits = [e for e in uow.audit.list() if e.action == "read.submit"]
        ok, _ = uow.audit.verify_chain()
        assignments = uow.assignments.list(study.id)
    assert ok and len(submits) == len(reads) == report.reads
    by_reader_session = {}
    for r in reads:
        by_reader_session.setdefault((r.reader_id, r.session), []).append(r)
    for (rid, session), rs in by_reader_session.items():  # washout respected
        if session == 2:
            end1 = max(x.submitted_at for x in by_reader_session[(rid, 1)])
            assert min(x.started_at for x in rs) - end1 >= np.timedelta64(28, "D").item()
    aided = [r for r in reads if r.phase == ReadPhase.AIDED]
    assert len(aided) == 36 and all(r.ai_shown and r.ai_shown["model_name"] == "DiffKD-student" for r in aided)
    unaided = [r for r in reads if r.phase == ReadPhase.UNAIDED]
    pos = np.mean([r.probability for r in unaided if truth[r.case_id] == 1])
    neg = np.mean([r.probability for r in unaided if truth[r.case_id] == 0])
    assert pos > neg + 15  # probabilities carry signal about the truth
    secs = {s: np.mean([r.time_ms for r in unaided if readers[r.reader_id].seniority == s]) / 1000
            for s in ("senior", "mid", "junior")}
    assert 20 < secs["senior"] < secs["junior"] and 35 < secs["junior"] < 56
    assert all(r.active_ms <= r.time_ms for r in reads) and any(r.active_ms < r.time_ms for r in reads)
    assert len({a.seed for a in assignments}) == len(assignments)
    ctx.close()


def test_cli_simulate_and_protocol_commands(tmp_path, capsys):
    ctx = build_study(tmp_path, n_cases=3, readers=(("alice", "senior"),))
    db = str(tmp_path / "study.db")
    ctx.close()
    assert main(["simulate-readers", "--db", db, "--study", "Pilot", "--readers", "2", "--seed", "1",
                 "--pin", PIN]) == 0
    assert "6 read(s)" in capsys.readouterr().out
    assert main(["protocol", "show", "--db", db, "--study", "Pilot"]) == 0
    out = capsys.readouterr().out
    assert "sim-reader-02" in out and "3/3" in out
    bad = tmp_path / "bad.toml"
    bad.write_text('seed = 1\nsessions = 0\n[[arms]]\nname = "x"\n')
    assert main(["protocol", "apply", "--db", db, "--study", "Pilot", "--file", str(bad)]) == 3
    assert "bad.toml line 2: sessions" in capsys.readouterr().err
