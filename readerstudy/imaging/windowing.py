"""Window/level to display grey, with MONOCHROME1 inverted *after* the window (PS3.3 C.7.6.3.1.2).

The pixels of :class:`~readerstudy.imaging.image_reader.ImageData` (and of the stored image) are
modality values: a MONOCHROME1 image keeps its stored values and its DICOM window, and only the
display maps the windowed grey ``g`` in [0, 1] to ``1 - g``. The same rule serves single files
and series, the viewer (``ui/image_view.py`` uses a reversed grey lookup table) and the engine
adapter (:func:`to_display`). The window function is DICOM's LINEAR_EXACT (PS3.3 C.11.2.1.3.2),
``g = (x - (c - w/2)) / w`` clipped to [0, 1], which is what pyqtgraph's levels ``(c - w/2, c + w/2)`` do.
"""

from __future__ import annotations

import numpy as np

ROBUST_PERCENTILES = (0.5, 99.5)


def robust_window(pixels: np.ndarray, max_samples: int = 200_000) -> tuple[float, float]:
    """(centre, width) spanning the 0.5th-99.5th percentiles of ``pixels`` (width at least 1 unit)."""
    flat = np.asarray(pixels).reshape(-1)
    sample = flat[:: max(1, flat.size // max_samples)]
    if sample.size == 0:
        return 0.5, 1.0
    lo, hi = (float(v) for v in np.percentile(sample, ROBUST_PERCENTILES))
    if hi <= lo:
        hi = lo + 1.0
    return (lo + hi) / 2.0, hi - lo


# (name, centre, width) in the modality's units: HU for CT (the usual PACS presets), SUV for PET
CT_PRESETS: tuple[tuple[str, float, float], ...] = (
    ("soft tissue", 40.0, 400.0), ("lung", -600.0, 1500.0), ("bone", 400.0, 1800.0),
    ("brain", 40.0, 80.0), ("liver", 30.0, 150.0))
PET_PRESETS: tuple[tuple[str, float, float], ...] = (
    ("SUV 0-5", 2.5, 5.0), ("SUV 0-10", 5.0, 10.0), ("SUV 0-20", 10.0, 20.0))
FULL_RANGE = "full range"
AUTO = "auto"
IMAGE = "image"  # the window stored with the image (DICOM WindowCenter/Width)


def full_window(pixels: np.ndarray, max_samples: int = 200_000) -> tuple[float, float]:
    """(centre, width) spanning min to max of ``pixels`` (sampled; width at least 1 unit)."""
    flat = np.asarray(pixels).reshape(-1)
    sample = flat[:: max(1, flat.size // max_samples)]
    if sample.size == 0:
        return 0.5, 1.0
    lo, hi = float(sample.min()), float(sample.max())
    return (lo + hi) / 2.0, max(hi - lo, 1.0)


def _family(modality: str | None) -> str:
    m = (modality or "").upper()
    return "CT" if m.startswith("CT") else "PT" if m in ("PT", "PET") else "other"


def modality_presets(pixels: np.ndarray, modality: str | None) -> dict[str, tuple[float, float]]:
    """Named windows ``{name: (centre, width)}`` for ``modality``, in the order keys are bound.

    CT: soft tissue, lung, bone, brain, liver (HU) and full range; PET (``PT``): SUV 0-5, 0-10,
    0-20 and full range; every other modality (US, MR, MG, OT...): auto (0.5-99.5th percentile,
    :func:`robust_window`) and full range (min-max, :func:`full_window`).
    """
    family = _family(modality)
    fixed = CT_PRESETS if family == "CT" else PET_PRESETS if family == "PT" else ()
    out = {name: (c, w) for name, c, w in fixed}
    if not fixed:
        out[AUTO] = robust_window(pixels)
    out[FULL_RANGE] = full_window(pixels)
    return out


def initial_window(pixels: np.ndarray, source: tuple[float, float] | None,
                   modality: str | None = None) -> tuple[str, tuple[float, float]]:
    """``(name, (centre, width))`` to open an image with.

    The window stored with the image (DICOM WindowCenter/Width, name :data:`IMAGE`) when it has
    one; else the modality's first preset (CT soft tissue, PET SUV 0-5, others auto).
    """
    if source is not None and float(source[1]) > 0:
        return IMAGE, (float(source[0]), float(source[1]))
    name, window = next(iter(modality_presets(pixels, modality).items()))
    return name, window


def default_window(pixels: np.ndarray, source: tuple[float, float] | None,
                   modality: str | None = None) -> tuple[float, float]:
    """The window of :func:`initial_window`: the source's (DICOM) window, else the modality's default.

    Without ``modality`` the fallback is :func:`robust_window` (as for US/MR).
    """
    return initial_window(pixels, source, modality)[1]


def to_display(frame: np.ndarray, window: tuple[float, float], *, invert: bool = False) -> np.ndarray:
    """Modality values -> display grey in [0, 1] (float32): window first, then MONOCHROME1 inversion."""
    c, w = float(window[0]), max(float(window[1]), 1e-6)
    grey = np.clip((np.asarray(frame, dtype=np.float32) - (c - w / 2.0)) / w, 0.0, 1.0)
    return (1.0 - grey if invert else grey).astype(np.float32)


__all__ = ["AUTO", "CT_PRESETS", "FULL_RANGE", "IMAGE", "PET_PRESETS", "default_window", "full_window",
           "initial_window", "modality_presets", "robust_window", "to_display"]
