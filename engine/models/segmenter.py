"""Small 2D lesion segmenter: MONAI's residual U-Net behind diffusers' ``save_pretrained``.

Used twice: as the segmentation-based mask-fidelity metric of generated images (Dice between its
mask of a generated image and the conditioning mask, :mod:`engine.metrics.mask_fidelity`) and as the
annotation window's "Suggest mask" draft. Input: (B, 1, S, S) grey images in [0, 1] at
``image_size``; output: (B, 1, S, S) logits of "lesion".

Built from :class:`monai.networks.nets.UNet` (Kerfoot et al. residual units; no pretrained
weights exist or are needed: it trains from scratch on the cases given).
"""

from __future__ import annotations

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin

__all__ = ["LesionSegmenter"]


class LesionSegmenter(ModelMixin, ConfigMixin):
    """Binary lesion segmenter on square grey images.

    Parameters
    ----------
    image_size
        Side of the square input, pixels (images are resized to it by the pipeline).
    channels
        Feature widths of the U-Net levels; ``len(channels) - 1`` stride-2 down-samplings.
    num_res_units
        Residual units per level (MONAI ``UNet``).
    dropout
        Dropout probability inside the units.
    """

    config_name = "config.json"

    @register_to_config
    def __init__(self, image_size: int = 64, channels: tuple[int, ...] = (16, 32, 64, 128, 256),
                 num_res_units: int = 2, dropout: float = 0.1) -> None:
        super().__init__()
        from monai.networks.nets import UNet

        if image_size % 2 ** (len(channels) - 1):
            raise ValueError(f"image_size {image_size} must be divisible by 2**{len(channels) - 1}")
        self.net = UNet(spatial_dims=2, in_channels=1, out_channels=1, channels=tuple(channels),
                        strides=(2,) * (len(channels) - 1), num_res_units=num_res_units, dropout=dropout,
                        norm="batch")

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 1, S, S) images in [0, 1] -> (B, 1, S, S) lesion logits."""
        return self.net(images * 2.0 - 1.0)
