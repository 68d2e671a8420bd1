"""``readerstudy participants add|list|rename|set-seniority|set-pin|reset-pin|deactivate|reactivate|unlock``.

The command line acts as the study's **local coordinator**
(:func:`readerstudy.services.auth.system_session`): whoever can run it holds the database file,
so a PIN would protect nothing. Every change is still checked by the same services as in the app
(names, roles, PIN rules, never deleting a participant, not deactivating the last coordinator)
and audited under the actor ``cli``.

PINs: ``--pin`` is for scripts (it shows in the shell history and the process list); without it
the PIN is asked for twice and not echoed. Exit codes: 0 ok, 2 usage, 3 invalid input (one line
on stderr, nothing changed), 1 unexpected.
"""

from __future__ import annotations

import argparse
import getpass
import json
from collections.abc import Callable
from typing import Any

from readerstudy.cli.app import add_db_argument

ROLES = ("reader", "annotator", "coordinator")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("participants", help="add, list and manage a study's readers, annotators and coordinators")
    actions = p.add_subparsers(dest="participants_command", metavar="ACTION", required=True)

    def action(name: str, helptext: str, func: Callable[[argparse.Namespace], int],
               *, person: bool = True) -> argparse.ArgumentParser:
        a = actions.add_parser(name, help=helptext)
        add_db_argument(a)
        a.add_argument("--study", required=True, help="study name")
        if person:
            a.add_argument("name", help="the participant's name (quote names with spaces)")
        a.set_defaults(func=func)
        return a

    add = action("add", "add a participant (the PIN is asked for unless --pin or --no-pin)", _add)
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--seniority", default="none", choices=("senior", "mid", "junior", "none"),
                     help="readers only (default: none)")
    pins = add.add_mutually_exclusive_group()
    pins.add_argument("--pin", default=None, help="4-12 digits (else asked for twice)")
    pins.add_argument("--no-pin", action="store_true", help="add without a PIN; set it later with set-pin")
    listing = action("list", "list every participant (active or not) with role, seniority, PIN and lock state",
                     _list, person=False)
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    rename = action("rename", "rename a participant (reads and assignments follow)", _rename)
    rename.add_argument("new_name")
    level = action("set-seniority", "change a reader's seniority", _set_seniority)
    level.add_argument("seniority", choices=("senior", "mid", "junior", "none"))
    set_pin = action("set-pin", "set a participant's PIN (asked for twice unless --pin); clears a lock-out", _set_pin)
    set_pin.add_argument("--pin", default=None, help="4-12 digits (else asked for twice)")
    action("reset-pin", "issue a temporary PIN that must be changed at the next sign-in", _reset_pin)
    action("deactivate", "stop a participant from signing in (nothing is deleted)", _deactivate)
    action("reactivate", "let a deactivated participant sign in again", _reactivate)
    action("unlock", "lift a lock-out after too many wrong PINs", _unlock)


def _ask_pin(name: str) -> str:
    """The PIN typed twice, not echoed; the services validate it."""
    from readerstudy.services.participants import validate_new_pin

    first = getpass.getpass(f"New PIN for {name} (4-12 digits): ")
    return validate_new_pin(first, getpass.getpass("Type the PIN again: "))


def _with_coordinator(args: argparse.Namespace, use: Callable[..., Any]) -> Any:
    """Open the database and run ``use(ctx, system_session)``; a missing study says how to create one."""
    from readerstudy.core.errors import NotFoundError
    from readerstudy.services.auth import system_session
    from readerstudy.services.context import open_context

    ctx = open_context(args.db)
    try:
        try:
            coordinator = system_session(ctx, args.study, actor="cli")
        except NotFoundError as exc:
            raise NotFoundError(f"{exc} Create it first: readerstudy study create --study {args.study!r} "
                                "--coordinator NAME (or import cases into it).") from None
        return use(ctx, coordinator)
    finally:
        ctx.close()


