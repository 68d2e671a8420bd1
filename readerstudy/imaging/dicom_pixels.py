"""DICOM pixel data -> modality values (used by :mod:`readerstudy.imaging.image_reader`).

* :func:`decode`: the decoded pixel data as (frames, rows, cols[, 3]); pydicom converts YBR to RGB.
* :func:`to_values`: the Modality LUT (PS3.3 C.11.1), frame by frame: the Modality LUT Sequence
  when present, else RescaleSlope/RescaleIntercept of each frame (functional groups first);
  colour (RGB, YBR, PALETTE COLOR) becomes luminance. MONOCHROME1 values are *not* inverted here.
* :func:`spacing_fallback`: pixel spacing when PixelSpacing is absent (ImagerPixelSpacing, the
  ultrasound region calibration), with a note saying where it came from.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from readerstudy.core.errors import UnsupportedFileError
from readerstudy.imaging.dicom_frames import FrameInfo, rescale
from readerstudy.imaging.raster import luminance

PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
_US_CM = 3  # PhysicalUnitsXDirection 3 = cm (PS3.3 C.8.5.5.1.15)


def decode(ds: Any, where: str, frames: int) -> np.ndarray:
    """Decoded pixels of ``ds`` as (frames, rows, cols) or (frames, rows, cols, samples).

    Raises
    ------
    UnsupportedFileError
        No pixel data, a transfer syntax no installed decoder handles, or a size that contradicts
        Rows/Columns/NumberOfFrames.
    """
    if not any(k in ds for k in PIXEL_KEYWORDS):
        sop = ds.get("SOPClassUID")
        what = getattr(sop, "name", None) or "this object"
        raise UnsupportedFileError(f"{where}: no pixel data ({what}); only images can be imported.")
    try:
        arr = np.asarray(ds.pixel_array)
    except Exception as exc:
        ts = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
        tsname = getattr(ts, "name", ts)
        msg = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise UnsupportedFileError(f"{where}: pixel data cannot be decoded (transfer syntax {tsname}): {msg}") from exc
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    rows, cols = int(ds.Rows), int(ds.Columns)
    if arr.size != frames * rows * cols * samples:
        raise UnsupportedFileError(f"{where}: the pixel data holds {arr.size} values; the header says {frames} "
                                   f"frame(s) of {rows}x{cols}x{samples}.")
    return arr.reshape((frames, rows, cols) + ((samples,) if samples > 1 else ()))


def to_values(ds: Any, raw: np.ndarray, infos: list[FrameInfo], where: str) -> tuple[np.ndarray, str]:
    """(frames, rows, cols) modality values and the photometric interpretation (kept for display)."""
    photometric = str(ds.get("PhotometricInterpretation", "") or "MONOCHROME2").strip().upper()
    if raw.ndim == 4:
        if raw.shape[-1] < 3:
            raise UnsupportedFileError(f"{where}: {raw.shape[-1]} samples per pixel is not a supported colour image.")
        return luminance(raw), photometric
    if photometric == "PALETTE COLOR":
        from pydicom.pixels import apply_color_lut

        return luminance(np.asarray(apply_color_lut(raw, ds))), photometric
    if ds.get("ModalityLUTSequence"):
        from pydicom.pixels import apply_modality_lut

        return np.asarray(apply_modality_lut(raw, ds)), photometric
    if len(infos) != raw.shape[0]:
        raise UnsupportedFileError(f"{where}: {len(infos)} frame descriptions for {raw.shape[0]} frames.")
    values = rescale(raw, [i.slope for i in infos], [i.intercept for i in infos])
    if values.dtype == bool:
        values = values.astype(np.uint8)
    elif values.dtype == np.float64:
        values = values.astype(np.float32)
    return values, photometric


def _us_region_spacing(ds: Any) -> tuple[float, float] | None:
    """(row, column) spacing in mm from the first 2D ultrasound region that lies inside the image."""
    rows, cols = int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
    for region in ds.get("SequenceOfUltrasoundRegions") or []:
        try:
            inside = int(region.RegionLocationMaxX1) < cols and int(region.RegionLocationMaxY1) < rows
            units = int(region.PhysicalUnitsXDirection), int(region.PhysicalUnitsYDirection)
            dx, dy = float(region.PhysicalDeltaX), float(region.PhysicalDeltaY)
        except (AttributeError, TypeError, ValueError):
            continue
        if inside and int(region.get("RegionSpatialFormat", 0) or 0) == 1 and units == (_US_CM, _US_CM) \
                and dx > 0 and dy > 0:
            return abs(dy) * 10.0, abs(dx) * 10.0
    return None


def spacing_fallback(ds: Any, infos: list[FrameInfo], where: str) -> tuple[list[FrameInfo], list[str]]:
    """Fill a missing PixelSpacing from ImagerPixelSpacing or the ultrasound calibration (with a note)."""
    if infos[0].pixel_spacing is not None:
        return infos, []
    imager = ds.get("ImagerPixelSpacing")
    spacing: tuple[float, float] | None = None
    note = ""
    if imager is not None and len(imager) == 2 and min(float(v) for v in imager) > 0:
        spacing = (float(imager[0]), float(imager[1]))
        note = (f"{where}: pixel spacing from ImagerPixelSpacing {spacing[0]:g} x {spacing[1]:g} mm "
                "(at the detector, not corrected for magnification)")
    elif (us := _us_region_spacing(ds)) is not None:
        spacing = us
        note = f"{where}: pixel spacing {us[0]:.4g} x {us[1]:.4g} mm from the ultrasound region calibration"
    if spacing is None:
        return infos, [f"{where}: no pixel spacing in the file; 1 mm assumed"]
    return [replace(i, pixel_spacing=spacing) for i in infos], [note]


__all__ = ["decode", "spacing_fallback", "to_values"]
