"""Multi-label mask fidelity of generated images: does each label's pattern appear where the mask says?

A :class:`~engine.models.label_segmenter.LabelSegmenter` trained on real images labels every pixel
of a generated image; the Dice per label between that segmentation and the conditioning mask is
the fidelity (the segmenter's Dice on held-out *real* images is the ceiling). This is the
segmentation-based fidelity of the mask-faithful synthesis issue, for K labels.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["segment", "dice_per_label", "fidelity_report"]


@torch.no_grad()
def segment(segmenter, images: np.ndarray, device="cpu", batch_size: int = 64) -> np.ndarray:
    """Labels (N, H, W) uint8 (argmax) of images (N, H, W) in [0, 1]."""
    segmenter.eval()
    x = torch.as_tensor(np.asarray(images, dtype=np.float32))[:, None]
    out = [segmenter(x[i:i + batch_size].to(device)).argmax(1).cpu() for i in range(0, len(x), batch_size)]
    return torch.cat(out).numpy().astype(np.uint8) if out else np.zeros((0,) + x.shape[2:], np.uint8)


def dice_per_label(pred: np.ndarray, target: np.ndarray, num_labels: int) -> dict[int, list[float]]:
    """Dice of each label, per image where the label occurs in ``target`` (N, H, W)."""
    out: dict[int, list[float]] = {k: [] for k in range(num_labels)}
    for p, t in zip(pred, target, strict=True):
        for k in range(num_labels):
            tk = t == k
            if not tk.any():
                continue
            pk = p == k
            out[k].append(float(2 * (pk & tk).sum() / (pk.sum() + tk.sum())))
    return out


def fidelity_report(segmenter, images: np.ndarray, masks: np.ndarray, names: tuple[str, ...],
                    device="cpu", focus: tuple[int, ...] = ()) -> dict:
    """Dice per label (mean, n), pixel accuracy, and the mean Dice over the ``focus`` labels.

    ``images`` (N, H, W) in [0, 1] (real or generated), ``masks`` (N, H, W) their (conditioning)
    label masks, ``names`` one name per label.
    """
    pred = segment(segmenter, images, device)
    per = dice_per_label(pred, np.asarray(masks), len(names))
    dice = {names[k]: {"mean": float(np.mean(v)) if v else float("nan"), "n": len(v)} for k, v in per.items()}
    focus_vals = [x for k in focus for x in per[k]]
    return {"dice": dice, "pixel_accuracy": float((pred == np.asarray(masks)).mean()),
            "mean_dice_focus": float(np.mean(focus_vals)) if focus_vals else float("nan"),
            "focus_labels": [names[k] for k in focus]}
