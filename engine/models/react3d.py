"""REACT-KD 3D networks: teacher encoders and the lightweight student (sections II-D, II-E).

Documented deviation: the paper's teachers are SwinUNETR encoders; ours are plain 3D CNNs
(conv-InstanceNorm-ReLU stages), because SwinUNETR is not installed here and would not train on
2 CPU cores in minutes. Both nets end in a feature map of ``feature_channels`` channels refined by
:class:`~engine.models.cbam3d.CBAM3D`, global average pooling and a linear classifier. The
student is SegResNet-like (residual units IN-ReLU-Conv-IN-ReLU-Conv, strided-conv downsampling,
1x1 channel changes); its last map is projected (1x1x1) to the teacher's width, so that the
teacher's CBAM3D can be *shared* with it (copied in, and frozen by default) and so that region
nodes of teacher and student live in the same space for the node loss.
"""

from __future__ import annotations

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

from engine.models.cbam3d import CBAM3D

__all__ = ["ReactTeacher3D", "ReactStudent3D"]


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv3d(cin, cout, 3, stride=stride, padding=1), nn.InstanceNorm3d(cout, affine=True),
                         nn.ReLU(inplace=True))


class _Head(nn.Module):
    def __init__(self, channels: int, num_classes: int, dropout: float) -> None:
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, fmap: torch.Tensor) -> torch.Tensor:
        return self.fc(self.drop(fmap.mean(dim=(2, 3, 4))))


class ReactTeacher3D(ModelMixin, ConfigMixin):
    """3D CNN teacher: ``in_channels`` inputs (2 for PET+CT, 1 for low-dose CT) -> class logits.

    Each stage: stride-2 conv (the first stage stride 1) then a conv, both IN + ReLU. The feature
    map (:meth:`feature_map`) has ``channels[-1]`` channels at ``1 / 2**(len(channels)-1)`` of the
    input side. Input (B, C, D, H, W), float.
    """

    config_name = "config.json"

    @register_to_config
    def __init__(self, in_channels: int = 2, num_classes: int = 3, channels: tuple[int, ...] = (16, 32, 64),
                 use_cbam: bool = True, cbam_reduction: int = 8, dropout: float = 0.3) -> None:
        super().__init__()
        stages, prev = [], in_channels
        for i, ch in enumerate(channels):
            stages.append(nn.Sequential(_conv(prev, ch, stride=1 if i == 0 else 2), _conv(ch, ch)))
            prev = ch
        self.stages = nn.Sequential(*stages)
        self.cbam = CBAM3D(prev, cbam_reduction) if use_cbam else nn.Identity()
        self.head = _Head(prev, num_classes, dropout)

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """(B, channels[-1], d, h, w) after CBAM3D."""
        return self.cbam(self.stages(x))

    def forward(self, x: torch.Tensor, return_features: bool = False):
        f = self.feature_map(x)
        logits = self.head(f)
        return (logits, f) if return_features else logits


class _ResUnit(nn.Module):
    def __init__(self, ch: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.InstanceNorm3d(ch, affine=True), nn.ReLU(inplace=True),
                                  nn.Conv3d(ch, ch, 3, padding=1), nn.InstanceNorm3d(ch, affine=True),
                                  nn.ReLU(inplace=True), nn.Conv3d(ch, ch, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ReactStudent3D(ModelMixin, ConfigMixin):
    """Lightweight SegResNet-style student on (CT, PET) channels; missing modalities are zeros.

    Parameters
    ----------
    in_channels
        2: channel 0 CT, channel 1 PET (modality dropout zeroes one of them).
    channels
        Widths of the stages; stage i > 0 starts with a stride-2 conv.
    feature_channels
        Width the last map is projected to (the teacher's ``channels[-1]``).
    freeze_cbam
        Keep the (shared) CBAM3D frozen; :meth:`share_cbam` copies a teacher's weights in.
    """

    config_name = "config.json"

    @register_to_config
    def __init__(self, in_channels: int = 2, num_classes: int = 3, channels: tuple[int, ...] = (8, 16, 32),
                 feature_channels: int = 64, use_cbam: bool = True, cbam_reduction: int = 8,
                 freeze_cbam: bool = True, dropout: float = 0.2) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv3d(in_channels, channels[0], 3, padding=1), _ResUnit(channels[0])]
        for prev, ch in zip(channels[:-1], channels[1:], strict=True):
            layers += [nn.Conv3d(prev, ch, 3, stride=2, padding=1), _ResUnit(ch)]
        self.encoder = nn.Sequential(*layers, nn.InstanceNorm3d(channels[-1], affine=True), nn.ReLU(inplace=True))
        self.adapter = nn.Conv3d(channels[-1], feature_channels, 1)
        self.cbam = CBAM3D(feature_channels, cbam_reduction) if use_cbam else nn.Identity()
        self.head = _Head(feature_channels, num_classes, dropout)

    def share_cbam(self, teacher: ReactTeacher3D) -> None:
        """Copy the teacher's CBAM3D weights in (frozen when ``freeze_cbam``)."""
        if not isinstance(self.cbam, CBAM3D) or not isinstance(teacher.cbam, CBAM3D):
            raise ValueError("both networks need a CBAM3D to share it")
        self.cbam.load_state_dict(teacher.cbam.state_dict())
        self.cbam.requires_grad_(not self.config.freeze_cbam)

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """(B, feature_channels, d, h, w) after the adapter and CBAM3D."""
        return self.cbam(self.adapter(self.encoder(x)))

    def forward(self, x: torch.Tensor, return_features: bool = False):
        f = self.feature_map(x)
        logits = self.head(f)
        return (logits, f) if return_features else logits
