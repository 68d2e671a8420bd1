"""Boxes, diffs and the undo/redo history of an annotation layer.

All coordinates are voxel indices in the layer's (z, y, x) order. A :class:`Diff`
records only what changed (inside a bounding box: either the flat indices of the
changed voxels with their old and new values, or, when most of the box changed,
the old and new box patches), so undo/redo memory grows with the edited area,
not with the volume size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Box", "Diff", "HistoryEntry", "History"]


@dataclass(frozen=True)
class Box:
    """Half-open axis-aligned box of voxel indices: ``start[a] <= i < stop[a]`` for (z, y, x)."""

    start: tuple[int, int, int]
    stop: tuple[int, int, int]

    @property
    def slices(self) -> tuple[slice, slice, slice]:
        return tuple(slice(a, b) for a, b in zip(self.start, self.stop, strict=True))  # type: ignore[return-value]

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(max(0, b - a) for a, b in zip(self.start, self.stop, strict=True))  # type: ignore[return-value]

    @property
    def size(self) -> int:
        s = self.shape
        return s[0] * s[1] * s[2]

    @property
    def is_empty(self) -> bool:
        return self.size == 0

    def union(self, other: Box) -> Box:
        return Box(
            tuple(min(a, b) for a, b in zip(self.start, other.start, strict=True)),  # type: ignore[arg-type]
            tuple(max(a, b) for a, b in zip(self.stop, other.stop, strict=True)),  # type: ignore[arg-type]
        )

    def intersects_slice(self, axis: int, index: int) -> bool:
        """True if the plane ``axis = index`` passes through this box (for view updates)."""
        return self.start[axis] <= index < self.stop[axis]

    def relative_to(self, outer: Box) -> tuple[slice, slice, slice]:
        """Slices of this box inside an array that covers ``outer``."""
        return tuple(
            slice(a - o, b - o) for a, b, o in zip(self.start, self.stop, outer.start, strict=True)
        )  # type: ignore[return-value]

    @staticmethod
    def full(shape: Sequence[int]) -> Box:
        return Box((0, 0, 0), (int(shape[0]), int(shape[1]), int(shape[2])))


def _tight_box(changed: np.ndarray) -> tuple[slice, slice, slice] | None:
    """Local slices of the smallest box holding every True of a 3D bool array."""
    if not changed.any():
        return None
    out = []
    for ax in range(3):
        other = tuple(a for a in range(3) if a != ax)
        nz = np.flatnonzero(changed.any(axis=other))
        out.append(slice(int(nz[0]), int(nz[-1]) + 1))
    return tuple(out)  # type: ignore[return-value]


@dataclass(frozen=True, eq=False)
class Diff:
    """What one edit changed, in one of three encodings.

    - sparse: ``index`` holds the C-order flat indices within ``box`` of the changed
      voxels; ``old``/``new`` are 1D arrays of their values;
    - uniform: ``packed`` is the bit-packed changed mask of ``box`` and ``old``/``new``
      hold one value each (a fill or a big brush stroke: 1 bit per box voxel);
    - dense: ``old``/``new`` are whole box patches.
    """

    box: Box
    index: np.ndarray | None
    old: np.ndarray
    new: np.ndarray
    packed: np.ndarray | None = None

    # A sparse diff costs 4 bytes of index + 2 values per changed voxel; a dense one
    # 2 values per box voxel. Go dense above this fraction of changed voxels.
    DENSE_FRACTION = 0.25

    @classmethod
    def from_arrays(cls, box: Box, old: np.ndarray, new: np.ndarray) -> Diff | None:
        """Build a diff from the before/after patches of ``box``; None when nothing changed."""
        changed = old != new
        local = _tight_box(changed)
        if local is None:
            return None
        start = tuple(b + s.start for b, s in zip(box.start, local, strict=True))
        stop = tuple(b + s.stop for b, s in zip(box.start, local, strict=True))
        tight = Box(start, stop)  # type: ignore[arg-type]
        changed = changed[local]
        old, new = old[local], new[local]
        nnz = int(np.count_nonzero(changed))
        if nnz > cls.DENSE_FRACTION * changed.size or changed.size >= 2**31:
            o, n = old[changed], new[changed]
            if (o == o[0]).all() and (n == n[0]).all():
                return cls(tight, None, o[:1].copy(), n[:1].copy(), np.packbits(changed, axis=None))
            return cls(tight, None, np.array(old, copy=True), np.array(new, copy=True))
        idx = np.flatnonzero(changed).astype(np.int32)
        # Fancy indexing copies, so the diff never aliases the live label volume.
        return cls(tight, idx, old.reshape(-1)[idx], new.reshape(-1)[idx])

    @property
    def nbytes(self) -> int:
        n = self.old.nbytes + self.new.nbytes
        n += self.index.nbytes if self.index is not None else 0
        return n + (self.packed.nbytes if self.packed is not None else 0)

    def write(self, target: np.ndarray, which: str, offset: Box | None = None) -> None:
        """Write the ``"old"`` or ``"new"`` values into ``target``.

        ``target`` is the full label volume, or (with ``offset``) an array covering ``offset``.
        """
        values = self.old if which == "old" else self.new
        region = self.box.relative_to(offset) if offset is not None else self.box.slices
        if self.packed is not None:
            shape = self.box.shape
            mask = np.unpackbits(self.packed, count=shape[0] * shape[1] * shape[2]).view(bool).reshape(shape)
            target[region][mask] = values[0]
        elif self.index is None:
            target[region] = values
        else:
            view = target[region]
            view[np.unravel_index(self.index, self.box.shape)] = values


@dataclass(frozen=True, eq=False)
class HistoryEntry:
    """One undo step: a human description (for "Undo paint" tooltips) and its diff."""

    description: str
    diff: Diff


class History:
    """Linear undo/redo stack of :class:`HistoryEntry`.

    Parameters
    ----------
    max_bytes
        Optional memory bound; when the stored diffs exceed it the oldest steps are
        dropped (they can no longer be undone). None (default) keeps every step.
    """

    def __init__(self, max_bytes: int | None = None) -> None:
        self._entries: list[HistoryEntry] = []
        self._pos = 0  # entries[:pos] are applied (undoable), entries[pos:] are redoable
        self.max_bytes = max_bytes
        self._serials: list[int] = []  # unique id of each entry, for state tokens
        self._next_serial = 1
        self._base_token = 0  # token of the state below the oldest kept entry

    @property
    def can_undo(self) -> bool:
        return self._pos > 0

    @property
    def can_redo(self) -> bool:
        return self._pos < len(self._entries)

    @property
    def undo_description(self) -> str | None:
        return self._entries[self._pos - 1].description if self.can_undo else None

    @property
    def redo_description(self) -> str | None:
        return self._entries[self._pos].description if self.can_redo else None

    @property
    def nbytes(self) -> int:
        return sum(e.diff.nbytes for e in self._entries)

    @property
    def state_token(self) -> int:
        """An id of the current state: equal tokens mean the same sequence of applied edits."""
        return self._serials[self._pos - 1] if self._pos > 0 else self._base_token

    def __len__(self) -> int:
        return len(self._entries)

    def push(self, entry: HistoryEntry) -> None:
        del self._entries[self._pos :]
        del self._serials[self._pos :]
        self._entries.append(entry)
        self._serials.append(self._next_serial)
        self._next_serial += 1
        self._pos = len(self._entries)
        if self.max_bytes is not None:
            while len(self._entries) > 1 and self.nbytes > self.max_bytes:
                self._entries.pop(0)
                self._base_token = self._serials.pop(0)
                self._pos -= 1

    def step_back(self) -> HistoryEntry:
        self._pos -= 1
        return self._entries[self._pos]

    def step_forward(self) -> HistoryEntry:
        entry = self._entries[self._pos]
        self._pos += 1
        return entry

    def clear(self) -> None:
        """Forget every step; the current state gets a new token."""
        self._entries.clear()
        self._serials.clear()
        self._pos = 0
        self._base_token = self._next_serial
        self._next_serial += 1
