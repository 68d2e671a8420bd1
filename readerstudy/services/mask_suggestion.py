"""Use case "Suggest mask": the shipped lesion segmenter's mask as a draft an annotator edits.

The draft is recorded as AI-suggested in the annotation's provenance: :func:`suggestion_provenance`
gives the payload that :func:`readerstudy.services.annotation.save_annotation` writes into the
``annotation.save`` audit event (segmenter checkpoint hash, checksum of the draft, the Dice between
the draft and the mask as saved, i.e. how much the annotator changed it);
:func:`annotation_provenance` reads it back.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from readerstudy.core.errors import ValidationError

if TYPE_CHECKING:
    from readerstudy.services.auth import UserSession
    from readerstudy.services.context import AppContext


@dataclass(frozen=True)
class SuggestedMask:
    """A draft: ``mask`` uint8 (H, W) in {0, 1}, ``probability`` float32 (H, W), and what made it."""

    mask: np.ndarray = field(repr=False)
    probability: np.ndarray = field(repr=False)
    model: dict[str, Any]
    created_at: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(np.ascontiguousarray(self.mask).tobytes()).hexdigest()


def display_grey(pixels: np.ndarray, levels: tuple[float, float]) -> np.ndarray:
    """(H, W) float32 in [0, 1]: ``pixels`` through the display window ``levels`` = (low, high)."""
    lo, hi = float(levels[0]), float(levels[1])
    if not hi > lo:
        raise ValidationError(f"display levels must have high > low, got {levels}")
    return np.clip((np.asarray(pixels, dtype=np.float32) - lo) / (hi - lo), 0.0, 1.0)


def suggest_mask(image: np.ndarray, *, segmenter_dir: Path | None = None, device: str = "cpu",
                 progress: Any = None) -> SuggestedMask:
    """The segmenter's lesion mask of one (H, W) grey image in [0, 1] (largest component, holes filled).

    Raises
    ------
    ValidationError
        The image is not 2-D (the segmenter is 2D; volumes are not supported).
    """
    from engine.pipelines.segment import segment
    from readerstudy.services.synthesis import load_segmenter, shipped_segmenter_dir

    img = np.asarray(image, dtype=np.float32)
    if img.ndim == 3 and img.shape[0] == 1:
        img = img[0]
    if img.ndim != 2:
        raise ValidationError(f"Suggest mask works on 2D images; this one has shape {img.shape}.")
    if progress:
        progress(0, 2, "loading the segmenter")
    model, digest = load_segmenter(segmenter_dir, device)
    if progress:
        progress(1, 2, "segmenting")
    res = segment(model, [img], device=device)
    if progress:
        progress(2, 2, "done")
    path = Path(segmenter_dir) if segmenter_dir else shipped_segmenter_dir()
    return SuggestedMask(res.masks[0], res.probabilities[0],
                         {"path": str(path), "sha256": digest, "image_size": int(model.config.image_size)},
                         datetime.now(UTC).isoformat(timespec="seconds"))


def suggestion_provenance(suggestion: SuggestedMask, saved_lesion: np.ndarray) -> dict[str, Any]:
    """The ``ai_suggested`` record of a save: the draft's model and checksum, and its Dice with ``saved_lesion``."""
    from engine.metrics.mask_fidelity import dice

    saved = np.asarray(saved_lesion) > 0
    if saved.shape != suggestion.mask.shape:
        raise ValidationError(f"the saved mask {saved.shape} and the suggestion {suggestion.mask.shape} differ in shape")
    d = dice(saved, suggestion.mask)
    return {"ai_suggested": {"tool": "Suggest mask", "segmenter_sha256": suggestion.model["sha256"],
                             "segmenter_path": suggestion.model["path"], "draft_sha256": suggestion.sha256,
                             "draft_pixels": int(suggestion.mask.sum()), "suggested_at": suggestion.created_at,
                             "dice_saved_vs_draft": round(d, 4), "edited_by_annotator": d < 1.0}}


def annotation_provenance(ctx: AppContext, session: UserSession, annotation_id: str) -> dict[str, Any]:
    """The provenance recorded with a saved annotation (``{}`` when it was drawn by hand only), for
    annotators and coordinators of the annotation's study."""
    from readerstudy.services.annotation import EDIT_ROLES, _case_for

    with ctx.uow(read=True) as uow:
        _case_for(uow, session, uow.annotations.get(annotation_id).case_id, "reading annotation provenance",
                  EDIT_ROLES)
        events = [e for e in uow.audit.list(annotation_id) if e.action == "annotation.save"]
    return dict(events[-1].payload.get("provenance") or {}) if events else {}
