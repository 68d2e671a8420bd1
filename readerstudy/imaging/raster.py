"""PNG/JPEG pixels, every Pillow mode, as one grey frame (used by :mod:`readerstudy.imaging.image_reader`).

========== =====================================================================================
Mode       Stored values
========== =====================================================================================
1          0 / 255 (uint8)
L          the grey value (uint8)
LA, La     the grey value; the alpha channel is dropped (a note says when it is not opaque)
P, PA      the palette colour's luminance, never the palette index (uint8)
I;16*      the 16-bit value (uint16): 16-bit greyscale PNG
I          the 32-bit value (int32)
F          the float value (float32)
RGB, RGBA, RGBX, RGBa, CMYK, YCbCr, HSV
           luminance of the RGB colour, ITU-R BT.601 (uint8), as Pillow's ``convert("L")``
========== =====================================================================================

JPEG EXIF orientation is applied (the image is shown as a photo viewer shows it). Multi-frame
files (animated PNG) give their first frame, with a note.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from readerstudy.core.errors import UnsupportedFileError

_RGB_MODES = {"RGB", "RGBA", "RGBX", "RGBa", "CMYK", "YCbCr", "HSV", "LAB"}
_STRICT = threading.Lock()


@contextlib.contextmanager
def strict_decoding() -> Iterator[None]:
    """Refuse truncated files while decoding inside this block.

    Pillow's ``ImageFile.LOAD_TRUNCATED_IMAGES`` is process-wide and WeasyPrint sets it to True
    when it is imported (by the report), after which a half-written PNG decodes as an image with
    a grey lower half. Import must never accept such a file, whatever was imported before.
    """
    from PIL import ImageFile

    with _STRICT:
        before = ImageFile.LOAD_TRUNCATED_IMAGES
        ImageFile.LOAD_TRUNCATED_IMAGES = False
        try:
            yield
        finally:
            ImageFile.LOAD_TRUNCATED_IMAGES = before


def luminance(rgb: np.ndarray) -> np.ndarray:
    """(..., 3+) RGB -> grey by ITU-R BT.601 (0.299 R + 0.587 G + 0.114 B); integer types kept."""
    wide = rgb.dtype.itemsize >= 4  # float32 cannot hold 32-bit integers exactly
    ftype = np.float64 if wide else np.float32
    grey = rgb[..., :3].astype(ftype) @ np.array([0.299, 0.587, 0.114], dtype=ftype)
    if rgb.dtype.kind in "ui":
        info = np.iinfo(rgb.dtype)
        return np.clip(np.rint(grey), info.min, info.max).astype(rgb.dtype)
    return grey.astype(np.float32)


def _alpha_note(alpha: np.ndarray, name: str) -> list[str]:
    opaque = alpha == (np.iinfo(alpha.dtype).max if alpha.dtype.kind in "ui" else 1.0)
    if opaque.all():
        return []
    pct = 100.0 * (1.0 - float(opaque.mean()))
    return [f"{name}: the alpha channel was dropped ({pct:.3g} % of the pixels are not opaque)"]


def grey_of(im: Any, name: str) -> tuple[np.ndarray, str, list[str]]:
    mode = im.mode
    if mode == "1":
        return np.asarray(im, dtype=bool).astype(np.uint8) * 255, "MONOCHROME2", []
    if mode == "L":
        return np.asarray(im), "MONOCHROME2", []
    if mode in ("LA", "La"):
        a = np.asarray(im.convert("LA") if mode == "La" else im)
        return a[..., 0].copy(), "MONOCHROME2", _alpha_note(a[..., 1], name)
    if mode in ("P", "PA"):
        rgba = np.asarray(im.convert("RGBA"))
        return luminance(rgba), "PALETTE COLOR", _alpha_note(rgba[..., 3], name)
    if mode.startswith("I;16"):
        return np.asarray(im).astype(np.uint16), "MONOCHROME2", []
    if mode == "I":
        return np.asarray(im).astype(np.int32), "MONOCHROME2", []
    if mode == "F":
        return np.asarray(im).astype(np.float32), "MONOCHROME2", []
    if mode in _RGB_MODES:
        rgb = im.convert("RGBA") if mode in ("RGBA", "RGBa") else im.convert("RGB")
        a = np.asarray(rgb)
        notes = _alpha_note(a[..., 3], name) if a.shape[-1] == 4 else []
        return luminance(a), "RGB", notes
    raise UnsupportedFileError(f"{name}: image mode {mode!r} is not supported; save it as greyscale or RGB PNG.")


def _open(path: Path) -> Any:
    from PIL import Image, UnidentifiedImageError

    name = Path(path).name
    try:
        with strict_decoding():
            im = Image.open(path)
            im.load()
        return im
    except UnidentifiedImageError as exc:
        raise UnsupportedFileError(f"{name}: not a readable PNG/JPEG.") from exc
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        msg = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
        raise UnsupportedFileError(f"{name}: not a readable PNG/JPEG ({msg}).") from exc


def read_mask_array(path: Path) -> np.ndarray:
    """A PNG mask -> bool (rows, cols): any non-zero colour channel, or palette index, is foreground.

    The alpha channel is ignored, and a palette ("P") mask is read by its indices (the labels), not
    by the palette's colours.
    """
    im = _open(Path(path))
    with im:
        if im.mode in ("P", "PA"):
            arr = np.asarray(im.convert("P") if im.mode == "PA" else im)
        elif im.mode in ("LA", "La", "RGBA", "RGBa"):
            arr = np.asarray(im)[..., :-1]
        else:
            arr = np.asarray(im)
    return arr.any(axis=-1) if arr.ndim == 3 else arr != 0


def read_raster_array(path: Path) -> tuple[np.ndarray, str, list[str]]:
    """``(grey (rows, cols), source photometric, notes)`` of a PNG/JPEG file.

    Raises
    ------
    UnsupportedFileError
        The file is not a readable image (one line).
    """
    from PIL import ImageOps

    name = Path(path).name
    with _open(Path(path)) as im:
        notes = []
        if getattr(im, "n_frames", 1) > 1:
            notes.append(f"{name}: {im.n_frames} frames in the file; the first one was imported")
        oriented = im
        if im.getexif().get(0x0112, 1) not in (1, None):  # EXIF Orientation
            oriented = ImageOps.exif_transpose(im)
            notes.append(f"{name}: rotated/flipped as its EXIF orientation says")
        arr, photometric, more = grey_of(oriented, name)
    return arr, photometric, notes + more


__all__ = ["grey_of", "luminance", "read_mask_array", "read_raster_array", "strict_decoding"]
