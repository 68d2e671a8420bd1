"""What makes a fresh ``readerstudy report`` process fast gives the same report.

The PDF child (:mod:`readerstudy.reports.pdf_process`) lays the pages out while the parent draws
the figures into files that hold same-size placeholders until then; the PDF must carry the real
figures (pixel for pixel), equal the in-process PDF, fall back to laying out again when a figure's
size changed, fall back to typesetting in process when the child fails, and stop when unused.
"""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image
from pypdf import PdfReader

from readerstudy.core.errors import Cancelled
from readerstudy.reports import build, pdf_process
from readerstudy.reports import figures as F
from readerstudy.reports.build import write_report
from readerstudy.reports.document import build_tables

HTML = ("<html><head><style>@page { size: A4; @bottom-right { content: 'Page ' counter(page) ' of ' "
        "counter(pages); } } h1 { break-after: page; }</style></head><body><h1>Reader study</h1>"
        "<p>Second page: AUC 0.880 (0.808–0.953)</p></body></html>")


def _text(pdf: Path) -> list[str]:
    return [p.extract_text() for p in PdfReader(str(pdf)).pages]


def _html_file(tmp_path: Path, html: str = HTML) -> Path:
    path = tmp_path / "source.html"
    path.write_text(html, encoding="utf-8")
    return path


def _pdf_images(pdf: Path) -> list[np.ndarray]:
    """The distinct images of a PDF (WeasyPrint lists every image in every page's resources)."""
    out: dict[bytes, np.ndarray] = {}
    for page in PdfReader(str(pdf)).pages:
        for img in page.images:
            pixels = np.asarray(img.image.convert("RGB"))
            out.setdefault(pixels.tobytes() + repr(pixels.shape).encode(), pixels)
    return list(out.values())


def _png_pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def test_the_child_typesets_the_same_pdf_as_the_process(tmp_path: Path) -> None:
    child = pdf_process.PdfTypesetter()
    assert child.write(_html_file(tmp_path), tmp_path / "child.pdf", "T") == tmp_path / "child.pdf"
    assert child.how == "overlapped"
    from readerstudy.reports.render import write_pdf

    write_pdf(HTML, tmp_path / "here.pdf", "T")
    assert _text(tmp_path / "child.pdf") == _text(tmp_path / "here.pdf")
    assert len(_text(tmp_path / "child.pdf")) == 2 and "Page 2 of 2" in _text(tmp_path / "child.pdf")[1]
    assert PdfReader(str(tmp_path / "child.pdf")).metadata.title == "T"


def test_the_child_writes_the_image_the_file_holds_when_told_not_the_placeholder(tmp_path: Path) -> None:
    png = tmp_path / "fig.png"
    png.write_bytes(pdf_process.placeholder_png(40, 30))
    child = pdf_process.PdfTypesetter()
    child.begin(_html_file(tmp_path, f'<html><body><img src="{png.as_uri()}"></body></html>'), tmp_path / "r.pdf", "T")
    real = np.zeros((30, 40, 3), np.uint8)
    real[:, :20] = (200, 30, 10)  # red left half, black right half
    Image.fromarray(real).save(png)
    child.finish()
    assert child.how == "overlapped"
    [drawn] = _pdf_images(tmp_path / "r.pdf")
    assert np.array_equal(drawn, real)


def test_a_changed_image_size_is_laid_out_again(tmp_path: Path) -> None:
    png = tmp_path / "fig.png"
    png.write_bytes(pdf_process.placeholder_png(40, 30))
    child = pdf_process.PdfTypesetter()
    child.begin(_html_file(tmp_path, f'<html><body><img src="{png.as_uri()}"></body></html>'), tmp_path / "r.pdf", "T")
    real = np.full((31, 40, 3), 90, np.uint8)
    Image.fromarray(real).save(png)
    child.images_ready(final=False)
    child.finish()
    assert child.how == "laid out again"
    [drawn] = _pdf_images(tmp_path / "r.pdf")
    assert np.array_equal(drawn, real)


def test_a_failing_child_falls_back_to_typesetting_in_process(tmp_path: Path) -> None:
    broken = pdf_process.PdfTypesetter.__new__(pdf_process.PdfTypesetter)
    broken._proc = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read(); sys.exit('no fonts')"],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    broken._job, broken._told, broken.how = None, False, None
    out = broken.write(_html_file(tmp_path), tmp_path / "r.pdf", "T")
    assert "Page 2 of 2" in _text(out)[1]
    assert broken.how == "in process" and broken._proc is None  # used once


def test_finish_without_begin_is_an_error() -> None:
    child = pdf_process.PdfTypesetter()
    try:
        with pytest.raises(RuntimeError, match="without begin"):
            child.finish()
    finally:
        child.close()


def test_an_unused_child_is_stopped(tmp_path: Path) -> None:
    child = pdf_process.PdfTypesetter()
    proc = child._proc
    assert proc is not None
    child.close()
    assert proc.poll() is not None
    child.close()  # twice is harmless


def test_no_child_in_a_process_that_has_weasyprint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "weasyprint", object())
    assert pdf_process.start_typesetter() is None


