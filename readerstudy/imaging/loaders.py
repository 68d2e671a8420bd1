"""Read images for import: DICOM (single-, multi-frame, series), NIfTI, PNG/JPEG; masks.

Every loader returns a :class:`LoadedImage` whose ``pixels`` are (frames or slices, rows, cols)
and whose geometry follows ITK/LPS conventions: ``spacing`` (z, y, x) in mm, ``origin`` (x, y, z)
in mm, ``direction`` a row-major 3x3. A file that cannot be used raises
:class:`UnsupportedFileError` with a one-line reason; nothing is written by a loader.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from readerstudy.core.errors import UnsupportedFileError, ValidationError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}
NIFTI_SUFFIXES = (".nii", ".nii.gz")
CINE_MODALITIES = {"US", "XA", "RF", "ES", "IVUS"}
IDENTITY = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)


@dataclass
class LoadedImage:
    pixels: np.ndarray
    modality: str
    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    direction: tuple[float, ...] = IDENTITY
    is_volume: bool = False
    is_cine: bool = False
    frame_time_ms: float | None = None
    window: tuple[float, float] | None = None
    datasets: list[Any] = field(default_factory=list)  # pydicom datasets to de-identify and store
    notes: list[str] = field(default_factory=list)

    def meta(self) -> dict[str, Any]:
        return {
            "shape": list(self.pixels.shape), "dtype": str(self.pixels.dtype), "spacing": list(self.spacing),
            "origin": list(self.origin), "direction": list(self.direction), "is_volume": self.is_volume,
            "is_cine": self.is_cine, "frame_time_ms": self.frame_time_ms,
            "window": list(self.window) if self.window else None,
        }


def is_nifti(path: Path) -> bool:
    return path.name.lower().endswith(NIFTI_SUFFIXES)


def _to_grey(arr: np.ndarray) -> np.ndarray:
    """RGB(A) to luminance (ITU-R BT.601), keeping uint8 when the input is uint8."""
    grey = arr[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return np.clip(np.rint(grey), 0, 255).astype(np.uint8) if arr.dtype == np.uint8 else grey


def _check_pixels(arr: np.ndarray, where: str) -> np.ndarray:
    if arr.size == 0 or min(arr.shape[-2:]) < 2:
        raise UnsupportedFileError(f"{where}: image is empty ({arr.shape}).")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise UnsupportedFileError(f"{where}: image contains NaN or infinite values.")
    return arr


def load_raster(path: Path) -> LoadedImage:
    """PNG/JPEG -> one grey frame (RGB is converted to luminance; 16-bit kept)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.load()
            arr = np.asarray(im)
    except (UnidentifiedImageError, OSError) as exc:
        raise UnsupportedFileError(f"{path.name}: not a readable PNG/JPEG ({exc}).") from exc
    if arr.ndim == 3:
        arr = _to_grey(arr)
    if arr.dtype == bool:
        arr = arr.astype(np.uint8) * 255
    return LoadedImage(pixels=_check_pixels(arr[None], path.name), modality="OT")


def load_nifti(path: Path) -> LoadedImage:
    import SimpleITK as sitk

    try:
        img = sitk.ReadImage(str(path))
    except RuntimeError as exc:
        raise UnsupportedFileError(f"{path.name}: not a readable NIfTI file.") from exc
    if img.GetNumberOfComponentsPerPixel() != 1 or img.GetDimension() not in (2, 3):
        raise UnsupportedFileError(f"{path.name}: only scalar 2D/3D NIfTI is supported "
                                   f"(got {img.GetDimension()}D, {img.GetNumberOfComponentsPerPixel()} components).")
    return _from_sitk(img, path.name, modality="OT")


def _from_sitk(img: Any, where: str, modality: str) -> LoadedImage:
    from readerstudy.imaging.nifti import from_sitk

    arr, g = from_sitk(img)
    return LoadedImage(pixels=_check_pixels(arr, where), modality=modality, spacing=g["spacing"],
                       origin=g["origin"], direction=g["direction"], is_volume=arr.shape[0] > 1)


def read_dicom(path: Path) -> Any:
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        return pydicom.dcmread(path)
    except InvalidDicomError as exc:
        raise UnsupportedFileError(f"{path.name}: not a DICOM file.") from exc
    except Exception as exc:  # truncated or malformed files raise many types inside pydicom
        raise UnsupportedFileError(f"{path.name}: unreadable DICOM ({type(exc).__name__}: {exc}).") from exc


def _window(ds: Any) -> tuple[float, float] | None:
    try:
        c, w = ds.get("WindowCenter"), ds.get("WindowWidth")
        if c is None or w is None:
            return None
        c = c[0] if hasattr(c, "__len__") and not isinstance(c, str) else c
        w = w[0] if hasattr(w, "__len__") and not isinstance(w, str) else w
        return (float(c), float(w)) if float(w) > 0 else None
    except (TypeError, ValueError):
        return None


