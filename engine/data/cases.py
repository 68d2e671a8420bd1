"""Case records and the BUSI loader.

A :class:`Case` is what the app hands the engine: one grey image in [0, 1], its tumour mask, a 0/1
label, a text prompt and a split. Nothing here knows about the database.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.data.grouping import DEFAULT_THRESHOLD, grouped_split, near_duplicate_groups

__all__ = ["Case", "load_busi", "split_cases", "BUSI_PROMPTS"]

# Prompts in the style of the paper's two examples (section 3.2.3), BI-RADS lexicon wording.
BUSI_PROMPTS = {
    "malignant": ("irregular in shape with non-parallel alignment, spiculated or angular borders, "
                  "markedly low internal echo levels, posterior acoustic shadowing"),
    "benign": ("oval with parallel alignment, smooth to slightly lobulated borders, uniformly low "
               "internal echo levels, no posterior acoustic phenomena, no calcifications"),
    "normal": "normal breast tissue without a focal lesion",
}


@dataclass(frozen=True)
class Case:
    """One case given to the engine.

    Attributes
    ----------
    case_id
        Unique, opaque identifier (used in file names and in ``metrics.json``).
    image
        float32 (H, W) grey image in [0, 1], any size (the engine resizes).
    mask
        uint8 (H, W) tumour mask, non-zero = lesion, same size as ``image``.
    label
        0 (negative, e.g. benign / non-upgraded) or 1 (positive).
    prompt
        Free-text description used as the text condition.
    split
        ``"train"`` or ``"test"``.
    group
        Near-duplicate group (same lesion, patient or series); cases of one group are always on
        the same side of a split. ``""`` = not grouped yet (:func:`split_cases` fills it in).
    """

    case_id: str
    image: np.ndarray = field(repr=False)
    mask: np.ndarray = field(repr=False)
    label: int
    prompt: str
    split: str = "train"
    group: str = ""

    def __post_init__(self) -> None:
        if self.image.ndim != 2 or self.mask.shape != self.image.shape:
            raise ValueError(f"case {self.case_id}: image must be 2-D and mask the same shape, got "
                             f"{self.image.shape} and {self.mask.shape}")
        if self.label not in (0, 1):
            raise ValueError(f"case {self.case_id}: label must be 0 or 1, got {self.label!r}")
        if self.split not in ("train", "test"):
            raise ValueError(f"case {self.case_id}: split must be 'train' or 'test', got {self.split!r}")


def _read_grey(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("L"), dtype=np.float32) / 255.0


def _read_mask(paths: list[Path], shape: tuple[int, int]) -> np.ndarray:
    from PIL import Image

    out = np.zeros(shape, dtype=bool)
    for p in paths:
        with Image.open(p) as im:
            m = np.asarray(im.convert("L"))
        if m.shape != shape:
            raise ValueError(f"mask {p} has shape {m.shape}, image has {shape}")
        out |= m > 0
    return out.astype(np.uint8)


def load_busi(root: str | Path, classes: tuple[str, ...] = ("benign", "malignant"),
              limit_per_class: int | None = None) -> list[Case]:
    """Load BUSI-style folders ``root/<class>/<name>.png`` with ``<name>_mask*.png``.

    Labels are the index of the folder in ``classes`` (default benign = 0, malignant = 1; normal
    images have empty masks and are left out by default). All masks of one image are OR-ed.
    Every case gets ``split="train"``; use :func:`split_cases`.
    """
    root = Path(root)
    if len(classes) != 2:
        raise ValueError("load_busi needs exactly two classes (negative, positive)")
    cases: list[Case] = []
    for label, cls in enumerate(classes):
        folder = root / cls
        if not folder.is_dir():
            raise FileNotFoundError(f"no folder {folder}; expected {root}/<class>/*.png")
        images = [p for p in folder.glob("*.png") if "_mask" not in p.name]
        images.sort(key=lambda p: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p.name)])
        for p in images[:limit_per_class]:
            img = _read_grey(p)
            masks = sorted(folder.glob(f"{p.stem}_mask*.png"))
            mask = _read_mask(masks, img.shape)
            cid = f"{cls}-{re.sub(r'[^0-9A-Za-z]+', '', p.stem.replace(cls, ''))}"
            cases.append(Case(cid, img, mask, label, BUSI_PROMPTS.get(cls, cls), "train"))
    return cases


def split_cases(cases: list[Case], test_fraction: float = 0.2, seed: int = 0, *,
                threshold: float = DEFAULT_THRESHOLD, keys: list[list[str]] | None = None) -> list[Case]:
    """Stratified train/test split by near-duplicate group, reproducible for ``seed``.

    Cases whose 64x64 thumbnails correlate at r >= ``threshold`` (transitively), or that share an
    identifier in ``keys`` (e.g. patient ID), form one group (:func:`engine.data.grouping.
    near_duplicate_groups`); groups, not cases, are assigned to the test split
    (:func:`engine.data.grouping.grouped_split`), so no group straddles train and test. Cases that
    already carry a ``group`` keep it (their groups are merged with the computed ones).

    Returns
    -------
    list[Case]
        The same cases in the same order with ``split`` and ``group`` (``"g<k>"``) set.
    """
    from dataclasses import replace

    groups = near_duplicate_groups([c.image for c in cases], threshold=threshold,
                                   keys=_merge_keys(cases, keys)).groups
    is_test = grouped_split([c.label for c in cases], groups, test_fraction=test_fraction, seed=seed)
    return [replace(c, split="test" if t else "train", group=f"g{g}")
            for c, g, t in zip(cases, groups.tolist(), is_test.tolist(), strict=True)]


def _merge_keys(cases: list[Case], keys: list[list[str]] | None) -> list[list[str]]:
    if keys is not None and len(keys) != len(cases):
        raise ValueError(f"keys has {len(keys)} entries for {len(cases)} cases")
    return [([f"group:{c.group}"] if c.group else []) + list(keys[i] if keys else [])
            for i, c in enumerate(cases)]
