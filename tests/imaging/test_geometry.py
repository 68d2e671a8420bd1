"""Grids in patient space: tolerance, overlap, masks placed on the image grid (resampled or refused)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from readerstudy.core.errors import ValidationError
from readerstudy.imaging.geometry import Grid, differences, overlaps, place_mask
from readerstudy.imaging.image_reader import read_nifti_image
from readerstudy.imaging.loaders import load_mask
from readerstudy.imaging.nifti import write_nifti

IMAGE = Grid((3, 4, 5), (2.0, 1.0, 1.0), (0.0, 0.0, 0.0))
MIRROR_X = (-1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)


def _labels() -> np.ndarray:
    lab = np.zeros(IMAGE.shape, np.uint8)
    lab[1, 1:3, 0:2] = 1  # left part of the middle slice
    lab[2, 0, 4] = 2
    return lab


def test_grids_equal_within_tolerance_and_differences_are_named() -> None:
    near = Grid(IMAGE.shape, (2.0 + 1e-4, 1.0, 1.0), (0.005, 0.0, 0.0))
    assert differences(IMAGE, near) == []
    far = Grid(IMAGE.shape, (2.0, 1.0, 1.0), (0.5, 0.0, 0.0), MIRROR_X)
    diff = differences(IMAGE, far)
    assert any(d.startswith("origin") for d in diff) and any(d.startswith("direction") for d in diff)


def test_mirrored_mask_of_the_same_shape_is_put_back_the_right_way_round() -> None:
    truth = _labels()
    # the same voxels stored with x running the other way: index i sits at x = 4 - i
    mirrored = Grid(IMAGE.shape, IMAGE.spacing, (4.0, 0.0, 0.0), MIRROR_X)
    placed, note = place_mask(truth[:, :, ::-1], mirrored, IMAGE, "m.nii.gz")
    np.testing.assert_array_equal(placed, truth)
    assert note is not None and "resampled" in note and "direction" in note


def test_mask_on_another_overlapping_grid_is_resampled_by_nearest_neighbour() -> None:
    fine = Grid((3, 8, 10), (2.0, 0.5, 0.5), (-0.25, -0.25, 0.0))  # each image voxel = 2x2 mask voxels
    lab = np.repeat(np.repeat(_labels(), 2, axis=1), 2, axis=2)
    placed, note = place_mask(lab, fine, IMAGE, "fine.nii.gz")
    np.testing.assert_array_equal(placed, _labels())
    assert note is not None and "spacing" in note


def test_mask_that_does_not_overlap_the_image_is_refused() -> None:
    away = Grid((3, 4, 5), (2.0, 2.0, 2.0), (500.0, 0.0, 0.0))
    assert not overlaps(IMAGE, away)
    with pytest.raises(ValidationError, match="does not overlap the image"):
        place_mask(_labels(), away, IMAGE, "away.nii.gz")


def test_mask_whose_labels_all_fall_outside_the_image_is_refused() -> None:
    shifted = Grid((3, 4, 5), (2.0, 1.0, 1.0), (4.0, 0.0, 0.0))  # overlaps by one column (x = 4)
    lab = np.zeros(IMAGE.shape, np.uint8)
    lab[:, :, 3:] = 1  # at x = 7, 8: outside the image
    with pytest.raises(ValidationError, match="no labelled voxel"):
        place_mask(lab, shifted, IMAGE, "shift.nii.gz")


def test_load_mask_compares_nifti_geometry_with_the_image(tmp_path: Path) -> None:
    write_nifti(np.zeros(IMAGE.shape, np.int16), tmp_path / "img.nii.gz", spacing=IMAGE.spacing)
    image = read_nifti_image(tmp_path / "img.nii.gz")
    write_nifti(_labels()[:, :, ::-1].copy(), tmp_path / "mirror.nii.gz", spacing=IMAGE.spacing,
                origin=(4.0, 0.0, 0.0), direction=MIRROR_X)
    write_nifti(_labels(), tmp_path / "other.nii.gz", spacing=(2.0, 2.0, 2.0), origin=(100.0, 100.0, 100.0))
    result = load_mask([tmp_path / "mirror.nii.gz"], image)
    np.testing.assert_array_equal(result.labels, _labels())
    assert len(result.notes) == 1
    with pytest.raises(ValidationError, match="other.nii.gz: the mask does not overlap the image"):
        load_mask([tmp_path / "other.nii.gz"], image)
