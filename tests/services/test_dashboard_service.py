"""The dashboard's reading-time outlier rule on constructed reads, and its data on a study without reads."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from readerstudy.core.errors import PermissionDenied
from readerstudy.core.models import Role
from readerstudy.core.protocol import parse_protocol
from readerstudy.services.assignments import apply_protocol
from readerstudy.services.auth import UserSession, system_session
from readerstudy.services.dashboard import FAST_MS, OUTLIER_RULE, ReadTime, dashboard_data, time_outliers
from readerstudy.services.demo import BUSI_STUDY

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reports"))
from simreads import demo_protocol_text  # noqa: E402


def _reads(reader: str, seconds: list[float]) -> list[ReadTime]:
    return [ReadTime(reader, f"C{i:03d}", "unaided", 1, "unaided", int(s * 1000)) for i, s in enumerate(seconds)]


def test_fence_is_q3_plus_three_iqr_of_the_same_reader():
    # 8 x 10 s, 8 x 20 s, 49 s, 100 s (n = 18): Q1 = 10 s, Q3 = 20 s (linear), IQR 10 s -> fence 50 s
    flagged = time_outliers(_reads("a", [10.0] * 8 + [20.0] * 8 + [49.0, 100.0]))
    assert [(o.read.time_ms, o.reason) for o in flagged] == [(100000, "slow")]
    assert flagged[0].limit_ms == pytest.approx(50000) and flagged[0].median_ms == pytest.approx(20000)


def test_fence_boundary_and_fast_reads():
    times = [10.0, 10.0, 20.0, 20.0]  # Q1 10, Q3 20, IQR 10 -> fence 50 s
    at_fence = time_outliers(_reads("a", [*times, 50.0]))
    assert at_fence == []  # beyond the fence only: exactly Q3 + 3 IQR is not an outlier
    over = time_outliers(_reads("a", [10.0, 10.0, 20.0, 20.0, 10.0, 20.0, 1.999, 2.0, 80.0]))
    assert [(o.read.time_ms, o.reason) for o in over] == [(80000, "slow"), (1999, "fast")]
    assert FAST_MS == 2000 and "Q3 + 3 x IQR" in OUTLIER_RULE and "under 2 s" in OUTLIER_RULE


def test_quartiles_are_per_reader():
    slow = _reads("slow reader", [100.0, 110.0, 120.0, 130.0, 140.0])
    quick = _reads("quick reader", [10.0, 11.0, 12.0, 13.0, 100.0])
    flagged = time_outliers(slow + quick)
    # 100 s is ordinary for the slow reader but far beyond the quick reader's fence (13 + 3 x 2 = 19 s)
    assert [(o.read.reader, o.read.time_ms) for o in flagged] == [("quick reader", 100000)]


def test_few_reads_get_no_upper_fence_but_the_fast_rule():
    assert time_outliers(_reads("a", [5.0, 500.0, 1.0])) == [
        o for o in time_outliers(_reads("a", [5.0, 500.0, 1.0])) if o.reason == "fast"]
    assert [o.read.time_ms for o in time_outliers(_reads("a", [5.0, 500.0, 1.0]))] == [1000]


def test_dashboard_before_any_read_and_refused_to_readers(demo_ctx):
    coord = system_session(demo_ctx, BUSI_STUDY, actor="test")
    data = dashboard_data(demo_ctx, coord)
    if not data.protocol_applied:  # the demo may be built with or without its protocol
        assert (data.progress, data.missing, data.counts.completion_pct) == ((), (), 0.0)
        apply_protocol(demo_ctx, coord, parse_protocol(demo_protocol_text()))
        data = dashboard_data(demo_ctx, coord)
    assert data.protocol_applied
    assert (data.counts.cases, data.counts.reads, data.counts.done, data.outliers) == (79, 0, 0, ())
    assert data.counts.expected == sum(p.total for p in data.progress) == 79 * len(data.progress) > 0
    assert {(p.done, p.total) for p in data.progress} == {(0, 79)}
    assert len(data.missing) == 79 and {len(m.missing) for m in data.missing} == {len(data.progress)}
    with demo_ctx.uow() as uow:
        positives = sum(c.truth == 1 for c in uow.cases.list(coord.study_id))
    assert data.counts.positives == positives > 0
    reader = UserSession(coord.study_id, coord.study_name, "r1", "someone", Role.READER)
    with pytest.raises(PermissionDenied):
        dashboard_data(demo_ctx, reader)
