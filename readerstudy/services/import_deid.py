"""The import's de-identification step: each DICOM object through :func:`readerstudy.imaging.deid.deidentify`,
counted attribute by attribute, then written into the case's staging folder.

The counts compare every data element (nested sequence items included, pixel data excluded)
before and after de-identification, whatever profile ``deidentify`` applies: removed (gone),
replaced (emptied, dummy value, new UID, shifted date), added (e.g. PatientIdentityRemoved).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from readerstudy.core.errors import ReaderStudyError, UnsupportedFileError
from readerstudy.imaging.deid import DeidOptions, date_shift_days, deidentify

log = logging.getLogger(__name__)
_PIXEL_TAGS = {0x7FE00008, 0x7FE00009, 0x7FE00010}


@dataclass(frozen=True)
class DeidCounts:
    """De-identification of one file (or, summed, of a run)."""

    files: int = 0  # files whose DICOM objects were de-identified
    instances: int = 0  # DICOM objects (a series has one per slice)
    removed: int = 0  # attributes removed
    replaced: int = 0  # attributes emptied or given another value
    added: int = 0  # attributes added (de-identification method, ...)
    burned_in: int = 0  # files flagged BurnedInAnnotation = YES

    def __add__(self, other: DeidCounts) -> DeidCounts:
        return DeidCounts(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})

    def to_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def element_index(ds: Any, prefix: tuple[int, ...] = ()) -> dict[tuple[int, ...], str]:
    """Every data element of ``ds`` (nested items included) -> a comparable digest of its value."""
    out: dict[tuple[int, ...], str] = {}
    for elem in ds:
        key = (*prefix, int(elem.tag))
        if elem.VR == "SQ":
            items = elem.value or []
            out[key] = f"SQ[{len(items)}]"
            for k, item in enumerate(items):
                out.update(element_index(item, (*key, k)))
        elif int(elem.tag) in _PIXEL_TAGS:
            out[key] = "<pixels>"
        else:
            v = elem.value
            out[key] = f"bytes:{len(v)}:{hash(bytes(v))}" if isinstance(v, (bytes, bytearray)) else repr(v)
    return out


def _fail(where: str, exc: Exception, what: str) -> UnsupportedFileError:
    log.debug("%s: %s", where, what, exc_info=True)
    msg = (str(exc).strip().splitlines() or [""])[0][:200]
    return UnsupportedFileError(f"{where}: {what} ({type(exc).__name__}{': ' + msg if msg else ''}); "
                                "nothing of it was imported.")


def write_deidentified(datasets: list[Any], folder: Path, *, secret: str, pseudonym: str, where: str,
                       options: DeidOptions | None = None) -> tuple[list[Path], dict[str, Any], int, DeidCounts]:
    """De-identify ``datasets`` in place (``options``: the profile options, e.g. modified dates and
    Clean Pixel Data rectangles) and write them as ``folder/dicom/00000.dcm``...

    Returns the written files, the original identifiers (``{"instances": [...]}``, for the private
    mapping), the date shift in days and the counts. Raises :class:`UnsupportedFileError` (one
    line) when an object cannot be de-identified or written back.
    """
    if not datasets:
        return [], {}, 0, DeidCounts()
    (folder / "dicom").mkdir()
    first = datasets[0]
    try:
        shift = date_shift_days(str(first.get("PatientID", "")) + str(first.get("PatientName", "")), secret)
    except Exception as exc:
        raise _fail(where, exc, "cannot read the patient identifiers") from exc
    originals, written = [], []
    removed = replaced = added = 0
    burned = False
    for i, ds in enumerate(datasets):
        try:
            burned = burned or str(ds.get("BurnedInAnnotation", "")).upper() == "YES"
            before = element_index(ds)
            originals.append(deidentify(ds, secret=secret, pseudonym=pseudonym, shift_days=shift, options=options))
            after = element_index(ds)
        except ReaderStudyError:
            raise
        except Exception as exc:
            raise _fail(where, exc, "cannot be de-identified: a malformed attribute") from exc
        removed += len(before.keys() - after.keys())
        added += len(after.keys() - before.keys())
        replaced += sum(1 for k in before.keys() & after.keys() if before[k] != after[k])
        target = folder / "dicom" / f"{i:05d}.dcm"
        try:
            ds.save_as(target, enforce_file_format=False)
        except Exception as exc:  # a dataset pydicom can read but not write back
            raise _fail(where, exc, "cannot write the de-identified DICOM") from exc
        written.append(target)
    counts = DeidCounts(files=1, instances=len(datasets), removed=removed, replaced=replaced, added=added,
                        burned_in=int(burned))
    return written, {"instances": originals}, shift, counts


__all__ = ["DeidCounts", "element_index", "write_deidentified"]
