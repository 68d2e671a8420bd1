"""The window-level brush benchmark rows run (tiny shape) and report per-move times in ms."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))


def test_window_brush_rows() -> None:
    import bench_annotation as bench

    rows = bench._view_rows("tiny", (1, 128, 128), 0)
    assert [r["name"] for r in rows] == ["window_brush_p50_tiny", "window_brush_p95_tiny"]
    p50, p95 = (float(r["value"]) for r in rows)
    assert 0.0 < p50 <= p95 and rows[1]["baseline_value"] == 16.0
