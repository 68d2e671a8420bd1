"""Case records, the BUSI loader, tensor conversion and classic augmentation."""

from __future__ import annotations

from engine.data.cases import BUSI_PROMPTS, Case, load_busi, split_cases
from engine.data.tensors import cases_to_tensors, classic_augment, resize_image, resize_mask

__all__ = ["Case", "load_busi", "split_cases", "BUSI_PROMPTS", "cases_to_tensors", "classic_augment",
           "resize_image", "resize_mask"]
