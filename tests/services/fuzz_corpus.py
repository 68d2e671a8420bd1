"""A seeded fuzz corpus for the import: truncated, byte-flipped and wrong-VR DICOM, broken PNG and NIfTI.

``build_fuzz_corpus(folder, seed)`` writes the files and returns their paths (one case each). The
seeds of every mutation come from one ``numpy`` generator, so the same seed gives the same bytes.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pydicom
from pydicom.data import get_testdata_file

DICOM_SEEDS = ("CT_small.dcm", "MR_small.dcm", "JPEG2000.dcm", "MR_small_RLE.dcm", "SC_rgb_rle_2frame.dcm",
               "examples_palette.dcm", "examples_ybr_color.dcm", "SC_rgb_jpeg.dcm", "liver_1frame.dcm", "6278",
               "rtstruct.dcm", "rtdose.dcm")  # files pydicom ships (never downloaded: download=False)
VRS = [b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FD", b"FL", b"IS", b"LO", b"LT", b"OB", b"OD",
       b"OF", b"OW", b"PN", b"SH", b"SL", b"SQ", b"SS", b"ST", b"TM", b"UI", b"UL", b"UN", b"US", b"UT", b"ZZ", b"\x00\x00"]
PER_SEED = 4  # files per mutation kind and seed file


def _seed_files(folder: Path) -> list[Path]:
    """pydicom's own files plus an enhanced multi-frame CT and a MONOCHROME1 CR built here."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "imaging"))
    from dicom_builders import enhanced_ct, save, single_slice

    out = [Path(p) for p in (get_testdata_file(name, download=False) for name in DICOM_SEEDS) if p]
    raw = np.arange(3 * 16 * 16, dtype=np.uint16).reshape(3, 16, 16)
    out.append(save(enhanced_ct(raw, [(0.0, 0.0, 2.5 * k) for k in range(3)],
                                per_frame_rescale=[(1.0, -1024.0), (2.0, -1024.0), (1.0, 0.0)]), folder / "_enh.dcm"))
    out.append(save(single_slice(raw[0], modality="CR", photometric="MONOCHROME1", window=(300.0, 200.0)),
                    folder / "_cr.dcm"))
    return [p for p in out if p.is_file()]


def _truncate(data: bytes, rng: np.random.Generator) -> bytes:
    return data[: int(rng.integers(1, len(data)))]


def _flip(data: bytes, rng: np.random.Generator) -> bytes:
    buf = bytearray(data)
    start = 132 if len(buf) > 200 else 0  # keep the preamble sometimes-valid so pydicom parses further
    for _ in range(int(rng.integers(1, 24))):
        i = int(rng.integers(start, len(buf)))
        buf[i] ^= int(rng.integers(1, 256))
    return bytes(buf)


def _explicit_vr_offsets(path: Path) -> list[int]:
    """Byte offsets of the VR field of top-level data elements (explicit VR little endian files)."""
    ds = pydicom.dcmread(path, force=True)
    if not getattr(ds.file_meta, "TransferSyntaxUID", None) or ds.file_meta.TransferSyntaxUID.is_implicit_VR:
        return []
    data = path.read_bytes()
    out = []
    for elem in ds:
        tag = struct.pack("<HH", elem.tag.group, elem.tag.element)
        i = data.find(tag + elem.VR.encode()[:2], 132)
        if i > 0:
            out.append(i + 4)
    return out


def _wrong_vr(path: Path, rng: np.random.Generator) -> bytes | None:
    offsets = _explicit_vr_offsets(path)
    if not offsets:
        return None
    buf = bytearray(path.read_bytes())
    for _ in range(int(rng.integers(1, 4))):
        i = offsets[int(rng.integers(0, len(offsets)))]
        buf[i:i + 2] = VRS[int(rng.integers(0, len(VRS)))]
    return bytes(buf)


def _raster_and_nifti(folder: Path, rng: np.random.Generator) -> list[Path]:
    from PIL import Image

    from readerstudy.imaging.nifti import write_nifti

    out = []
    good_png = folder / "_good.png"
    Image.fromarray(rng.integers(0, 255, (48, 64)).astype(np.uint8)).save(good_png)
    good_nii = folder / "_good.nii.gz"
    write_nifti(rng.integers(-100, 100, (4, 16, 16)).astype(np.int16), good_nii)
    for src, suffix in ((good_png, ".png"), (good_nii, ".nii.gz")):
        data = src.read_bytes()
        for k in range(PER_SEED):
            for kind, mutated in (("trunc", _truncate(data, rng)), ("flip", _flip(data, rng))):
                p = folder / f"raster_{kind}{k}{suffix}" if suffix == ".png" else folder / f"nifti_{kind}{k}{suffix}"
                p.write_bytes(mutated)
                out.append(p)
    good_png.unlink()
    good_nii.unlink()
    return out


def build_fuzz_corpus(folder: Path, seed: int = 17) -> list[Path]:
    """Write the corpus into ``folder`` (created) and return the files, sorted by name."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    out: list[Path] = []
    seeds = _seed_files(folder / "_seeds")
    for src in seeds:
        data = src.read_bytes()
        stem = src.stem.lstrip("_")
        for k in range(PER_SEED):
            for kind, mutated in (("trunc", _truncate(data, rng)), ("flip", _flip(data, rng)),
                                  ("vr", _wrong_vr(src, rng))):
                if mutated is None:
                    continue
                p = folder / f"{stem}_{kind}{k}.dcm"
                p.write_bytes(mutated)
                out.append(p)
    out.extend(_raster_and_nifti(folder, rng))
    for p in seeds:
        if p.parent == folder / "_seeds":
            p.unlink()
    (folder / "_seeds").rmdir()
    return sorted(out)
