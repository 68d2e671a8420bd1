"""MONOCHROME1 is inverted after the window (PS3.3 C.7.6.3.1.2) on screen and for the engine."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtGui import QColor

from readerstudy.services.engine_adapter import _grey01
from readerstudy.ui.app import configure_pyqtgraph
from readerstudy.ui.image_view import ImageView

STORED = np.array([[[800, 1000, 1200, 3000], [100, 100, 100, 100]]], np.uint16)  # (1, 2, 4)


def _shown_greys(view: ImageView) -> list[int]:
    view.image_item.render()
    img = view.image_item.qimage
    return [QColor(img.pixel(x, 0)).red() for x in range(4)]


def test_monochrome1_window_then_invert(qtbot) -> None:  # noqa: ANN001
    configure_pyqtgraph()
    view = ImageView()
    qtbot.addWidget(view)
    view.set_pixels(STORED, window=(1000.0, 400.0), invert=True)
    white, mid, black, air = _shown_greys(view)
    assert (white, black, air) == (255, 0, 0) and abs(mid - 128) <= 1  # stored 1000 is mid-grey
    view.set_window(1200.0, 400.0)  # the window moves in stored units; the inversion stays after it
    assert _shown_greys(view)[:3] == [255, 255, pytest.approx(128, abs=1)]
    view.set_pixels(STORED, window=(1000.0, 400.0), invert=False)
    plain = _shown_greys(view)
    assert plain[0] == 0 and plain[2] == 255 and abs(plain[1] - 128) <= 1


def test_engine_adapter_sees_what_the_reader_sees() -> None:
    frame = np.linspace(0, 1000, 400, dtype=np.float32).reshape(20, 20)
    plain, inverted = _grey01(frame), _grey01(frame, invert=True)
    assert plain.min() == 0.0 and plain.max() == 1.0
    np.testing.assert_allclose(inverted, 1.0 - plain)
