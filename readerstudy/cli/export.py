"""``readerstudy export``: a study's reads for iMRMC, RJafroc, MRMCaov or as reads.csv."""

from __future__ import annotations

import argparse

from readerstudy.cli.app import add_db_argument

FORMATS = ("imrmc", "rjafroc", "mrmcaov", "csv")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export a study's reads for MRMC software (iMRMC, RJafroc, MRMCaov) or CSV")
    add_db_argument(p)
    p.add_argument("--study", required=True, help="study name")
    p.add_argument("--format", required=True, choices=FORMATS,
                   help="imrmc: long CSV with truth rows; rjafroc: ROC Excel workbook (.xlsx); "
                        "mrmcaov: long CSV; csv: reads.csv")
    p.add_argument("--out", required=True, metavar="FILE", help="output file")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from readerstudy.services.auth import local_session
    from readerstudy.services.context import open_context
    from readerstudy.services.reporting import export_reads

    ctx = open_context(args.db, read_only=True)
    try:
        print(export_reads(ctx, local_session(), args.study, args.format, args.out))
        return 0
    finally:
        ctx.close()
