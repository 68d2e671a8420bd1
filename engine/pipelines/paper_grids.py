"""PNG grids of the paper pipelines: tiles of grey images and colour label maps, with titles.

``save_tile_grid(rows, path, column_titles)``: each row is a list of tiles, each tile a (S, S)
grey image in [0, 1] or an (S, S, 3) RGB image in [0, 1]. Titles are drawn with Pillow's
default bitmap font above each column.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["LABEL_COLOURS", "colour_labels", "outline_labels", "save_tile_grid"]

#: RGB in [0, 1] of labels 0..7 (0 black, 1 green, 2 blue, 3 yellow, 4 red, ...).
LABEL_COLOURS = np.array([[0, 0, 0], [0.25, 0.55, 0.25], [0.2, 0.35, 1.0], [1.0, 0.8, 0.0], [1.0, 0.1, 0.1],
                          [0.8, 0.2, 0.8], [0.2, 0.8, 0.8], [1.0, 1.0, 1.0]], dtype=np.float32)


def colour_labels(labels: np.ndarray) -> np.ndarray:
    """(S, S) integer labels -> (S, S, 3) colours of :data:`LABEL_COLOURS`."""
    return LABEL_COLOURS[np.asarray(labels) % len(LABEL_COLOURS)]


def outline_labels(image: np.ndarray, labels: np.ndarray, skip: tuple[int, ...] = (0,)) -> np.ndarray:
    """Grey image as RGB with each label's border (labels not in ``skip``) in its colour."""
    rgb = np.repeat(np.asarray(image, dtype=np.float32)[..., None], 3, -1)
    lab = np.asarray(labels)
    for k in np.unique(lab):
        if int(k) in skip:
            continue
        m = lab == k
        edge = m & ~(np.roll(m, 1, 0) & np.roll(m, -1, 0) & np.roll(m, 1, 1) & np.roll(m, -1, 1))
        rgb[edge] = LABEL_COLOURS[int(k) % len(LABEL_COLOURS)]
    return rgb


def save_tile_grid(rows: list[list[np.ndarray]], path: str | Path, column_titles: list[str] | None = None,
                   pad: int = 2, scale: int = 2) -> Path:
    """Write the grid to ``path`` (PNG), tiles upscaled ``scale`` x by nearest neighbour."""
    from PIL import Image, ImageDraw

    if not rows or not rows[0]:
        raise ValueError("no tiles to draw")
    s = rows[0][0].shape[0] * scale
    ncol = max(len(r) for r in rows)
    top = 14 if column_titles else 0
    canvas = np.ones((top + len(rows) * (s + pad) + pad, ncol * (s + pad) + pad, 3), dtype=np.float32)
    for r, row in enumerate(rows):
        for c, tile in enumerate(row):
            t = np.asarray(tile, dtype=np.float32)
            if t.ndim == 2:
                t = np.repeat(t[..., None], 3, -1)
            t = t.repeat(scale, 0).repeat(scale, 1)
            y, x = top + pad + r * (s + pad), pad + c * (s + pad)
            canvas[y:y + s, x:x + s] = t.clip(0, 1)
    img = Image.fromarray((canvas * 255).round().astype(np.uint8))
    if column_titles:
        draw = ImageDraw.Draw(img)
        for c, title in enumerate(column_titles[:ncol]):
            draw.text((pad + c * (s + pad) + 1, 1), title[: max(4, s // 6)], fill=(0, 0, 0))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return path