def _add(args: argparse.Namespace) -> int:
    from readerstudy.core.models import Role
    from readerstudy.services import participants as people

    def use(ctx: Any, coordinator: Any) -> Any:
        # validate name, role and seniority before asking for a PIN nobody will store
        role = Role(args.role)
        people.validate_name(args.name)
        level = people.validate_seniority(role, "" if args.seniority == "none" else args.seniority)
        pin = None if args.no_pin else (args.pin if args.pin is not None else _ask_pin(args.name))
        return people.add_participant(ctx, coordinator, args.name, role, pin=pin, seniority=level)

    info = _with_coordinator(args, use)
    extra = f", {info.seniority}" if info.seniority else ""
    pin = "PIN set" if info.has_pin else "no PIN yet (readerstudy participants set-pin)"
    print(f"{args.study}: added {info.name!r} ({info.role}{extra}); {pin}.")
    return 0


def _row(p: Any) -> dict[str, Any]:
    return {"name": p.name, "role": str(p.role), "seniority": p.seniority, "active": p.active,
            "pin_set": p.has_pin, "must_change_pin": p.must_change_pin, "failed_attempts": p.failed_attempts,
            "locked_until": p.locked_until.isoformat() if p.locked_until else None, "reads": p.reads}


def _list(args: argparse.Namespace) -> int:
    from readerstudy.services.participants import list_participants

    people = _with_coordinator(args, list_participants)
    if args.json:
        print(json.dumps([_row(p) for p in people], indent=2))
        return 0
    print(f"{'name':<28} {'role':<12} {'seniority':<9} {'active':<6} {'PIN':<14} {'locked':<26} reads")
    for p in people:
        pin = ("temporary" if p.must_change_pin else "set") if p.has_pin else "-"
        locked = f"until {p.locked_until:%Y-%m-%d %H:%M:%S} UTC" if p.locked_until else "-"
        print(f"{p.name:<28} {p.role:<12} {p.seniority or '-':<9} {'yes' if p.active else 'no':<6} {pin:<14} "
              f"{locked:<26} {p.reads}")
    return 0


def _simple(args: argparse.Namespace, call: Callable[..., Any], done: str) -> int:
    _with_coordinator(args, lambda ctx, coordinator: call(ctx, coordinator, args.name))
    print(f"{args.study}: {args.name!r} {done}.")
    return 0


def _rename(args: argparse.Namespace) -> int:
    from readerstudy.services.participants import rename_participant

    info = _with_coordinator(args, lambda ctx, c: rename_participant(ctx, c, args.name, args.new_name))
    print(f"{args.study}: {args.name!r} is now {info.name!r}.")
    return 0


def _set_seniority(args: argparse.Namespace) -> int:
    from readerstudy.services.participants import set_seniority

    level = "" if args.seniority == "none" else args.seniority
    _with_coordinator(args, lambda ctx, c: set_seniority(ctx, c, args.name, level))
    print(f"{args.study}: {args.name!r} seniority set to {level or 'none'}.")
    return 0


def _set_pin(args: argparse.Namespace) -> int:
    from readerstudy.services.participants import get_participant, set_pin

    def use(ctx: Any, coordinator: Any) -> Any:
        get_participant(ctx, coordinator, args.name)  # an unknown name fails before the prompt
        return set_pin(ctx, coordinator, args.name, args.pin if args.pin is not None else _ask_pin(args.name))

    _with_coordinator(args, use)
    print(f"{args.study}: PIN of {args.name!r} set (any lock-out cleared).")
    return 0


def _reset_pin(args: argparse.Namespace) -> int:
    from readerstudy.services.participants import reset_pin

    temporary = _with_coordinator(args, lambda ctx, c: reset_pin(ctx, c, args.name))
    print(f"{args.study}: temporary PIN of {args.name!r}: {temporary}")
    print("Tell it to them in person; they choose a new PIN when they next sign in.")
    return 0


def _deactivate(args: argparse.Namespace) -> int:
    from readerstudy.services.participants import deactivate_participant

    return _simple(args, deactivate_participant, "deactivated (cannot sign in; reads and masks are kept)")


def _reactivate(args: argparse.Namespace) -> int:
    from readerstudy.services.participants import reactivate_participant

    return _simple(args, reactivate_participant, "reactivated")


def _unlock(args: argparse.Namespace) -> int:
    from readerstudy.services.participants import unlock_participant

    was_locked = _with_coordinator(args, lambda ctx, c: unlock_participant(ctx, c, args.name))
    print(f"{args.study}: {args.name!r} " + ("unlocked; they can sign in now." if was_locked
                                              else "was not locked; nothing to do."))
    return 0
