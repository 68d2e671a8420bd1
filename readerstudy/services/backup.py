"""Use cases: back a study database up with its pixel store into one archive, and restore it.

An archive (``.tar.gz``) holds ``database.sqlite`` (a consistent snapshot taken with SQLite's
online backup API, so readers may keep reading meanwhile), ``store/`` (the pixel files), and
``manifest.json`` (format, schema revision, the snapshot's audit chain head, and the sha256 of
every file). Store files are immutable once committed, and the snapshot is taken first: every file
the snapshot references is complete. Files written after the snapshot started belong to
transactions the snapshot does not have and are left out.

Restore refuses to overwrite anything, checks every checksum and the database's integrity,
moves the database and its store into place, writes the audit anchor from the manifest and
returns the ``audit verify`` report of the restored copy.

PostgreSQL: back the database up with ``pg_dump`` (see the README) and the store with
``db backup``, which then archives the store alone.
"""

from __future__ import annotations

import io
import json
import logging
import shutil
import sqlite3
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from readerstudy import __version__
from readerstudy.core.errors import ConflictError, ValidationError
from readerstudy.paths import store_dir_for
from readerstudy.services.auth import UserSession, require_coordinator
from readerstudy.services.context import AppContext, open_context
from readerstudy.storage.anchor import AuditAnchor, anchor_path_for
from readerstudy.storage.audit import chain_head
from readerstudy.storage.db import probe
from readerstudy.storage.migrate import current_revision
from readerstudy.storage.store import sha256_file
from readerstudy.storage.verify import VerifyReport

log = logging.getLogger(__name__)
FORMAT = "readerstudy-backup/1"
SKIP_PARTS = (".staging",)
Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class BackupResult:
    """``archive`` written; ``files`` store files in it; ``head`` the snapshot's chain head (or None)."""

    archive: Path
    files: int
    bytes: int
    head: dict[str, Any] | None
    revision: str | None


def default_archive(db_path: Path, when: datetime | None = None) -> Path:
    stamp = (when or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S%fZ")
    return db_path.with_name(db_path.name + ".backups") / f"{db_path.stem}-{stamp}.tar.gz"


def _snapshot(ctx: AppContext, dest: Path) -> None:
    """SQLite's online backup API through the context's own engine (works read-only and immutable)."""
    raw = ctx.engine.raw_connection()
    try:
        dst = sqlite3.connect(dest)
        try:
            raw.driver_connection.backup(dst)  # type: ignore[union-attr]
        finally:
            dst.close()
    finally:
        raw.close()


def _store_files(root: Path, started: float) -> list[Path]:
    """Complete store files: no staging or partial files, nothing written after the snapshot started."""
    out = []
    if not root.exists():
        return out
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root)
        if not p.is_file() or rel.parts[0] in SKIP_PARTS or ".part" in p.name or p.name.startswith("audit-head"):
            continue
        if p.stat().st_mtime > started:
            continue
        out.append(p)
    return out


def backup(ctx: AppContext, session: UserSession, archive: Path | None = None, *,
           progress: Progress | None = None) -> BackupResult:
    """Write one archive of the database and its pixel store (coordinators).

    Raises :class:`ValidationError` for a server database (use ``pg_dump``) and
    :class:`ConflictError` when ``archive`` exists; leaves nothing behind when anything fails (the
    archive is written under a temporary name first).
    """
    require_coordinator(session, "backing the study database up")
    return _write_archive(ctx, archive, progress)


