"""Slice interpolation, clean-up and volumes on synthetic shapes."""

from __future__ import annotations

import numpy as np
import pytest

from readerstudy.core.annotation import AnnotationLayer, LabelSet
from readerstudy.core.errors import ValidationError
from readerstudy.imaging.mask_agreement import dice
from readerstudy.imaging.mask_ops import (
    binary_closing,
    clean_label,
    interpolate_between_slices,
    label_volumes,
    largest_connected_component,
    remove_small_components,
)


def sphere(shape, center, radius, spacing=(1.0, 1.0, 1.0)) -> np.ndarray:
    zz, yy, xx = np.indices(shape, dtype=float)
    d2 = sum(((g - c) * s) ** 2 for g, c, s in zip((zz, yy, xx), center, spacing, strict=True))
    return d2 <= radius**2


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (2.5, 0.8, 0.8)])
def test_interpolated_sphere_slices_match_true_cross_sections(spacing) -> None:
    shape = (40, 64, 64)
    truth = sphere(shape, (20, 32, 32), 16.0 * spacing[0] if spacing[0] > 1 else 16.0, spacing)
    z_annot = np.flatnonzero(truth.any(axis=(1, 2)))
    step = 4
    keep = list(range(int(z_annot[0]) + 2, int(z_annot[-1]) - 1, step))
    sparse = np.zeros(shape, np.uint8)
    sparse[keep] = truth[keep].astype(np.uint8) * 2
    sparse[5, 0:3, 0:3] = 1  # another label must survive
    out = interpolate_between_slices(sparse, 2, spacing=spacing)
    assert out[5, 0:3, 0:3].tolist() == [[1] * 3] * 3
    assert np.array_equal(out[keep], sparse[keep])  # annotated slices untouched
    filled = [z for z in range(keep[0] + 1, keep[-1]) if z not in keep]
    assert filled
    for z in filled:
        assert dice(out[z] == 2, truth[z]) > 0.9, z
    # the naive "copy the nearest slice" would be worse than interpolation overall
    assert dice(out[keep[0]:keep[-1]] == 2, truth[keep[0]:keep[-1]]) > 0.95
    assert sparse[filled].sum() == 0  # input not modified


def test_interpolation_along_other_axes_and_as_one_undo_step() -> None:
    shape = (30, 30, 30)
    truth = sphere(shape, (15, 15, 15), 10.0)
    layer = AnnotationLayer.empty(shape, LabelSet.preset("tumour"))
    for x in (8, 15, 22):
        layer.apply_patch((0, 0, x), truth[:, :, x:x + 1].astype(np.uint8))
    layer.transform(lambda lab: interpolate_between_slices(lab, 1, axis=2), description="interpolate")
    assert layer.annotated_slices(1, axis=2) == list(range(8, 23))
    assert dice(layer.data[:, :, 8:23] == 1, truth[:, :, 8:23]) > 0.9
    layer.undo()
    assert layer.annotated_slices(1, axis=2) == [8, 15, 22]


def test_largest_component_closing_and_small_components() -> None:
    m = np.zeros((1, 40, 40), bool)
    m[0, 5:25, 5:25] = True
    m[0, 30:33, 30:33] = True
    m[0, 14, 7:23] = False  # a one-pixel crack: closing must seal it
    lcc = largest_connected_component(m)
    assert lcc.sum() == 20 * 20 - 16 and not lcc[0, 31, 31]
    closed = binary_closing(lcc, 1)
    assert closed[0, 5:25, 5:25].all() and closed.sum() == 400
    assert remove_small_components(m, 10).sum() == 384
    labels = m.astype(np.uint8)
    labels[0, 0:3, 0:3] = 2
    cleaned = clean_label(labels, 1)
    assert (cleaned == 1).sum() == 400 and (cleaned == 2).sum() == 9


def test_label_volumes_in_ml() -> None:
    labels = np.zeros((10, 10, 10), np.uint8)
    labels[0:2, 0:5, 0:5] = 1
    labels[5, 5:7, 5:7] = 2
    labels[8, 8, 8] = 2
    vols = label_volumes(labels, (2.0, 0.5, 0.5))
    assert vols[1].voxels == 50 and vols[1].volume_ml == pytest.approx(50 * 0.5 / 1000)
    assert vols[2].components == 2 and vols[2].to_dict()["voxels"] == 5
    with pytest.raises(ValidationError):
        label_volumes(labels, None)
