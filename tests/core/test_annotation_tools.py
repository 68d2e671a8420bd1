"""Painting tools of AnnotationLayer on shapes whose pixel count is known exactly."""

from __future__ import annotations

import numpy as np
import pytest

from readerstudy.core.annotation import AnnotationLayer, Box, LabelSet
from readerstudy.core.errors import NotFoundError, ValidationError

TUMOUR = LabelSet.preset("tumour")
GLEASON = LabelSet.preset("gleason")


def disk_count(r: float) -> int:
    k = int(np.ceil(r))
    yy, xx = np.mgrid[-k : k + 1, -k : k + 1]
    return int(np.count_nonzero(yy**2 + xx**2 <= r * r))


@pytest.mark.parametrize("r", [0, 1, 2.5, 7, 20])
def test_disk_brush_paints_exactly_the_lattice_disk(r: float) -> None:
    layer = AnnotationLayer.empty((64, 64), TUMOUR)
    layer.paint((0, 32, 32), r)
    assert layer.voxel_counts()[1] == disk_count(r)
    ys, xs = np.nonzero(layer.data[0])
    assert np.all((ys - 32) ** 2 + (xs - 32) ** 2 <= r * r)


def test_disk_clipped_at_the_border_and_box_reported() -> None:
    layer = AnnotationLayer.empty((20, 20), TUMOUR)
    boxes: list[Box] = []
    layer.data_changed.connect(boxes.append)
    layer.paint((0, 0, 0), 5)
    yy, xx = np.mgrid[0:6, 0:6]
    assert layer.voxel_counts()[1] == np.count_nonzero(yy**2 + xx**2 <= 25)
    assert boxes == [Box((0, 0, 0), (1, 6, 6))]


def test_mm_brush_is_an_ellipse_in_index_space() -> None:
    layer = AnnotationLayer.empty((1, 80, 80), TUMOUR, spacing=(3.0, 0.5, 1.0))
    layer.paint((0, 40, 40), 5.0, unit="mm")
    yy, xx = np.mgrid[-20:21, -20:21]
    expected = np.count_nonzero((yy * 0.5) ** 2 + (xx * 1.0) ** 2 <= 25.0)
    assert layer.voxel_counts()[1] == expected
    assert layer.area_mm2(1) == pytest.approx(expected * 0.5)
    with pytest.raises(ValidationError):
        AnnotationLayer.empty((8, 8), TUMOUR).paint((0, 4, 4), 2, unit="mm")


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_brush_on_each_orthogonal_plane_stays_on_its_slice(axis: int) -> None:
    layer = AnnotationLayer.empty((30, 40, 50), TUMOUR)
    center = [15, 20, 25]
    layer.paint(center, 6, axis=axis)
    assert layer.voxel_counts()[1] == disk_count(6)
    assert layer.annotated_slices(1, axis=axis) == [center[axis]]
    assert np.count_nonzero(layer.get_slice(axis, center[axis])) == disk_count(6)


def test_sphere_brush_and_volume_in_ml() -> None:
    layer = AnnotationLayer.empty((30, 30, 30), TUMOUR, spacing=(2.0, 1.0, 1.0))
    layer.paint((15, 15, 15), 6.0, unit="mm", sphere=True)
    zz, yy, xx = np.mgrid[-3:4, -6:7, -6:7]
    n = np.count_nonzero((2 * zz) ** 2 + yy**2 + xx**2 <= 36)
    assert layer.voxel_counts()[1] == n
    assert layer.volume_ml(1) == pytest.approx(n * 2.0 / 1000.0)


def test_stroke_connects_successive_positions_without_gaps() -> None:
    layer = AnnotationLayer.empty((1, 50, 100), TUMOUR)
    layer.begin_stroke()
    layer.paint((0, 25, 10), 3)
    layer.paint((0, 25, 90), 3)  # one big jump: the segment between is painted
    layer.end_stroke()
    row = layer.data[0, 25]
    assert row[7:94].all() and not row[:7].any() and not row[94:].any()
    # capsule = two half disks + a 7 x 81 band
    assert layer.voxel_counts()[1] == disk_count(3) + 7 * 80
    assert layer.undo_description == "paint"


