"""A small multi-label segmenter (2-level U-Net) used to *measure* mask fidelity of generated images.

Trained on real images with their K-label masks, it labels each pixel of a generated image; the
Dice between its labels and the mask the image was conditioned on says whether the generator put
each label's pattern where the mask asked (see :mod:`engine.metrics.label_fidelity`). It is a
measuring instrument, not one of the papers' models.
"""

from __future__ import annotations

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

__all__ = ["LabelSegmenter"]


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.GroupNorm(8, cout), nn.SiLU(),
                         nn.Conv2d(cout, cout, 3, padding=1), nn.GroupNorm(8, cout), nn.SiLU())


class LabelSegmenter(ModelMixin, ConfigMixin):
    """(B, 1, H, W) images in [0, 1] -> (B, K, H, W) label logits; H, W divisible by 4."""

    config_name = "config.json"

    @register_to_config
    def __init__(self, num_labels: int = 5, width: int = 16) -> None:
        super().__init__()
        w = width
        self.enc1, self.enc2, self.mid = _block(1, w), _block(w, 2 * w), _block(2 * w, 4 * w)
        self.pool = nn.MaxPool2d(2)
        self.up2, self.dec2 = nn.ConvTranspose2d(4 * w, 2 * w, 2, stride=2), _block(4 * w, 2 * w)
        self.up1, self.dec1 = nn.ConvTranspose2d(2 * w, w, 2, stride=2), _block(2 * w, w)
        self.head = nn.Conv2d(w, num_labels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e1 = self.enc1(x)
        e2 = self.enc2(self.pool(e1))
        m = self.mid(self.pool(e2))
        d2 = self.dec2(torch.cat([self.up2(m), e2], 1))
        d1 = self.dec1(torch.cat([self.up1(d2), e1], 1))
        return self.head(d1)
