"""Voxel grids in patient space: comparison with a tolerance, overlap, and nearest-neighbour resampling.

The frame is the one of :mod:`readerstudy.imaging.nifti` and :mod:`readerstudy.imaging.image_reader`
(ITK, DICOM patient coordinates LPS, millimetres):

* arrays are indexed ``[k, j, i]`` = (slice, row, column) = (z, y, x);
* ``spacing`` is (z, y, x) in mm;
* ``origin`` is the (x, y, z) patient position of the *centre* of voxel ``[0, 0, 0]``;
* ``direction`` is the row-major 3x3 matrix whose columns are the unit patient vectors of the
  +i (column), +j (row) and +k (slice) index axes. For DICOM that is (row cosine, column cosine,
  slice normal) from ImageOrientationPatient.

The physical point of index (i, j, k) is ``origin + direction @ (i*sx, j*sy, k*sz)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from readerstudy.core.errors import ValidationError

IDENTITY: tuple[float, ...] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
SPACING_RTOL = 1e-3  # relative difference of spacings that still counts as equal
ORIGIN_TOL_VOXELS = 0.01  # origins closer than 1 % of the smallest voxel edge are equal
DIRECTION_TOL = 1e-3  # largest difference of direction cosines that still counts as equal


@dataclass(frozen=True)
class Grid:
    """A (z, y, x) voxel grid: ``shape`` (slices, rows, cols), ``spacing`` (z, y, x) mm,
    ``origin`` (x, y, z) mm, ``direction`` row-major 3x3 (see the module docstring)."""

    shape: tuple[int, int, int]
    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    direction: tuple[float, ...] = IDENTITY

    @classmethod
    def of(cls, image: Any, shape: tuple[int, ...] | None = None) -> Grid:
        """The grid of anything with ``pixels`` (or an explicit ``shape``), ``spacing``, ``origin``, ``direction``."""
        shp = tuple(shape if shape is not None else image.pixels.shape)
        if len(shp) == 2:
            shp = (1, *shp)
        return cls(tuple(int(v) for v in shp), tuple(float(v) for v in image.spacing),  # type: ignore[arg-type]
                   tuple(float(v) for v in image.origin), tuple(float(v) for v in image.direction))  # type: ignore[arg-type]

    @property
    def matrix(self) -> np.ndarray:
        """(3, 3) direction matrix; columns are the x, y, z index axes."""
        return np.asarray(self.direction, dtype=np.float64).reshape(3, 3)

    def corners(self) -> np.ndarray:
        """(8, 3) patient positions (mm) of the outer corners of the grid (voxel edges, not centres)."""
        n = np.array(self.shape[::-1], dtype=np.float64)  # (x, y, z) counts
        sp = np.array(self.spacing[::-1], dtype=np.float64)
        idx = np.array([[a, b, c] for a in (-0.5, n[0] - 0.5) for b in (-0.5, n[1] - 0.5)
                        for c in (-0.5, n[2] - 0.5)])
        return np.asarray(self.origin) + (idx * sp) @ self.matrix.T

    def index_of(self, points: np.ndarray) -> np.ndarray:
        """Continuous (i, j, k) indices of (n, 3) patient points."""
        rel = np.asarray(points, dtype=np.float64) - np.asarray(self.origin)
        return (rel @ self.matrix) / np.array(self.spacing[::-1])


def differences(a: Grid, b: Grid) -> list[str]:
    """What differs between two grids beyond the tolerances (empty when they are the same grid)."""
    out = []
    if a.shape != b.shape:
        out.append(f"shape {a.shape} vs {b.shape}")
    sa, sb = np.array(a.spacing), np.array(b.spacing)
    if np.any(np.abs(sa - sb) > SPACING_RTOL * np.maximum(sa, sb)):
        out.append(f"spacing {_fmt(a.spacing)} vs {_fmt(b.spacing)} mm")
    tol = ORIGIN_TOL_VOXELS * float(min(min(a.spacing), min(b.spacing)))
    gap = float(np.linalg.norm(np.array(a.origin) - np.array(b.origin)))
    if gap > tol:
        out.append(f"origin {_fmt(a.origin)} vs {_fmt(b.origin)} mm ({gap:.3g} mm apart)")
    if np.max(np.abs(a.matrix - b.matrix)) > DIRECTION_TOL:
        out.append(f"direction {_fmt(a.direction, 3)} vs {_fmt(b.direction, 3)}")
    return out


def _fmt(values: tuple[float, ...], digits: int = 4) -> str:
    return "(" + ", ".join(f"{v:.{digits}g}" for v in values) + ")"


def overlaps(a: Grid, b: Grid) -> bool:
    """True when the boxes of the two grids share some volume (tested in ``a``'s index space)."""
    idx = a.index_of(b.corners())
    lo, hi = idx.min(axis=0), idx.max(axis=0)
    n = np.array(a.shape[::-1], dtype=np.float64)
    return bool(np.all(hi > -0.5) and np.all(lo < n - 0.5))


def to_sitk(array: np.ndarray, grid: Grid) -> Any:
    """A SimpleITK 3D image of ``array`` (z, y, x) placed on ``grid``."""
    import SimpleITK as sitk

    img = sitk.GetImageFromArray(np.ascontiguousarray(array.reshape(grid.shape)))
    img.SetSpacing(tuple(float(v) for v in grid.spacing[::-1]))
    img.SetOrigin(tuple(float(v) for v in grid.origin))
    img.SetDirection(tuple(float(v) for v in grid.direction))
    return img


def resample_labels(labels: np.ndarray, source: Grid, target: Grid) -> np.ndarray:
    """Labels on ``source`` -> the same labels on ``target`` (nearest neighbour, 0 outside; SimpleITK).

    Raises
    ------
    ValidationError
        When the two grids do not overlap in patient space.
    """
    import SimpleITK as sitk

    from readerstudy.imaging.itk_log import route_itk_messages

    route_itk_messages()
    if not overlaps(target, source):
        raise ValidationError("the mask's grid does not overlap the image")
    ref = sitk.Image([int(v) for v in target.shape[::-1]], sitk.sitkUInt8)
    ref.SetSpacing(tuple(float(v) for v in target.spacing[::-1]))
    ref.SetOrigin(tuple(float(v) for v in target.origin))
    ref.SetDirection(tuple(float(v) for v in target.direction))
    moved = sitk.Resample(to_sitk(labels.astype(np.uint8), source), ref, sitk.Transform(),
                          sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
    return sitk.GetArrayFromImage(moved).reshape(target.shape)


def place_mask(labels: np.ndarray, mask_grid: Grid, image_grid: Grid, name: str) -> tuple[np.ndarray, str | None]:
    """Put a label array that carries its own geometry onto the image grid.

    Returns ``(labels on image_grid, note)``; the note (None when the grids are the same within
    the tolerances) says what differed and how many labelled voxels the resampling kept.

    Raises
    ------
    ValidationError
        One line, when the grids do not overlap or no labelled voxel falls inside the image.
    """
    diff = differences(mask_grid, image_grid)
    if not diff:
        return labels.reshape(image_grid.shape), None
    if not overlaps(image_grid, mask_grid):
        raise ValidationError(f"{name}: the mask does not overlap the image ({'; '.join(diff)}); "
                              "export the mask on the image's grid.")
    out = resample_labels(labels, mask_grid, image_grid)
    before, after = int(np.count_nonzero(labels)), int(np.count_nonzero(out))
    if before and not after:
        raise ValidationError(f"{name}: no labelled voxel of the mask falls inside the image ({'; '.join(diff)}); "
                              "export the mask on the image's grid.")
    note = (f"{name}: mask resampled onto the image grid (nearest neighbour; {'; '.join(diff)}); "
            f"{after} labelled voxels on the image grid, {before} in the file")
    return out, note


__all__ = ["Grid", "IDENTITY", "differences", "overlaps", "place_mask", "resample_labels", "to_sitk"]
