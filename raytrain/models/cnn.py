"""A small CNN image classifier (`simple_cnn`).

Blocks of conv-BN-ReLU ×2 then max-pool, global average pooling and a linear head. Global pooling
makes it independent of the input size. Returns logits.
"""

from __future__ import annotations

import torch
import torch.nn as nn
from pydantic import Field

from raytrain.errors import RaytrainError
from raytrain.models.registry import DataInfo, ModelParams, register_model


class CNNParams(ModelParams):
    in_channels: int | None = Field(None, ge=1)
    num_classes: int | None = Field(None, ge=2, description="Default: from the data")
    base_filters: int = Field(32, ge=4, le=512)
    num_blocks: int = Field(3, ge=1, le=6)
    dropout: float = Field(0.2, ge=0.0, lt=1.0)


class CNNClassifier(nn.Module):
    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        base_filters: int = 32,
        num_blocks: int = 3,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        prev = in_channels
        for i in range(num_blocks):
            w = base_filters * 2**i
            layers += [
                nn.Conv2d(prev, w, 3, padding=1, bias=False),
                nn.BatchNorm2d(w),
                nn.ReLU(True),
                nn.Conv2d(w, w, 3, padding=1, bias=False),
                nn.BatchNorm2d(w),
                nn.ReLU(True),
                nn.MaxPool2d(2),
            ]
            prev = w
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(prev, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).mean(dim=(2, 3)))


@register_model(
    "cnn_classifier",
    params=CNNParams,
    task="classification",
    aliases=("simple_cnn", "CNNClassifier"),
)
def build_cnn_classifier(p: CNNParams, data: DataInfo) -> nn.Module:
    """Small CNN image classifier (simple_cnn)."""
    num_classes = p.num_classes or data.num_classes
    if num_classes is None:
        raise RaytrainError("model.num_classes: not given and the data does not say")
    if data.num_classes is not None and num_classes != data.num_classes:
        raise RaytrainError(
            f"model.num_classes: {num_classes} does not match the data's {data.num_classes}"
        )
    return CNNClassifier(
        p.in_channels or data.in_channels, num_classes, p.base_filters, p.num_blocks, p.dropout
    )
