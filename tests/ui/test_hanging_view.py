"""The fused / side-by-side hanging on real widgets (qtbot), alone and in the reading window on the phantom."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import Qt

from readerstudy.core.hanging import HangingSpec
from readerstudy.services.auth import local_session, sign_in
from readerstudy.services.context import open_context
from readerstudy.services.demo import DEMO_PIN, PHANTOM_STUDY, build_phantom
from readerstudy.services.hanging import PRACTICE_ACTION, SecondaryView
from readerstudy.services.reading import ReadingService
from readerstudy.ui.app import ensure_app
from readerstudy.ui.hanging_view import HangingPanel, colormap_lut
from readerstudy.ui.image_view import ImageView
from readerstudy.ui.reading_window import ReadingWindow


@pytest.fixture(autouse=True)
def _app(qapp):
    ensure_app()


def _volumes(n: int = 5):
    ct = np.stack([np.full((8, 10), 10.0 * k, np.float32) for k in range(n)])
    pet = np.stack([np.full((8, 10), float(k), np.float32) for k in range(n)])
    return ct, SecondaryView("pet", pet, (2.0, 4.0), (2.5, 1.5, 1.5), tuple(range(n)))


def _panel(qtbot, layout: str, opacity: float = 0.5):
    view = ImageView()
    panel = HangingPanel(view, HangingSpec(layout, ("pet",), "hot", opacity))
    qtbot.addWidget(panel)
    panel.show()
    return view, panel


def test_fused_pet_has_the_colour_map_follows_slices_and_changes_opacity(qtbot):
    view, panel = _panel(qtbot, "fused")
    ct, pet = _volumes()
    view.set_pixels(ct, window=(20.0, 40.0), modality="CT")
    panel.set_secondaries([pet])
    (item,) = panel.fused_items
    assert item.getViewBox() is view.vb and item.zValue() > view.image_item.zValue()
    np.testing.assert_array_equal(item.lut, colormap_lut("hot"))
    assert not np.array_equal(colormap_lut("hot")[:, 0], colormap_lut("hot")[:, 2])  # a colour map, not grey
    assert item.levels is not None and tuple(np.ravel(item.levels)) == (0.0, 4.0)
    assert panel.colorbar.isVisible() and "SUV" in panel.colorbar.axis.labelText
    assert view.index == 2 and float(item.image[0, 0]) == 2.0  # the PET slice of the CT's middle slice

    view.step_slice(1)
    assert view.index == 3 and float(item.image[0, 0]) == 3.0 and panel.view_state()["hanging"]["secondary_slice"] == 3
    assert item.opacity() == pytest.approx(0.5)
    panel.slider.setValue(80)
    assert item.opacity() == pytest.approx(0.8) and "80 %" in panel.label.text()
    panel.step_opacity(-30)
    assert item.opacity() == pytest.approx(0.5) and panel.slider.value() == 50
    panel.set_opacity(1.7)
    assert panel.opacity == 1.0 and item.opacity() == pytest.approx(1.0)
    panel.toggle_fusion()
    assert not item.isVisible() and panel.view_state()["hanging"]["visible"] is False
    assert not panel.colorbar.isVisible()
    panel.toggle_fusion()
    assert item.isVisible() and panel.colorbar.isVisible()

    panel.set_secondaries(())  # a single-image case next: nothing of the PET stays
    assert panel.fused_items == [] and item.getViewBox() is None and not panel.colorbar.isVisible()
    assert panel.view_state() == {}


def test_fused_pet_on_a_coarser_grid_covers_the_same_field_of_view(qtbot):
    view, panel = _panel(qtbot, "fused")
    ct, _ = _volumes()
    view.set_pixels(ct, modality="CT")
    coarse = SecondaryView("pet", np.ones((2, 4, 5), np.float32), (1.0, 2.0), (5.0, 3.0, 3.0), (-1, 0, 0, 1, 1))
    panel.set_secondaries([coarse])
    (item,) = panel.fused_items
    rect = item.mapRectToParent(item.boundingRect())
    assert (rect.width(), rect.height()) == (10.0, 8.0)  # 5 x 4 PET pixels over 10 x 8 CT pixels
    view.step_slice(-2)
    assert view.index == 0 and item.image is None  # no PET slice there: nothing drawn


def test_side_by_side_views_follow_the_primary_slice_and_zoom(qtbot):
    view, panel = _panel(qtbot, "side_by_side")
    ct, pet = _volumes()
    view.set_pixels(ct, modality="CT")
    panel.set_secondaries([pet])
    (side,) = panel.side_views
    assert side.index == view.index == 2 and side.window == (2.0, 4.0)
    view.step_slice(-2)
    assert side.index == 0 and float(side.image_item.image[0, 0]) == 0.0
    def width(v):
        (x0, x1), _ = v.vb.viewRange()
        return x1 - x0

    before = width(side)
    view.zoom(2.0)  # linked pan and zoom (the aspect lock may widen one axis a little)
    assert width(side) == pytest.approx(width(view), rel=0.1) and width(side) < 0.6 * before
    assert panel.fused_items == [] and panel.view_state()["hanging"]["layout"] == "side_by_side"


@pytest.fixture()
def phantom(tmp_path):
    ctx = open_context(tmp_path / "phantom.db")
    build_phantom(ctx, local_session("test"), 3)
    yield ctx
    ctx.close()


def test_reader_reads_practice_then_the_phantom_with_pet_fused_on_ct(qtbot, phantom):
    svc = ReadingService(phantom, sign_in(phantom, PHANTOM_STUDY, "Reader 1", DEMO_PIN))
    w = ReadingWindow(svc, black_screen_ms=0)
    qtbot.addWidget(w)
    w.show()
    w.activateWindow()
    qtbot.waitUntil(w.isActiveWindow)
    qtbot.waitUntil(lambda: w.page == "reading")
    assert w.progress.text() == "Practice case 1 of 1 (not scored)"
    (item,) = w.hanging.fused_items
    np.testing.assert_array_equal(item.lut, colormap_lut("hot"))
    assert w.hanging.controls.isVisible() and item.opacity() == pytest.approx(0.5)
    qtbot.keyClick(w, Qt.Key.Key_Period)
    assert item.opacity() == pytest.approx(0.6)
    for key in (Qt.Key.Key_5, Qt.Key.Key_0, Qt.Key.Key_0, Qt.Key.Key_3, Qt.Key.Key_Return):  # 50 %, call 0, conf 3
        qtbot.keyClick(w, key)
    qtbot.waitUntil(lambda: w.progress.text().startswith("Case 1 of 2"))
    with phantom.uow() as uow:
        assert uow.reads.for_study(uow.studies.by_name(PHANTOM_STUDY).id) == []
        practice_id = uow.studies.by_name(PHANTOM_STUDY).protocol["practice_case_ids"][0]
        (event,) = uow.audit.list(practice_id, PRACTICE_ACTION)
    assert event.payload["view_state"]["hanging"]["opacity"] == pytest.approx(0.6)

    old, (item,) = item, w.hanging.fused_items  # the next case hangs its own PET
    assert old.getViewBox() is None and item.opacity() == pytest.approx(0.6)  # the reader's opacity is kept
    qtbot.keyClick(w, Qt.Key.Key_PageDown)
    k = w.image.index
    assert float(np.max(item.image)) == pytest.approx(float(np.max(w.view_model.secondaries[0].pixels[k])))
    qtbot.keyClick(w, Qt.Key.Key_Comma)
    qtbot.keyClick(w, Qt.Key.Key_Comma)
    for key in (Qt.Key.Key_8, Qt.Key.Key_0, Qt.Key.Key_1, Qt.Key.Key_4, Qt.Key.Key_Return):
        qtbot.keyClick(w, key)
    qtbot.waitUntil(lambda: w.progress.text().startswith("Case 2 of 2"))
    with phantom.uow() as uow:
        (read,) = uow.reads.for_study(uow.studies.by_name(PHANTOM_STUDY).id)
    assert read.view_state["hanging"] == {"layout": "fused", "images": ["pet"], "secondary_slice": k,
                                          "colormap": "hot", "opacity": 0.4, "visible": True}
    assert read.case_id != practice_id and pg.getConfigOption("imageAxisOrder") == "row-major"
    w.close()
