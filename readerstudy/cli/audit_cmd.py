"""``readerstudy audit verify|head``: check the database against its audit trail; print the chain head."""

from __future__ import annotations

import argparse
import json
import sys

from readerstudy.cli.app import EXIT_INVALID, add_db_argument


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("audit", help="verify the audit trail (chain, reads, masks, pixel files) or print its head")
    actions = p.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    v = actions.add_parser("verify", help="check chain, anchor, reads, annotations, predictions and pixel files; "
                                          "name the first bad item (exit 3 when anything fails)")
    add_db_argument(v)
    v.add_argument("--no-files", action="store_true", help="do not hash the pixel files (faster)")
    v.add_argument("--expect-head", action="append", default=[], metavar="SEQ:HASH",
                   help="a chain head recorded elsewhere (a report footer) that must still be in the chain")
    v.add_argument("--json", action="store_true", help="print the full report as JSON")
    v.set_defaults(func=_verify)
    h = actions.add_parser("head", help="print the head of the audit chain (seq, hash)")
    add_db_argument(h)
    h.set_defaults(func=_head)


def _system(ctx):  # noqa: ANN001, ANN202
    from readerstudy.services.auth import local_session

    return local_session("cli")


def _verify(args: argparse.Namespace) -> int:
    from readerstudy.services.context import open_context
    from readerstudy.services.integrity import parse_head, verify

    heads = [parse_head(h) for h in args.expect_head]
    ctx = open_context(args.db, read_only=True)
    try:
        report = verify(ctx, _system(ctx), files=not args.no_files, expected_heads=heads)
    finally:
        ctx.close()
    if args.json:
        print(json.dumps({"ok": report.ok, "problems": [p.__dict__ for p in report.problems],
                          "warnings": report.warnings, "counts": report.counts, "head": report.head}, indent=2))
    else:
        for problem in report.problems:
            print(f"  {problem}")
        for warning in report.warnings:
            print(f"  warning: {warning}")
        print(report.summary())
    if not report.ok:
        print(f"readerstudy: error: audit verification failed: {report.first}", file=sys.stderr)
        return EXIT_INVALID
    return 0


def _head(args: argparse.Namespace) -> int:
    from readerstudy.services.context import open_context
    from readerstudy.services.integrity import chain_head

    ctx = open_context(args.db, read_only=True)
    try:
        head = chain_head(ctx, _system(ctx))
    finally:
        ctx.close()
    print("no audit events yet" if head is None else f"{head.seq}:{head.hash} ({head.events} events, {head.at:%Y-%m-%d %H:%M:%S} UTC)")
    return 0
