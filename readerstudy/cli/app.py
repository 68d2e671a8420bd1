"""Command-line composition root: ``readerstudy <subcommand>`` (``gui`` when none is given).

Each subcommand lives in its own module exposing ``register(subparsers)``, which adds a parser
whose ``func(args) -> int`` does the work. Exit codes: 0 ok, 2 usage, 3 invalid input (one clear
line on stderr, no traceback unless ``--debug``), 1 anything unexpected.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from readerstudy import __version__
from readerstudy.core.errors import ReaderStudyError

SUBCOMMANDS: tuple[str, ...] = (
    "gui",
    "demo",
    "db",
    "study",
    "participants",
    "import_cmd",
    "protocol",
    "simulate_readers",
    "export_masks",
    "agreement",
    "report",
    "export",
    "engine_cmd",
    "plan",
    "audit_cmd",
    "merge",
)

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_INVALID = 0, 1, 2, 3


def run() -> None:
    """The ``readerstudy`` console script and ``python -m readerstudy``: :func:`main`, then exit.

    After a command that left no thread running (daemon threads aside: Python does not wait for
    them either) and never loaded Qt, the process leaves with :func:`os._exit`
    once the exit handlers have run and the log files and standard streams are flushed: Python's
    own teardown (a full garbage collection, then every module's clean-up) takes about 0.4 s after
    a report, with nothing left to write. Otherwise (the GUI, a thread still running) it exits
    the usual way.
    """
    import atexit
    import logging
    import os
    import threading

    code = main()
    running = [t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon and t.is_alive()]
    if running or "PySide6.QtCore" in sys.modules or not hasattr(atexit, "_run_exitfuncs"):
        raise SystemExit(code)
    atexit._run_exitfuncs()  # what Python would run: temporary-folder finalizers, multiprocessing, ...
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can be said
            pass
    os._exit(code)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="readerstudy",
        description="Radiologist reader studies, expert annotation and an embedded AI engine.",
    )
    parser.add_argument("--version", action="version", version=f"readerstudy {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks and debug logs")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(f"readerstudy.cli.{name}").register(sub)
    return parser


def add_db_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", metavar="PATH_OR_URL", default=None,
                        help="SQLite file or SQLAlchemy URL (default: $READERSTUDY_DB, then the user data dir)")


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not args_list or args_list[0].startswith("--db"):
        args_list = ["gui", *args_list]
    try:
        args = parser.parse_args(args_list)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help
        return int(exc.code or 0)
    from readerstudy.cli import logs

    setup = logs.configure(args.debug)
    try:
        return int(args.func(args) or 0)
    except ReaderStudyError as exc:
        if args.debug:
            raise
        print(f"readerstudy: error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    except Exception as exc:  # a full disk, a read-only folder, a lost server: one line, not a traceback
        from readerstudy.storage.errors import translate

        hints = tuple(str(v) for k in ("db", "out") if (v := getattr(args, k, None)))
        known = translate(exc, hints)
        if known is None or args.debug:
            raise
        print(f"readerstudy: error: {known}", file=sys.stderr)
        return EXIT_INVALID
    except KeyboardInterrupt:
        print("readerstudy: interrupted", file=sys.stderr)
        return 130
    finally:
        note = setup.final_note()
        if note:
            print(note, file=sys.stderr)
