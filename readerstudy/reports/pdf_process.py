"""Typeset the report PDF in a child process that starts before the statistics are computed.

In a fresh ``readerstudy report`` process, WeasyPrint's import (Pango, HarfBuzz and fontconfig
through cffi) and its first layout (font map, user-agent style sheets) cost about 1.2 s of a
2-core machine's time before a single page is laid out. :class:`PdfTypesetter` starts
``python -m readerstudy.reports.pdf_process`` first; the child pays that while the parent reads
the database, computes the tables and draws the figures, then typesets the HTML the parent
sends. In a process where WeasyPrint is already imported (the app, after its first report),
:func:`start_typesetter` returns None and the PDF is typeset in process.

Protocol (stdin of the child): one JSON line ``{"path": ..., "title": ...}``, then the HTML,
UTF-8, until end of file. The child exits 0 when the PDF is written; otherwise the last line
of its stderr says why, and :meth:`PdfTypesetter.write` typesets in process instead (which
raises the real error, if there is one).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

__all__ = ["PdfTypesetter", "start_typesetter"]

#: what the child lays out while it waits: the report's style sheet, both fonts, a table
_WARM_UP = ('<h1>r</h1><h2>s</h2><p>Text <b>bold</b> <i>it</i></p><table><thead><tr><th>a</th>'
            '<th class="num">b</th></tr></thead><tbody><tr><td>x</td><td class="num">0.5'
            '<span class="ci">0.1–0.9</span></td></tr></tbody></table><div class="caption">c</div>')


class PdfTypesetter:
    """A child process that typesets one report HTML to a PDF (see the module docstring).

    Use :meth:`write` once, or :meth:`close` to stop the child unused (a cancelled export).
    """

    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = subprocess.Popen(
            [sys.executable, "-m", "readerstudy.reports.pdf_process"], stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def write(self, html: str, path: Path, title: str) -> Path:
        """Typeset ``html`` into ``path`` (the PDF's title ``title``); in process if the child fails."""
        from .render import write_pdf

        proc, self._proc = self._proc, None
        if proc is None:
            return write_pdf(html, path, title)
        header = json.dumps({"path": str(path), "title": title}) + "\n"
        try:
            _, err = proc.communicate((header + html).encode("utf-8"), timeout=600)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()
            return write_pdf(html, path, title)
        if proc.returncode != 0 or not path.is_file():
            import logging

            reason = err.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no message"]
            logging.getLogger(__name__).warning("PDF child failed (%s); typesetting in process", reason[0])
            return write_pdf(html, path, title)
        return path

    def close(self) -> None:
        """Stop the child if :meth:`write` was not called (never raises)."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()


def start_typesetter() -> PdfTypesetter | None:
    """A :class:`PdfTypesetter` for a process that has not imported WeasyPrint yet, else None."""
    if "weasyprint" in sys.modules:
        return None
    try:
        return PdfTypesetter()
    except OSError:
        return None


def _child() -> int:
    import logging

    logging.getLogger("fontTools").setLevel(logging.WARNING)
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    import weasyprint

    from .render import TEMPLATE_DIR, write_pdf

    css = (TEMPLATE_DIR / "report.css").read_text(encoding="utf-8")
    weasyprint.HTML(string=f"<html><head><style>{css}</style></head><body>{_WARM_UP}</body></html>",
                    base_url=str(TEMPLATE_DIR)).render().write_pdf()
    data = sys.stdin.buffer.read()
    if not data:  # the parent stopped us (a cancelled or failed export)
        return 0
    header, _, html = data.partition(b"\n")
    job = json.loads(header)
    write_pdf(html.decode("utf-8"), Path(job["path"]), job["title"])
    return 0


if __name__ == "__main__":
    sys.exit(_child())
