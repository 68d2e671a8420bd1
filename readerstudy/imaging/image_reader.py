"""The one reader of pixels and geometry: DICOM (single-, multi-, enhanced multi-frame, series), NIfTI, PNG/JPEG.

Every reader returns an :class:`ImageData` in one frame (the one of :mod:`readerstudy.imaging.nifti`,
:mod:`readerstudy.imaging.mask_io` and the stored ``image_asset.meta``; see
:mod:`readerstudy.imaging.geometry`):

* ``pixels`` is (frames or slices, rows, cols), row-major, slices in increasing order along the
  slice normal;
* ``spacing`` is (z, y, x) in mm; ``origin`` is the (x, y, z) DICOM patient (LPS) position of the
  centre of voxel [0, 0, 0], in mm; ``direction`` is row-major 3x3 whose columns are the patient
  unit vectors of the column, row and slice index axes (DICOM: row cosine, column cosine, normal);
* pixel values are the output of the modality LUT (PS3.3 C.11.1: RescaleSlope/Intercept, per frame
  where the functional groups give them, or the Modality LUT Sequence), e.g. Hounsfield units;
* ``window`` (centre, width) is the source's VOI window in those units, and ``invert`` is True for
  MONOCHROME1: the stored values and window are kept, and the display inverts *after* windowing
  (PS3.3 C.7.6.3.1.2; :func:`readerstudy.imaging.windowing.to_display`). Colour is shown as grey
  (luminance, ITU-R BT.601).

A file that cannot be used raises :class:`~readerstudy.core.errors.UnsupportedFileError` with one
line that starts with the file's name; nothing is written by a reader. Library exceptions inside a
reader become such errors (the traceback goes to the debug log).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from readerstudy.core.errors import ReaderStudyError, UnsupportedFileError
from readerstudy.imaging import dicom_frames as frames_
from readerstudy.imaging.dicom_pixels import decode, spacing_fallback, to_values
from readerstudy.imaging.geometry import IDENTITY
from readerstudy.imaging.itk_log import itk_reason, route_itk_messages
from readerstudy.imaging.raster import luminance, read_raster_array

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}
NIFTI_SUFFIXES = (".nii", ".nii.gz")
CINE_MODALITIES = {"US", "XA", "RF", "ES", "IVUS"}
T = TypeVar("T")


@dataclass
class ImageData:
    """Pixels and where they lie (see the module docstring for the frame and units)."""

    pixels: np.ndarray
    modality: str
    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    direction: tuple[float, ...] = IDENTITY
    is_volume: bool = False
    is_cine: bool = False
    frame_time_ms: float | None = None
    window: tuple[float, float] | None = None
    photometric: str = "MONOCHROME2"
    invert: bool = False
    placed: bool = False  # origin and direction come from the file (DICOM positions, NIfTI header)
    spacing_known: bool = True  # False: the file gives no pixel spacing and ``spacing`` is the 1 mm stand-in
    datasets: list[Any] = field(default_factory=list)  # pydicom datasets (slice order) to de-identify and store
    notes: list[str] = field(default_factory=list)

    def meta(self) -> dict[str, Any]:
        """What ``image_asset.meta`` stores (JSON)."""
        return {
            "shape": list(self.pixels.shape), "dtype": str(self.pixels.dtype), "spacing": list(self.spacing),
            "origin": list(self.origin), "direction": list(self.direction), "is_volume": self.is_volume,
            "is_cine": self.is_cine, "frame_time_ms": self.frame_time_ms,
            "window": list(self.window) if self.window else None, "photometric": self.photometric,
            "invert": self.invert, "placed": self.placed, "spacing_known": self.spacing_known,
            "notes": list(self.notes),
        }


def is_nifti(path: Path) -> bool:
    return path.name.lower().endswith(NIFTI_SUFFIXES)


def guarded(where: str, fn: Callable[[], T], what: str = "malformed file") -> T:
    """Run ``fn``; any exception that is not the app's own becomes one :class:`UnsupportedFileError` line."""
    try:
        return fn()
    except ReaderStudyError:
        raise
    except MemoryError as exc:
        raise UnsupportedFileError(f"{where}: too large to load into memory.") from exc
    except Exception as exc:
        log.debug("%s: %s", where, what, exc_info=True)
        msg = (str(exc).strip().splitlines() or [""])[0][:200]
        raise UnsupportedFileError(f"{where}: {what} ({type(exc).__name__}{': ' + msg if msg else ''}).") from exc


