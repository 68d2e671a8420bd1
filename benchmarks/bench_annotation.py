"""Brush latency of AnnotationLayer against naive baselines and the 16 ms frame budget.

Run as a script (prints a table) or call :func:`run` (rows for ``benchmarks/run.py``).
Each row: ``name``, ``value``, ``unit``, ``baseline`` (what it is compared with),
``baseline_value`` and ``ratio = value / baseline_value`` (below 1: better than the
baseline, for times and bytes alike).

A "move" is one ``paint`` call inside a stroke (radius 15 px, ~3 px apart, 200 moves)
plus what a view does on ``data_changed``: colour the dirty box through the LUT.
``end_stroke`` and ``undo`` rows include that recolouring for the stroke's whole box.
``window_brush_*`` rows measure what the annotation window does instead: each move recolours the
whole slice into a pyqtgraph ImageItem and converts it to the QImage a repaint draws (offscreen
Qt; left out where PySide6 is absent); the screen blit itself is not in these rows.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from readerstudy.core.annotation import AnnotationLayer, Box, LabelSet

FRAME_BUDGET_MS = 16.0
RADIUS = 15
MOVES = 200
REPEATS = 3  # strokes per case; percentiles pool all moves, one-off times take the median


def _path(h: int, w: int, n: int) -> list[tuple[float, float]]:
    t = np.linspace(0.0, 1.0, n)
    ys = h * (0.3 + 0.4 * t)
    xs = w * (0.5 + 0.3 * np.sin(2 * np.pi * t))  # a curve, ~3 px per move on 1024
    return list(zip(ys.tolist(), xs.tolist(), strict=True))


def _percentiles(times: list[float]) -> tuple[float, float]:
    ms = np.asarray(times) * 1000.0
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 95))


def _timed_moves(layer: AnnotationLayer, shape: tuple[int, int, int], z: int,
                 after: Callable[[], None] = lambda: None) -> list[float]:
    """Seconds of each ``layer.paint`` (its ``data_changed`` handlers included) along :func:`_path`,
    inside one open stroke; ``after`` runs untimed after each move."""
    times = []
    layer.begin_stroke()
    for y, x in _path(shape[1], shape[2], MOVES):
        t0 = time.perf_counter()
        layer.paint((z, y, x), RADIUS)
        times.append(time.perf_counter() - t0)
        after()
    return times


def _layer_stroke(shape: tuple[int, int, int], z: int) -> tuple[list[float], float, float, int]:
    layer = AnnotationLayer.empty(shape, LabelSet.preset("liver_tumour"))
    lut = layer.display.rgba_lut()
    sink: list[np.ndarray] = []

    def on_changed(box: Box) -> None:  # what a view does: recolour only the dirty box
        sink.append(layer.display.colorize(layer.data[box.slices], lut))

    layer.data_changed.connect(on_changed)
    times = _timed_moves(layer, shape, z, after=sink.clear)
    t0 = time.perf_counter()
    layer.end_stroke()
    end = time.perf_counter() - t0
    t0 = time.perf_counter()
    layer.undo()
    undo = time.perf_counter() - t0
    return times, end, undo, layer.history_nbytes


def _naive_stroke(shape: tuple[int, int, int], z: int, moves: int, snapshot_volume: bool) -> list[float]:
    """Baseline: whole-slice np.where disk per move, plus a copy for undo (slice or volume)."""
    labels = np.zeros(shape, np.uint8)
    yy, xx = np.ogrid[0 : shape[1], 0 : shape[2]]
    times = []
    for y, x in _path(shape[1], shape[2], MOVES)[:moves]:
        t0 = time.perf_counter()
        undo_copy = labels.copy() if snapshot_volume else labels[z].copy()
        disk = (yy - y) ** 2 + (xx - x) ** 2 <= RADIUS * RADIUS
        labels[z] = np.where(disk, 1, labels[z])
        times.append(time.perf_counter() - t0)
        del undo_copy
    return times


def _row(name: str, value: float, unit: str, baseline: str, baseline_value: float) -> dict[str, object]:
    return {
        "name": name,
        "value": round(value, 4),
        "unit": unit,
        "baseline": baseline,
        "baseline_value": round(baseline_value, 4),
        "ratio": round(value / baseline_value, 4) if baseline_value else float("nan"),
    }


def _case(label: str, shape: tuple[int, int, int], z: int, naive_moves: int, snapshot_volume: bool,
          naive_name: str) -> list[dict[str, object]]:
    times: list[float] = []
    ends, undos = [], []
    for _ in range(REPEATS):
        t, end_s, undo_s, nbytes = _layer_stroke(shape, z)
        times += t
        ends.append(end_s)
        undos.append(undo_s)
    end, undo = float(np.median(ends)), float(np.median(undos))
    p50, p95 = _percentiles(times)
    n50, n95 = _percentiles(_naive_stroke(shape, z, naive_moves, snapshot_volume))
    snapshot_bytes = (np.prod(shape) if snapshot_volume else shape[1] * shape[2])
    return [
        _row(f"brush_p50_{label}", p50, "ms", naive_name, n50),
        _row(f"brush_p95_{label}", p95, "ms", naive_name, n95),
        _row(f"brush_p95_{label}_vs_budget", p95, "ms", "16 ms frame budget", FRAME_BUDGET_MS),
        _row(f"end_stroke_{label}", end * 1000, "ms", "16 ms frame budget", FRAME_BUDGET_MS),
        _row(f"undo_{label}", undo * 1000, "ms", "16 ms frame budget", FRAME_BUDGET_MS),
        _row(f"undo_memory_per_stroke_{label}", float(nbytes), "bytes",
             "one undo snapshot of the " + ("volume" if snapshot_volume else "slice"), float(snapshot_bytes)),
    ]


def _view_stroke(shape: tuple[int, int, int], z: int) -> list[float]:
    """What the annotation window does per move: paint, then recolour the whole slice into its
    pyqtgraph ImageItem (``AnnotationWindow._render_overlay``), offscreen Qt."""
    import os

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import pyqtgraph as pg
    from PySide6.QtWidgets import QApplication

    _app = QApplication.instance() or QApplication([])
    pg.setConfigOptions(imageAxisOrder="row-major")
    item = pg.ImageItem()
    layer = AnnotationLayer.empty(shape, LabelSet.preset("liver_tumour"))

    def on_changed(_box: Box) -> None:
        item.setImage(layer.display.colorize(layer.get_slice(0, z)), autoLevels=False, levels=(0, 255))
        item.render()  # the QImage conversion a repaint would do

    layer.data_changed.connect(on_changed)
    times = _timed_moves(layer, shape, z)
    layer.end_stroke()
    del _app
    return times


def _view_rows(label: str, shape: tuple[int, int, int], z: int) -> list[dict[str, object]]:
    try:
        times = [t for _ in range(REPEATS) for t in _view_stroke(shape, z)]
    except ImportError:  # no Qt here: the layer rows still stand
        return []
    p50, p95 = _percentiles(times)
    return [_row(f"window_brush_p50_{label}", p50, "ms", "16 ms frame budget", FRAME_BUDGET_MS),
            _row(f"window_brush_p95_{label}", p95, "ms", "16 ms frame budget", FRAME_BUDGET_MS)]


def run() -> list[dict[str, object]]:
    """Benchmark rows (see the module docstring)."""
    rows = _case("2d_1024", (1, 1024, 1024), 0, MOVES, False, "naive whole-slice np.where + slice copy")
    rows += _case("3d_512x512x200", (200, 512, 512), 100, 20, True,
                  "naive whole-slice np.where + full-volume copy")
    rows += _view_rows("2d_1024", (1, 1024, 1024), 0)
    rows += _view_rows("3d_512x512x200", (200, 512, 512), 100)
    return rows


def _main(runner: Callable[[], list[dict[str, object]]] = run) -> None:
    rows = runner()
    print(f"{'name':38} {'value':>12} {'unit':6} {'baseline_value':>14} {'ratio':>8}  baseline")
    for r in rows:
        print(f"{r['name']:38} {r['value']:>12} {r['unit']:6} {r['baseline_value']:>14} {r['ratio']:>8}  {r['baseline']}")


if __name__ == "__main__":
    _main()