def dicom_pixels(ds: Any, where: str) -> np.ndarray:
    """Decoded, modality-LUT-applied pixels as (frames, rows, cols)."""
    from pydicom.pixels import apply_modality_lut

    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        sop = ds.get("SOPClassUID")
        what = getattr(sop, "name", None) or "this object"
        raise UnsupportedFileError(f"{where}: no pixel data ({what}); only images can be imported.")
    try:
        arr = ds.pixel_array
    except Exception as exc:
        ts = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
        tsname = getattr(ts, "name", ts)
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UnsupportedFileError(f"{where}: pixel data cannot be decoded (transfer syntax {tsname}): {msg}") from exc
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    if samples == 3:
        arr = _to_grey(arr)  # pydicom's pixel_array already converted YBR to RGB
    elif str(ds.get("PhotometricInterpretation", "")) == "PALETTE COLOR":
        from pydicom.pixels import apply_color_lut

        arr = _to_grey(apply_color_lut(arr, ds))
    else:
        if "RescaleSlope" in ds or "RescaleIntercept" in ds or "ModalityLUTSequence" in ds:
            arr = apply_modality_lut(arr, ds)
        if str(ds.get("PhotometricInterpretation", "")) == "MONOCHROME1":
            arr = arr.max() + arr.min() - arr  # display convention: high values bright
    if frames == 1 or arr.ndim == 2:
        arr = arr.reshape((1, *arr.shape[-2:]))
    if arr.dtype.kind == "f":
        arr = arr.astype(np.float32)
    return _check_pixels(np.ascontiguousarray(arr), where)


def load_dicom_file(path: Path) -> LoadedImage:
    ds = read_dicom(path)
    arr = dicom_pixels(ds, path.name)
    modality = str(ds.get("Modality", "OT") or "OT")
    frames = arr.shape[0]
    frame_time = ds.get("FrameTime")
    if frame_time is None and ds.get("CineRate"):
        frame_time = 1000.0 / float(ds.CineRate)
    is_cine = frames > 1 and (modality in CINE_MODALITIES or frame_time is not None)
    ps = ds.get("PixelSpacing") or ds.get("ImagerPixelSpacing")
    sy, sx = (float(ps[0]), float(ps[1])) if ps else (1.0, 1.0)
    sz = float(ds.get("SpacingBetweenSlices", ds.get("SliceThickness", 1.0)) or 1.0)
    notes = []
    if str(ds.get("BurnedInAnnotation", "")).upper() == "YES":
        notes.append(f"{path.name}: flagged as having burned-in annotation; check the pixels for identifiers.")
    return LoadedImage(pixels=arr, modality=modality, spacing=(sz, sy, sx), is_cine=is_cine,
                       is_volume=frames > 1 and not is_cine,
                       frame_time_ms=float(frame_time) if is_cine and frame_time is not None else None,
                       window=_window(ds), datasets=[ds], notes=notes)


def _quiet_itk() -> None:
    import SimpleITK as sitk

    sitk.ProcessObject.SetGlobalWarningDisplay(False)


def load_dicom_series(files: list[Path]) -> LoadedImage:
    """Several single-frame DICOM files of one series -> one volume, sorted by ITK/GDCM geometry."""
    import SimpleITK as sitk

    _quiet_itk()
    datasets = [read_dicom(f) for f in files]
    series = {str(ds.get("SeriesInstanceUID", "")) for ds in datasets}
    if len(series) != 1:
        raise ValidationError(f"{files[0].parent.name}: the folder holds {len(series)} DICOM series; "
                              "give one series per case (one folder or one manifest row each).")
    reader = sitk.ImageSeriesReader()
    names = reader.GetGDCMSeriesFileNames(str(files[0].parent), series.pop())
    if len(names) != len(files):
        names = [str(f) for f in files]
    reader.SetFileNames(list(names))
    try:
        img = reader.Execute()
    except RuntimeError as exc:
        raise UnsupportedFileError(f"{files[0].parent.name}: the series cannot be read as one volume.") from exc
    loaded = _from_sitk(img, files[0].parent.name, modality=str(datasets[0].get("Modality", "OT") or "OT"))
    loaded.is_volume = True
    loaded.window = _window(datasets[0])
    order = {str(Path(n).resolve()): i for i, n in enumerate(names)}
    loaded.datasets = [ds for _, ds in sorted(zip(files, datasets, strict=True),
                                              key=lambda t: order.get(str(t[0].resolve()), 0))]
    return loaded


def load_image(path: Path) -> LoadedImage:
    """Dispatch on the path: a folder is a DICOM series; otherwise by suffix (DICOM when unknown)."""
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
        if not files:
            raise ValidationError(f"{path.name}: the folder holds no files (only sub-folders or nothing).")
        return load_dicom_series(files) if len(files) > 1 else load_dicom_file(files[0])
    if not path.exists():
        raise ValidationError(f"{path}: no such file.")
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return load_raster(path)
    if is_nifti(path):
        return load_nifti(path)
    return load_dicom_file(path)


def load_mask(paths: list[Path], shape: tuple[int, ...]) -> np.ndarray:
    """Masks for an image of ``shape`` (frames, rows, cols) -> uint8 label array of that shape.

    PNG masks: any non-zero pixel is label 1, several files are OR-ed (BUSI ``_mask_N.png``).
    NIfTI masks keep their integer labels.
    """
    out = np.zeros(shape, dtype=np.uint8)
    for p in paths:
        if is_nifti(p):
            arr = load_nifti(p).pixels
            if np.any(arr != np.round(arr)) or arr.min() < 0 or arr.max() > 255:
                raise ValidationError(f"{p.name}: a mask must hold integer labels 0-255.")
            arr = arr.astype(np.uint8)
        else:
            arr = (load_raster(p).pixels > 0).astype(np.uint8)
        if arr.shape != tuple(shape):
            raise ValidationError(f"{p.name}: mask shape {tuple(arr.shape)} does not match the image shape "
                                  f"{tuple(shape)}; export the mask on the same grid as the image.")
        out = np.maximum(out, arr)
    return out
