"""``readerstudy db upgrade|current|backup``: schema migrations and backups."""

from __future__ import annotations

import argparse

from readerstudy.cli.app import add_db_argument


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("db", help="database schema: upgrade, current revision, backup")
    dsub = p.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    for name, helptext in (("upgrade", "back up, then upgrade the schema to the newest revision"),
                           ("current", "print the schema revision of the database and of this version"),
                           ("backup", "copy the SQLite database consistently next to itself")):
        sp = dsub.add_parser(name, help=helptext)
        add_db_argument(sp)
        sp.set_defaults(func=_run, action=name)


def _run(args: argparse.Namespace) -> int:
    from readerstudy.core.errors import ValidationError
    from readerstudy.paths import default_db_path
    from readerstudy.storage import migrate
    from readerstudy.storage.db import make_engine, sqlite_path, to_url

    target = args.db if args.db and "://" in args.db else str(default_db_path(args.db))
    url = to_url(target)
    if args.action == "upgrade":
        backup = migrate.upgrade(url)
        print(f"schema at {migrate.head_revision()}" + (f" (backup: {backup})" if backup else ""))
    elif args.action == "current":
        engine = make_engine(url)
        try:
            rev = migrate.check_not_newer(engine)
        finally:
            engine.dispose()
        print(f"database: {rev or 'empty (no schema yet)'}; this readerstudy: {migrate.head_revision()}")
    else:
        path = sqlite_path(url)
        if path is None or not path.exists():
            raise ValidationError(f"{target}: no SQLite file to back up (PostgreSQL: use pg_dump).")
        print(migrate.backup_sqlite(path))
    return 0
