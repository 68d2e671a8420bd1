"""Inference of the lesion segmenter: masks for images of any size.

:func:`segment` resizes each (H, W) grey image in [0, 1] to the segmenter's square size, predicts
the lesion probability, resizes the probability back to (H, W) (bilinear) and thresholds it. With
``clean=True`` only the largest connected component is kept and its holes are filled (a draft
that an annotator edits should be one lesion, not speckle).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from engine.data.tensors import resize_image
from engine.models.segmenter import LesionSegmenter

__all__ = ["SegmentResult", "segment", "load_segmenter", "clean_mask"]


@dataclass(frozen=True)
class SegmentResult:
    """``masks``: list of uint8 (H, W) in {0, 1}; ``probabilities``: list of float32 (H, W) in [0, 1]."""

    masks: list[np.ndarray]
    probabilities: list[np.ndarray]


def load_segmenter(path: str | Path, device: str | torch.device = "cpu") -> LesionSegmenter:
    """Load a :class:`LesionSegmenter` from a ``save_pretrained`` folder (local files only)."""
    model = LesionSegmenter.from_pretrained(Path(path), low_cpu_mem_usage=False)
    return model.to(device).eval()


def clean_mask(mask: np.ndarray) -> np.ndarray:
    """Largest 8-connected component of a binary (H, W) mask with its holes filled; uint8."""
    m = np.asarray(mask) > 0
    lab, n = ndimage.label(m, structure=np.ones((3, 3)))
    if n == 0:
        return m.astype(np.uint8)
    sizes = ndimage.sum_labels(m, lab, index=np.arange(1, n + 1))
    keep = lab == (int(np.argmax(sizes)) + 1)
    return ndimage.binary_fill_holes(keep).astype(np.uint8)


@torch.no_grad()
def segment(model: LesionSegmenter | str | Path, images, *, device: str | torch.device = "cpu",
            threshold: float = 0.5, clean: bool = True, batch_size: int = 32) -> SegmentResult:
    """Segment each of ``images`` (sequence of (H, W) float arrays in [0, 1], any sizes).

    Parameters
    ----------
    model
        A loaded :class:`LesionSegmenter` or its checkpoint folder.
    threshold
        Probability above which a pixel is lesion.
    clean
        Keep the largest connected component and fill its holes (:func:`clean_mask`).

    Returns
    -------
    SegmentResult
        One mask and one probability map per image, each at the image's own size.
    """
    if not isinstance(model, LesionSegmenter):
        model = load_segmenter(model, device)
    model.eval()
    dev = next(model.parameters()).device
    size = int(model.config.image_size)
    masks, probs = [], []
    for b0 in range(0, len(images), batch_size):
        chunk = [np.asarray(x, dtype=np.float32) for x in images[b0:b0 + batch_size]]
        for x in chunk:
            if x.ndim != 2:
                raise ValueError(f"segment needs 2-D grey images, got shape {x.shape}")
        batch = torch.stack([resize_image(x, size) for x in chunk]).to(dev)
        p = torch.sigmoid(model(batch).float()).cpu()
        for x, pi in zip(chunk, p, strict=True):
            full = F.interpolate(pi[None], size=x.shape, mode="bilinear", align_corners=False)[0, 0].numpy()
            m = (full > threshold).astype(np.uint8)
            masks.append(clean_mask(m) if clean else m)
            probs.append(full.astype(np.float32))
    return SegmentResult(masks, probs)
