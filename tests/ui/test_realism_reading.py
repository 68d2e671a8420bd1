"""A reader reads a realism case: the form names the call "Synthetic"/"Real", no provenance on screen."""

from __future__ import annotations

import sys
from pathlib import Path

import pyqtgraph as pg
import pytest
from PySide6.QtWidgets import QAbstractButton, QGroupBox, QLabel, QWidget

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "services"))
from realism_support import GEN_A, GEN_B, PIN, REALISM, SOURCE, source_study, with_readers  # noqa: E402
from test_reading_support import LOCAL  # noqa: E402

from readerstudy.services.auth import sign_in  # noqa: E402
from readerstudy.services.reading import ReadingService  # noqa: E402
from readerstudy.services.realism_study import build_realism_study  # noqa: E402
from readerstudy.ui.app import ensure_app  # noqa: E402
from readerstudy.ui.reading_window import ReadingWindow  # noqa: E402


@pytest.fixture(autouse=True)
def _app(qapp):
    ensure_app()
    assert pg.getConfigOption("imageAxisOrder") == "row-major"


def _texts(w: QWidget) -> list[str]:
    out = [w.windowTitle()]
    for cls, get in ((QLabel, "text"), (QAbstractButton, "text"), (QGroupBox, "title")):
        out += [getattr(x, get)() for x in w.findChildren(cls)]
    return out


def test_realism_case_on_screen(qtbot, tmp_path):
    ctx = source_study(tmp_path / "r.db", n_cases=2)
    try:
        build_realism_study(ctx, LOCAL, SOURCE, REALISM, seed=3)
        with_readers(ctx, REALISM, (("rita", "senior"),))
        with ctx.uow(read=True) as uow:
            refs = [c.source_ref for c in uow.cases.list(uow.studies.by_name(REALISM).id)]
            sources = [c.pseudonym for c in uow.cases.list(uow.studies.by_name(SOURCE).id)]
        w = ReadingWindow(ReadingService(ctx, sign_in(ctx, REALISM, "rita", PIN), prefetch=False))
        qtbot.addWidget(w)
        w.show()
        panel = w.panel
        assert [b.text() for b in panel.binary_buttons] == ["0 · Real", "1 · Synthetic"]
        assert panel.boxes[0].title() == "Probability that the image is synthetic (0-100)"
        qtbot.waitUntil(lambda: w.service.flow is not None and w.service.flow.current_case is not None, timeout=30_000)
        text = "\n".join(_texts(w))
        assert "How realistic does the image look?" in text
        for secret in (GEN_A[:12], GEN_B[:12], "real:", "synthetic:", *refs, *sources):
            assert secret not in text, secret
        panel.spin.setValue(10)
        panel.binary_buttons[1].click()
        assert panel.current_warning() == "You called it synthetic but gave a probability of 10 %. Submit anyway?"
        w.close()
    finally:
        ctx.close()
