"""Near-duplicate grouping and group-aware train/test splits.

Public image collections often hold several frames or views of one lesion (BUSI: ``malignant (3)``
to ``(9)`` are frames of one lesion, some near-copies are even filed under another class). A
random split then puts near-copies on both sides and the held-out figures are optimistic. Here:

1. :func:`thumbnails`: every image -> a 64x64 grey thumbnail (antialiased bilinear, aspect not
   kept), flattened and standardised (zero mean, unit norm), so a dot product is Pearson's r.
2. :func:`near_duplicate_groups`: union-find over every pair with r >= ``threshold`` and over
   images sharing an identifier (patient ID, series UID) -> one group label per image. Groups are
   transitive: if a~b and b~c then a, b, c share a group even when r(a, c) is below the threshold.
3. :func:`grouped_split`: a stratified split by group (scikit-learn ``StratifiedGroupKFold``), so
   no group straddles train and test.

Pure numpy + PIL + scikit-learn; no torch, no app imports.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["DEFAULT_THRESHOLD", "Grouping", "thumbnails", "near_duplicate_groups", "grouped_split",
           "split_summary"]

#: Pearson r on 64x64 thumbnails at or above which two images count as near-copies (the busi-train
#: README calls r >= 0.9 a near-copy and filtered the demo images at 0.85).
DEFAULT_THRESHOLD = 0.9
THUMB = 64


def thumbnails(images: Sequence[np.ndarray], size: int = THUMB) -> np.ndarray:
    """Standardised grey thumbnails.

    Parameters
    ----------
    images
        N arrays (H, W) or (H, W, C), any dtype and range (colour is averaged to grey).
    size
        Thumbnail side in pixels.

    Returns
    -------
    numpy.ndarray
        (N, size*size) float32 rows with zero mean and unit L2 norm (a constant image gives a zero
        row, which correlates 0 with everything), so ``T @ T.T`` is the Pearson correlation matrix.
    """
    from PIL import Image

    out = np.zeros((len(images), size * size), np.float32)
    for i, img in enumerate(images):
        a = np.asarray(img, dtype=np.float32)
        if a.ndim == 3:
            a = a.mean(axis=-1)
        if a.ndim != 2:
            raise ValueError(f"image {i}: expected (H, W) or (H, W, C), got shape {a.shape}")
        t = np.asarray(Image.fromarray(a, mode="F").resize((size, size), Image.Resampling.BILINEAR,
                                                           reducing_gap=None), dtype=np.float64).ravel()
        t -= t.mean()
        norm = np.linalg.norm(t)
        if norm > 1e-12:
            out[i] = (t / norm).astype(np.float32)
    return out


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


@dataclass(frozen=True)
class Grouping:
    """Result of :func:`near_duplicate_groups`.

    Attributes
    ----------
    groups
        (N,) int group label per image, 0..G-1, numbered by each group's first image.
    pairs
        Every linked pair ``(i, j, r, reason)`` with i < j; ``reason`` is ``"r"`` (thumbnail
        correlation r >= threshold) or ``"id"`` (a shared identifier; r is still reported).
    threshold
        The correlation threshold used.
    """

    groups: np.ndarray
    pairs: tuple[tuple[int, int, float, str], ...]
    threshold: float

    @property
    def n_groups(self) -> int:
        return int(self.groups.max()) + 1 if len(self.groups) else 0

    def members(self) -> list[list[int]]:
        """Image indices of every group with more than one member, largest first."""
        out: dict[int, list[int]] = {}
        for i, g in enumerate(self.groups.tolist()):
            out.setdefault(g, []).append(i)
        return sorted((m for m in out.values() if len(m) > 1), key=lambda m: (-len(m), m[0]))


def near_duplicate_groups(images: Sequence[np.ndarray], *, threshold: float = DEFAULT_THRESHOLD,
                          keys: Sequence[Sequence[str]] | None = None, block: int = 1024) -> Grouping:
    """Group near-duplicate images (transitively) by thumbnail correlation and shared identifiers.

    Parameters
    ----------
    images
        N grey images (H, W), any sizes.
    threshold
        Pearson r on 64x64 thumbnails at or above which two images are linked; in (0, 1].
    keys
        Optional, per image, identifiers that must keep images together (e.g. a patient ID and a
        series UID); empty strings are ignored.
    block
        Rows of the correlation matrix computed at a time (memory ~ block * N * 4 bytes).

    Returns
    -------
    Grouping

    Raises
    ------
    ValueError
        ``threshold`` outside (0, 1] or ``keys`` of the wrong length.
    """
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    n = len(images)
    if keys is not None and len(keys) != n:
        raise ValueError(f"keys has {len(keys)} entries for {n} images")
    thumbs = thumbnails(images)
    uf = _UnionFind(n)
    pairs: list[tuple[int, int, float, str]] = []
    for start in range(0, n, block):
        r = thumbs[start:start + block] @ thumbs.T
        for a, b in zip(*np.nonzero(r >= threshold - 1e-6), strict=True):
            i, j = start + int(a), int(b)
            if i < j:
                uf.union(i, j)
                pairs.append((i, j, round(float(r[a, b]), 4), "r"))
    if keys is not None:
        first: dict[str, int] = {}
        linked = {(i, j) for i, j, _, _ in pairs}
        for i, ks in enumerate(keys):
            for k in ks:
                if not k:
                    continue
                j = first.setdefault(k, i)
                if j != i:
                    uf.union(j, i)
                    if (j, i) not in linked:
                        pairs.append((j, i, round(float(thumbs[j] @ thumbs[i]), 4), "id"))
    roots = [uf.find(i) for i in range(n)]
    number: dict[int, int] = {}
    groups = np.array([number.setdefault(r, len(number)) for r in roots], dtype=np.int64)
    return Grouping(groups, tuple(sorted(pairs)), float(threshold))


def grouped_split(labels: Sequence[int], groups: Sequence[int], *, test_fraction: float = 0.2,
                  seed: int = 0) -> np.ndarray:
    """Stratified train/test split in which no group straddles the two sides.

    Uses scikit-learn's ``StratifiedGroupKFold`` with ``round(1 / test_fraction)`` folds (shuffled
    with ``seed``; fewer when the smaller class has fewer cases than that) and takes the first fold
    as the test split, so the test share is about ``test_fraction`` and the label balance follows
    the whole set as far as groups allow.

    Parameters
    ----------
    labels
        (N,) 0/1 labels.
    groups
        (N,) group labels (e.g. :attr:`Grouping.groups`).
    test_fraction
        Wanted share of test cases, in (0, 0.5].
    seed
        Random state of the fold assignment.

    Returns
    -------
    numpy.ndarray
        (N,) bool, True = test.
    """
    from sklearn.model_selection import StratifiedGroupKFold

    y = np.asarray(labels)
    g = np.asarray(groups)
    if len(y) != len(g):
        raise ValueError(f"{len(y)} labels but {len(g)} group labels")
    if not 0.0 < test_fraction <= 0.5:
        raise ValueError(f"test_fraction must be in (0, 0.5], got {test_fraction}")
    n_splits = max(2, int(round(1.0 / test_fraction)))
    smallest = int(np.unique(y, return_counts=True)[1].min()) if len(y) else 0
    if smallest < 2:
        raise ValueError(f"each class needs at least 2 cases to hold some out; the smallest has {smallest}")
    n_splits = min(n_splits, smallest)  # a small study: fewer folds, so a larger test share
    n_groups = len(np.unique(g))
    if n_groups < n_splits:
        raise ValueError(f"{n_groups} groups cannot be split {n_splits} ways; give more cases")
    cv = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    _, test_idx = next(iter(cv.split(np.zeros(len(y)), y, g)))
    out = np.zeros(len(y), dtype=bool)
    out[test_idx] = True
    return out


def split_summary(groups: Sequence[int], is_test: Sequence[bool], labels: Sequence[int]) -> dict:
    """Counts a held-out evaluation should report: cases and groups per side, straddling groups.

    Returns
    -------
    dict
        ``n_cases``, ``n_groups``, ``train_cases``, ``train_groups``, ``test_cases``, ``test_groups``,
        ``test_positives``, ``test_negatives``, ``multi_image_groups`` (groups of 2+ images) and
        ``straddling_groups`` (groups with members on both sides; 0 for a leak-free split).
    """
    g = np.asarray(groups)
    t = np.asarray(is_test, dtype=bool)
    y = np.asarray(labels)
    sizes = np.bincount(np.unique(g, return_inverse=True)[1])
    train_g, test_g = set(g[~t].tolist()), set(g[t].tolist())
    return {"n_cases": int(len(g)), "n_groups": int(len(sizes)), "train_cases": int((~t).sum()),
            "train_groups": len(train_g), "test_cases": int(t.sum()), "test_groups": len(test_g),
            "test_positives": int((y[t] == 1).sum()), "test_negatives": int((y[t] == 0).sum()),
            "multi_image_groups": int((sizes > 1).sum()), "straddling_groups": len(train_g & test_g)}
