"""Teacher and student CNNs of DiffKD-DCIS (paper section 3.3.1), written by hand.

Teacher: four blocks Conv3x3(pad 1)-ReLU-MaxPool2x2 with 64/128/256/512 channels, then
FC 1024 - Dropout 0.5 - FC 512 - Dropout 0.5 - FC classes.
Student: three blocks with 32/64/128 channels, then FC 256 - Dropout 0.3 - FC classes.
The paper does not say how the feature map reaches the FC head; we flatten it (``head="flatten"``,
which is what "FC 1024" after a conv stack usually means) and offer global average pooling
(``head="gap"``). Neither gives the paper's 37.3 % parameter ratio: see ``engine/README.md``.
"""

from __future__ import annotations

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

__all__ = ["ConvClassifier", "teacher_config", "student_config"]


class ConvClassifier(ModelMixin, ConfigMixin):
    """Plain Conv-ReLU-MaxPool stack + MLP head; input (B, 1, H, W) in [0, 1], output logits.

    Parameters
    ----------
    image_size
        Side of the square input, pixels (fixes the flatten width).
    channels
        Output channels of each conv block.
    hidden
        Widths of the hidden FC layers, each followed by ReLU and dropout.
    dropout
        Dropout rate after each hidden FC layer.
    head
        ``"flatten"`` (default) or ``"gap"`` (global average pooling before the FC head).
    """

    config_name = "config.json"

    @register_to_config
    def __init__(
        self,
        image_size: int = 256,
        in_channels: int = 1,
        num_classes: int = 2,
        channels: tuple[int, ...] = (64, 128, 256, 512),
        hidden: tuple[int, ...] = (1024, 512),
        dropout: float = 0.5,
        head: str = "flatten",
    ) -> None:
        super().__init__()
        if head not in ("flatten", "gap"):
            raise ValueError(f"head must be 'flatten' or 'gap', got {head!r}")
        blocks: list[nn.Module] = []
        prev = in_channels
        for ch in channels:
            blocks.append(nn.Sequential(nn.Conv2d(prev, ch, 3, padding=1), nn.ReLU(inplace=True),
                                        nn.MaxPool2d(2, 2)))
            prev = ch
        self.features = nn.ModuleList(blocks)
        side = image_size // 2 ** len(channels)
        flat = prev * side * side if head == "flatten" else prev
        self.pool = nn.Flatten() if head == "flatten" else nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        layers: list[nn.Module] = []
        for width in hidden:
            layers += [nn.Linear(flat, width), nn.ReLU(inplace=True), nn.Dropout(dropout)]
            flat = width
        layers.append(nn.Linear(flat, num_classes))
        self.classifier = nn.Sequential(*layers)

    def feature_maps(self, x: torch.Tensor, n_blocks: int | None = None) -> list[torch.Tensor]:
        """Output of the first ``n_blocks`` conv blocks (all by default); for the perceptual loss,
        FMS and Grad-CAM."""
        maps = []
        for block in self.features[:n_blocks]:
            x = block(x)
            maps.append(x)
        return maps

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Global-average-pooled last conv block, (B, channels[-1]): the FMS feature."""
        return self.feature_maps(x)[-1].mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.features:
            x = block(x)
        return self.classifier(self.pool(x))


def teacher_config(image_size: int, head: str = "flatten") -> dict:
    """Keyword arguments of the paper's teacher for ``image_size``."""
    return dict(image_size=image_size, channels=(64, 128, 256, 512), hidden=(1024, 512),
                dropout=0.5, head=head)


def student_config(image_size: int, head: str = "flatten") -> dict:
    """Keyword arguments of the paper's student for ``image_size``."""
    return dict(image_size=image_size, channels=(32, 64, 128), hidden=(256,), dropout=0.3, head=head)
