"""Undo/redo of AnnotationLayer against a model that keeps full snapshots."""

from __future__ import annotations

import numpy as np
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from readerstudy.core.annotation import AnnotationLayer, LabelSet

GLEASON = LabelSet.preset("gleason")
SHAPE = (4, 24, 24)
coord = st.tuples(st.integers(0, SHAPE[0] - 1), st.integers(0, SHAPE[1] - 1), st.integers(0, SHAPE[2] - 1))
label = st.integers(1, 4)


class UndoRedoMachine(RuleBasedStateMachine):
    """Snapshot model: ``done`` holds the state after each applied step, ``undone`` the redo states."""

    def __init__(self) -> None:
        super().__init__()
        rng = np.random.default_rng(0)
        start = np.zeros(SHAPE, np.uint8)
        start[1, 5:12, 5:12] = rng.integers(0, 5, size=(7, 7))
        self.layer = AnnotationLayer(start, GLEASON)
        self.initial = start.copy()
        self.done: list[np.ndarray] = [start.copy()]
        self.undone: list[np.ndarray] = []

    def _committed(self) -> None:
        now = self.layer.data.copy()
        if not np.array_equal(now, self.done[-1]):
            self.done.append(now)
            self.undone.clear()

    @rule(points=st.lists(coord, min_size=1, max_size=5), r=st.integers(0, 4), lab=label,
          axis=st.integers(0, 2), erase=st.booleans(), preserve=st.booleans())
    def stroke(self, points, r, lab, axis, erase, preserve) -> None:
        self.layer.preserve_other_labels = preserve
        self.layer.active_label = lab
        self.layer.begin_stroke("erase" if erase else "paint")
        for p in points:
            p = list(p)
            p[axis] = points[0][axis]  # one stroke stays on one slice
            (self.layer.erase if erase else self.layer.paint)(p, r, axis=axis)
        self.layer.end_stroke()
        self._committed()

    @rule(seed=coord, lab=st.integers(0, 4), three_d=st.booleans())
    def fill(self, seed, lab, three_d) -> None:
        self.layer.preserve_other_labels = False
        self.layer.flood_fill(seed, label=lab, three_d=three_d)
        self._committed()

    @rule(z=st.integers(0, SHAPE[0] - 1), pts=st.lists(st.tuples(st.floats(-2, 26), st.floats(-2, 26)),
                                                     min_size=3, max_size=6), lab=label)
    def polygon(self, z, pts, lab) -> None:
        self.layer.preserve_other_labels = False
        self.layer.fill_polygon(pts, index=z, label=lab)
        self._committed()

    @precondition(lambda self: len(self.done) > 1)
    @rule()
    def undo(self) -> None:
        self.layer.undo()
        self.undone.append(self.done.pop())

    @precondition(lambda self: self.undone)
    @rule()
    def redo(self) -> None:
        self.layer.redo()
        self.done.append(self.undone.pop())

    @rule()
    def undo_everything_then_redo_everything(self) -> None:
        for _ in range(len(self.done) - 1):
            self.layer.undo()
        assert np.array_equal(self.layer.data, self.initial)
        assert not self.layer.can_undo
        redo_order = self.done[1:] + self.undone[::-1]
        self.done, self.undone = self.done[:1], []
        for expected in redo_order:
            self.layer.redo()
            assert np.array_equal(self.layer.data, expected)
            self.done.append(expected)

    @invariant()
    def state_matches_model(self) -> None:
        assert np.array_equal(self.layer.data, self.done[-1])
        assert self.layer.can_undo == (len(self.done) > 1)
        assert self.layer.can_redo == bool(self.undone)


UndoRedoMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=25, deadline=None)
TestUndoRedo = UndoRedoMachine.TestCase


def test_history_memory_is_diff_sized_and_bounded() -> None:
    layer = AnnotationLayer.empty((50, 256, 256), GLEASON)
    layer.begin_stroke()
    for i in range(50):
        layer.paint((25, 100, 50 + i), 5)
    layer.end_stroke()
    one_stroke = layer.history_nbytes
    assert 0 < one_stroke < 20_000  # the volume is 3.3 MB; the stroke's diff is a few kB
    bounded = AnnotationLayer.empty((1, 64, 64), GLEASON, max_history_bytes=one_stroke)
    for i in range(20):
        bounded.paint((0, 32, 3 * i), 4)
    assert bounded.history_nbytes <= one_stroke
    undos = 0
    while bounded.can_undo:
        bounded.undo()
        undos += 1
    assert 0 < undos < 20 and bounded.voxel_counts()[1] > 0  # oldest steps were dropped


def test_cancel_stroke_restores_and_records_nothing() -> None:
    layer = AnnotationLayer.empty((1, 32, 32), GLEASON)
    layer.paint((0, 5, 5), 3)
    before = layer.data.copy()
    layer.begin_stroke()
    layer.paint((0, 16, 16), 6)
    layer.erase((0, 5, 5), 2)
    layer.cancel_stroke()
    assert np.array_equal(layer.data, before)
    layer.undo()
    assert layer.voxel_counts()[1] == 0 and not layer.can_undo


def test_new_stroke_clears_redo() -> None:
    layer = AnnotationLayer.empty((1, 32, 32), GLEASON)
    layer.paint((0, 5, 5), 3)
    layer.paint((0, 20, 20), 3)
    layer.undo()
    assert layer.can_redo and layer.redo_description == "paint"
    layer.paint((0, 10, 25), 2)
    assert not layer.can_redo and layer.redo() is None


def test_uniform_fill_diff_is_bit_packed_and_undoes_exactly() -> None:
    layer = AnnotationLayer.empty((20, 64, 64), GLEASON)
    layer.paint((10, 32, 32), 5, label=2)
    before = layer.data.copy()
    layer.flood_fill((0, 0, 0), label=3, three_d=True)
    n = 20 * 64 * 64
    assert layer.voxel_counts()[3] == n - layer.voxel_counts()[2]
    assert layer.history_nbytes < n // 8 + 2000  # ~1 bit per voxel of the box, not 2 bytes
    layer.undo()
    assert np.array_equal(layer.data, before)
    layer.redo()
    assert layer.voxel_counts()[3] == n - layer.voxel_counts()[2]
