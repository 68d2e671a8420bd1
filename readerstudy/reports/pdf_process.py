"""Typeset the report PDF in a child process that starts first and lays out while the figures are drawn.

In a fresh ``readerstudy report`` process, WeasyPrint's import (Pango, HarfBuzz and fontconfig
through cffi) and its first layout (font map, user-agent style sheets) cost about 1.2 s of a
2-core machine's time, and laying out the demo report's 13 pages another 1.4 s.
:class:`PdfTypesetter` starts ``python -m readerstudy.reports.pdf_process`` first; the child pays
the start-up while the parent reads the database and computes the tables. The parent then
writes each figure's PNG file as a blank placeholder of the figure's final pixel size and mode
(:func:`placeholder_png`) and hands the child the HTML (:meth:`PdfTypesetter.begin`); the child
lays the pages out while the parent draws the real figures into the same files
(:meth:`PdfTypesetter.images_ready` when the last one the PDF shows is written). WeasyPrint
reads a local image's pixels only when it writes the PDF (it keeps the file name, a
``LazyLocalImage``, and takes only the size and mode from the file during layout), so after
:meth:`PdfTypesetter.finish` the child writes a PDF with the real figures. If a real figure does
not have its placeholder's size and mode, or this WeasyPrint keeps the placeholder's pixels, the
child lays the document out again from the final files (the same PDF, later). In a process where
WeasyPrint is already imported (the app, after its first report), :func:`start_typesetter`
returns None and the PDF is typeset in process.

Protocol (stdin of the child, one JSON line each): ``{"html": FILE, "path": PDF, "title": T}``,
then ``{"images": "final"}`` or ``{"images": "changed"}``; end of file at any point stops the
child (a cancelled export). The child answers one JSON line on stdout, ``{"how": "overlapped"}``
or ``{"how": "laid out again"}``, and exits 0 when the PDF is written; otherwise the last line of
its stderr says why, and :meth:`PdfTypesetter.finish` typesets in process instead (which raises
the real error, if there is one).
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

__all__ = ["PdfTypesetter", "placeholder_png", "png_format", "start_typesetter"]

#: what the child lays out while it waits: the report's style sheet, both fonts, a table
_WARM_UP = ('<h1>r</h1><h2>s</h2><p>Text <b>bold</b> <i>it</i></p><table><thead><tr><th>a</th>'
            '<th class="num">b</th></tr></thead><tbody><tr><td>x</td><td class="num">0.5'
            '<span class="ci">0.1–0.9</span></td></tr></tbody></table><div class="caption">c</div>')
#: seconds :meth:`PdfTypesetter.finish` waits for the child before typesetting in process
TIMEOUT_S = 600


def png_format(png: bytes) -> bytes:
    """The 13 bytes of a PNG's IHDR chunk: width, height, bit depth, colour type, compression,
    filter, interlace (PNG specification, section 11.2.2). Raises ValueError for data that is not a PNG."""
    if png[:8] != b"\x89PNG\r\n\x1a\n" or png[12:16] != b"IHDR":
        raise ValueError("not a PNG file (no IHDR chunk after the signature)")
    return png[16:29]


def placeholder_png(width: int, height: int, mode: str = "RGB") -> bytes:
    """A white PNG of ``width`` x ``height`` pixels in Pillow ``mode``: what the child lays out
    with before the figure is drawn (same IHDR as the figure matplotlib will write)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new(mode, (width, height), "white").save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


