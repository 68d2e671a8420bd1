"""Cutting images into patches (the SSL paper's WSI -> patches) with a background filter."""

from __future__ import annotations

import numpy as np

__all__ = ["image_patches"]


def image_patches(images: np.ndarray, patch: int, stride: int, min_mean: float = 0.04,
                  min_std: float = 0.02) -> tuple[np.ndarray, np.ndarray]:
    """Patches of ``images`` (N, S, S) in [0, 1] on a regular grid.

    Returns ``(patches (M, patch, patch) float32, owner (M,) int64)``, ``owner`` = index of the
    source image. Background patches (mean < ``min_mean`` or std < ``min_std``: black borders,
    empty frame) are dropped, as the paper removes background; an image keeps at least its
    brightest patch so that every image can be classified.
    """
    imgs = np.asarray(images, dtype=np.float32)
    if imgs.ndim != 3 or imgs.shape[1] < patch or imgs.shape[2] < patch:
        raise ValueError(f"need (N, S, S) images with S >= patch={patch}, got {imgs.shape}")
    out, owner = [], []
    for i, im in enumerate(imgs):
        cand = [im[y:y + patch, x:x + patch] for y in range(0, im.shape[0] - patch + 1, stride)
                for x in range(0, im.shape[1] - patch + 1, stride)]
        keep = [c for c in cand if c.mean() >= min_mean and c.std() >= min_std]
        if not keep:
            keep = [max(cand, key=lambda c: float(c.mean()))]
        out += keep
        owner += [i] * len(keep)
    return np.stack(out), np.asarray(owner, dtype=np.int64)
