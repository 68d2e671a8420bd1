"""``readerstudy study create|list|realism``: a new study with its first coordinator; the studies of a
database; a realism study (real vs synthetic images, blind) from a study's accepted synthetic images.

``study create`` makes the study and its first coordinator in one step (the PIN is asked for
twice unless ``--pin``), so the coordinator can sign in to the app at once and do the rest there
(import, participants, protocol). A study made by ``readerstudy import`` has no coordinator yet:
add one with ``readerstudy participants add NAME --role coordinator --study STUDY`` (the command
line acts as the local coordinator, see :mod:`readerstudy.cli.participants`), or create it from
the app's sign-in screen.

``study realism --source STUDY --name NAME`` builds a realism study
(:func:`readerstudy.services.realism_study.build_realism_study`) and applies its reading protocol
(``--protocol``, default ``resources/protocols/realism.toml``; ``--no-protocol`` to apply one later).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from readerstudy.cli.app import add_db_argument


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("study", help="create a study with its first coordinator; list the studies")
    actions = p.add_subparsers(dest="study_command", metavar="ACTION", required=True)
    create = actions.add_parser("create", help="create a study and its first coordinator")
    add_db_argument(create)
    create.add_argument("--study", required=True, help="name of the new study")
    create.add_argument("--coordinator", required=True, help="name of its first coordinator")
    create.add_argument("--pin", default=None, help="the coordinator's PIN, 4-12 digits (else asked for twice)")
    create.add_argument("--description", default="", help="one line on what the study is")
    create.set_defaults(func=_create)
    listing = actions.add_parser("list", help="list the studies of the database")
    add_db_argument(listing)
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    listing.set_defaults(func=_list)
    realism = actions.add_parser("realism", help="a realism study: a study's accepted synthetic images and their "
                                                 "real images, mixed blind (visual Turing test)")
    add_db_argument(realism)
    realism.add_argument("--source", required=True, help="the study whose accepted synthetic images to show")
    realism.add_argument("--name", required=True, help="name of the new realism study")
    realism.add_argument("--protocol", type=Path, default=None,
                         help="reading protocol TOML (default: resources/protocols/realism.toml)")
    realism.add_argument("--no-protocol", action="store_true", help="apply no protocol now")
    realism.add_argument("--seed", type=int, default=0, help="seed of the import order (default 0)")
    realism.set_defaults(func=_realism)


def _create(args: argparse.Namespace) -> int:
    from readerstudy.cli.participants import _ask_pin
    from readerstudy.core.errors import ConflictError
    from readerstudy.services.context import open_context
    from readerstudy.services.participants import validate_name
    from readerstudy.services.studies import create_study, validate_study_name

    name = validate_study_name(args.study)  # bad names fail before the PIN prompt
    person = validate_name(args.coordinator, "The coordinator's name")
    ctx = open_context(args.db)
    try:
        if name in {s.name for s in _summaries(ctx)}:
            raise ConflictError(f"Study {name!r} already exists. To give it a coordinator: readerstudy "
                                f"participants add NAME --role coordinator --study {name!r}")
        pin = args.pin if args.pin is not None else _ask_pin(person)
        session = create_study(ctx, name, person, pin, description=args.description)
    finally:
        ctx.close()
    print(f"Study {session.study_name!r} created with coordinator {session.name!r}; sign in to the app "
          f"(readerstudy --db ...) or add participants with 'readerstudy participants add'.")
    return 0


def _summaries(ctx):  # noqa: ANN001, ANN202 - AppContext -> list[StudySummary]
    from readerstudy.services.studies import study_summaries

    return study_summaries(ctx)


def _list(args: argparse.Namespace) -> int:
    from readerstudy.services.context import open_context

    ctx = open_context(args.db)
    try:
        rows = _summaries(ctx)
    finally:
        ctx.close()
    if args.json:
        print(json.dumps([asdict(r) for r in rows], indent=2))
        return 0
    if not rows:
        print("No study in this database yet: readerstudy study create --study NAME --coordinator NAME")
        return 0
    print(f"{'study':<36} {'cases':>6} {'readers':>8} {'annotators':>10} {'coordinators':>12}  protocol")
    for r in rows:
        print(f"{r.name:<36} {r.cases:>6} {r.readers:>8} {r.annotators:>10} {r.coordinators:>12}  "
              f"{'applied' if r.protocol_applied else '-'}")
    return 0


def _realism(args: argparse.Namespace) -> int:
    from readerstudy.paths import resources_dir
    from readerstudy.services.assignments import apply_protocol, load_protocol_file
    from readerstudy.services.auth import local_session, scope
    from readerstudy.services.context import open_context
    from readerstudy.services.realism_study import build_realism_study

    protocol = None
    if not args.no_protocol:  # a bad file is refused before the database is touched
        protocol = load_protocol_file(args.protocol or resources_dir() / "protocols" / "realism.toml")
    ctx = open_context(args.db)
    try:
        local = local_session("study realism")
        built = build_realism_study(ctx, local, args.source, args.name, seed=args.seed)
        if protocol is not None:
            apply_protocol(ctx, scope(ctx, local, built.study), protocol)
    finally:
        ctx.close()
    print(f"Realism study {built.study!r}: {built.real + built.synthetic} images of {built.image_size} x "
          f"{built.image_size} px ({built.synthetic} synthetic, {built.real} real) from {args.source!r}, "
          "in one shuffled, blind order.")
    if protocol is None:
        print(f"No protocol applied: readerstudy protocol apply --study {built.study!r} --file realism.toml")
    else:
        print(f"Protocol applied ({args.protocol or 'realism.toml'}): add readers (readerstudy participants add) "
              f"and read, or simulate: readerstudy simulate-readers --study {built.study!r}")
    return 0
