"""A small ViT trained from scratch with DINO self-distillation (Caron et al. 2021), the SSL encoder of
the SSL-guided LDM paper.

No DINO (or any ImageNet) weights can be had offline, so the encoder is trained locally on the
user's patches (:func:`engine.training.ssl.train_dino`). Architecture: ViT with a class token,
learned positional embeddings (bicubically interpolated for the smaller local crops), pre-norm
transformer blocks (``torch.nn.TransformerEncoderLayer``), and the DINO projection head (3-layer
MLP -> L2-normalised bottleneck -> linear prototypes). :meth:`SSLViT.embed` gives the class-token
embedding (after the final LayerNorm) that conditions the LDM; :meth:`SSLViT.tokens` gives
``(B, 1 + N, dim)`` (class + patch tokens).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

__all__ = ["SSLViT"]


class SSLViT(ModelMixin, ConfigMixin):
    """ViT + DINO head. Input (B, in_channels, H, W) in [0, 1], H = W a multiple of ``patch_size``.

    Parameters
    ----------
    image_size
        Side of the *global* crops (sets the positional grid), pixels.
    patch_size, in_channels, dim, depth, heads, mlp_ratio
        ViT shape.
    out_dim, head_hidden, bottleneck
        DINO head: MLP dim -> head_hidden -> head_hidden -> bottleneck, L2 norm, -> out_dim.
    """

    config_name = "config.json"

    @register_to_config
    def __init__(self, image_size: int = 32, patch_size: int = 4, in_channels: int = 1, dim: int = 128,
                 depth: int = 4, heads: int = 4, mlp_ratio: float = 2.0, out_dim: int = 256,
                 head_hidden: int = 256, bottleneck: int = 64) -> None:
        super().__init__()
        if image_size % patch_size:
            raise ValueError("image_size must be a multiple of patch_size")
        self.patch = nn.Conv2d(in_channels, dim, patch_size, stride=patch_size)
        grid = image_size // patch_size
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos = nn.Parameter(torch.randn(1, 1 + grid * grid, dim) * 0.02)
        layer = nn.TransformerEncoderLayer(dim, heads, int(dim * mlp_ratio), dropout=0.0, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.head_mlp = nn.Sequential(nn.Linear(dim, head_hidden), nn.GELU(), nn.Linear(head_hidden, head_hidden),
                                      nn.GELU(), nn.Linear(head_hidden, bottleneck))
        self.prototypes = nn.Linear(bottleneck, out_dim, bias=False)

    @property
    def num_features(self) -> int:
        return int(self.config.dim)

    def _pos(self, n_patches: int) -> torch.Tensor:
        grid0 = int(math.isqrt(self.pos.shape[1] - 1))
        grid = int(math.isqrt(n_patches))
        if grid == grid0:
            return self.pos
        p = self.pos[:, 1:].reshape(1, grid0, grid0, -1).permute(0, 3, 1, 2)
        p = F.interpolate(p, size=(grid, grid), mode="bicubic", align_corners=False)
        return torch.cat([self.pos[:, :1], p.permute(0, 2, 3, 1).reshape(1, grid * grid, -1)], 1)

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1 + N, dim): class token then patch tokens, after the final LayerNorm."""
        t = self.patch(x).flatten(2).transpose(1, 2)
        t = torch.cat([self.cls.expand(len(t), -1, -1), t], 1) + self._pos(t.shape[1])
        return self.norm(self.blocks(t))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Class-token embedding (B, dim): the SSL representation."""
        return self.tokens(x)[:, 0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """DINO head output (B, out_dim) (logits before the temperature softmax)."""
        h = F.normalize(self.head_mlp(self.embed(x)), dim=-1)
        return self.prototypes(h)
