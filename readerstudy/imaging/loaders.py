"""What one case of an import is made of: its image (a file or a folder holding one DICOM series) and masks.

Pixels and geometry come from :mod:`readerstudy.imaging.image_reader` (the frame is documented
there); masks are put on the image grid by :func:`load_mask`. A file that cannot be used raises
:class:`~readerstudy.core.errors.UnsupportedFileError` (or :class:`ValidationError`) with one line;
nothing is written here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from readerstudy.core.errors import UnsupportedFileError, ValidationError
from readerstudy.imaging.geometry import Grid, place_mask
from readerstudy.imaging.image_reader import (
    IMAGE_SUFFIXES,
    ImageData,
    guarded,
    is_nifti,
    read_dicom_series,
    read_image,
    read_nifti_image,
)
from readerstudy.imaging.raster import read_mask_array

LoadedImage = ImageData  # the name the import service used before the reader was one module


def load_image(path: Path) -> ImageData:
    """A folder is one DICOM series (one file: that file); otherwise :func:`image_reader.read_image`."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
        if not files:
            raise ValidationError(f"{path.name}: the folder holds no files (only sub-folders or nothing).")
        return read_dicom_series(files) if len(files) > 1 else read_image(files[0])
    if not path.exists():
        raise ValidationError(f"{path.name}: no such file.")
    return read_image(path)


@dataclass
class MaskResult:
    """Labels (slices, rows, cols) uint8 on the image grid, and what was done to get there."""

    labels: np.ndarray
    notes: list[str] = field(default_factory=list)


def _nifti_labels(path: Path, image: ImageData) -> tuple[np.ndarray, str | None]:
    m = read_nifti_image(path)
    arr = m.pixels
    if (arr.dtype.kind == "f" and np.any(arr != np.round(arr))) or arr.min() < 0 or arr.max() > 255:
        raise ValidationError(f"{path.name}: a mask must hold integer labels 0-255.")
    arr = arr.astype(np.uint8)
    if not image.placed:
        # the image has no patient geometry (PNG/JPEG, DICOM without positions): only the array can match
        if arr.shape != image.pixels.shape:
            raise ValidationError(f"{path.name}: mask shape {arr.shape} does not match the image shape "
                                  f"{image.pixels.shape}, and the image has no patient geometry to resample "
                                  "onto; export the mask on the image's grid.")
        return arr, None
    return place_mask(arr, Grid.of(m), Grid.of(image), path.name)


def load_mask(paths: list[Path], image: ImageData) -> MaskResult:
    """Masks of ``image`` -> one uint8 label array on the image grid (several files are combined by max).

    PNG/JPEG masks carry no geometry: any non-zero pixel is label 1 and the shape must equal the
    image's (BUSI ``_mask_N.png``). NIfTI masks keep their integer labels and their geometry is
    compared with the image's (origin, spacing, direction, with the tolerances of
    :mod:`readerstudy.imaging.geometry`): the same grid is used as is, an overlapping other grid is
    resampled by nearest neighbour (with a note), a grid that does not overlap is refused.

    Raises
    ------
    ValidationError
        One line naming the mask file.
    """
    shape = tuple(image.pixels.shape)
    out = np.zeros(shape, dtype=np.uint8)
    notes: list[str] = []
    for p in paths:
        p = Path(p)
        if is_nifti(p):
            arr, note = guarded(p.name, lambda p=p: _nifti_labels(p, image))  # type: ignore[misc]
            if note:
                notes.append(note)
        elif p.suffix.lower() in IMAGE_SUFFIXES:
            arr = guarded(p.name, lambda p=p: read_mask_array(p))[None].astype(np.uint8)  # type: ignore[misc]
            if arr.shape != shape:
                raise ValidationError(f"{p.name}: mask shape {tuple(arr.shape)} does not match the image shape "
                                      f"{shape}; export the mask on the same grid as the image.")
        else:
            raise UnsupportedFileError(f"{p.name}: masks are read from NIfTI or PNG files.")
        out = np.maximum(out, arr)
    return MaskResult(out, notes)


__all__ = ["IMAGE_SUFFIXES", "LoadedImage", "MaskResult", "is_nifti", "load_image", "load_mask"]
