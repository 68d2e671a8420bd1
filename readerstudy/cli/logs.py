"""Where log records go: the app's own lines on stderr; everything (libraries too) in a log file.

pydicom, Pillow, SimpleITK, matplotlib... log decoder attempts, tracebacks and warnings that a
user reads as a crash. Without ``--debug`` the console shows only records of the ``readerstudy``
and ``engine`` loggers (their message, never a traceback); the log file gets every record and every
Python warning, and the CLI prints its path once when a library wrote to it. ``--debug`` shows
everything on the console as well.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
from pathlib import Path

LOG_ENV = "READERSTUDY_LOG"
APP_LOGGERS = ("readerstudy", "engine")
QUIET = {"alembic": logging.WARNING, "sqlalchemy": logging.WARNING, "PIL": logging.INFO,
         "matplotlib": logging.WARNING, "urllib3": logging.WARNING, "diffusers": logging.ERROR,
         "fontTools": logging.WARNING}


def log_path() -> Path:
    """``$READERSTUDY_LOG``, else ``readerstudy.log`` in the per-user log folder (platformdirs)."""
    env = os.environ.get(LOG_ENV)
    if env:
        return Path(env).expanduser()
    from platformdirs import user_log_dir

    return Path(user_log_dir("readerstudy", appauthor=False)) / "readerstudy.log"


def _ours(record: logging.LogRecord) -> bool:
    return record.name.split(".")[0] in APP_LOGGERS


class _AppOnly(logging.Filter):
    """The console without --debug: our records, without tracebacks (those go to the file)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return _ours(record) and record.exc_info is None


class LibraryCounter(logging.Filter):
    """Counts the records of other loggers (and warnings) that reached the log file."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if not _ours(record) and record.levelno >= logging.INFO:
            self.count += 1
        return True


class LogSetup:
    """What :func:`configure` installed: the file's path and the library-record counter."""

    def __init__(self, path: Path | None, counter: LibraryCounter, debug: bool) -> None:
        self.path, self.counter, self.debug = path, counter, debug

    def final_note(self) -> str | None:
        """One line naming the log file, when libraries wrote to it and the console did not show them."""
        if self.debug or self.path is None or self.counter.count == 0:
            return None
        return (f"readerstudy: {self.counter.count} message(s) from libraries (pydicom, Pillow, ITK, ...) "
                f"were written to {self.path}; --debug shows them here.")


def configure(debug: bool) -> LogSetup:
    """Install the console and file handlers on the root logger (again on each call, replacing ours)."""
    root = logging.getLogger()
    for h in [h for h in root.handlers if getattr(h, "_readerstudy", False)]:
        root.removeHandler(h)
        h.close()
    root.setLevel(logging.DEBUG)
    console = logging.StreamHandler(sys.stderr)
    console.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s" if debug else "%(message)s"))
    console.setLevel(logging.DEBUG if debug else logging.INFO)
    if not debug:
        console.addFilter(_AppOnly())
    handlers: list[logging.Handler] = [console]
    counter = LibraryCounter()
    path: Path | None = log_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fh = logging.handlers.RotatingFileHandler(path, maxBytes=2_000_000, backupCount=2, encoding="utf-8")
        fh.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        fh.setLevel(logging.DEBUG)
        fh.addFilter(counter)
        handlers.append(fh)
    except OSError:  # a read-only home: the console still works
        path = None
    for h in handlers:
        h._readerstudy = True  # type: ignore[attr-defined]
        root.addHandler(h)
    for name, level in QUIET.items():
        logging.getLogger(name).setLevel(logging.DEBUG if debug else level)
    logging.captureWarnings(True)  # Python warnings become records of "py.warnings": file only
    return LogSetup(path, counter, debug)


__all__ = ["LOG_ENV", "LogSetup", "configure", "log_path"]
