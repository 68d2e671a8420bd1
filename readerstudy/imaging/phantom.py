"""A deterministic synthetic CT/PET phantom: an abdomen with a liver and 1-3 liver tumours.

For the volume code paths (3D viewing, slice painting, interpolation, REACT-KD-style inputs)
without shipping patient data. CT in Hounsfield units (int16), PET in SUV (float32), and a
label mask (1 = liver, 2 = tumour). Axis order (z, y, x); spacing (z, y, x) in mm.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SPACING = (2.5, 1.5, 1.5)


@dataclass(frozen=True)
class Phantom:
    ct: np.ndarray
    pet: np.ndarray
    mask: np.ndarray
    n_tumours: int
    malignant: int  # 1 when a tumour is PET-avid (SUVmax > 4), the phantom's "ground truth"
    spacing: tuple[float, float, float] = SPACING


def _ellipsoid(shape: tuple[int, int, int], centre: tuple[float, float, float],
               radii_mm: tuple[float, float, float], spacing: tuple[float, float, float]) -> np.ndarray:
    zz, yy, xx = np.ogrid[: shape[0], : shape[1], : shape[2]]
    return (((zz - centre[0]) * spacing[0] / radii_mm[0]) ** 2 + ((yy - centre[1]) * spacing[1] / radii_mm[1]) ** 2
            + ((xx - centre[2]) * spacing[2] / radii_mm[2]) ** 2) <= 1.0


def make_phantom(index: int, shape: tuple[int, int, int] = (48, 96, 96)) -> Phantom:
    """Phantom number ``index`` (same index, same volumes, on every machine)."""
    rng = np.random.default_rng(1000 + index)
    z, y, x = shape
    body = _ellipsoid(shape, (z / 2, y / 2, x / 2), (z * 2.5, y * 0.45 * 1.5, x * 0.48 * 1.5), SPACING)
    liver_c = (z / 2, y * 0.45, x * 0.38)
    liver = _ellipsoid(shape, liver_c, (z * 0.9, 30.0, 38.0), SPACING) & body
    ct = np.full(shape, -1000.0, dtype=np.float32)
    ct[body] = -80.0 + 10 * rng.standard_normal(int(body.sum()))  # fat
    inner = _ellipsoid(shape, (z / 2, y / 2, x / 2), (z * 2.5, y * 0.38 * 1.5, x * 0.4 * 1.5), SPACING) & body
    ct[inner] = 40.0  # soft tissue
    ct[liver] = 60.0
    pet = np.zeros(shape, dtype=np.float32)
    pet[body] = 0.6
    pet[liver] = 1.8
    mask = np.zeros(shape, dtype=np.uint8)
    mask[liver] = 1
    n_tumours = int(rng.integers(1, 4))
    malignant = int(index % 2 == 1)
    for t in range(n_tumours):
        radius = float(rng.uniform(6.0, 12.0))
        off = rng.uniform(-0.5, 0.5, size=3) * np.array([z * 0.5, 14.0, 18.0])
        centre = (liver_c[0] + off[0], liver_c[1] + off[1], liver_c[2] + off[2])
        tumour = _ellipsoid(shape, centre, (radius, radius, radius), SPACING) & liver
        ct[tumour] = 25.0  # hypodense lesion
        suv = (6.0 + 2 * rng.random()) if (malignant and t == 0) else (2.2 + rng.random())
        pet[tumour] = suv
        mask[tumour] = 2
    ct += 8.0 * rng.standard_normal(shape).astype(np.float32)
    pet = np.clip(pet + 0.15 * rng.standard_normal(shape).astype(np.float32), 0, None)
    return Phantom(ct=np.round(ct).astype(np.int16), pet=pet.astype(np.float32), mask=mask,
                   n_tumours=n_tumours, malignant=malignant)
