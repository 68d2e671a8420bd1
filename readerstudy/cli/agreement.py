"""``readerstudy agreement``: inter-annotator agreement (Dice, Jaccard, HD95, volume) as CSV."""

from __future__ import annotations

import argparse
from pathlib import Path

from readerstudy.cli.app import add_db_argument


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("agreement", help="pairwise inter-annotator mask agreement of a study, as CSV")
    add_db_argument(p)
    p.add_argument("--study", required=True, help="study name")
    p.add_argument("--out", required=True, type=Path, help="CSV file to write")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from readerstudy.services.annotation import agreement
    from readerstudy.services.auth import local_session
    from readerstudy.services.context import open_context

    ctx = open_context(args.db, read_only=True)
    try:
        report = agreement(ctx, local_session(), args.study)
    finally:
        ctx.close()
    report.write_csv(args.out)
    print(f"{len(report.rows)} case x pair x label row(s), {len(report.means)} mean row(s) -> {args.out}")
    for m in report.means:
        print(f"  {m.a} vs {m.b} [{m.label}]: Dice {m.dice:.3f}, HD95 {m.hd95_mm:.2f} mm over {m.cases} case(s)")
    return 0
