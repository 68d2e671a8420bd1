"""``readerstudy gui`` (the default command): open the desktop app."""

from __future__ import annotations

import argparse

from readerstudy.cli.app import add_db_argument


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gui", help="open the desktop app (default)")
    add_db_argument(p)
    p.add_argument("--study", default=None, help="study to open")
    p.set_defaults(func=_run)


def launch(ctx, study: str | None = None) -> int:  # noqa: ANN001 - AppContext, imported lazily
    """Sign-in, then the reader's reading window, the annotator's workspace or the coordinator's home."""
    from readerstudy.ui.shell import run_reading_app

    return run_reading_app(ctx, study)


def _run(args: argparse.Namespace) -> int:
    from readerstudy.services.context import open_context

    ctx = open_context(args.db)
    try:
        return launch(ctx, args.study)
    finally:
        ctx.close()