def check_pixels(arr: np.ndarray, where: str) -> np.ndarray:
    """Refuse empty images and non-finite values; return ``arr`` contiguous."""
    if arr.size == 0 or arr.ndim != 3 or min(arr.shape[-2:]) < 2:
        raise UnsupportedFileError(f"{where}: image is empty or too small ({arr.shape}).")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise UnsupportedFileError(f"{where}: image contains NaN or infinite values.")
    return np.ascontiguousarray(arr)


# ----------------------------------------------------------------------------- dispatch
def read_image(path: Path) -> ImageData:
    """One file: PNG/JPEG by suffix, NIfTI by ``.nii``/``.nii.gz``, anything else as DICOM.

    Raises
    ------
    UnsupportedFileError
        The file cannot be read as an image (one line, starting with the file name).
    """
    path = Path(path)
    if not path.is_file():
        raise UnsupportedFileError(f"{path.name}: no such file.")
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return read_raster(path)
    if is_nifti(path):
        return read_nifti_image(path)
    return read_dicom_file(path)


def read_raster(path: Path) -> ImageData:
    """PNG/JPEG, any Pillow mode -> one grey frame; no patient geometry (spacing 1 mm, not placed)."""
    arr, photometric, notes = read_raster_array(Path(path))
    return ImageData(pixels=check_pixels(arr[None], path.name), modality="OT", photometric=photometric,
                     spacing_known=False, notes=notes)


def read_nifti_image(path: Path) -> ImageData:
    """Scalar 2D/3D NIfTI (scl_slope/inter applied by ITK) with its qform/sform geometry."""
    import SimpleITK as sitk

    from readerstudy.imaging.nifti import from_sitk

    path = Path(path)
    route_itk_messages()
    try:
        img = sitk.ReadImage(str(path))
    except RuntimeError as exc:
        log.debug("%s: ITK could not read it: %s", path.name, exc)
        why = itk_reason(exc) or "truncated, compressed wrongly or not NIfTI"
        raise UnsupportedFileError(f"{path.name}: not a readable NIfTI file ({why}).") from exc
    if img.GetNumberOfComponentsPerPixel() != 1 or img.GetDimension() not in (2, 3):
        raise UnsupportedFileError(f"{path.name}: only scalar 2D/3D NIfTI is supported "
                                   f"(got {img.GetDimension()}D, {img.GetNumberOfComponentsPerPixel()} "
                                   "components per voxel).")
    arr, g = from_sitk(img)
    if arr.dtype == np.float64:
        arr = arr.astype(np.float32)
    elif arr.dtype == bool:
        arr = arr.astype(np.uint8)
    return ImageData(pixels=check_pixels(arr, path.name), modality="OT", spacing=g["spacing"],  # type: ignore[arg-type]
                     origin=g["origin"], direction=g["direction"], is_volume=arr.shape[0] > 1,  # type: ignore[arg-type]
                     placed=True)


