"""U-Net edge detector, with configurable width, depth and dropout.

Differences from the textbook listing, on purpose: skip connections concatenate (the U-Net paper's
design) instead of adding, `depth` and `base_filters` are parameters, and the network returns
logits; the edge task applies the sigmoid (BCE-with-logits is numerically safer, and the export
wraps the sigmoid back in so the ONNX model outputs probabilities).
"""

from __future__ import annotations

import torch
import torch.nn as nn
from pydantic import Field

from raytrain.errors import RaytrainError
from raytrain.models.registry import DataInfo, ModelParams, register_model


class UNetParams(ModelParams):
    in_channels: int | None = Field(None, ge=1, description="Default: from the data")
    out_channels: int = Field(1, ge=1)
    base_filters: int = Field(64, ge=2, le=512)
    depth: int = Field(4, ge=1, le=7, description="Number of 2x down-sampling steps")
    dropout: float = Field(0.0, ge=0.0, lt=1.0)


def _conv_block(in_ch: int, out_ch: int, dropout: float) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_ch),
        nn.ReLU(inplace=True),
        nn.Conv2d(out_ch, out_ch, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_ch),
        nn.ReLU(inplace=True),
    ]
    if dropout > 0:
        layers.append(nn.Dropout2d(dropout))
    return nn.Sequential(*layers)


class UNet(nn.Module):
    """Encoder-decoder with skip connections; input (B, C, H, W), H and W divisible by 2**depth."""

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 1,
        base_filters: int = 64,
        depth: int = 4,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.depth = depth
        widths = [base_filters * 2**i for i in range(depth + 1)]
        self.encoder = nn.ModuleList()
        prev = in_channels
        for w in widths[:-1]:
            self.encoder.append(_conv_block(prev, w, dropout))
            prev = w
        self.pool = nn.MaxPool2d(2)
        self.bottleneck = _conv_block(widths[-2], widths[-1], dropout)
        self.up = nn.ModuleList()
        self.decoder = nn.ModuleList()
        for i in range(depth, 0, -1):
            self.up.append(nn.ConvTranspose2d(widths[i], widths[i - 1], 2, stride=2))
            self.decoder.append(_conv_block(2 * widths[i - 1], widths[i - 1], dropout))
        self.head = nn.Conv2d(widths[0], out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for block in self.encoder:
            x = block(x)
            skips.append(x)
            x = self.pool(x)
        x = self.bottleneck(x)
        for up, block, skip in zip(self.up, self.decoder, reversed(skips), strict=True):
            x = block(torch.cat([up(x), skip], dim=1))
        return self.head(x)


@register_model("unet", params=UNetParams, task="edges", aliases=("UNet", "u_net"))
def build_unet(p: UNetParams, data: DataInfo) -> nn.Module:
    """U-Net edge detector."""
    if data.image_size is not None and data.image_size % (2**p.depth):
        raise RaytrainError(
            f"model.depth: a U-Net of depth {p.depth} needs an image size divisible by "
            f"{2**p.depth}, the data has {data.image_size}"
        )
    return UNet(
        p.in_channels or data.in_channels, p.out_channels, p.base_filters, p.depth, p.dropout
    )
