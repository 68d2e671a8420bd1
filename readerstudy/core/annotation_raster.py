"""Rasterisation kernels for painting: brush footprints, polygons, connected regions.

Pure numpy, no state. Every kernel works on a bounding box so that the cost is
proportional to the area touched, not to the image. Coordinates are voxel
indices (z, y, x); a voxel is "inside" a shape when its centre is.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from readerstudy.core.annotation_history import Box

__all__ = ["brush_footprint", "polygon_mask", "connected_region"]

_EPS = 1e-9


def brush_footprint(
    shape: Sequence[int],
    p0: Sequence[float],
    p1: Sequence[float] | None,
    radius: float,
    weights: Sequence[float],
    active_axes: Sequence[bool],
) -> tuple[Box, np.ndarray] | None:
    """Voxels within ``radius`` of the segment ``p0 -> p1`` (or of the point ``p0``).

    Distances are measured in a metric where one index step along axis ``a`` is
    ``weights[a]`` long (1 for a radius in voxels, the spacing in mm for a radius in
    mm). Axes with ``active_axes[a] == False`` are not spread along: the footprint
    stays on the slice ``round(p0[a])`` (that is how a planar brush is made).

    Returns the clipped bounding box and a bool mask of that box's shape, or None
    when the footprint misses the volume.
    """
    q0 = np.asarray(p0, dtype=float)
    q1 = q0 if p1 is None else np.asarray(p1, dtype=float)
    w = np.asarray(weights, dtype=float)
    start, stop, grids = [], [], []
    for a in range(3):
        if active_axes[a]:
            reach = radius / w[a]
            lo = int(np.ceil(min(q0[a], q1[a]) - reach - _EPS))
            hi = int(np.floor(max(q0[a], q1[a]) + reach + _EPS)) + 1
        else:
            lo = int(np.floor(q0[a] + 0.5))
            hi = lo + 1
        lo, hi = max(lo, 0), min(hi, int(shape[a]))
        if lo >= hi:
            return None
        start.append(lo)
        stop.append(hi)
    box = Box(tuple(start), tuple(stop))  # type: ignore[arg-type]
    # Per-axis coordinate of each voxel relative to p0, in the weighted metric;
    # inactive axes contribute 0 (the brush is a disk in the active plane).
    seg = (q1 - q0) * w
    for a in range(3):
        if not active_axes[a]:
            seg[a] = 0.0
    for a in range(3):
        coords = (np.arange(start[a], stop[a], dtype=float) - q0[a]) * w[a] if active_axes[a] else np.zeros(1)
        shp = [1, 1, 1]
        shp[a] = coords.size
        grids.append(coords.reshape(shp))
    seg_len2 = float(seg @ seg)
    if seg_len2 <= _EPS:
        d2 = grids[0] ** 2 + grids[1] ** 2 + grids[2] ** 2
    else:
        t = (grids[0] * seg[0] + grids[1] * seg[1] + grids[2] * seg[2]) / seg_len2
        np.clip(t, 0.0, 1.0, out=t)
        d2 = (grids[0] - t * seg[0]) ** 2 + (grids[1] - t * seg[1]) ** 2 + (grids[2] - t * seg[2]) ** 2
    mask = d2 <= radius * radius + _EPS
    return box, np.broadcast_to(mask, box.shape)


def polygon_mask(vertices: np.ndarray, shape: tuple[int, int]) -> tuple[tuple[int, int, int, int], np.ndarray] | None:
    """Rasterise a closed polygon on a 2D grid of ``shape`` (rows, cols).

    A pixel is inside when its centre ``(r, c)`` is strictly inside the polygon
    (even-odd rule) or lies on an edge. So the rectangle with corners (r0, c0) and
    (r1, c1) (integers) fills exactly ``(r1 - r0 + 1) * (c1 - c0 + 1)`` pixels.

    Returns ``((r0, r1, c0, c1), mask)`` for the clipped half-open bounding box, or
    None when nothing of the polygon falls on the grid.
    """
    v = np.asarray(vertices, dtype=float)
    rmin, cmin = v.min(axis=0)
    rmax, cmax = v.max(axis=0)
    r0, r1 = max(int(np.ceil(rmin - _EPS)), 0), min(int(np.floor(rmax + _EPS)) + 1, shape[0])
    c0, c1 = max(int(np.ceil(cmin - _EPS)), 0), min(int(np.floor(cmax + _EPS)) + 1, shape[1])
    if r0 >= r1 or c0 >= c1:
        return None
    h, w = r1 - r0, c1 - c0
    a, b = v, np.roll(v, -1, axis=0)
    rows = np.arange(r0, r1, dtype=float)[:, None]
    ra, ca, rb, cb = a[:, 0][None], a[:, 1][None], b[:, 0][None], b[:, 1][None]
    # Half-open rule on rows so that a vertex shared by two edges is counted once.
    crosses = (np.minimum(ra, rb) <= rows) & (rows < np.maximum(ra, rb))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        xs = ca + (rows - ra) * (cb - ca) / (rb - ra)
    xs = np.where(crosses, xs, np.inf)
    xs.sort(axis=1)
    acc = np.zeros((h, w + 1), dtype=np.int32)
    left, right = xs[:, 0::2], xs[:, 1::2]
    npairs = min(left.shape[1], right.shape[1])
    left, right = left[:, :npairs], right[:, :npairs]
    ok = np.isfinite(left) & np.isfinite(right)
    rr, kk = np.nonzero(ok)
    lo = np.ceil(left[rr, kk] - _EPS).astype(np.int64) - c0
    hi = np.floor(right[rr, kk] + _EPS).astype(np.int64) - c0
    lo, hi = np.clip(lo, 0, w), np.clip(hi + 1, 0, w)
    keep = lo < hi
    np.add.at(acc, (rr[keep], lo[keep]), 1)
    np.add.at(acc, (rr[keep], hi[keep]), -1)
    mask = np.cumsum(acc, axis=1)[:, :w] > 0
    _add_edge_pixels(mask, a, b, r0, c0)
    return (r0, r1, c0, c1), mask


def _add_edge_pixels(mask: np.ndarray, a: np.ndarray, b: np.ndarray, r0: int, c0: int) -> None:
    """Mark pixels whose centre lies exactly on an edge (the even-odd rule misses some)."""
    h, w = mask.shape
    for (ra, ca), (rb, cb) in zip(a, b, strict=True):
        major = 0 if abs(rb - ra) >= abs(cb - ca) else 1
        p, q = (ra, ca), (rb, cb)
        lo, hi = sorted((p[major], q[major]))
        steps = np.arange(np.ceil(lo - _EPS), np.floor(hi + _EPS) + 1)
        if steps.size == 0:
            continue
        if q[major] == p[major]:
            minor = np.full(steps.shape, p[1 - major])
        else:
            minor = p[1 - major] + (steps - p[major]) * (q[1 - major] - p[1 - major]) / (q[major] - p[major])
        on_grid = np.abs(minor - np.round(minor)) <= 1e-7
        rows, cols = (steps, np.round(minor)) if major == 0 else (np.round(minor), steps)
        rows = rows[on_grid].astype(np.int64) - r0
        cols = cols[on_grid].astype(np.int64) - c0
        inside = (rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)
        mask[rows[inside], cols[inside]] = True


def connected_region(mask: np.ndarray, seed: Sequence[int]) -> np.ndarray:
    """The face-connected component of a 3D bool ``mask`` that contains ``seed``.

    6-connectivity in 3D (4 in a single slice). Works on runs along x: runs in
    neighbouring rows that overlap are joined, then labels are propagated with
    vectorised union-find, so the cost is about linear in the number of runs.
    Returns an all-False array when ``mask[seed]`` is False.
    """
    nz, ny, nx = mask.shape
    out = np.zeros(mask.shape, dtype=bool)
    if not mask[tuple(seed)]:
        return out
    rows = mask.reshape(nz * ny, nx)
    padded = np.zeros((rows.shape[0], nx + 2), dtype=np.int8)
    padded[:, 1:-1] = rows
    d = np.diff(padded, axis=1)
    sr, sc = np.nonzero(d == 1)
    _er, ec = np.nonzero(d == -1)
    width = nx + 1
    gs = sr.astype(np.int64) * width + sc
    ge = sr.astype(np.int64) * width + ec
    n = gs.size
    ea, eb = [], []
    for step, limit_ok in ((1, (sr % ny) < ny - 1), (ny, (sr // ny) < nz - 1)):
        t = sr.astype(np.int64) + step
        qs, qe = t * width + sc, t * width + ec
        lo = np.searchsorted(ge, qs, side="right")
        hi = np.searchsorted(gs, qe, side="left")
        counts = np.where(limit_ok, np.maximum(hi - lo, 0), 0)
        total = int(counts.sum())
        if total == 0:
            continue
        src = np.repeat(np.arange(n), counts)
        first = np.repeat(lo, counts)
        within = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
        ea.append(src)
        eb.append(first + within)
    lab = _union_find(n, np.concatenate(ea) if ea else np.empty(0, np.int64),
                      np.concatenate(eb) if eb else np.empty(0, np.int64))
    z, y, x = (int(s) for s in seed)
    gpos = (z * ny + y) * width + x
    seed_run = int(np.searchsorted(gs, gpos, side="right")) - 1
    sel = lab == lab[seed_run]
    # Run starts and (exclusive) ends are all distinct positions, so plain assignment
    # followed by a running sum paints every selected run.
    acc = np.zeros(nz * ny * width + 1, dtype=np.int8)
    acc[gs[sel]] = 1
    acc[ge[sel]] = -1
    filled = np.cumsum(acc[:-1], dtype=np.int8).reshape(nz * ny, width)[:, :nx] > 0
    out[...] = filled.reshape(mask.shape)
    return out


def _union_find(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Component representative of each of ``n`` nodes joined by edges ``a[i] - b[i]``."""
    lab = np.arange(n)
    if a.size == 0:
        return lab
    while True:
        la, lb = lab[a], lab[b]
        differ = la != lb
        if not differ.any():
            return lab
        la, lb = la[differ], lb[differ]
        m = np.minimum(la, lb)
        np.minimum.at(lab, la, m)
        np.minimum.at(lab, lb, m)
        while True:  # pointer jumping until every label is a root
            nxt = lab[lab]
            if np.array_equal(nxt, lab):
                break
            lab = nxt