@pytest.mark.parametrize("size", [(6.4, 3.7), (6.4, 0.3 * 7 + 1.0), (7.0, 0.28 * 9 + 1.0), (2.5 * 3 + 1.6, 3.1)])
def test_pixel_size_is_the_size_of_the_png(size: tuple[float, float]) -> None:
    fig = Figure(figsize=size, layout="constrained")
    fig.add_subplot().plot([0, 1], [1, 0])
    png = F.png_bytes(fig)
    assert Image.open(io.BytesIO(png)).size == F.pixel_size(size)
    assert pdf_process.png_format(png) == pdf_process.png_format(pdf_process.placeholder_png(*F.pixel_size(size)))


def test_png_format_refuses_what_is_not_a_png() -> None:
    with pytest.raises(ValueError, match="not a PNG"):
        pdf_process.png_format(b"GIF89a" + bytes(40))


def test_report_with_the_child_gives_the_same_files_and_real_figures(sim_data, tmp_path: Path) -> None:  # noqa: ANN001
    plain = write_report(sim_data, tmp_path / "plain")
    child = pdf_process.PdfTypesetter()
    fast = write_report(sim_data, tmp_path / "fast", typesetter=child)
    assert child.how == "overlapped"  # the figures' placeholders had their final size: laid out once
    assert {k: p.read_bytes() for k, p in fast.figures.items()} == {k: p.read_bytes() for k, p in plain.figures.items()}
    assert _text(fast.pdf) == _text(plain.pdf)
    assert fast.html.read_text(encoding="utf-8") == plain.html.read_text(encoding="utf-8")
    embedded = _pdf_images(fast.pdf)
    html = fast.html.read_text(encoding="utf-8")
    shown = [p for k, p in fast.figures.items() if f'alt="{fast.captions[k]}"' in html]
    assert len(embedded) == len(shown) == html.count("<img") >= 5
    for path in shown:  # every figure the report shows is in the PDF as drawn (not a white placeholder)
        fig = _png_pixels(path)
        assert any(e.shape == fig.shape and np.array_equal(e, fig) for e in embedded)
        assert (fig < 250).any()
    assert sorted(p.name for p in (tmp_path / "fast").iterdir()) == ["figures", "reads.csv", "report.html",
                                                                     "report.json", "report.pdf"]


def test_a_figure_of_another_size_than_planned_still_gives_the_real_figure(
        sim_data, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    monkeypatch.setattr(build, "pixel_size", lambda size: (120, 80))  # every placeholder the wrong size
    child = pdf_process.PdfTypesetter()
    files = write_report(sim_data, tmp_path / "r", typesetter=child)
    assert child.how == "laid out again"
    embedded = _pdf_images(files.pdf)
    html = files.html.read_text(encoding="utf-8")
    shown = [p for k, p in files.figures.items() if f'alt="{files.captions[k]}"' in html]
    assert len(embedded) == len(shown) >= 5
    for path in shown:
        fig = _png_pixels(path)
        assert any(e.shape == fig.shape and np.array_equal(e, fig) for e in embedded)


def test_a_cancelled_export_stops_the_child_and_writes_nothing(sim_data, tmp_path: Path) -> None:  # noqa: ANN001
    child = pdf_process.PdfTypesetter()
    proc = child._proc

    def progress(i: int, n: int, msg: str) -> None:
        if msg == "writing HTML":  # after the child got the HTML, while figures are drawn
            raise Cancelled("stop")

    with pytest.raises(Cancelled):
        write_report(sim_data, tmp_path / "r", progress=progress, typesetter=child)
    assert proc is not None and proc.poll() is not None
    assert list((tmp_path / "r").iterdir()) == []


def test_figures_are_opaque_rgb_pngs(sim_data) -> None:  # noqa: ANN001
    specs = F.build_figures(sim_data, build_tables(sim_data))
    drawn = [s for s in specs if s.drawable]
    assert drawn and all(s._figure is None for s in specs)  # planned, not drawn
    for s in drawn:
        image = Image.open(io.BytesIO(F.png_bytes(s.figure)))
        assert image.mode == "RGB" and image.size == F.pixel_size(s.size)
        assert image.info.get("dpi") == pytest.approx((F.DPI, F.DPI), abs=0.05)  # PNG stores pixels per metre


class _Recorder(pdf_process.PdfTypesetter):
    """A real typesetter that notes when it is told the figures are ready."""

    def __init__(self, log: list[str]) -> None:
        super().__init__()
        self.log = log

    def images_ready(self, *, final: bool = True) -> None:
        if not self._told:
            self.log.append("images ready")
        super().images_ready(final=final)


def test_the_child_is_told_as_soon_as_the_figures_it_shows_are_drawn(
        sim_data, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    log: list[str] = []
    real_png = build.png_bytes

    def noting(fig):  # noqa: ANN001, ANN202
        log.append(next(s.key for s in specs if s.figure is fig))
        return real_png(fig)

    specs = F.build_figures(sim_data, build_tables(sim_data))
    monkeypatch.setattr(build, "build_figures", lambda data, tables: specs)
    monkeypatch.setattr(build, "png_bytes", noting)
    child = _Recorder(log)
    files = write_report(sim_data, tmp_path / "r", typesetter=child)
    html = files.html.read_text(encoding="utf-8")
    shown = {k for k in files.figures if f'alt="{files.captions[k]}"' in html}
    assert "kappa" in files.figures and "kappa" not in shown  # drawn for the app; a heat-map table in the report
    cut = log.index("images ready")
    assert set(log[:cut]) == shown and set(log[cut + 1:]) == set(files.figures) - shown
    assert list(files.figures) == [s.key for s in specs if s.drawable]  # report order kept
