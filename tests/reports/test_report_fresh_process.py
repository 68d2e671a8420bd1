"""What makes a fresh ``readerstudy report`` process fast gives the same report.

The PDF child (:mod:`readerstudy.reports.pdf_process`) typesets the same PDF as the in-process
path, falls back to it when the child fails, and is stopped when unused; the figures drawn half in
a forked child (:func:`readerstudy.reports.figures.draw_figures`) are byte-identical to the ones
drawn in process, and a failing child's figures are drawn in process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pypdf import PdfReader

from readerstudy.reports import figures as F
from readerstudy.reports import pdf_process
from readerstudy.reports.build import write_report
from readerstudy.reports.document import build_tables

HTML = ("<html><head><style>@page { size: A4; @bottom-right { content: 'Page ' counter(page) ' of ' "
        "counter(pages); } } h1 { break-after: page; }</style></head><body><h1>Reader study</h1>"
        "<p>Second page: AUC 0.880 (0.808–0.953)</p></body></html>")


def _text(pdf: Path) -> list[str]:
    return [p.extract_text() for p in PdfReader(str(pdf)).pages]


def test_the_child_typesets_the_same_pdf_as_the_process(tmp_path: Path) -> None:
    child = pdf_process.PdfTypesetter()
    assert child.write(HTML, tmp_path / "child.pdf", "T") == tmp_path / "child.pdf"
    from readerstudy.reports.render import write_pdf

    write_pdf(HTML, tmp_path / "here.pdf", "T")
    assert _text(tmp_path / "child.pdf") == _text(tmp_path / "here.pdf")
    assert len(_text(tmp_path / "child.pdf")) == 2 and "Page 2 of 2" in _text(tmp_path / "child.pdf")[1]
    assert PdfReader(str(tmp_path / "child.pdf")).metadata.title == "T"


def test_a_failing_child_falls_back_to_typesetting_in_process(tmp_path: Path) -> None:
    broken = pdf_process.PdfTypesetter.__new__(pdf_process.PdfTypesetter)
    broken._proc = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read(); sys.exit('no fonts')"],
                                    stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    out = broken.write(HTML, tmp_path / "r.pdf", "T")
    assert "Page 2 of 2" in _text(out)[1]
    assert broken._proc is None  # used once


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


LINUX = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="forked figure drawing is Linux only")


@LINUX
def test_figures_drawn_half_in_a_forked_child_are_identical(sim_data) -> None:  # noqa: ANN001
    tables = build_tables(sim_data)
    specs_here, here = F.draw_figures(sim_data, tables)
    specs_par, par = F.draw_figures(sim_data, tables, parallel=True)
    assert list(here) == list(par) == [s.key for s in specs_here if s.figure is not None]
    assert here == par  # byte for byte
    assert [(s.key, s.title, s.caption, s.na) for s in specs_here] == [(s.key, s.title, s.caption, s.na)
                                                                       for s in specs_par]
    drawn_by_child = {specs_par[i].key for i in F._CHILD_SHARE}
    assert drawn_by_child and all(s.figure is None for s in specs_par if s.key in drawn_by_child)


@LINUX
def test_a_failing_figure_child_is_drawn_in_process(sim_data, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    def dying_child(data, tables):  # noqa: ANN001, ANN202
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os._exit(1)
        os.close(w)
        return pid, r

    monkeypatch.setattr(F, "_fork_share", dying_child)
    tables = build_tables(sim_data)
    _, par = F.draw_figures(sim_data, tables, parallel=True)
    _, here = F.draw_figures(sim_data, tables)
    assert par == here


@LINUX
def test_a_silent_figure_child_is_stopped_and_drawn_in_process(sim_data, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    import time

    def hanging_child(data, tables):  # noqa: ANN001, ANN202
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            time.sleep(60)
            os._exit(0)
        os.close(w)
        return pid, r

    monkeypatch.setattr(F, "_fork_share", hanging_child)
    monkeypatch.setattr(F, "CHILD_TIMEOUT_S", 0.5)
    tables = build_tables(sim_data)
    t0 = time.perf_counter()
    _, par = F.draw_figures(sim_data, tables, parallel=True)
    assert time.perf_counter() - t0 < 30  # not the child's 60 s
    assert par == F.draw_figures(sim_data, tables)[1]


def test_report_with_both_gives_the_same_files(sim_data, tmp_path: Path) -> None:  # noqa: ANN001
    plain = write_report(sim_data, tmp_path / "plain")
    child = pdf_process.PdfTypesetter()
    fast = write_report(sim_data, tmp_path / "fast", typeset=child.write, parallel_figures=True)
    assert {k: p.read_bytes() for k, p in fast.figures.items()} == {k: p.read_bytes() for k, p in plain.figures.items()}
    assert _text(fast.pdf) == _text(plain.pdf)
    assert fast.html.read_text(encoding="utf-8") == plain.html.read_text(encoding="utf-8")
