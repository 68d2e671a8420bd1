"""Pixel-level de-identification: bits above Bits Stored, and the Clean Pixel Data option.

Coordinates: a :class:`PixelRect` is in pixel indices of one frame, ``x`` along columns and ``y``
along rows, half-open (``x0 <= x < x1``, ``y0 <= y < y1``), the same for every frame.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from readerstudy.core.errors import ValidationError

__all__ = ["PixelRect", "clear_unused_bits", "clean_rectangles", "mask_array"]


@dataclass(frozen=True)
class PixelRect:
    """A rectangle of pixels to overwrite: columns ``x0..x1-1``, rows ``y0..y1-1`` (pixel indices)."""

    x0: int
    y0: int
    x1: int
    y1: int

    def __post_init__(self) -> None:
        if not (0 <= self.x0 < self.x1 and 0 <= self.y0 < self.y1):
            raise ValidationError(f"rectangle {self.text()} is empty or negative; give x0,y0,x1,y1 with "
                                  "x0 < x1 and y0 < y1 (pixel columns and rows, the end excluded).")

    @classmethod
    def parse(cls, text: str) -> PixelRect:
        """``"x0,y0,x1,y1"`` (integers) -> a rectangle; :class:`ValidationError` if malformed."""
        if not re.fullmatch(r"\s*\d+\s*,\s*\d+\s*,\s*\d+\s*,\s*\d+\s*", text or ""):
            raise ValidationError(f"rectangle {text!r} must be four integers x0,y0,x1,y1 (pixel columns and rows).")
        x0, y0, x1, y1 = (int(v) for v in text.split(","))
        return cls(x0, y0, x1, y1)

    def text(self) -> str:
        return f"{self.x0},{self.y0},{self.x1},{self.y1}"

    def check(self, rows: int, cols: int) -> None:
        """Refuse a rectangle that reaches outside an image of ``rows`` x ``cols`` pixels."""
        if self.x1 > cols or self.y1 > rows:
            raise ValidationError(f"rectangle {self.text()} reaches outside the {cols}x{rows} image "
                                  "(columns x rows); give it in this image's pixel coordinates.")


def mask_array(pixels: np.ndarray, rects: Iterable[PixelRect], fill: float | None = None) -> np.ndarray:
    """A copy of ``pixels`` (frames, rows, cols) with each rectangle set to ``fill`` in every frame
    (default: the array's minimum, black on a MONOCHROME2 display)."""
    out = np.array(pixels, copy=True)
    value = out.min() if fill is None else fill
    for r in rects:
        r.check(out.shape[-2], out.shape[-1])
        out[..., r.y0:r.y1, r.x0:r.x1] = value
    return out


def _transfer_syntax(ds: Any) -> Any:
    from pydicom.uid import ImplicitVRLittleEndian

    meta = getattr(ds, "file_meta", None)
    return (meta.get("TransferSyntaxUID") if meta is not None else None) or ImplicitVRLittleEndian


def _decompress(ds: Any) -> None:
    try:
        ds.decompress(generate_instance_uid=False)
    except Exception as exc:  # pydicom raises several types for codecs it lacks
        raise ValidationError(f"the pixel data cannot be decoded to clean it ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0] if str(exc) else ''}).") from exc


def clear_unused_bits(ds: Any) -> bool:
    """Zero the bits of Pixel Data outside Bits Stored (PS3.15 E.3.1 hides overlays there).

    Native (uncompressed) data is masked in place; encapsulated data with Bits Stored below Bits
    Allocated is decoded (which drops those bits) and stored natively. Returns True if the
    pixel data changed. Decoded pixel values are unchanged either way.
    """
    if "PixelData" not in ds:
        return False
    allocated = int(ds.get("BitsAllocated", 0) or 0)
    stored = int(ds.get("BitsStored", allocated) or allocated)
    high = int(ds.get("HighBit", stored - 1) if ds.get("HighBit") is not None else stored - 1)
    if allocated not in (8, 16, 32) or stored >= allocated or high + 1 < stored:
        return False
    ts = _transfer_syntax(ds)
    if ts.is_compressed:
        _decompress(ds)
        return True
    dtype = np.dtype(f"{'<' if ts.is_little_endian else '>'}u{allocated // 8}")
    raw = bytes(ds.PixelData)
    n = len(raw) // dtype.itemsize * dtype.itemsize
    arr = np.frombuffer(raw[:n], dtype=dtype).copy()
    keep = dtype.type(((1 << stored) - 1) << (high + 1 - stored))
    if not np.any(arr & ~keep):
        return False
    arr &= keep
    ds.PixelData = arr.tobytes() + raw[n:]
    return True


def clean_rectangles(ds: Any, rects: Iterable[PixelRect]) -> None:
    """Clean Pixel Data option: overwrite each rectangle in every frame of ``ds`` (in place).

    The fill is the darkest stored value on display (the minimum; the maximum for MONOCHROME1;
    zero in colour images). Encapsulated data is decoded and the result stored as Explicit VR
    Little Endian. Raises :class:`ValidationError` when the data cannot be decoded or rewritten,
    or a rectangle lies outside the image.
    """
    rects = list(rects)
    if "PixelData" not in ds:
        raise ValidationError("the object has no pixel data to clean.")
    for r in rects:
        r.check(int(ds.Rows), int(ds.Columns))
    if _transfer_syntax(ds).is_compressed:
        _decompress(ds)
    try:
        arr = np.array(ds.pixel_array, copy=True)
    except Exception as exc:
        raise ValidationError(f"the pixel data cannot be decoded to clean it ({type(exc).__name__}).") from exc
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    frames_present = "NumberOfFrames" in ds
    shaped = arr.reshape((-1, int(ds.Rows), int(ds.Columns), samples))
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2"))
    fill = 0 if samples > 1 else (shaped.max() if photometric == "MONOCHROME1" else shaped.min())
    for r in rects:
        shaped[:, r.y0:r.y1, r.x0:r.x1, :] = fill
    out = shaped if samples > 1 else shaped[..., 0]
    if out.shape[0] == 1 and not frames_present:
        out = out[0]
    if samples > 1:
        photometric = "RGB"  # pydicom decodes YBR to RGB
    try:
        ds.set_pixel_data(out, photometric, int(ds.get("BitsStored", out.dtype.itemsize * 8)),
                          generate_instance_uid=False)
    except (ValueError, NotImplementedError, AttributeError) as exc:
        raise ValidationError(f"the cleaned pixel data cannot be stored ({exc}).") from exc
