"""``readerstudy simulate-readers``: seeded simulated readers read a study through the reading services."""

from __future__ import annotations

import argparse

from readerstudy.cli.app import add_db_argument


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("simulate-readers",
                       help="simulated readers (senior/mid/junior) read every assigned case through the services")
    add_db_argument(p)
    p.add_argument("--study", required=True, help="study name (a protocol must be applied)")
    p.add_argument("--readers", type=int, default=3, help="number of readers; missing ones are created")
    p.add_argument("--seed", type=int, default=0, help="seed of the simulated answers and times")
    p.add_argument("--pin", default="0000", help="PIN of the readers (and of created ones)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from readerstudy.core.errors import ValidationError
    from readerstudy.services.auth import local_session
    from readerstudy.services.context import open_context
    from readerstudy.services.simulate import simulate_readers

    if args.readers < 1:
        raise ValidationError("--readers must be at least 1.")
    ctx = open_context(args.db)
    try:
        report = simulate_readers(ctx, local_session("simulate-readers"), args.study, args.readers, args.seed, pin=args.pin)
    finally:
        ctx.close()
    print(report.summary())
    return 0 if report.readers else 3
