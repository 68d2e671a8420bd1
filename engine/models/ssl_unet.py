"""SSL-guided latent U-Net: self-supervised embeddings as the cross-attention context.

diffusers' :class:`~diffusers.UNet2DConditionModel` with cross-attention blocks whose
``cross_attention_dim`` is the SSL encoder's width. The context is ``(B, N, dim)``: the class
token (N = 1, default) or class + patch tokens. Classifier-free guidance: a learned *null token*
replaces the context of a sample dropped during training (paper: 10 %), and the guided noise is
``eps_u + w * (eps_c - eps_u)`` (:meth:`SSLGuidedUNet.guided`; ``w = 1`` is the conditional
prediction).
"""

from __future__ import annotations

import torch
from diffusers import UNet2DConditionModel
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

__all__ = ["SSLGuidedUNet"]


class SSLGuidedUNet(ModelMixin, ConfigMixin):
    """Epsilon-prediction U-Net conditioned on SSL embeddings; ``model(z_t, t, context)``.

    Parameters
    ----------
    latent_size, latent_channels
        Latent grid (the VAE's).
    context_dim
        Width of the SSL embedding (the encoder's ``dim``; DINO ViT-S: 384).
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
        context_dim: int = 384,
        block_out_channels: tuple[int, ...] = (128, 256, 512),
        down_block_types: tuple[str, ...] = ("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types: tuple[str, ...] = ("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        layers_per_block: int = 2,
        norm_num_groups: int = 32,
        attention_head_dim: int = 8,
    ) -> None:
        super().__init__()
        self.context_norm = nn.LayerNorm(context_dim)
        self.null_token = nn.Parameter(torch.zeros(1, 1, context_dim))
        self.unet = UNet2DConditionModel(
            sample_size=latent_size, in_channels=latent_channels, out_channels=latent_channels,
            down_block_types=tuple(down_block_types), up_block_types=tuple(up_block_types),
            mid_block_type="UNetMidBlock2DCrossAttn", block_out_channels=tuple(block_out_channels),
            layers_per_block=layers_per_block, norm_num_groups=norm_num_groups,
            attention_head_dim=attention_head_dim, cross_attention_dim=context_dim,
        )

    def null_context(self, like: torch.Tensor) -> torch.Tensor:
        """The null context with the shape of ``like`` (B, N, dim)."""
        return self.null_token.expand(like.shape[0], like.shape[1], -1)

    def drop_context(self, context: torch.Tensor, drop: torch.Tensor) -> torch.Tensor:
        """Replace the context of samples where ``drop`` (B,) is true by the null token."""
        return torch.where(drop[:, None, None], self.null_context(context), context)

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor, context: torch.Tensor,
                is_null: torch.Tensor | None = None) -> torch.Tensor:
        """Predicted noise. ``context`` (B, N, dim); rows flagged by ``is_null`` use the null token."""
        ctx = self.context_norm(context)
        if is_null is not None:
            ctx = torch.where(is_null[:, None, None], self.null_context(ctx), ctx)
        return self.unet(sample, timestep, encoder_hidden_states=ctx).sample

    def guided(self, sample: torch.Tensor, timestep: torch.Tensor, context: torch.Tensor,
               guidance_scale: float) -> torch.Tensor:
        """Classifier-free guided noise, cond and uncond in one batch of 2B; scale 1 = conditional."""
        if guidance_scale == 1.0:
            return self(sample, timestep, context)
        b = sample.shape[0]
        t = timestep.expand(b) if timestep.ndim == 0 else timestep
        null = torch.cat([torch.zeros(b, dtype=torch.bool), torch.ones(b, dtype=torch.bool)]).to(sample.device)
        eps = self(torch.cat([sample, sample]), torch.cat([t, t]), torch.cat([context, context]), is_null=null)
        e_c, e_u = eps.chunk(2)
        return e_u + guidance_scale * (e_c - e_u)
