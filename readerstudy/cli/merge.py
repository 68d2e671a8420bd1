"""``readerstudy merge --into DB SITE1.sqlite SITE2.sqlite ...``: merge per-site databases of one study."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("merge", help="merge per-site SQLite databases of one study (UUID keys): duplicates "
                                     "skipped, conflicts reported, each site's audit chain kept verifiable")
    p.add_argument("--into", required=True, metavar="DB", help="the merged database (created if absent)")
    p.add_argument("sites", nargs="+", type=Path, metavar="SITE.sqlite", help="site databases to merge in")
    p.add_argument("--skip-conflicts", action="store_true",
                   help="merge everything but the conflicting rows (each is recorded in the audit trail)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from readerstudy.services.auth import local_session
    from readerstudy.services.merge import merge_sites

    report = merge_sites(args.into, args.sites, local_session("cli merge"), skip_conflicts=args.skip_conflicts)
    for line in report.lines():
        print(line)
    print(f"merged {len(report.sites)} site(s) into {args.into}; audit verified: {report.verified}")
    return 0
