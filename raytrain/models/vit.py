"""Vision-Transformer edge detector in plain torch.

A common build is on `transformers.ViTModel`; raytrain avoids that dependency (and any hub
download) with `nn.TransformerEncoder`. Patches are embedded by a strided convolution, the token
grid is decoded back to full resolution by transposed convolutions, one per factor of 2 in the
patch size, like a simple patch decoder head. Returns logits.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
from pydantic import Field

from raytrain.errors import RaytrainError
from raytrain.models.registry import DataInfo, ModelParams, register_model


class ViTEdgeParams(ModelParams):
    in_channels: int | None = Field(None, ge=1)
    patch_size: int = Field(8, ge=2, le=32)
    embed_dim: int = Field(128, ge=8)
    num_layers: int = Field(4, ge=1, le=24)
    num_heads: int = Field(4, ge=1)
    mlp_ratio: float = Field(4.0, gt=0)
    dropout: float = Field(0.0, ge=0.0, lt=1.0)


class ViTEdgeDetector(nn.Module):
    def __init__(
        self,
        image_size: int,
        in_channels: int = 1,
        patch_size: int = 8,
        embed_dim: int = 128,
        num_layers: int = 4,
        num_heads: int = 4,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.grid = image_size // patch_size
        self.patch_embed = nn.Conv2d(in_channels, embed_dim, patch_size, stride=patch_size)
        self.pos_embed = nn.Parameter(torch.zeros(1, self.grid * self.grid, embed_dim))
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        layer = nn.TransformerEncoderLayer(
            embed_dim,
            num_heads,
            int(embed_dim * mlp_ratio),
            dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(embed_dim)
        ups: list[nn.Module] = []
        ch = embed_dim
        for _ in range(int(math.log2(patch_size))):
            nxt = max(ch // 2, 16)
            ups += [nn.ConvTranspose2d(ch, nxt, 4, stride=2, padding=1), nn.GELU()]
            ch = nxt
        self.decoder = nn.Sequential(*ups, nn.Conv2d(ch, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.patch_embed(x).flatten(2).transpose(1, 2) + self.pos_embed
        tokens = self.norm(self.encoder(tokens))
        b, n, c = tokens.shape
        grid = tokens.transpose(1, 2).reshape(b, c, self.grid, self.grid)
        return self.decoder(grid)


@register_model("vit_edge", params=ViTEdgeParams, task="edges", aliases=("ViTEdgeDetector", "vit"))
def build_vit_edge(p: ViTEdgeParams, data: DataInfo) -> nn.Module:
    """Vision Transformer edge detector, plain torch."""
    size = data.image_size
    if size is None:
        raise RaytrainError("model: vit_edge needs a fixed image size (dataset.image_size)")
    if p.patch_size & (p.patch_size - 1) or size % p.patch_size:
        raise RaytrainError(
            f"model.patch_size: must be a power of 2 dividing the image size {size}, "
            f"got {p.patch_size}"
        )
    if p.embed_dim % p.num_heads:
        raise RaytrainError(
            f"model.num_heads: embed_dim {p.embed_dim} is not divisible by {p.num_heads} heads"
        )
    return ViTEdgeDetector(
        size,
        p.in_channels or data.in_channels,
        p.patch_size,
        p.embed_dim,
        p.num_layers,
        p.num_heads,
        p.mlp_ratio,
        p.dropout,
    )
