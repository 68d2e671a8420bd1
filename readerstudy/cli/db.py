"""``readerstudy db upgrade|current|backup|restore``: schema migrations, backups and restores."""

from __future__ import annotations

import argparse
from pathlib import Path

from readerstudy.cli.app import EXIT_INVALID, add_db_argument


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("db", help="database schema: upgrade, current revision, backup, restore")
    dsub = p.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    for name, helptext in (("upgrade", "back up, then upgrade the schema to the newest revision"),
                           ("current", "print the schema revision of the database and of this version")):
        sp = dsub.add_parser(name, help=helptext)
        add_db_argument(sp)
        sp.set_defaults(func=_run, action=name)
    b = dsub.add_parser("backup", help="archive the database (online backup: readers may keep reading) and its "
                                       "pixel store into one .tar.gz")
    add_db_argument(b)
    b.add_argument("--out", type=Path, default=None, metavar="ARCHIVE",
                   help="archive to write (default: <db>.backups/<name>-<UTC time>.tar.gz)")
    b.set_defaults(func=_backup)
    r = dsub.add_parser("restore", help="restore an archive into a NEW database (never overwrites) and verify it")
    r.add_argument("archive", type=Path, help="a .tar.gz written by `readerstudy db backup`")
    r.add_argument("--db", required=True, metavar="NEW_PATH", help="the database file to create")
    r.set_defaults(func=_restore)


def _local():  # noqa: ANN202
    from readerstudy.services.auth import local_session

    return local_session("cli")


def _run(args: argparse.Namespace) -> int:
    from readerstudy.services.context import resolve_db
    from readerstudy.storage import migrate
    from readerstudy.storage.db import make_engine, probe

    url = resolve_db(args.db)
    if args.action == "upgrade":
        probe(url, must_exist=False)
        backup = migrate.upgrade(url)
        print(f"schema at {migrate.head_revision()}" + (f" (backup: {backup})" if backup else ""))
        return 0
    probe(url, must_exist=True)
    engine = make_engine(url, read_only=True)
    try:
        rev = migrate.check_not_newer(engine)
    finally:
        engine.dispose()
    print(f"database: {rev or 'empty (no schema yet)'}; this readerstudy: {migrate.head_revision()}")
    return 0


def _backup(args: argparse.Namespace) -> int:
    from readerstudy.services.backup import backup_file
    from readerstudy.services.context import resolve_db

    result = backup_file(resolve_db(args.db), _local(), args.out)
    head = f"chain head #{result.head['seq']}:{result.head['hash'][:16]}" if result.head else "no audit events"
    print(f"{result.archive} (database + {result.files} store file(s), {result.bytes / 1e6:.1f} MB; {head})")
    return 0


def _restore(args: argparse.Namespace) -> int:
    from readerstudy.services.backup import restore

    report = restore(args.archive, Path(args.db), _local())
    print(f"restored {args.archive.name} -> {args.db}")
    print(report.summary())
    return 0 if report.ok else EXIT_INVALID
