"""Tile-mask sampling of DISC (paper section 2.2): frequency-ranked label reassignment.

An annotated multi-label mask is turned into a *shape mask* ``m_freq``: its reassignable labels
(Gleason grades in the paper; tumour grades 2-4 of :data:`engine.data.phantom.SLICE_LABELS` here)
are replaced by their frequency rank in that mask, 0 = the most frequent. The other labels
(here background and liver) stay as they are. At sampling time a shape mask is drawn at random and
its ranks get distinct labels ordered by random weights: the label with the largest weight takes
the largest region. This keeps the annotators' drawings while balancing the label mixes. With a
designated ``primary`` (and ``secondary``) label the weights are drawn so that these come first,
as the paper does for the tile sets of a slide with given primary/secondary grades.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["ShapeMask", "to_shape_mask", "assign_labels", "sample_tile_masks", "label_mix"]


@dataclass(frozen=True)
class ShapeMask:
    """``base``: uint8 (H, W) labels with the reassignable ones left as they were; ``ranks``:
    int8 (H, W), the frequency rank of each reassignable pixel (0 = most frequent), -1 elsewhere."""

    base: np.ndarray
    ranks: np.ndarray

    @property
    def n_ranks(self) -> int:
        return int(self.ranks.max()) + 1 if (self.ranks >= 0).any() else 0


def to_shape_mask(labels: np.ndarray, relabel: tuple[int, ...]) -> ShapeMask:
    """The shape mask of ``labels`` (H, W) for the reassignable labels ``relabel``.

    Ties in pixel count are broken by the label value, so the result is deterministic.
    """
    labels = np.asarray(labels)
    ranks = np.full(labels.shape, -1, dtype=np.int8)
    counts = [(int((labels == lab).sum()), lab) for lab in relabel]
    present = sorted([c for c in counts if c[0] > 0], key=lambda c: (-c[0], c[1]))
    for r, (_n, lab) in enumerate(present):
        ranks[labels == lab] = r
    return ShapeMask(labels.astype(np.uint8), ranks)


def assign_labels(shape: ShapeMask, order: tuple[int, ...] | list[int]) -> np.ndarray:
    """Labels for ``shape``: rank ``r`` gets ``order[r]`` (distinct labels, largest weight first)."""
    if len(set(order)) != len(order):
        raise ValueError(f"labels must be distinct (non-overlapping), got {order}")
    if shape.n_ranks > len(order):
        raise ValueError(f"the shape has {shape.n_ranks} ranked regions but only {len(order)} labels were given")
    out = shape.base.copy()
    for r in range(shape.n_ranks):
        out[shape.ranks == r] = order[r]
    return out


def _order(relabel: tuple[int, ...], rng: np.random.Generator, primary: int | None,
           secondary: int | None, alpha: float) -> list[int]:
    weights = dict(zip(relabel, rng.dirichlet([alpha] * len(relabel)), strict=True))
    if primary is not None:
        weights[primary] = 4.0 + weights[primary]  # Dirichlet weights lie in [0, 1]
    if secondary is not None and secondary != primary:
        weights[secondary] = 2.0 + weights[secondary]
    return sorted(relabel, key=lambda lab: -weights[lab])


def sample_tile_masks(shapes: list[ShapeMask], n: int, relabel: tuple[int, ...], rng: np.random.Generator, *,
                      primary: int | None = None, secondary: int | None = None, alpha: float = 1.0) -> np.ndarray:
    """``n`` masks (n, H, W) uint8: a random shape each, labels ordered by Dirichlet(``alpha``)
    weights (``primary``/``secondary`` forced first/second when given). Shapes without any
    reassignable region are skipped; raises ``ValueError`` when none has one."""
    usable = [s for s in shapes if s.n_ranks > 0]
    if not usable:
        raise ValueError("no shape mask has a reassignable region")
    if secondary is not None:
        usable = [s for s in usable if s.n_ranks >= 2] or usable
    out = []
    for _ in range(n):
        shape = usable[int(rng.integers(len(usable)))]
        out.append(assign_labels(shape, _order(relabel, rng, primary, secondary, alpha)))
    return np.stack(out)


def label_mix(labels: np.ndarray, relabel: tuple[int, ...]) -> tuple[int, ...]:
    """The reassignable labels present in ``labels``, most frequent first (primary, secondary, ...)."""
    labels = np.asarray(labels)
    present = [(int((labels == lab).sum()), lab) for lab in relabel]
    return tuple(lab for n, lab in sorted(present, key=lambda c: (-c[0], c[1])) if n > 0)