def test_polygon_fill_of_rectangle_is_exact_and_on_all_planes() -> None:
    layer = AnnotationLayer.empty((12, 40, 50), GLEASON)
    layer.fill_polygon([(5, 7), (5, 30), (20, 30), (20, 7)], axis=0, index=3, label=3)
    assert layer.voxel_counts()[3] == 16 * 24
    assert layer.data[3, 5:21, 7:31].all()
    layer.fill_polygon([(1, 2), (1, 9), (4, 9), (4, 2)], axis=2, index=45, label=2)
    assert layer.voxel_counts()[2] == 4 * 8
    assert layer.data[1:5, 2:10, 45].all()


def test_polygon_fill_triangle_matches_point_in_polygon() -> None:
    layer = AnnotationLayer.empty((60, 60), TUMOUR)
    tri = np.array([(5.3, 4.1), (50.7, 20.2), (30.5, 55.9)])
    layer.fill_polygon(tri)
    yy, xx = np.mgrid[0:60, 0:60]

    def side(a, b):  # cross product sign of each pixel centre against edge a->b
        return (b[0] - a[0]) * (xx - a[1]) - (b[1] - a[1]) * (yy - a[0])

    s1, s2, s3 = side(tri[0], tri[1]), side(tri[1], tri[2]), side(tri[2], tri[0])
    inside = ((s1 >= 0) & (s2 >= 0) & (s3 >= 0)) | ((s1 <= 0) & (s2 <= 0) & (s3 <= 0))
    np.testing.assert_array_equal(layer.data[0].astype(bool), inside)


def test_flood_fill_stops_at_boundaries_per_slice_and_in_3d() -> None:
    layer = AnnotationLayer.empty((4, 20, 20), GLEASON)
    # ring of label 1 on slices 0-2 splits each slice into inside and outside
    ring = [(2, 2), (2, 17), (17, 17), (17, 2)]
    for z in range(3):
        layer.fill_polygon(ring, index=z, label=1)
        layer.fill_polygon([(4, 4), (4, 15), (15, 15), (15, 4)], index=z, label=0)
    inside = 12 * 12  # the erased square 4..15 is inclusive
    layer.flood_fill((1, 9, 9), label=2)
    assert layer.voxel_counts()[2] == inside
    assert layer.annotated_slices(2) == [1]
    layer.undo()
    layer.flood_fill((1, 9, 9), label=2, three_d=True)  # slice 3 is open: leaks into the outside
    outside_per_slice = 400 - 16 * 16
    assert layer.voxel_counts()[2] == 3 * inside + 3 * outside_per_slice + 400
    layer.undo()
    layer.flood_fill((0, 9, 9), label=4, three_d=True, axis=0)
    assert layer.voxel_counts()[4] == 3 * inside + 3 * outside_per_slice + 400


def test_flood_fill_diagonal_is_not_connected() -> None:
    data = np.zeros((5, 5), np.uint8)
    data[np.arange(5), np.arange(5)] = 1
    layer = AnnotationLayer(data, TUMOUR)
    layer.flood_fill((0, 0, 4), label=1)
    # upper-right triangle only (face connectivity does not cross the diagonal)
    assert layer.voxel_counts()[1] == 5 + 10


def test_threshold_brush_respects_the_intensity_range() -> None:
    img = np.tile(np.arange(100, dtype=np.float32), (100, 1))  # intensity = column
    layer = AnnotationLayer.empty((100, 100), TUMOUR, image=img)
    layer.intensity_range = (45, 55)
    layer.paint((0, 50, 50), 20)
    ys, xs = np.nonzero(layer.data[0])
    assert xs.min() == 45 and xs.max() == 55
    yy, xx = np.mgrid[0:100, 0:100]
    expected = ((yy - 50) ** 2 + (xx - 50) ** 2 <= 400) & (xx >= 45) & (xx <= 55)
    np.testing.assert_array_equal(layer.data[0].astype(bool), expected)
    with pytest.raises(ValidationError):
        layer.intensity_range = (5, 1)
    with pytest.raises(ValidationError):
        AnnotationLayer.empty((4, 4), TUMOUR).intensity_range = (0, 1)


