"""CBAM3D: the 3D Convolutional Block Attention Module (Woo et al. 2018, extended to volumes) of
REACT-KD (section II-F).

Channel attention: a shared MLP (C -> C/r -> C) on the global average- and max-pooled features,
summed, sigmoid. Spatial attention: a ``k^3`` convolution (default 7) over the channel-wise mean
and max maps, sigmoid. Applied in that order, each as a multiplicative gate, so the output has
the input's shape (B, C, D, H, W).
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["CBAM3D"]


class CBAM3D(nn.Module):
    """Channel then spatial attention on (B, C, D, H, W); output of the same shape.

    Parameters
    ----------
    channels
        C.
    reduction
        MLP reduction ratio r (hidden width ``max(1, C // r)``).
    spatial_kernel
        Side of the cubic spatial-attention kernel (odd).
    """

    def __init__(self, channels: int, reduction: int = 8, spatial_kernel: int = 7) -> None:
        super().__init__()
        if spatial_kernel % 2 != 1:
            raise ValueError("spatial_kernel must be odd")
        hidden = max(1, channels // reduction)
        self.mlp = nn.Sequential(nn.Conv3d(channels, hidden, 1), nn.ReLU(inplace=True), nn.Conv3d(hidden, channels, 1))
        self.spatial = nn.Conv3d(2, 1, spatial_kernel, padding=spatial_kernel // 2)

    def channel_gate(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, 1, 1, 1) channel weights in (0, 1)."""
        avg = x.mean(dim=(2, 3, 4), keepdim=True)
        mx = x.amax(dim=(2, 3, 4), keepdim=True)
        return torch.sigmoid(self.mlp(avg) + self.mlp(mx))

    def spatial_gate(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, D, H, W) spatial weights in (0, 1)."""
        return torch.sigmoid(self.spatial(torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], 1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x * self.channel_gate(x)
        return x * self.spatial_gate(x)
