"""Deterministic synthetic liver phantoms with graded tumours, for DISC (2D) and REACT-KD (3D).

Re-implemented inside the engine (the engine never imports the app's
``readerstudy.imaging.phantom``), with what these papers need in addition: every tumour has a
grade (0 = well, 1 = moderately, 2 = poorly differentiated, as the Edmondson-Steiner grades of
REACT-KD) that sets its CT texture and PET uptake:

========  =============================================  ==================================
grade     CT (HU)                                        PET (SUV)
========  =============================================  ==================================
well      homogeneous, about 25 HU below the liver       about 2.4, homogeneous
moderate  mottled (low-frequency blobs, sd ~18 HU)       about 3.6, patchy
poor      necrotic core (~ -5 HU) and enhancing rim      rim about 6, photopenic core
========  =============================================  ==================================

Per-case jitter of the means (HU +-6, SUV x0.8-1.2) makes neighbouring grades overlap a little,
so the classification task is not trivial. Same index, same arrays on every machine
(``numpy.random.default_rng(seed + index)``). Axis order (z, y, x) for volumes, (y, x) for
slices; spacing in mm.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.ndimage import gaussian_filter

__all__ = ["GRADES", "SLICE_LABELS", "SPACING", "Phantom3D", "make_volume", "make_volumes",
           "make_slice", "make_slices", "ct_window"]

GRADES = ("well", "moderate", "poor")
#: Labels of the 2D multi-label masks (DISC): 0 outside the liver, 1 liver, 2-4 tumour grades.
SLICE_LABELS = ("background", "liver", "tumour-well", "tumour-moderate", "tumour-poor")
SPACING = (2.5, 1.5, 1.5)
_LIVER_HU, _LIVER_SUV = 60.0, 1.8


@dataclass(frozen=True)
class Phantom3D:
    """One 3D case.

    Attributes
    ----------
    ct, pet
        float32 (z, y, x) volumes in HU and SUV.
    mask
        uint8 (z, y, x): 0 outside, 1 liver, 2 tumour.
    grade
        Case grade 0/1/2 (all its tumours share it).
    n_tumours
        Number of tumours drawn (1-3; overlapping ones may merge into one component).
    spacing
        (z, y, x) voxel size in mm.
    """

    ct: np.ndarray = field(repr=False)
    pet: np.ndarray = field(repr=False)
    mask: np.ndarray = field(repr=False)
    grade: int
    n_tumours: int
    spacing: tuple[float, float, float] = SPACING


def _ellipsoid(shape, centre, radii_mm, spacing) -> np.ndarray:
    grids = np.ogrid[tuple(slice(0, s) for s in shape)]
    r = sum(((g - c) * sp / rad) ** 2 for g, c, sp, rad in zip(grids, centre, spacing, radii_mm, strict=True))
    return r <= 1.0


def _radial(shape, centre, radius_mm, spacing) -> np.ndarray:
    """Normalised distance to ``centre`` (1 on the sphere of ``radius_mm``)."""
    grids = np.ogrid[tuple(slice(0, s) for s in shape)]
    return np.sqrt(sum(((g - c) * sp / radius_mm) ** 2 for g, c, sp in zip(grids, centre, spacing, strict=True)))


def _paint_tumour(ct, pet, region, rdist, grade: int, rng: np.random.Generator, blob_sigma: float) -> None:
    """Write the grade's CT texture and PET uptake into ``region`` (boolean, same shape)."""
    jit_hu = rng.uniform(-6, 6)
    jit_suv = rng.uniform(0.8, 1.2)
    n = int(region.sum())
    if grade == 0:
        ct[region] = _LIVER_HU - 25 + jit_hu + 3 * rng.standard_normal(n)
        pet[region] = 2.4 * jit_suv
    elif grade == 1:
        blobs = gaussian_filter(rng.standard_normal(ct.shape), blob_sigma)
        blobs /= blobs[region].std() + 1e-6
        ct[region] = _LIVER_HU - 28 + jit_hu + 18 * blobs[region]
        pet[region] = 3.6 * jit_suv * (1 + 0.25 * blobs[region])
    else:
        core = rdist[region] < 0.55
        vals = np.where(core, -5.0, 95.0) + jit_hu
        ct[region] = vals + 4 * rng.standard_normal(n)
        pet[region] = np.where(core, 1.2, 6.0 * jit_suv)


