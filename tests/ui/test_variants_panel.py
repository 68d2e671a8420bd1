"""The annotation window's Generate variants tab and Suggest mask, with real widgets, models and database."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from readerstudy.services.auth import sign_in

BUSI = "BUSI benign vs malignant"
EXPERT = "Expert annotator"


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    from synthesis_models import save_tiny_models

    torch.set_num_threads(1)
    return save_tiny_models(tmp_path_factory.mktemp("models"))


@pytest.fixture
def window(qtbot, demo_ctx):
    from readerstudy.ui.annotation_window import AnnotationWindow
    from readerstudy.ui.app import configure_pyqtgraph

    configure_pyqtgraph()
    with demo_ctx.uow() as uow:
        case = uow.cases.list(uow.studies.by_name(BUSI).id)[0]
    w = AnnotationWindow(demo_ctx, sign_in(demo_ctx, BUSI, EXPERT, "0000"), case.id)
    qtbot.addWidget(w)
    w.resize(1400, 900)
    w.show()
    qtbot.waitExposed(w)
    return w


def _draw_box(w, top=0.3, left=0.3, size=0.3):
    data = np.zeros(w.layer.shape, np.uint8)
    _, h, ww = w.layer.shape
    data[0, int(top * h):int((top + size) * h), int(left * ww):int((left + size) * ww)] = 1
    w.layer.replace_data(data, description="test box")
    return data[0]


def test_generate_four_variants_and_accept_one(qtbot, window, tiny_models, demo_ctx):
    from readerstudy.services import synthesis

    panel = window.variants
    window.tabs.setCurrentWidget(panel)
    assert panel.label is None  # an annotator chooses the class: the truth stays hidden
    panel.generate()
    assert "Choose the class" in panel.status.text()
    _draw_box(window)
    panel.class_combo.setCurrentIndex(2)  # malignant
    assert panel.prompt_edit.toPlainText() == synthesis.prompt_templates()[1]
    panel.model_dir, panel.segmenter_dir = tiny_models / "generator", tiny_models / "segmenter"
    panel.steps_spin.setValue(3)
    panel.seed_spin.setValue(11)
    panel.generate()
    qtbot.waitUntil(lambda: panel._worker is None, timeout=120_000)
    assert panel.batch is not None, panel.status.text()
    assert len(panel.tiles) == 4
    assert [v.seed for v in panel.batch.variants] == [11, 12, 13, 14]
    assert panel.batch.variants[0].provenance["mask"]["unsaved_edits"] is True
    # the gallery: the real image first, then the variants, each with the mask outline (yellow pixels)
    assert panel.grid.count() == 5
    img = panel.tiles[0].picture.pixmap().toImage()
    assert img.width() == 150
    assert all(k in panel.tiles[0].figures.text() for k in ("pAUC", "PSNR", "Dice"))
    row = panel.accept(2)
    assert row is not None and not panel.tiles[2].accept_button.isEnabled()
    stored = synthesis.stored_variants(demo_ctx, window.session, window.case_id)
    assert [r["seed"] for r in stored] == [13]
    assert stored[0]["provenance"]["prompt"] == synthesis.prompt_templates()[1]


def test_saved_mask_is_named_in_the_provenance(qtbot, window, tiny_models):
    panel = window.variants
    _draw_box(window)
    assert window.save()
    panel.class_combo.setCurrentIndex(1)
    panel.model_dir = tiny_models / "generator"
    panel.count_spin.setValue(1)
    panel.steps_spin.setValue(2)
    panel.generate()
    qtbot.waitUntil(lambda: panel._worker is None, timeout=120_000)
    assert panel.batch is not None, panel.status.text()
    mask = panel.batch.variants[0].provenance["mask"]
    assert mask["annotation_id"] == window.last_record.id
    assert mask["annotation_version"] == window.last_record.version


def test_generation_errors_are_shown_inline(qtbot, window, tiny_models):
    panel = window.variants
    panel.class_combo.setCurrentIndex(1)
    panel.model_dir = tiny_models / "generator"
    window.layer.replace_data(np.zeros(window.layer.shape, np.uint8), description="clear")
    panel.generate()
    qtbot.waitUntil(lambda: panel._worker is None, timeout=60_000)
    assert "mask is empty" in panel.status.text()
    assert panel.generate_button.isEnabled() and panel.batch is None


def test_suggest_mask_is_an_undoable_draft_recorded_as_ai_suggested(qtbot, window, demo_ctx):
    from readerstudy.services.mask_suggestion import annotation_provenance

    panel = window.variants
    before = np.asarray(window.layer.data).copy()
    window.suggest_button.click()
    qtbot.waitUntil(lambda: panel.suggestion is not None, timeout=120_000)
    drafted = np.asarray(window.layer.data).copy()
    assert drafted.any()  # the shipped segmenter finds the lesion of a demo case
    assert window.layer.undo_description == "AI suggested mask"
    # the annotator edits the draft: erase a corner of it, then saves
    edited = drafted.copy()
    ys, xs = np.nonzero(edited[0])
    edited[0, ys.min():ys.min() + 3, :] = 0
    window.layer.replace_data(edited, description="erase")
    assert window.save()
    prov = annotation_provenance(demo_ctx, window.session, window.last_record.id)["ai_suggested"]
    assert prov["segmenter_sha256"] and prov["draft_pixels"] == int(drafted.sum())
    assert prov["edited_by_annotator"] is True and 0.5 < prov["dice_saved_vs_draft"] < 1.0
    assert panel.suggestion is None  # the next save is by hand unless another draft is applied
    window.undo()
    np.testing.assert_array_equal(window.layer.data, drafted)
    window.undo()
    np.testing.assert_array_equal(window.layer.data, before)


def test_cancel_stops_between_variants(qtbot, window, tiny_models):
    panel = window.variants
    _draw_box(window)
    panel.class_combo.setCurrentIndex(1)
    panel.model_dir, panel.segmenter_dir = tiny_models / "generator", tiny_models / "segmenter"
    panel.count_spin.setValue(16)
    panel.steps_spin.setValue(3)
    panel.generate()
    panel.cancel()
    qtbot.waitUntil(lambda: panel._worker is None, timeout=120_000)
    assert panel.status.text() == "Cancelled." and panel.batch is None
    assert panel.generate_button.isEnabled() and not panel.cancel_button.isEnabled()


def test_volumes_are_refused_with_a_reason(qtbot, demo_ctx):
    from readerstudy.ui.annotation_window import AnnotationWindow
    from readerstudy.ui.app import configure_pyqtgraph

    configure_pyqtgraph()
    with demo_ctx.uow() as uow:
        case = uow.cases.list(uow.studies.by_name("Phantom liver CT/PET").id)[0]
    w = AnnotationWindow(demo_ctx, sign_in(demo_ctx, "Phantom liver CT/PET", EXPERT, "0000"), case.id)
    qtbot.addWidget(w)
    before = np.asarray(w.layer.data).copy()
    assert not w.variants.generate_button.isEnabled()
    assert "2D" in w.variants.status.text()
    w.suggest_button.click()
    assert "2D" in w.status.text()
    np.testing.assert_array_equal(w.layer.data, before)
