"""Conditional latent U-Net of DiffKD-DCIS (paper sections 3.2.3-3.2.4).

Built from diffusers' :class:`~diffusers.UNet2DConditionModel`, with three parts replaced so that
it matches the paper exactly:

* ``time_proj``: sinusoidal encoding of ``t`` with d = 128 (eq. 10), whatever the block widths;
* ``time_embedding``: MLP 128 -> 512 -> 128 (eq. 11);
* ``class_embedding``: MLP 384 -> 256 -> 128 on the fused condition (eq. 12).

The condition ``c = [c_class; c_mask; c_text]`` (3 x 128) comes from :class:`ConditionEncoder`:
a learned class embedding with one extra *null* class for classifier-free guidance, a small
convolutional encoder of the tumour mask and a linear projection of a cached sentence embedding.
diffusers adds the class embedding to the time embedding, and every ``ResnetBlock2D`` adds that
sum in through ``time_emb_proj``: the paper's "fusion by addition in each residual block".

Documented deviation (off by default): ``concat_mask=True`` also concatenates the mask,
downsampled to the latent grid, to the noisy latent (``in_channels = latent_channels + 1``). A mask
squeezed into 128 numbers does not say where the lesion is.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers import UNet2DConditionModel
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.embeddings import TimestepEmbedding, Timesteps
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

__all__ = ["ConditionEncoder", "ConditionalLatentUNet"]

EMBED_DIM = 128


class ConditionEncoder(nn.Module):
    """Class (+ null), mask and text encoders, concatenated to a 384-d condition.

    Parameters
    ----------
    num_classes
        Number of real classes; index ``num_classes`` is the null class used for CFG.
    text_dim
        Width of the cached sentence embedding (384 for all-MiniLM-L6-v2 and the hashed fallback).
    mask_channels
        Widths of the three stride-2 convolutions of the mask encoder.
    """

    def __init__(self, num_classes: int, text_dim: int, mask_channels: tuple[int, int, int]) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.class_embed = nn.Embedding(num_classes + 1, EMBED_DIM)
        c1, c2, c3 = mask_channels
        self.mask_encoder = nn.Sequential(
            nn.Conv2d(1, c1, 3, stride=2, padding=1), nn.SiLU(),
            nn.Conv2d(c1, c2, 3, stride=2, padding=1), nn.SiLU(),
            nn.Conv2d(c2, c3, 3, stride=2, padding=1), nn.SiLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c3, EMBED_DIM),
        )
        self.text_proj = nn.Linear(text_dim, EMBED_DIM)

    def forward(self, labels: torch.Tensor, masks: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """(B,) int labels, (B, 1, H, W) masks in {0, 1}, (B, text_dim) -> (B, 384)."""
        return torch.cat(
            [self.class_embed(labels), self.mask_encoder(masks), self.text_proj(text)], dim=1
        )


class ConditionalLatentUNet(ModelMixin, ConfigMixin):
    """Epsilon-prediction U-Net on VAE latents, conditioned on class, mask and text.

    Call as ``model(z_t, t, labels, masks, text)``; returns the predicted noise, shape of ``z_t``.
    ``labels == num_classes`` is the null class. For the unconditional branch of CFG use
    :meth:`null_condition`.
    """

    config_name = "config.json"

    @register_to_config
    def __init__(
        self,
        latent_size: int = 32,
        latent_channels: int = 16,
        block_out_channels: tuple[int, ...] = (128, 256, 512),
        down_block_types: tuple[str, ...] = ("DownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D"),
        up_block_types: tuple[str, ...] = ("AttnUpBlock2D", "AttnUpBlock2D", "UpBlock2D"),
        layers_per_block: int = 2,
        norm_num_groups: int = 32,
        attention_head_dim: int = 8,
        num_classes: int = 2,
        text_dim: int = 384,
        text_encoder: str = "hashed",
        mask_channels: tuple[int, int, int] = (16, 32, 64),
        concat_mask: bool = False,
    ) -> None:
        super().__init__()
        in_ch = latent_channels + (1 if concat_mask else 0)
        self.unet = UNet2DConditionModel(
            sample_size=latent_size,
            in_channels=in_ch,
            out_channels=latent_channels,
            down_block_types=tuple(down_block_types),
            up_block_types=tuple(up_block_types),
            mid_block_type="UNetMidBlock2D",
            block_out_channels=tuple(block_out_channels),
            layers_per_block=layers_per_block,
            norm_num_groups=norm_num_groups,
            attention_head_dim=attention_head_dim,
            class_embed_type="projection",
            projection_class_embeddings_input_dim=3 * EMBED_DIM,
            time_embedding_dim=EMBED_DIM,
        )
        # Paper eq. 10-12, independent of block_out_channels[0].
        self.unet.time_proj = Timesteps(EMBED_DIM, flip_sin_to_cos=True, downscale_freq_shift=0)
        self.unet.time_embedding = TimestepEmbedding(EMBED_DIM, 512, out_dim=EMBED_DIM)
        self.unet.class_embedding = TimestepEmbedding(3 * EMBED_DIM, 256, out_dim=EMBED_DIM)
        self.condition = ConditionEncoder(num_classes, text_dim, tuple(mask_channels))

    @property
    def null_label(self) -> int:
        return int(self.config.num_classes)

    def null_condition(self, labels: torch.Tensor, masks: torch.Tensor, text: torch.Tensor):
        """The CFG null condition with the same shapes: null class, empty mask, zero text."""
        return torch.full_like(labels, self.null_label), torch.zeros_like(masks), torch.zeros_like(text)

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor, labels: torch.Tensor,
                masks: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """Predict the noise of ``sample`` (B, C, h, w) at ``timestep`` (B,) or scalar.

        ``masks`` are (B, 1, H, W) at image resolution, values in {0, 1}.
        """
        cond = self.condition(labels, masks, text)
        if self.config.concat_mask:
            small = F.interpolate(masks, size=sample.shape[-2:], mode="area")
            sample = torch.cat([sample, small], dim=1)
        return self.unet(sample, timestep, encoder_hidden_states=None, class_labels=cond).sample
