"""Sample grid PNGs: one row per case, real image | mask outline | synthetic variants."""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["save_grid"]


def _outline(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Grey image as RGB with the mask border drawn in red."""
    rgb = np.repeat(image[..., None], 3, axis=-1)
    m = mask > 0.5
    edge = m & ~(np.roll(m, 1, 0) & np.roll(m, -1, 0) & np.roll(m, 1, 1) & np.roll(m, -1, 1))
    rgb[edge] = (1.0, 0.0, 0.0)
    return rgb


def save_grid(rows, path: str | Path, pad: int = 2) -> Path:
    """Write a grid. ``rows``: list of ``(case_id, real (S,S), mask (S,S), variants (K,S,S))``,
    images in [0, 1]. Column 0 is the real image, column 1 the real image with the mask outline,
    then the K synthetic variants (rows with fewer variants are padded black)."""
    from PIL import Image

    if not rows:
        raise ValueError("no rows to draw")
    s = rows[0][1].shape[0]
    k = max(len(r[3]) for r in rows)
    h, w = len(rows) * (s + pad) + pad, (k + 2) * (s + pad) + pad
    canvas = np.full((h, w, 3), 1.0, dtype=np.float32)
    for r, (_cid, real, mask, fakes) in enumerate(rows):
        y = pad + r * (s + pad)
        tiles = [np.repeat(real[..., None], 3, -1), _outline(real, mask)]
        tiles += [np.repeat(f[..., None], 3, -1) for f in fakes]
        for c, tile in enumerate(tiles):
            x = pad + c * (s + pad)
            canvas[y:y + s, x:x + s] = tile
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((canvas.clip(0, 1) * 255).round().astype(np.uint8)).save(path)
    return path