def _write_archive(ctx: AppContext, archive: Path | None, progress: Progress | None) -> BackupResult:
    db_path = ctx.db_path
    if db_path is None:
        raise ValidationError("This is a PostgreSQL database: back it up with pg_dump (see the README, "
                              "'Backups'), and copy the pixel store folder alongside.")
    archive = Path(archive) if archive else default_archive(db_path)
    if archive.exists():
        raise ConflictError(f"{archive} already exists; choose another name (nothing was written).")
    archive.parent.mkdir(parents=True, exist_ok=True)
    part = archive.with_name(archive.name + ".part")
    try:
        with tempfile.TemporaryDirectory(prefix="rs-backup-", dir=archive.parent) as tmp:
            started = time.time()
            snap = Path(tmp) / "database.sqlite"
            _snapshot(ctx, snap)
            head, revision = _describe(snap)
            files = _store_files(ctx.store.root, started)
            manifest: dict[str, Any] = {"format": FORMAT, "created_at": datetime.now(UTC).isoformat(),
                                        "app_version": __version__, "schema_revision": revision,
                                        "source": db_path.name, "chain_head": head,
                                        "files": {"database.sqlite": sha256_file(snap)}}
            total = 0
            with tarfile.open(part, "w:gz", compresslevel=1) as tar:
                tar.add(snap, "database.sqlite")
                for i, f in enumerate(files):
                    rel = "store/" + f.relative_to(ctx.store.root).as_posix()
                    manifest["files"][rel] = sha256_file(f)
                    total += f.stat().st_size
                    tar.add(f, rel)
                    if progress:
                        progress(i + 1, len(files), rel)
                data = json.dumps(manifest, indent=1).encode()
                info = tarfile.TarInfo("manifest.json")
                info.size, info.mtime = len(data), int(time.time())
                tar.addfile(info, io.BytesIO(data))
        part.replace(archive)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return BackupResult(archive, len(files), total, head, revision)


def _describe(snapshot: Path) -> tuple[dict[str, Any] | None, str | None]:
    """The chain head and schema revision of a snapshot (opened read-only)."""
    from sqlalchemy.orm import Session

    from readerstudy.storage.db import make_engine

    engine = make_engine(snapshot, read_only=True)
    try:
        with Session(engine) as s:
            head = chain_head(s)
            return (head.to_dict() if head else None), current_revision(engine)
    finally:
        engine.dispose()


def backup_file(db: str | Path, session: UserSession, archive: Path | None = None) -> BackupResult:
    """Back up ``db`` (a path) without migrating it: a file that is not a database is refused first."""
    probe(db, must_exist=True)
    ctx = open_context(db, read_only=True)
    try:
        return backup(ctx, session, archive)
    finally:
        ctx.close()


def _safe_members(tar: tarfile.TarFile) -> list[tarfile.TarInfo]:
    members = tar.getmembers()
    for m in members:
        parts = Path(m.name).parts
        if m.name.startswith("/") or ".." in parts or not (m.isfile() or m.isdir()):
            raise ValidationError(f"archive member {m.name!r} is not a plain file inside the archive; refused.")
    return members


def restore(archive: Path, db_target: Path, session: UserSession) -> VerifyReport:
    """Restore ``archive`` to a NEW database ``db_target`` (and ``<db_target>.store``); verify it.

    Raises
    ------
    ConflictError
        ``db_target`` or its store already exists (nothing is overwritten).
    ValidationError
        not a readerstudy archive, a checksum does not match, or the database is damaged.
    """
    require_coordinator(session, "restoring a backup")
    archive, db_target = Path(archive), Path(db_target).expanduser().resolve()
    store = store_dir_for(db_target)
    for p in (db_target, store):
        if p.exists():
            raise ConflictError(f"{p} already exists; restore into a new path (nothing was changed).")
    if not archive.is_file():
        raise ValidationError(f"{archive}: no such backup archive.")
    db_target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="rs-restore-", dir=db_target.parent) as tmp:
        root = Path(tmp)
        manifest = _unpack(archive, root)
        _check_unpacked(root, manifest)
        (root / "store").mkdir(exist_ok=True)
        shutil.move(str(root / "database.sqlite"), db_target)
        shutil.move(str(root / "store"), store)
    head = manifest.get("chain_head")
    if head:
        AuditAnchor(anchor_path_for(db_target, store)).set(int(head["seq"]), str(head["hash"]))
    from readerstudy.services.integrity import verify

    ctx = open_context(db_target)  # upgrades an archive of an older schema (after its own backup)
    try:
        return verify(ctx, session)
    finally:
        ctx.close()


