"""NIfTI read/write with geometry, through SimpleITK (compressed when the name ends in .gz)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_nifti(array: np.ndarray, path: Path, *, spacing: tuple[float, float, float] = (1.0, 1.0, 1.0),
                origin: tuple[float, float, float] = (0.0, 0.0, 0.0),
                direction: tuple[float, ...] = (1, 0, 0, 0, 1, 0, 0, 0, 1)) -> None:
    """Write ``array`` (z, y, x) with ``spacing`` (z, y, x) mm, ``origin`` (x, y, z) mm, ``direction`` 3x3."""
    import SimpleITK as sitk

    img = sitk.GetImageFromArray(np.ascontiguousarray(array))
    img.SetSpacing((float(spacing[2]), float(spacing[1]), float(spacing[0])))
    img.SetOrigin(tuple(float(v) for v in origin))
    img.SetDirection(tuple(float(v) for v in direction))
    sitk.WriteImage(img, str(path), useCompression=str(path).endswith(".gz"))


def read_nifti(path: Path) -> tuple[np.ndarray, dict[str, tuple[float, ...]]]:
    """Read a NIfTI file -> (array (z, y, x), {"spacing" (z,y,x), "origin", "direction"})."""
    import SimpleITK as sitk

    img = sitk.ReadImage(str(path))
    arr = sitk.GetArrayFromImage(img)
    sp = img.GetSpacing()
    if img.GetDimension() == 2:
        return arr[None], {"spacing": (1.0, sp[1], sp[0]), "origin": (*img.GetOrigin(), 0.0),
                           "direction": (1, 0, 0, 0, 1, 0, 0, 0, 1)}
    return arr, {"spacing": (sp[2], sp[1], sp[0]), "origin": tuple(img.GetOrigin()),
                 "direction": tuple(img.GetDirection())}
