"""Changing the label set of a layer being edited: kept display, refused drops, modified until saved."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from readerstudy.core.annotation import AnnotationLayer
from readerstudy.core.annotation_labels import Label, LabelSet
from readerstudy.core.errors import ValidationError


def test_set_label_set_adds_renames_and_marks_the_layer_modified() -> None:
    ls = LabelSet.preset("liver_tumour")
    layer = AnnotationLayer.empty((2, 8, 8), ls)
    layer.paint((0, 4, 4), 1, label=2)
    layer.mark_saved()
    layer.display.set_visible(2, False)
    events = []
    layer.history_changed.connect(lambda: events.append(1))
    new = LabelSet(ls.name, (ls.get(1), replace(ls.get(2), name="HCC", color=(1, 2, 3)), Label(3, "vessel", (0, 0, 9))))
    layer.set_label_set(new)
    assert layer.label_set == new and layer.is_modified and events == [1]
    assert not layer.display[2].visible and layer.display[3].visible  # kept / new
    assert tuple(layer.display.rgba_lut()[3]) == (0, 0, 9, round(255 * layer.display[3].opacity))
    layer.mark_saved()
    assert not layer.is_modified


def test_set_label_set_refuses_dropping_painted_labels_and_ids_that_do_not_fit() -> None:
    ls = LabelSet.preset("liver_tumour")
    layer = AnnotationLayer.empty((1, 8, 8), ls)
    layer.paint((0, 4, 4), 1, label=2)
    layer.mark_saved()
    with pytest.raises(ValidationError, match="tumour still have painted voxels"):
        layer.set_label_set(LabelSet("x", (ls.get(1),)))
    with pytest.raises(ValidationError, match="does not fit"):
        layer.set_label_set(LabelSet("x", (*ls.labels, Label(300, "big", (1, 1, 1)))))
    assert layer.label_set == ls and not layer.is_modified
    assert np.count_nonzero(layer.data) > 0