def _unpack(archive: Path, root: Path) -> dict[str, Any]:
    try:
        with tarfile.open(archive, "r:*") as tar:
            tar.extractall(root, members=_safe_members(tar), filter="data")
    except (tarfile.TarError, EOFError, OSError) as exc:
        if isinstance(exc, OSError) and not isinstance(exc, tarfile.TarError) and exc.errno is not None:
            raise
        why = str(exc).splitlines()[0].rstrip(":") or type(exc).__name__
        raise ValidationError(f"{archive.name}: not a readable backup archive ({why}); nothing was restored.") from None
    try:
        manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise ValidationError(f"{archive.name}: no manifest.json; not a readerstudy backup. Nothing was restored.") \
            from None
    if manifest.get("format") != FORMAT:
        raise ValidationError(f"{archive.name}: backup format {manifest.get('format')!r} is not {FORMAT!r}; "
                              "nothing was restored.")
    return manifest


def _check_unpacked(root: Path, manifest: dict[str, Any]) -> None:
    for rel, digest in manifest["files"].items():
        p = root / rel
        if not p.is_file() or sha256_file(p) != digest:
            raise ValidationError(f"backup file {rel} is missing or does not match its checksum; the archive is "
                                  "damaged. Nothing was restored.")
    con = sqlite3.connect(root / "database.sqlite")
    try:
        res = con.execute("PRAGMA integrity_check").fetchall()
    finally:
        con.close()
    if res != [("ok",)]:
        raise ValidationError(f"the database in the backup is damaged ({res[0][0]}); nothing was restored.")


# --- scheduled backups --------------------------------------------------------------------------------

@dataclass(frozen=True)
class BackupSettings:
    """``interval_min`` between automatic backups while the app runs (0: off); ``keep`` newest archives
    in ``folder`` (default: ``<db>.backups`` next to the database)."""

    interval_min: float = 60.0
    keep: int = 10
    folder: Path | None = None


def load_settings(path: Path | None = None) -> BackupSettings:
    """The ``"backup"`` section of ``settings.json`` in the user data folder (defaults when absent)."""
    from readerstudy.paths import user_data_dir

    p = path or user_data_dir() / "settings.json"
    try:
        d = json.loads(p.read_text(encoding="utf-8")).get("backup", {}) if p.exists() else {}
        return BackupSettings(float(d.get("interval_min", 60)), int(d.get("keep", 10)),
                              Path(d["folder"]).expanduser() if d.get("folder") else None)
    except (ValueError, TypeError, AttributeError) as exc:
        raise ValidationError(f"{p}: the 'backup' settings are invalid ({exc}); fix or delete the file.") from None


def scheduled_backup(ctx: AppContext, session: UserSession, settings: BackupSettings,
                     *, progress: Progress | None = None) -> BackupResult | None:
    """The app's own periodic backup while anyone is signed in: one new archive, the oldest pruned.

    Any signed-in role may trigger it: it writes to the folder of the machine's settings and returns
    only the archive's path and counts, never data. Returns None for a server database (backed up
    by its administrator) or when turned off (``interval_min`` 0).
    """
    db_path = ctx.db_path
    if db_path is None or settings.interval_min <= 0:
        return None
    folder = settings.folder or db_path.with_name(db_path.name + ".backups")
    result = _write_archive(ctx, folder / default_archive(db_path).name, progress)
    archives = sorted(folder.glob(f"{db_path.stem}-*.tar.gz"))
    for old in archives[:-settings.keep] if settings.keep > 0 else []:
        old.unlink(missing_ok=True)
    log.info("scheduled backup by %s: %s (%d files)", session.name, result.archive, result.files)
    return result
