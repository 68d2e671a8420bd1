"""US-VAE: the ultrasound variational autoencoder of DiffKD-DCIS (paper section 3.2.2).

A thin wrapper around diffusers' :class:`~diffusers.AutoencoderKL` with one grey channel. The
paper configuration (``block_out_channels=(64, 128, 256, 256)``, four encoder blocks) maps a
256x256 image to a 16x32x32 latent. ``scaling_factor`` is not the Stable Diffusion constant: it is
set from the training latents (1/std) by :func:`engine.training.vae.fit_scaling_factor` and saved
in ``config.json`` with the weights.
"""

from __future__ import annotations

import torch
from diffusers import AutoencoderKL
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin

__all__ = ["USVAE"]


class USVAE(ModelMixin, ConfigMixin):
    """Grey-scale KL autoencoder; images in [0, 1], latents scaled by ``scaling_factor``.

    Parameters
    ----------
    image_size
        Side of the square input image, pixels.
    latent_channels
        Channels of the latent (paper: 16).
    block_out_channels
        Widths of the encoder/decoder blocks; the spatial factor is ``2 ** (len - 1)``.
    layers_per_block, norm_num_groups, mid_block_add_attention
        Passed to :class:`~diffusers.AutoencoderKL`.
    scaling_factor
        Multiplies the latent so that it has about unit variance (1/std of training latents).
    """

    config_name = "config.json"

    @register_to_config
    def __init__(
        self,
        image_size: int = 256,
        latent_channels: int = 16,
        block_out_channels: tuple[int, ...] = (64, 128, 256, 256),
        layers_per_block: int = 2,
        norm_num_groups: int = 32,
        mid_block_add_attention: bool = True,
        scaling_factor: float = 1.0,
    ) -> None:
        super().__init__()
        n = len(block_out_channels)
        self.vae = AutoencoderKL(
            in_channels=1,
            out_channels=1,
            latent_channels=latent_channels,
            down_block_types=("DownEncoderBlock2D",) * n,
            up_block_types=("UpDecoderBlock2D",) * n,
            block_out_channels=tuple(block_out_channels),
            layers_per_block=layers_per_block,
            norm_num_groups=norm_num_groups,
            mid_block_add_attention=mid_block_add_attention,
            sample_size=image_size,
        )

    @property
    def latent_size(self) -> int:
        """Side of the latent grid, in latent pixels."""
        return int(self.config.image_size) // 2 ** (len(self.config.block_out_channels) - 1)

    @staticmethod
    def _to_model_range(x: torch.Tensor) -> torch.Tensor:
        return x * 2.0 - 1.0

    def posterior(self, images: torch.Tensor):
        """Diagonal Gaussian posterior q(z|x) of ``images`` (B, 1, H, W) in [0, 1], unscaled."""
        return self.vae.encode(self._to_model_range(images)).latent_dist

    def encode(self, images: torch.Tensor, generator: torch.Generator | None = None,
               sample: bool = False) -> torch.Tensor:
        """Scaled latents of ``images`` in [0, 1]: the posterior mean, or a sample if ``sample``."""
        dist = self.posterior(images)
        z = dist.sample(generator=generator) if sample else dist.mean
        return z * float(self.config.scaling_factor)

    def decode_unscaled(self, z: torch.Tensor) -> torch.Tensor:
        """Decode an *unscaled* latent to the model range [-1, 1] (no clamping; for training)."""
        return self.vae.decode(z).sample

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Decode *scaled* latents to images in [0, 1], shape (B, 1, H, W)."""
        x = self.vae.decode(latents / float(self.config.scaling_factor)).sample
        return ((x + 1.0) / 2.0).clamp(0.0, 1.0)

    def reconstruct(self, images: torch.Tensor) -> torch.Tensor:
        """Reconstruct ``images`` in [0, 1] through the posterior mean, output in [0, 1]."""
        return self.decode(self.encode(images))

    def forward(self, images: torch.Tensor, generator: torch.Generator | None = None):
        """Training pass: ``(reconstruction in [-1, 1], posterior)`` from a posterior sample.

        Training goes through ``forward`` so that a DDP wrapper sees the call.
        """
        dist = self.posterior(images)
        return self.decode_unscaled(dist.sample(generator=generator)), dist
