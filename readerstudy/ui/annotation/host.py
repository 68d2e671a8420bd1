"""What the annotation window offers to the panels it holds (a Protocol, so panels never import it).

Panels of ``ui/annotation`` receive a host at construction and read these attributes *at the time of
use*, because the window swaps its layer on reload. The window (``readerstudy.ui.annotation_window``)
imports the panels; the panels import only this Protocol, so the import graph has no circle
(checked by an import-linter contract in ``pyproject.toml`` and by ``tests/ui/test_annotation_imports.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import numpy as np
    import pyqtgraph as pg
    from PySide6.QtCore import QRectF

    from readerstudy.core.annotation import AnnotationLayer
    from readerstudy.core.models import ImageAsset
    from readerstudy.services.auth import UserSession
    from readerstudy.services.context import AppContext


class AnnotationHost(Protocol):
    """The annotation editor as its panels see it.

    Attributes
    ----------
    ctx, session, case_id, annotator
        Where to load and save, and as whom (the signed-in annotator or coordinator).
    layer
        The :class:`~readerstudy.core.annotation.AnnotationLayer` being edited, (z, y, x) labels.
    pixels
        The case's image as float32 (z, y, x) (2D images: z = 1), in stored modality units.
    levels
        The display window as (low, high) in the same units as ``pixels``.
    axis, index
        The plane shown (0 axial, 1 coronal, 2 sagittal: the normal axis) and its slice.
    indices
        The crosshair voxel (z, y, x): the slice shown on each plane.
    asset
        The case's :class:`~readerstudy.core.models.ImageAsset` (``invert`` for MONOCHROME1).
    vb
        The pyqtgraph ViewBox of the editing view, for overlay items.
    """

    ctx: AppContext
    session: UserSession
    case_id: str
    annotator: str
    layer: AnnotationLayer
    pixels: np.ndarray
    levels: tuple[float, float]
    axis: int
    indices: list[int]
    asset: ImageAsset
    vb: pg.ViewBox

    @property
    def index(self) -> int: ...

    def view_rect(self) -> QRectF: ...

    def show_message(self, text: str) -> None: ...
