"""The audit chain's head, anchored outside the database in a sidecar file.

A chain that is recomputed after an edit verifies on its own; it no longer matches a head that was
written down elsewhere before the edit. After every commit that appended events, the unit of work
advances the sidecar (``<db>.audit-head.json`` next to a SQLite file, ``audit-head.json`` in the
pixel store for a server database) to the new head. Writers in several processes take a file lock
and only ever move the anchor forward, so it never regresses to an older head.

The anchor is written after the commit: a crash in between leaves the anchor one or a few events
behind the chain, which :func:`readerstudy.services.integrity.verify` reports as "events after the
anchor", not as tampering. A chain shorter than its anchor, or a different hash at the anchored
event, is tampering.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

log = logging.getLogger(__name__)
FORMAT = "readerstudy-audit-anchor/1"


@dataclass(frozen=True)
class Anchor:
    """What the sidecar says: the local chain's event ``seq`` had hash ``hash`` (64 hex)."""

    seq: int
    hash: str
    written_at: str

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "seq": self.seq, "hash": self.hash, "written_at": self.written_at}


class AuditAnchor:
    """The sidecar file at ``path`` (JSON, see :class:`Anchor`)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = FileLock(str(self.path) + ".lock", timeout=10)

    def read(self) -> Anchor | None:
        """The anchored head, or None when there is no sidecar. Raises ``ValueError`` if it is unreadable."""
        if not self.path.exists():
            return None
        try:
            d = json.loads(self.path.read_text(encoding="utf-8"))
            return Anchor(int(d["seq"]), str(d["hash"]), str(d.get("written_at", "")))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{self.path.name} is unreadable ({exc})") from exc

    def advance(self, seq: int, hash_: str) -> bool:
        """Move the anchor to ``(seq, hash_)`` if that is later than the stored one. Never raises.

        Returns True when written. A failure (read-only folder, full disk) is logged: the data are
        committed; only the anchor lags, and ``audit verify`` says so.
        """
        try:
            with self._lock:
                try:
                    current = self.read()
                except ValueError:
                    current = None
                if current is not None and current.seq >= seq:
                    return False
                self._write(Anchor(seq, hash_, datetime.now(UTC).isoformat(timespec="seconds")))
                return True
        except (OSError, Timeout) as exc:
            log.warning("audit anchor %s not updated: %s", self.path, exc)
            return False

    def set(self, seq: int, hash_: str) -> None:
        """Write the anchor unconditionally (restore, merge). Raises ``OSError`` on failure."""
        with self._lock:
            self._write(Anchor(seq, hash_, datetime.now(UTC).isoformat(timespec="seconds")))

    def _write(self, anchor: Anchor) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=self.path.name, suffix=".part", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(anchor.to_dict(), fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def anchor_path_for(db_path: Path | None, store_root: Path) -> Path:
    """``<db>.audit-head.json`` next to a SQLite file, else ``<store>/audit-head.json``."""
    if db_path is not None:
        return db_path.with_name(db_path.name + ".audit-head.json")
    return store_root / "audit-head.json"