def make_volume(index: int, shape: tuple[int, int, int] = (48, 96, 96), grade: int | None = None,
                seed: int = 5000) -> Phantom3D:
    """Phantom volume number ``index``; ``grade`` defaults to ``index % 3``."""
    grade = index % 3 if grade is None else int(grade)
    if grade not in (0, 1, 2):
        raise ValueError(f"grade must be 0, 1 or 2, got {grade}")
    rng = np.random.default_rng(seed + index)
    z, y, x = shape
    sp = SPACING
    body = _ellipsoid(shape, (z / 2, y / 2, x / 2), (z * 2.5, y * 0.45 * 1.5, x * 0.48 * 1.5), sp)
    liver_c = (z / 2 + rng.uniform(-2, 2), y * 0.45 + rng.uniform(-2, 2), x * 0.38 + rng.uniform(-2, 2))
    liver = _ellipsoid(shape, liver_c, (z * 0.9, 32.0 + rng.uniform(-3, 3), 40.0 + rng.uniform(-3, 3)), sp) & body
    ct = np.full(shape, -1000.0, dtype=np.float32)
    ct[body] = -80.0
    inner = _ellipsoid(shape, (z / 2, y / 2, x / 2), (z * 2.5, y * 0.38 * 1.5, x * 0.4 * 1.5), sp) & body
    ct[inner] = 40.0
    ct[liver] = _LIVER_HU
    pet = np.zeros(shape, dtype=np.float32)
    pet[body] = 0.6
    pet[liver] = _LIVER_SUV
    mask = np.zeros(shape, dtype=np.uint8)
    mask[liver] = 1
    n_tumours = int(rng.integers(1, 4))
    for _ in range(n_tumours):
        radius = float(rng.uniform(8.0, 14.0))
        off = rng.uniform(-0.5, 0.5, size=3) * np.array([z * 0.6, 16.0, 20.0])
        centre = tuple(float(c + o) for c, o in zip(liver_c, off, strict=True))
        tumour = _ellipsoid(shape, centre, (radius,) * 3, sp) & liver
        _paint_tumour(ct, pet, tumour, _radial(shape, centre, radius, sp), grade, rng, blob_sigma=1.5)
        mask[tumour] = 2
    ct += 8.0 * rng.standard_normal(shape).astype(np.float32)
    pet = np.clip(pet * (1 + 0.08 * rng.standard_normal(shape)) + 0.1 * rng.standard_normal(shape), 0, None)
    return Phantom3D(ct=ct.astype(np.float32), pet=pet.astype(np.float32), mask=mask, grade=grade,
                     n_tumours=n_tumours)


def make_volumes(n_per_grade: int, shape: tuple[int, int, int] = (48, 96, 96), seed: int = 5000) -> list[Phantom3D]:
    """``3 * n_per_grade`` volumes, grades 0, 1, 2, 0, 1, 2, ... (deterministic)."""
    return [make_volume(i, shape, seed=seed) for i in range(3 * n_per_grade)]


def ct_window(ct: np.ndarray, level: float = 50.0, width: float = 250.0) -> np.ndarray:
    """HU -> [0, 1] through a window (default level 50, width 250: liver and its lesions)."""
    return np.clip((ct - (level - width / 2)) / width, 0.0, 1.0).astype(np.float32)


def make_slice(index: int, size: int = 64, seed: int = 9000, max_tumours: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """One axial slice: ``(image, labels)``, float32 (size, size) CT in [0, 1] (liver window) and
    uint8 (size, size) labels of :data:`SLICE_LABELS`. Each tumour gets its own random grade, so a
    slice can mix grades (the admixtures DISC is about)."""
    rng = np.random.default_rng(seed + index)
    shape = (size, size)
    sp = (1.0, 1.0)
    s = float(size)
    body = _ellipsoid(shape, (s / 2, s / 2), (s * 0.44, s * 0.48), sp)
    inner = _ellipsoid(shape, (s / 2, s / 2), (s * 0.38, s * 0.42), sp)
    liver_c = (s * (0.45 + rng.uniform(-0.04, 0.04)), s * (0.40 + rng.uniform(-0.05, 0.05)))
    liver = _ellipsoid(shape, liver_c, (s * rng.uniform(0.24, 0.30), s * rng.uniform(0.27, 0.34)), sp) & inner
    ct = np.full(shape, -1000.0, dtype=np.float32)
    ct[body] = -80.0
    ct[inner] = 40.0
    ct[liver] = _LIVER_HU
    pet = np.zeros(shape, dtype=np.float32)
    labels = np.zeros(shape, dtype=np.uint8)
    labels[liver] = 1
    for _ in range(int(rng.integers(1, max_tumours + 1))):
        grade = int(rng.integers(0, 3))
        radius = s * float(rng.uniform(0.07, 0.13))
        off = rng.uniform(-0.6, 0.6, size=2) * np.array([s * 0.2, s * 0.22])
        centre = (liver_c[0] + off[0], liver_c[1] + off[1])
        tumour = _ellipsoid(shape, centre, (radius, radius), sp) & liver
        _paint_tumour(ct, pet, tumour, _radial(shape, centre, radius, sp), grade, rng, blob_sigma=size / 48)
        labels[tumour] = 2 + grade
    ct += 6.0 * rng.standard_normal(shape).astype(np.float32)
    return ct_window(ct), labels


def make_slices(n: int, size: int = 64, seed: int = 9000) -> tuple[np.ndarray, np.ndarray]:
    """``n`` slices stacked: images float32 (n, size, size) in [0, 1], labels uint8 (n, size, size)."""
    pairs = [make_slice(i, size, seed) for i in range(n)]
    return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])
