"""``readerstudy protocol apply|update|show``: give a study its reading protocol (arms, orders, washout).

``apply`` on a study that already has orders applies the same rule as the app's Protocol tab:
readers added since get their orders, cases imported since are appended to every order (never
redrawn), and only the reading settings (black screen, contradiction margin, idle timeout; an AI
arm's model before it has reads) may differ from the applied file. ``update`` does the same with
the applied protocol (no file). ``--dry-run`` prints what would be done and writes nothing.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from readerstudy.cli.app import add_db_argument

if TYPE_CHECKING:
    from readerstudy.core.protocol import Protocol


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("protocol", help="apply or show a study's reading protocol (arms, orders, washout)")
    actions = p.add_subparsers(dest="protocol_command", metavar="ACTION", required=True)
    apply_p = actions.add_parser("apply", help="validate a protocol TOML and create arms and reader assignments")
    add_db_argument(apply_p)
    apply_p.add_argument("--study", required=True, help="study name")
    apply_p.add_argument("--file", required=True, type=Path, help="protocol TOML (see resources/protocols)")
    apply_p.add_argument("--dry-run", action="store_true", help="print what would be done; change nothing")
    apply_p.set_defaults(func=_apply)
    update_p = actions.add_parser("update", help="give readers and cases added since the apply their assignments "
                                                 "(orders are extended, never redrawn)")
    add_db_argument(update_p)
    update_p.add_argument("--study", required=True, help="study name")
    update_p.add_argument("--dry-run", action="store_true", help="print what would be done; change nothing")
    update_p.set_defaults(func=_update)
    show_p = actions.add_parser("show", help="print the protocol and every reader's assignments")
    add_db_argument(show_p)
    show_p.add_argument("--study", required=True, help="study name")
    show_p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    show_p.set_defaults(func=_show)


def _apply(args: argparse.Namespace) -> int:
    from readerstudy.services.assignments import load_protocol_file

    protocol = load_protocol_file(args.file)  # refuse a bad file before touching the database
    return _run(args, protocol)


def _update(args: argparse.Namespace) -> int:
    return _run(args, None)


def _run(args: argparse.Namespace, protocol: Protocol | None) -> int:
    from readerstudy.services.assignments import apply_with_plan, preview_apply
    from readerstudy.services.auth import system_session
    from readerstudy.services.context import open_context

    ctx = open_context(args.db)
    try:
        session = system_session(ctx, args.study, actor="cli")
        if args.dry_run:
            plan = preview_apply(ctx, session, protocol)
        else:
            outcome = apply_with_plan(ctx, session, protocol)
            plan = outcome.plan
    finally:
        ctx.close()
    p = plan.protocol
    verb = "would be" if args.dry_run else "was"
    print(f"{args.study}: protocol ({len(p.arms)} arm(s), {p.sessions} session(s), design {p.design}); "
          f"{len(plan.new_orders)} assignment(s) created, {len(plan.appends)} order(s) extended by "
          f"{plan.appended_cases} case(s){' (dry run: nothing written)' if args.dry_run else ''}.")
    print(f"What {verb} done:")
    for line in plan.describe():
        print(f"  - {line}")
    return 0


def _show(args: argparse.Namespace) -> int:
    from readerstudy.services.assignments import protocol_summary
    from readerstudy.services.auth import system_session
    from readerstudy.services.context import open_context

    ctx = open_context(args.db, read_only=True)
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
    print(f"{'reader':<20} {'session':>7}  {'arm':<16} {'seed':>11} {'done':>9}  {'appended':>8}  not before")
    for r in info["assignments"]:
        print(f"{r['reader']:<20} {r['session']:>7}  {r['arm']:<16} {r['seed']:>11} "
              f"{r['done']:>4}/{r['cases']:<4}  {r['appended']:>8}  {r['not_before'] or '-'}")
    return 0