def test_preserve_other_labels_paints_only_background() -> None:
    layer = AnnotationLayer.empty((40, 40), GLEASON)
    layer.paint((0, 20, 20), 8, label=2)
    before = layer.data.copy()
    layer.preserve_other_labels = True
    layer.active_label = 3
    layer.paint((0, 20, 28), 8)
    assert np.all(layer.data[before == 2] == 2)
    assert layer.voxel_counts()[3] > 0
    layer.active_label = 3
    layer.erase((0, 20, 20), 19)  # erases only GG4 (the active label) in preserve mode
    assert layer.voxel_counts()[3] == 0 and layer.voxel_counts()[2] == disk_count(8)
    layer.preserve_other_labels = False
    layer.erase((0, 20, 20), 19)
    assert layer.voxel_counts()[2] == 0


def test_bad_input_is_rejected_and_changes_nothing() -> None:
    layer = AnnotationLayer.empty((10, 10), TUMOUR)
    with pytest.raises(NotFoundError):
        layer.paint((0, 5, 5), 2, label=7)
    with pytest.raises(ValidationError):
        layer.paint((0, 5, float("nan")), 2)
    with pytest.raises(ValidationError):
        layer.fill_polygon([(1, 1), (2, 2)])
    with pytest.raises(ValidationError):
        layer.apply_patch((0, 5, 5), np.ones((1, 8, 8), np.uint8))
    with pytest.raises(ValidationError):
        AnnotationLayer(np.full((4, 4), 9, np.uint8), TUMOUR)
    with pytest.raises(ValidationError):
        AnnotationLayer.empty((4, 4), TUMOUR, image=np.zeros((5, 5)))
    assert layer.voxel_counts()[1] == 0 and not layer.can_undo


def test_display_lut_and_label_presets() -> None:
    layer = AnnotationLayer.empty((4, 4), GLEASON)
    events: list[int] = []
    layer.display.changed.connect(events.append)
    layer.display.set_opacity(2, 1.0)
    layer.display.set_visible(3, False)
    lut = layer.display.rgba_lut()
    assert lut.shape == (5, 4) and lut[0, 3] == 0 and lut[2, 3] == 255 and lut[3, 3] == 0
    assert tuple(lut[2, :3]) == GLEASON.get(2).color and lut[1, 3] == 128
    assert events == [2, 3]
    labels = np.array([[0, 1], [2, 3]], np.uint8)
    np.testing.assert_array_equal(layer.display.colorize(labels), lut[labels])
    assert [lab.name for lab in LabelSet.preset("liver_tumour")] == ["liver", "tumour"]
    assert LabelSet.from_dict(GLEASON.to_dict()) == GLEASON
    with pytest.raises(ValidationError):
        layer.display.set_opacity(1, 1.5)


def test_apply_patch_is_one_undo_step_and_saved_state() -> None:
    layer = AnnotationLayer.empty((3, 10, 10), GLEASON)
    assert not layer.is_modified
    patch = np.zeros((2, 4, 4), np.uint8)
    patch[:, 1:3, 1:3] = 4
    layer.apply_patch((1, 2, 2), patch, description="interpolate")
    assert layer.voxel_counts()[4] == 8 and layer.undo_description == "interpolate"
    assert layer.is_modified
    layer.mark_saved()
    assert not layer.is_modified
    layer.undo()
    assert layer.is_modified and layer.voxel_counts()[4] == 0
    layer.redo()
    assert not layer.is_modified and layer.voxel_counts()[4] == 8


def test_brush_touches_only_its_box_and_is_fast_on_a_large_volume() -> None:
    import time

    layer = AnnotationLayer.empty((200, 512, 512), TUMOUR)
    boxes: list[Box] = []
    layer.data_changed.connect(boxes.append)
    times = []
    layer.begin_stroke()
    for i in range(60):
        t0 = time.perf_counter()
        layer.paint((100, 100 + 3 * i, 200 + i), 15)
        times.append(time.perf_counter() - t0)
    layer.end_stroke()
    assert all(b.shape[0] == 1 and b.shape[1] <= 31 + 3 and b.shape[2] <= 31 + 1 for b in boxes)
    assert float(np.median(times)) < 0.016  # the 16 ms frame budget, with a wide margin
    assert layer.history_nbytes < 100_000  # diffs, not a 52 MB snapshot
