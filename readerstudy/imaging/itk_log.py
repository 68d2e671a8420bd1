"""ITK's output window -> Python logging (logger ``SimpleITK``), so ITK text never goes straight to stderr.

ITK prints warnings such as "NiftiImageIO ... has unexpected scales in sform" on the process's
stderr, which a user reads as a crash. Once :func:`route_itk_messages` ran, they are log records,
and the application's logging set-up (``readerstudy.cli.logs``) puts them in the log file.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

log = logging.getLogger("SimpleITK")
_lock = threading.Lock()
_installed: Any = None
_ITK_ERROR = re.compile(r"ITK ERROR: (?:\w+\(0x[0-9a-fA-F]+\): )?(.+)")


def route_itk_messages() -> None:
    """Install (once) a SimpleITK logger that forwards every ITK message to Python logging."""
    global _installed
    with _lock:
        if _installed is not None:
            return
        import SimpleITK as sitk

        class _ToLogging(sitk.LoggerBase):  # type: ignore[misc] - a SWIG director class
            def DisplayText(self, t: str) -> None:  # noqa: N802 - ITK's names
                log.info("%s", t.strip())

            def DisplayGenericOutputText(self, t: str) -> None:  # noqa: N802
                log.info("%s", t.strip())

            def DisplayWarningText(self, t: str) -> None:  # noqa: N802
                log.warning("%s", t.strip())

            def DisplayErrorText(self, t: str) -> None:  # noqa: N802
                log.error("%s", t.strip())

            def DisplayDebugText(self, t: str) -> None:  # noqa: N802
                log.debug("%s", t.strip())

        logger = _ToLogging()
        logger.SetAsGlobalITKLogger()
        _installed = logger  # keep the Python object alive: ITK holds only a pointer to it


def itk_reason(exc: BaseException) -> str:
    """The "ITK ERROR: ..." sentence of a SimpleITK exception (without the object address), or ''."""
    m = _ITK_ERROR.search(str(exc))
    return " ".join(m.group(1).split()) if m else ""


__all__ = ["itk_reason", "route_itk_messages"]
