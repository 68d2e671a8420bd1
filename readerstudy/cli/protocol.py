"""``readerstudy protocol apply|show``: give a study its reading protocol (arms, orders, washout)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from readerstudy.cli.app import add_db_argument


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("protocol", help="apply or show a study's reading protocol (arms, orders, washout)")
    actions = p.add_subparsers(dest="protocol_command", metavar="ACTION", required=True)
    apply_p = actions.add_parser("apply", help="validate a protocol TOML and create arms and reader assignments")
    add_db_argument(apply_p)
    apply_p.add_argument("--study", required=True, help="study name")
    apply_p.add_argument("--file", required=True, type=Path, help="protocol TOML (see resources/protocols)")
    apply_p.set_defaults(func=_apply)
    show_p = actions.add_parser("show", help="print the protocol and every reader's assignments")
    add_db_argument(show_p)
    show_p.add_argument("--study", required=True, help="study name")
    show_p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    show_p.set_defaults(func=_show)


def _apply(args: argparse.Namespace) -> int:
    from readerstudy.services.assignments import apply_protocol, load_protocol_file
    from readerstudy.services.auth import system_session
    from readerstudy.services.context import open_context

    protocol = load_protocol_file(args.file)  # refuse a bad file before touching the database
    ctx = open_context(args.db)
    try:
        created = apply_protocol(ctx, system_session(ctx, args.study, actor="cli"), protocol)
    finally:
        ctx.close()
    print(f"{args.study}: protocol applied ({len(protocol.arms)} arm(s), {protocol.sessions} session(s), "
          f"design {protocol.design}); {len(created)} assignment(s) created.")
    return 0


def _show(args: argparse.Namespace) -> int:
    from readerstudy.services.assignments import protocol_summary
    from readerstudy.services.auth import system_session
    from readerstudy.services.context import open_context

    ctx = open_context(args.db)
    try:
        info = protocol_summary(ctx, system_session(ctx, args.study, actor="cli"))
    finally:
        ctx.close()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    proto = info["protocol"]
    if proto is None:
        print(f"{args.study}: no protocol applied yet.")
        return 0
    arms = ", ".join(a["name"] + (" (AI, sequential)" if a["sequential"] else " (AI)" if a["shows_ai"] else "")
                     for a in proto["arms"])
    print(f"{args.study}: design {proto['design']}, seed {proto['seed']}, {proto['sessions']} session(s), "
          f"washout {proto['washout_days']:g} d, arms: {arms}")
    print(f"{'reader':<20} {'session':>7}  {'arm':<16} {'seed':>11} {'done':>9}  not before")
    for r in info["assignments"]:
        print(f"{r['reader']:<20} {r['session']:>7}  {r['arm']:<16} {r['seed']:>11} "
              f"{r['done']:>4}/{r['cases']:<4}  {r['not_before'] or '-'}")
    return 0
