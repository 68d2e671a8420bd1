"""``readerstudy demo``: build the demo studies (if absent), print a summary, open the app."""

from __future__ import annotations

import argparse

from readerstudy.cli.app import add_db_argument


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="build the BUSI demo study and a CT/PET phantom study, then open the app")
    add_db_argument(p)
    p.add_argument("--no-gui", action="store_true", help="build and print the summary only")
    p.add_argument("--no-model", action="store_true",
                   help="leave out the shipped AI reader's predictions (its AI-aided arm then sets cases aside)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from readerstudy.services.auth import local_session
    from readerstudy.services.context import open_context
    from readerstudy.services.demo import BUSI_STUDY, DEMO_PIN, build_demo

    ctx = open_context(args.db)
    try:
        with tqdm(unit="case", disable=None, desc="demo") as bar:
            def progress(i: int, total: int, msg: str) -> None:
                bar.total = total
                bar.n = i
                bar.refresh()

            summary = build_demo(ctx, local_session("demo"), progress=progress, with_model=not args.no_model)
        print("Demo studies " + ("built" if summary.created else "already present") + f" in {ctx.url}")
        for line in summary.lines():
            print("  " + line)
        print(f"  Sign in as any participant (readers, Expert annotator, Study coordinator) with PIN {DEMO_PIN}.")
        if args.no_gui:
            return 0
        from readerstudy.cli.gui import launch

        return launch(ctx, BUSI_STUDY)
    finally:
        ctx.close()
