"""DISC latent U-Net: a multi-label mask condition through cross-attention (DISC paper eq. 1).

The condition encoder ``tau_theta`` of the paper is :class:`MaskTokenizer`: strided convolutions
over the K-channel one-hot mask down to a ``token_grid x token_grid`` map, a 1x1 projection to
``token_dim`` and a learned positional embedding per grid cell, so every token knows *where* it
is. The tokens feed diffusers' :class:`~diffusers.UNet2DConditionModel` cross-attention blocks
(``CrossAttnDownBlock2D``/``CrossAttnUpBlock2D`` and the cross-attention mid block);
``tau_theta`` and ``eps_theta`` are trained jointly.

For separated-conditions sampling the tokens of the K single-label full masks are computed once
(:meth:`DISCLatentUNet.tokens`) and reused at every step (:meth:`DISCLatentUNet.forward_tokens`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers import UNet2DConditionModel
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

__all__ = ["MaskTokenizer", "DISCLatentUNet", "one_hot_masks"]


def one_hot_masks(labels: torch.Tensor, num_labels: int) -> torch.Tensor:
    """(B, H, W) integer labels in [0, num_labels) -> (B, K, H, W) float one-hot."""
    if labels.dtype.is_floating_point:
        raise TypeError("labels must be an integer tensor")
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= num_labels):
        raise ValueError(f"labels must lie in [0, {num_labels}), got [{int(labels.min())}, {int(labels.max())}]")
    return F.one_hot(labels.long(), num_labels).permute(0, 3, 1, 2).float()


class MaskTokenizer(nn.Module):
    """One-hot mask (B, K, H, W) -> tokens (B, token_grid**2, token_dim).

    ``log2(H / token_grid)`` stride-2 3x3 convolutions (SiLU) with widths ``channels`` (the last
    width repeats if more are needed), a 1x1 projection, LayerNorm and a learned positional
    embedding.
    """

    def __init__(self, num_labels: int, image_size: int, token_grid: int, token_dim: int,
                 channels: tuple[int, ...]) -> None:
        super().__init__()
        n_down = max(0, (image_size // token_grid).bit_length() - 1)
        if token_grid * 2 ** n_down != image_size:
            raise ValueError(f"image_size {image_size} must be token_grid {token_grid} times a power of 2")
        layers: list[nn.Module] = []
        prev = num_labels
        for i in range(n_down):
            ch = channels[min(i, len(channels) - 1)]
            layers += [nn.Conv2d(prev, ch, 3, stride=2, padding=1), nn.SiLU()]
            prev = ch
        layers.append(nn.Conv2d(prev, token_dim, 1))
        self.net = nn.Sequential(*layers)
        self.norm = nn.LayerNorm(token_dim)
        self.pos = nn.Parameter(torch.randn(1, token_grid * token_grid, token_dim) * 0.02)

    def forward(self, onehot: torch.Tensor) -> torch.Tensor:
        x = self.net(onehot).flatten(2).transpose(1, 2)
        return self.norm(x) + self.pos


class DISCLatentUNet(ModelMixin, ConfigMixin):
    """Epsilon-prediction U-Net on VAE latents, conditioned by a K-label mask through cross-attention.

    Call as ``model(z_t, t, onehot)`` with ``onehot`` (B, K, H, W) at image resolution (see
    :func:`one_hot_masks`); returns the predicted noise, shape of ``z_t``.

    Parameters
    ----------
    latent_size, latent_channels
        Latent grid side and channels (the VAE's).
    image_size
        Side of the mask given to the tokenizer, pixels.
    num_labels
        K (paper: 4, non-cancer/GG3/GG4/GG5).
    token_grid, token_dim, tokenizer_channels
        Tokens per side (``token_grid**2`` tokens), token width (= ``cross_attention_dim``),
        widths of the tokenizer's strided convolutions.
    block_out_channels, down_block_types, up_block_types, layers_per_block, norm_num_groups,
    attention_head_dim
        Passed to :class:`~diffusers.UNet2DConditionModel`.
    """

    config_name = "config.json"

    @register_to_config
    def __init__(
        self,
        latent_size: int = 32,
        latent_channels: int = 4,
        image_size: int = 256,
        num_labels: int = 4,
        token_grid: int = 8,
        token_dim: int = 256,
        tokenizer_channels: tuple[int, ...] = (32, 64, 128, 256),
        block_out_channels: tuple[int, ...] = (128, 256, 512),
        down_block_types: tuple[str, ...] = ("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types: tuple[str, ...] = ("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        layers_per_block: int = 2,
        norm_num_groups: int = 32,
        attention_head_dim: int = 8,
    ) -> None:
        super().__init__()
        self.tokenizer = MaskTokenizer(num_labels, image_size, token_grid, token_dim, tuple(tokenizer_channels))
        self.unet = UNet2DConditionModel(
            sample_size=latent_size, in_channels=latent_channels, out_channels=latent_channels,
            down_block_types=tuple(down_block_types), up_block_types=tuple(up_block_types),
            mid_block_type="UNetMidBlock2DCrossAttn", block_out_channels=tuple(block_out_channels),
            layers_per_block=layers_per_block, norm_num_groups=norm_num_groups,
            attention_head_dim=attention_head_dim, cross_attention_dim=token_dim,
        )

    def tokens(self, onehot: torch.Tensor) -> torch.Tensor:
        """Condition tokens (B, token_grid**2, token_dim) of one-hot masks (B, K, H, W)."""
        return self.tokenizer(onehot)

    def single_label_onehots(self, labels: list[int] | torch.Tensor, device=None) -> torch.Tensor:
        """One-hot *full* masks ``sm_k`` (every pixel label k), (len(labels), K, H, W)."""
        k = int(self.config.num_labels)
        s = int(self.config.image_size)
        lab = torch.as_tensor(labels, dtype=torch.long, device=device)
        return F.one_hot(lab, k).float()[:, :, None, None].expand(-1, -1, s, s).contiguous()

    def forward_tokens(self, sample: torch.Tensor, timestep: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """Predicted noise with precomputed condition ``tokens``."""
        return self.unet(sample, timestep, encoder_hidden_states=tokens).sample

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor, onehot: torch.Tensor) -> torch.Tensor:
        return self.forward_tokens(sample, timestep, self.tokens(onehot))