# ----------------------------------------------------------------------------- DICOM
def read_dicom(path: Path) -> Any:
    """The pydicom dataset of ``path`` (pixels not decoded yet)."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        return pydicom.dcmread(path)
    except InvalidDicomError as exc:
        raise UnsupportedFileError(f"{path.name}: not a DICOM file.") from exc
    except Exception as exc:  # truncated or malformed files raise many types inside pydicom
        log.debug("%s: pydicom could not read it", path.name, exc_info=True)
        raise UnsupportedFileError(f"{path.name}: unreadable DICOM ({type(exc).__name__}: "
                                   f"{(str(exc).splitlines() or [''])[0][:200]}).") from exc


def read_dicom_file(path: Path) -> ImageData:
    """A single-frame, multi-frame or enhanced multi-frame DICOM image (see the module docstring)."""
    path = Path(path)
    ds = read_dicom(path)
    return guarded(path.name, lambda: _from_dataset(ds, path.name))


def _from_dataset(ds: Any, where: str) -> ImageData:
    infos = frames_.frame_infos(ds, where)
    infos, notes = spacing_fallback(ds, infos, where)
    geo = frames_.stack_geometry(infos, where)
    raw = decode(ds, where, len(infos))
    pixels, photometric = to_values(ds, raw, infos, where)
    pixels = pixels[geo.order] if geo.order != list(range(len(infos))) else pixels
    modality = str(ds.get("Modality", "OT") or "OT")
    n = pixels.shape[0]
    frame_time = _frame_time(ds)
    volume_grid = geo.placed and not geo.same_position and n > 1
    is_cine = n > 1 and not volume_grid and (modality in CINE_MODALITIES or frame_time is not None)
    if n > 1 and not geo.placed and not is_cine:
        notes.append(f"{where}: the frames carry no positions; shown as slices {geo.spacing[0]:g} mm apart "
                     "(SpacingBetweenSlices/SliceThickness)")
    notes.extend(geo.notes)
    if str(ds.get("BurnedInAnnotation", "")).upper() == "YES":
        notes.append(f"{where}: flagged as having burned-in annotation; check the pixels for identifiers")
    return ImageData(
        pixels=check_pixels(pixels, where), modality=modality, spacing=geo.spacing, origin=geo.origin,
        direction=geo.direction, is_volume=n > 1 and not is_cine, is_cine=is_cine,
        frame_time_ms=frame_time if is_cine else None, window=infos[geo.order[0]].window,
        photometric=photometric, invert=photometric == "MONOCHROME1", placed=geo.placed,
        spacing_known=infos[0].pixel_spacing is not None, datasets=[ds], notes=notes)


def _frame_time(ds: Any) -> float | None:
    for kw, to_ms in (("FrameTime", 1.0), ("CineRate", None), ("RecommendedDisplayFrameRate", None)):
        try:
            v = float(ds.get(kw) or 0)
        except (TypeError, ValueError):
            continue
        if v > 0:
            return v * to_ms if to_ms else 1000.0 / v
    return None


def read_dicom_series(files: list[Path]) -> ImageData:
    """Single-frame DICOM files of one series -> one volume ordered along the slice normal.

    Each slice keeps its own rescale; the slices must form one regular grid
    (:func:`readerstudy.imaging.dicom_frames.stack_geometry`), else the series is refused.
    """
    files = [Path(f) for f in files]
    where = files[0].parent.name or str(files[0].parent)
    datasets = [read_dicom(f) for f in files]
    return guarded(where, lambda: _series(files, datasets, where))


def _series(files: list[Path], datasets: list[Any], where: str) -> ImageData:
    series = {str(ds.get("SeriesInstanceUID", "")) for ds in datasets}
    if len(series) != 1:
        raise UnsupportedFileError(f"{where}: the folder holds {len(series)} DICOM series; give one series "
                                   "per case (one folder or one manifest row each).")
    for f, ds in zip(files, datasets, strict=True):
        if int(ds.get("NumberOfFrames", 1) or 1) != 1:
            raise UnsupportedFileError(f"{where}: {f.name} is a multi-frame object; a series folder holds "
                                       "single-frame slices (import the multi-frame file on its own).")
    photos = {str(ds.get("PhotometricInterpretation", "")) for ds in datasets}
    if len(photos) != 1:
        raise UnsupportedFileError(f"{where}: the slices mix photometric interpretations {sorted(photos)}.")
    infos = [frames_.frame_infos(ds, f.name)[0] for f, ds in zip(files, datasets, strict=True)]
    infos, notes = spacing_fallback(datasets[0], infos, where)
    geo = frames_.stack_geometry(infos, where)
    raws = [decode(datasets[i], files[i].name, 1) for i in geo.order]
    shapes = {r.shape[1:] for r in raws}
    if len(shapes) != 1:
        raise UnsupportedFileError(f"{where}: the slices have different sizes {sorted(shapes)[:3]}.")
    ordered_infos = [infos[i] for i in geo.order]
    if any("ModalityLUTSequence" in datasets[i] for i in geo.order):
        parts = [to_values(datasets[i], r, [infos[i]], files[i].name)[0] for i, r in zip(geo.order, raws, strict=True)]
        pixels = np.concatenate([p.astype(np.float32) for p in parts])
        photometric = photos.pop()
    else:
        pixels, photometric = to_values(datasets[geo.order[0]], np.concatenate(raws), ordered_infos, where)
    if not geo.placed:
        notes.append(f"{where}: the slices carry no ImagePositionPatient; ordered by InstanceNumber, "
                     f"{geo.spacing[0]:g} mm apart (SliceThickness)")
    notes.extend(geo.notes)
    if any(str(ds.get("BurnedInAnnotation", "")).upper() == "YES" for ds in datasets):
        notes.append(f"{where}: flagged as having burned-in annotation; check the pixels for identifiers")
    return ImageData(
        pixels=check_pixels(pixels, where), modality=str(datasets[0].get("Modality", "OT") or "OT"),
        spacing=geo.spacing, origin=geo.origin, direction=geo.direction, is_volume=True,
        window=ordered_infos[0].window, photometric=photometric, invert=photometric == "MONOCHROME1",
        placed=geo.placed, spacing_known=infos[0].pixel_spacing is not None,
        datasets=[datasets[i] for i in geo.order], notes=notes)


__all__ = ["CINE_MODALITIES", "IMAGE_SUFFIXES", "ImageData", "check_pixels", "guarded", "is_nifti",
           "luminance", "read_dicom", "read_dicom_file", "read_dicom_series", "read_image",
           "read_nifti_image", "read_raster"]
