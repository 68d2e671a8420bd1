"""REACT-KD preprocessing (section III-B) with SimpleITK, and a low-dose CT simulation.

Per case:

* masks: liver = largest connected component of the liver label, then two iterations of binary
  morphological closing (radius 1 voxel); tumours: closing likewise, kept inside the liver, split
  into connected components (one ROI node each);
* geometry: the liver's bounding box (plus a margin) is resampled to a ``size``^3 grid, linear
  interpolation for CT and PET, nearest neighbour for masks (the paper resamples the whole volume
  to a common spacing; cropping to the organ first keeps the lesions several voxels wide at
  32^3, a documented deviation);
* CT: HU clipped to a window (``hu_window``; the paper's exact bounds are not legible in our copy),
  then z-scored with the *training set's* mean and std (:func:`ct_zscore`);
* PET: clipped to its 1st-99th percentiles, min-max scaled to [0, 1], then standardised per volume.

Low-dose CT (:func:`simulate_low_dose`): sinogram-domain noise after Zeng et al. 2015, per axial
slice: HU -> linear attenuation, parallel-beam Radon transform (scikit-image), Poisson counts
``N ~ Poisson(I0 * dose * exp(-p))``, ``p' = -log(N / (I0 * dose))``, filtered back-projection.
``I0`` is calibrated so that full dose adds little noise on the 32^3 grid; it is a simulation of
dose, not a scanner model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import SimpleITK as sitk

__all__ = ["PreprocessedCase", "preprocess_case", "simulate_low_dose", "ct_zscore"]

MU_WATER = 0.0192  # 1/mm, water at about 70 keV


@dataclass(frozen=True)
class PreprocessedCase:
    """One case on the common grid: ``ct_hu`` (unclipped HU, for dose simulation), ``ct`` (HU
    clipped to the window), ``pet`` (standardised), ``liver`` (bool, parenchyma without tumours),
    ``tumours`` (list of bool components), ``spacing`` (z, y, x) mm of the grid, ``grade``."""

    ct_hu: np.ndarray = field(repr=False)
    ct: np.ndarray = field(repr=False)
    pet: np.ndarray = field(repr=False)
    liver: np.ndarray = field(repr=False)
    tumours: list = field(repr=False)
    spacing: tuple[float, float, float]
    grade: int


def _image(arr: np.ndarray, spacing_zyx) -> sitk.Image:
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing(tuple(float(s) for s in spacing_zyx[::-1]))
    return img


def _clean(binary: sitk.Image, largest: bool) -> sitk.Image:
    if largest:
        cc = sitk.RelabelComponent(sitk.ConnectedComponent(binary), sortByObjectSize=True)
        binary = sitk.Equal(cc, 1)
    for _ in range(2):
        binary = sitk.BinaryMorphologicalClosing(binary, [1, 1, 1])
    return binary


def _reference(liver: sitk.Image, size: int, margin_mm: float) -> sitk.Image:
    stats = sitk.LabelShapeStatisticsImageFilter()
    stats.Execute(liver)
    if not stats.HasLabel(1):
        raise ValueError("the mask has no liver voxel")
    x0, y0, z0, sx, sy, sz = stats.GetBoundingBox(1)
    lo = np.array(liver.TransformIndexToPhysicalPoint((x0, y0, z0))) - margin_mm
    hi = np.array(liver.TransformIndexToPhysicalPoint((x0 + sx - 1, y0 + sy - 1, z0 + sz - 1))) + margin_mm
    ref = sitk.Image([size] * 3, sitk.sitkFloat32)
    ref.SetOrigin(tuple(lo))
    ref.SetSpacing(tuple((hi - lo) / (size - 1)))
    return ref


def _resample(img: sitk.Image, ref: sitk.Image, nearest: bool, default: float) -> np.ndarray:
    interp = sitk.sitkNearestNeighbor if nearest else sitk.sitkLinear
    return sitk.GetArrayFromImage(sitk.Resample(img, ref, sitk.Transform(), interp, default))


def preprocess_case(ct_hu: np.ndarray, pet_suv: np.ndarray, mask: np.ndarray, spacing_zyx, grade: int, *,
                    size: int = 32, hu_window: tuple[float, float] = (-100.0, 240.0),
                    margin_mm: float = 6.0) -> PreprocessedCase:
    """Preprocess one case. ``mask``: 0 outside, 1 liver, 2 tumour (z, y, x), same shape as the
    volumes; ``spacing_zyx`` in mm. Raises ``ValueError`` without a liver."""
    if ct_hu.shape != pet_suv.shape or ct_hu.shape != mask.shape:
        raise ValueError(f"CT, PET and mask shapes differ: {ct_hu.shape}, {pet_suv.shape}, {mask.shape}")
    liver = _clean(_image((mask >= 1).astype(np.uint8), spacing_zyx), largest=True)
    tumour = sitk.And(_clean(_image((mask == 2).astype(np.uint8), spacing_zyx), largest=False), liver)
    ref = _reference(liver, size, margin_mm)
    ct = _resample(_image(ct_hu.astype(np.float32), spacing_zyx), ref, False, -1000.0)
    pet = _resample(_image(pet_suv.astype(np.float32), spacing_zyx), ref, False, 0.0)
    liv = _resample(liver, ref, True, 0).astype(bool)
    cc = _resample(sitk.ConnectedComponent(tumour), ref, True, 0)
    tumours = [cc == k for k in range(1, int(cc.max()) + 1) if (cc == k).any()]
    for t in tumours:
        liv &= ~t
    lo, hi = np.percentile(pet, [1, 99])
    pet = (np.clip(pet, lo, hi) - lo) / max(hi - lo, 1e-6)
    pet = (pet - pet.mean()) / max(float(pet.std()), 1e-6)
    spacing = tuple(float(s) for s in ref.GetSpacing()[::-1])
    return PreprocessedCase(ct.astype(np.float32), np.clip(ct, *hu_window).astype(np.float32),
                            pet.astype(np.float32), liv, tumours, spacing, int(grade))


def simulate_low_dose(ct_hu: np.ndarray, spacing_zyx, dose: float, rng: np.random.Generator, *,
                      i0: float = 2e5, angles: int = 90) -> np.ndarray:
    """CT at ``dose`` (fraction of full dose, (0, 1]) by Poisson noise on each slice's sinogram;
    ``dose == 1`` returns the input unchanged. ``ct_hu`` (z, y, x) in HU; returns HU, float32."""
    if not 0 < dose <= 1:
        raise ValueError(f"dose must lie in (0, 1], got {dose}")
    if dose == 1:
        return ct_hu.astype(np.float32)
    from skimage.transform import iradon, radon

    pix = float(spacing_zyx[1])
    theta = np.linspace(0.0, 180.0, angles, endpoint=False)
    out = np.empty_like(ct_hu, dtype=np.float32)
    counts0 = i0 * dose
    for z, sl in enumerate(ct_hu):
        mu = np.clip(MU_WATER * (1 + sl / 1000.0), 0, None)
        sino = radon(mu, theta=theta, circle=False) * pix
        n = np.maximum(rng.poisson(counts0 * np.exp(-sino)), 1)
        rec = iradon(-np.log(n / counts0) / pix, theta=theta, circle=False, filter_name="ramp",
                     output_size=sl.shape[0])
        out[z] = (rec / MU_WATER - 1.0) * 1000.0
    return out


def ct_zscore(volumes: list[np.ndarray]) -> tuple[float, float]:
    """Global mean and std (over all voxels of ``volumes``) for CT z-scoring."""
    v = np.concatenate([np.asarray(x, dtype=np.float64).ravel() for x in volumes])
    return float(v.mean()), float(max(v.std(), 1e-6))
