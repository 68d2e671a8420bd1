"""NIfTI read/write with geometry through SimpleITK: the one place that maps ITK images to our frames.

Arrays are (z, y, x); ``spacing`` is (z, y, x) in mm; ``origin`` (x, y, z) in mm and ``direction``
a row-major 3x3, as ITK (LPS). 2D images become one-slice volumes. Files ending in ``.gz`` are
compressed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

Geometry = dict[str, tuple[float, ...]]


def from_sitk(img: Any) -> tuple[np.ndarray, Geometry]:
    """A SimpleITK image (2D or 3D, scalar) -> (array (z, y, x), {"spacing", "origin", "direction"})."""
    import SimpleITK as sitk

    arr = sitk.GetArrayFromImage(img)
    sp, o, d = img.GetSpacing(), img.GetOrigin(), img.GetDirection()
    if img.GetDimension() == 2:
        return arr[None], {"spacing": (1.0, sp[1], sp[0]), "origin": (o[0], o[1], 0.0),
                           "direction": (d[0], d[1], 0.0, d[2], d[3], 0.0, 0.0, 0.0, 1.0)}
    return arr, {"spacing": (sp[2], sp[1], sp[0]), "origin": tuple(o), "direction": tuple(d)}


def write_nifti(array: np.ndarray, path: str | Path, *, spacing: tuple[float, ...] = (1.0, 1.0, 1.0),
                origin: tuple[float, ...] = (0.0, 0.0, 0.0),
                direction: tuple[float, ...] = (1, 0, 0, 0, 1, 0, 0, 0, 1)) -> None:
    """Write ``array`` (z, y, x) with ``spacing`` (z, y, x) mm, ``origin`` (x, y, z) mm, ``direction`` 3x3."""
    import SimpleITK as sitk

    img = sitk.GetImageFromArray(np.ascontiguousarray(array))
    img.SetSpacing((float(spacing[2]), float(spacing[1]), float(spacing[0])))
    img.SetOrigin(tuple(float(v) for v in origin))
    img.SetDirection(tuple(float(v) for v in direction))
    sitk.WriteImage(img, str(path), useCompression=str(path).endswith(".gz"))


def read_nifti(path: str | Path) -> tuple[np.ndarray, Geometry]:
    """Read a NIfTI file -> (array (z, y, x), geometry)."""
    import SimpleITK as sitk

    from readerstudy.imaging.itk_log import route_itk_messages

    route_itk_messages()
    return from_sitk(sitk.ReadImage(str(path)))