class PdfTypesetter:
    """A child process that typesets one report HTML to a PDF (see the module docstring).

    Use :meth:`begin`, :meth:`images_ready` and :meth:`finish` (or :meth:`write` when the images
    are final already) once, or :meth:`close` to stop the child unused (a cancelled export). ``how`` says afterwards
    what happened: ``"overlapped"``, ``"laid out again"`` or ``"in process"`` (the child failed).
    """

    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = subprocess.Popen(
            [sys.executable, "-m", "readerstudy.reports.pdf_process"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self._job: tuple[Path, Path, str] | None = None
        self._told = False
        self.how: str | None = None

    def begin(self, html_file: Path, path: Path, title: str) -> None:
        """Hand the child the HTML in ``html_file`` (UTF-8; its images may still be placeholders) to
        lay out now; the PDF goes to ``path`` with the title ``title`` when :meth:`finish` is called."""
        self._job = (html_file, path, title)
        self._send({"html": str(html_file), "path": str(path), "title": title})

    def images_ready(self, *, final: bool = True) -> None:
        """The image files now hold the real figures: the child may write the PDF (this returns at
        once; :meth:`finish` waits). ``final=False`` when a figure's size or mode differs from its
        placeholder: the child then lays the document out again."""
        if not self._told:
            self._told = True
            self._send({"images": "final" if final else "changed"})

    def finish(self) -> Path:
        """Wait for the PDF (telling the child :meth:`images_ready` if not yet) and return its path;
        typesets in process if the child failed."""
        from .render import write_pdf

        if self._job is None:
            raise RuntimeError("PdfTypesetter.finish() without begin()")
        self.images_ready()
        html_file, path, title = self._job
        proc, self._proc = self._proc, None
        if proc is not None:
            try:
                out, err = proc.communicate(timeout=TIMEOUT_S)
            except (OSError, ValueError, subprocess.TimeoutExpired):
                proc.kill()
                proc.wait()
                out, err = b"", b"no answer"
            if proc.returncode == 0 and path.is_file():
                self.how = json.loads(out.decode("utf-8").strip().splitlines()[-1])["how"]
                return path
            import logging

            reason = err.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no message"]
            logging.getLogger(__name__).warning("PDF child failed (%s); typesetting in process", reason[0])
        self.how = "in process"
        return write_pdf(html_file.read_text(encoding="utf-8"), path, title)

    def write(self, html_file: Path, path: Path, title: str) -> Path:
        """:meth:`begin` and :meth:`finish` for an HTML whose images are final."""
        self.begin(html_file, path, title)
        return self.finish()

    def close(self) -> None:
        """Stop the child if :meth:`finish` was not called (never raises)."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()

    def _send(self, message: dict[str, str]) -> None:
        proc = self._proc
        if proc is None or proc.stdin is None:
            return
        try:  # a short line: never blocks on a full pipe
            proc.stdin.write((json.dumps(message) + "\n").encode("utf-8"))
            proc.stdin.flush()
        except (OSError, ValueError):  # the child is gone: finish() typesets in process
            pass


def start_typesetter() -> PdfTypesetter | None:
    """A :class:`PdfTypesetter` for a process that has not imported WeasyPrint yet, else None."""
    if "weasyprint" in sys.modules:
        return None
    try:
        return PdfTypesetter()
    except OSError:
        return None


def _reads_pixels_late(cache: dict[str, object]) -> bool:
    """True when every raster image of a rendered document will be read from its file when the PDF
    is written (WeasyPrint's ``LazyLocalImage``), so a placeholder's pixels are never used."""
    try:
        from weasyprint.images import LazyLocalImage, RasterImage
    except ImportError:  # another WeasyPrint: lay out again rather than guess
        return False
    images = [v for v in cache.values() if isinstance(v, RasterImage)]
    return all(isinstance(v.image_data, LazyLocalImage) for v in images)


def _child() -> int:
    import logging
    import os

    logging.getLogger("fontTools").setLevel(logging.WARNING)
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    import weasyprint

    from .render import TEMPLATE_DIR

    css = (TEMPLATE_DIR / "report.css").read_text(encoding="utf-8")
    weasyprint.HTML(string=f"<html><head><style>{css}</style></head><body>{_WARM_UP}</body></html>",
                    base_url=str(TEMPLATE_DIR)).render().write_pdf()
    line = sys.stdin.readline()
    if not line:  # the parent stopped us (a cancelled or failed export)
        return 0
    job = json.loads(line)
    html = Path(job["html"]).read_text(encoding="utf-8")
    cache: dict[str, object] = {}
    doc = weasyprint.HTML(string=html, base_url=str(TEMPLATE_DIR)).render(cache=cache)
    line = sys.stdin.readline()
    if not line:
        return 0
    how = "overlapped"
    if json.loads(line).get("images") != "final" or not _reads_pixels_late(cache):
        how = "laid out again"
        doc = weasyprint.HTML(string=html, base_url=str(TEMPLATE_DIR)).render()
    doc.metadata.title = job["title"]
    doc.write_pdf(job["path"])
    sys.stdout.write(json.dumps({"how": how}) + "\n")
    sys.stdout.flush()
    os._exit(0)  # the PDF is closed; skip tearing down Pango and every module (about 0.1 s)


if __name__ == "__main__":
    sys.exit(_child())
