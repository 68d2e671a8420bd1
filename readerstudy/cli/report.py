"""``readerstudy report``: write a study's report (HTML, PDF, JSON, reads.csv) into a folder."""

from __future__ import annotations

import argparse

from readerstudy.cli.app import add_db_argument


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="write report.html, report.pdf, report.json, reads.csv and figures/ for a "
                                      "study (any state: what cannot be computed yet is n/a with the reason)")
    add_db_argument(p)
    p.add_argument("--study", required=True, help="study name")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created if absent)")
    p.add_argument("--reference", default=None, metavar="READER",
                   help="rater the others are compared with (McNemar, DeLong): a reader's name, 'model' or "
                        "'senior-consensus'; default: the protocol's reference, else the most senior reader")
    p.add_argument("--arm", default=None, help="arm whose readers are compared (default: the first arm with reads)")
    p.set_defaults(func=_run)


def _command(args: argparse.Namespace) -> str:
    import shlex
    import sys

    return shlex.join(["readerstudy", *sys.argv[1:]]) if sys.argv[1:2] == ["report"] else ""


def _run(args: argparse.Namespace) -> int:
    # first: the PDF child imports WeasyPrint and sets its fonts up while this process imports the
    # statistics and reads the database, then lays the pages out while this process draws the figures
    from readerstudy.reports.pdf_process import start_typesetter

    typesetter = start_typesetter()
    try:
        return _report(args, typesetter)
    finally:
        if typesetter is not None:
            typesetter.close()


def _report(args: argparse.Namespace, typesetter) -> int:  # noqa: ANN001 - PdfTypesetter | None
    from tqdm import tqdm

    from readerstudy.services.auth import local_session
    from readerstudy.services.context import open_context
    from readerstudy.services.reporting import export_report

    ctx = open_context(args.db, read_only=True)
    try:
        with tqdm(unit="step", disable=None, desc="report") as bar:
            def progress(i: int, total: int, msg: str) -> None:
                bar.total = total
                bar.n = i
                bar.set_postfix_str(msg)
                bar.refresh()

            files = export_report(ctx, local_session(), args.study, args.out, reference=args.reference,
                                  arm=args.arm, progress=progress, command=_command(args), typesetter=typesetter)
        for f in (files.html, files.pdf, files.json, files.csv):
            print(f)
        return 0
    finally:
        ctx.close()
