"""Gallery tiles of the variants panel: an image with the mask outline, its figures, Accept.

Images are the generator's square output stretched back to the real image's aspect ratio (the
engine resizes without keeping it), so the outline and the lesion sit where they do on the case.
"""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QLabel, QPushButton, QVBoxLayout, QWidget

OUTLINE_RGB = (255, 210, 0)


def _resize(arr: np.ndarray, shape: tuple[int, int], nearest: bool = False) -> np.ndarray:
    from PIL import Image

    img = Image.fromarray(arr)
    return np.asarray(img.resize((shape[1], shape[0]), Image.Resampling.NEAREST if nearest else Image.Resampling.BILINEAR))


def outlined_rgb(image: np.ndarray, mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(h, w, 3) uint8: grey ``image`` in [0, 1] and ``mask`` resized to ``shape``, the mask's edge in yellow."""
    grey = _resize(np.clip(np.round(np.asarray(image) * 255), 0, 255).astype(np.uint8), shape)
    m = _resize((np.asarray(mask) > 0).astype(np.uint8) * 255, shape, nearest=True) > 0
    edge = np.zeros_like(m)
    edge[1:, :] |= m[1:, :] != m[:-1, :]
    edge[:-1, :] |= m[:-1, :] != m[1:, :]
    edge[:, 1:] |= m[:, 1:] != m[:, :-1]
    edge[:, :-1] |= m[:, :-1] != m[:, 1:]
    edge &= m
    rgb = np.repeat(grey[..., None], 3, axis=2)
    rgb[edge] = OUTLINE_RGB
    return np.ascontiguousarray(rgb)


def to_pixmap(rgb: np.ndarray) -> QPixmap:
    h, w, _ = rgb.shape
    qimg = QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888)
    return QPixmap.fromImage(qimg.copy())


def _f(x: float | None, fmt: str) -> str:
    return "-" if x is None or not math.isfinite(x) else format(x, fmt)


def figures_text(m: dict[str, float]) -> str:
    """Up to three lines: similarity to the real image, the ring/inside fidelity, the segmenter's Dice."""
    lines = [f"PSNR {_f(m.get('psnr_db'), '.1f')} dB · SSIM {_f(m.get('ssim'), '.2f')}" if "ssim" in m else "",
             f"contrast {_f(m.get('contrast'), '+.2f')} · pAUC {_f(m.get('pauc'), '.2f')}",
             f"Dice (segmenter vs mask) {_f(m.get('dice'), '.2f')}" if "dice" in m else ""]
    return "\n".join(t for t in lines if t)


class VariantTile(QWidget):
    """One image of the gallery; ``accept_requested(index)`` when its button is pressed."""

    accept_requested = Signal(int)

    def __init__(self, index: int, title: str, rgb: np.ndarray, figures: dict[str, float],
                 acceptable: bool = True) -> None:
        super().__init__()
        self.index = index
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.setSpacing(1)
        self.picture = QLabel()
        self.picture.setPixmap(to_pixmap(rgb))
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.caption = QLabel(f"<b>{title}</b>")
        self.figures = QLabel(figures_text(figures))
        self.figures.setStyleSheet("font-size: 10px;")
        self.figures.setToolTip("PSNR/SSIM: against the real image at the generator's size. contrast: mean of "
                                "a 4-px ring outside the mask minus the inside (real BUSI lesions: about "
                                "+0.25). pAUC: P(ring pixel brighter than inside pixel), chance 0.5. Dice: "
                                "the lesion segmenter's mask of this image against the mask.")
        for w in (self.picture, self.caption, self.figures):
            lay.addWidget(w)
        self.accept_button: QPushButton | None = None
        if acceptable:
            self.accept_button = QPushButton("Accept")
            self.accept_button.setToolTip("Store this image as a synthetic image of the case, with its provenance")
            self.accept_button.clicked.connect(lambda: self.accept_requested.emit(self.index))
            lay.addWidget(self.accept_button)

    def mark_accepted(self) -> None:
        if self.accept_button is not None:
            self.accept_button.setText("Accepted ✓")
            self.accept_button.setEnabled(False)
