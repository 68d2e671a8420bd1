"""The study's own pixel store: files next to the database, addressed by relative paths.

Writes go to a staging folder first and are moved into place only when complete, so a refused
or crashed import leaves nothing half-written. Every file is recorded with its sha256.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from readerstudy.core.errors import IntegrityFailure, ValidationError


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class PixelStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, rel: str) -> Path:
        return self.root / rel

    @contextmanager
    def staging(self, final_rel: str) -> Iterator[Path]:
        """Yield an empty staging folder; on success it becomes ``final_rel`` atomically.

        On an exception the staging folder is removed and the exception re-raised.
        """
        tmp = self.root / ".staging" / uuid.uuid4().hex
        tmp.mkdir(parents=True)
        final = self.root / final_rel
        try:
            yield tmp
            if final.exists():
                raise ValidationError(f"Store folder {final_rel!r} already exists; nothing was written.")
            final.parent.mkdir(parents=True, exist_ok=True)
            tmp.rename(final)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)

    @contextmanager
    def staging_area(self) -> Iterator[Path]:
        """Yield an empty folder for a whole run (one sub-folder per item, moved with :meth:`place`);
        whatever is still in it at the end is removed, whether the run succeeded or not."""
        tmp = self.root / ".staging" / uuid.uuid4().hex
        tmp.mkdir(parents=True)
        try:
            yield tmp
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def place(self, staged: Path, final_rel: str) -> None:
        """Move a staged folder to ``final_rel`` (a rename on the same file system)."""
        final = self.root / final_rel
        if final.exists():
            raise ValidationError(f"Store folder {final_rel!r} already exists; nothing was written.")
        final.parent.mkdir(parents=True, exist_ok=True)
        Path(staged).rename(final)

    def remove(self, rel: str) -> None:
        target = self.root / rel
        if target.is_dir():
            shutil.rmtree(target, ignore_errors=True)
        elif target.exists():
            target.unlink()

    def load_array(self, rel: str, *, mmap: bool = False) -> np.ndarray:
        return np.load(self.root / rel, mmap_mode="r" if mmap else None, allow_pickle=False)

    def load_verified(self, rel: str, checksum: str) -> np.ndarray:
        """Load ``rel`` only if its bytes hash to ``checksum`` (sha256 hex), from those same bytes.

        Raises :class:`IntegrityFailure` for a missing or replaced file, so a reader is never shown
        pixels that are not the ones imported.
        """
        p = self.root / rel
        try:
            data = p.read_bytes()
        except FileNotFoundError:
            raise IntegrityFailure(f"The stored image {rel} is missing; nothing was shown. Tell the study "
                                   "coordinator (readerstudy audit verify names every damaged file).") from None
        if hashlib.sha256(data).hexdigest() != checksum:
            raise IntegrityFailure(f"The stored image {rel} does not match its checksum (replaced or damaged); "
                                   "nothing was shown. Tell the study coordinator (readerstudy audit verify).")
        return np.load(io.BytesIO(data), allow_pickle=False)

    def verify(self, rel: str, checksum: str) -> bool:
        p = self.root / rel
        return p.exists() and sha256_file(p) == checksum
