"""The two MLPs: the coefficient-count regressor and the tamper detector.

Both are Linear-BatchNorm-ReLU-Dropout stacks. The regressor carries the target's mean
and standard deviation as buffers: it learns on a standardized target (well-conditioned whatever
the unit) but returns coefficient counts, in PyTorch and in the exported ONNX model alike. The
detector returns a logit; the anomaly task applies the sigmoid.
"""

from __future__ import annotations

import torch
import torch.nn as nn
from pydantic import Field

from raytrain.errors import RaytrainError
from raytrain.models.registry import DataInfo, ModelParams, register_model


def mlp_stack(
    input_dim: int, hidden_dims: list[int], dropout: float, out_dim: int
) -> nn.Sequential:
    layers: list[nn.Module] = []
    prev = input_dim
    for h in hidden_dims:
        layers += [nn.Linear(prev, h), nn.BatchNorm1d(h), nn.ReLU(), nn.Dropout(dropout)]
        prev = h
    layers.append(nn.Linear(prev, out_dim))
    return nn.Sequential(*layers)


class MLPParams(ModelParams):
    input_dim: int | None = Field(None, ge=1, description="Default: the data's feature count")
    hidden_dims: list[int] = Field(default_factory=lambda: [128, 64, 32], min_length=1)
    dropout: float = Field(0.2, ge=0.0, lt=1.0)


class AnomalyParams(MLPParams):
    hidden_dims: list[int] = Field(default_factory=lambda: [512, 256, 128], min_length=1)
    dropout: float = Field(0.3, ge=0.0, lt=1.0)


class CoefficientOptimizer(nn.Module):
    """Predicts the number of Fourier coefficients an image needs; output shape (B, 1)."""

    def __init__(self, input_dim: int, hidden_dims: list[int], dropout: float) -> None:
        super().__init__()
        self.network = mlp_stack(input_dim, hidden_dims, dropout, 1)
        self.register_buffer("target_mean", torch.zeros(1))
        self.register_buffer("target_std", torch.ones(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.network(x) * self.target_std + self.target_mean


class AnomalyDetector(nn.Module):
    """Binary tamper classifier over a Fourier coefficient vector; output logits (B, 1)."""

    def __init__(self, input_dim: int, hidden_dims: list[int], dropout: float) -> None:
        super().__init__()
        self.network = mlp_stack(input_dim, hidden_dims, dropout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.network(x)


def _input_dim(p: MLPParams, data: DataInfo, name: str) -> int:
    dim = p.input_dim or data.feature_dim
    if dim is None:
        raise RaytrainError(f"model.input_dim: {name} needs input_dim (the data does not say)")
    if data.feature_dim is not None and dim != data.feature_dim:
        raise RaytrainError(
            f"model.input_dim: {dim} does not match the data's {data.feature_dim} features"
        )
    return dim


@register_model(
    "coefficient_optimizer",
    params=MLPParams,
    task="regression",
    aliases=("CoefficientOptimizer", "coefficient_mlp"),
)
def build_coefficient_optimizer(p: MLPParams, data: DataInfo) -> nn.Module:
    """Coefficient-count regressor MLP."""
    return CoefficientOptimizer(
        _input_dim(p, data, "coefficient_optimizer"), p.hidden_dims, p.dropout
    )


@register_model(
    "anomaly_detector",
    params=AnomalyParams,
    task="anomaly",
    aliases=("AnomalyDetector", "anomaly_mlp"),
)
def build_anomaly_detector(p: AnomalyParams, data: DataInfo) -> nn.Module:
    """Tamper-detection MLP."""
    return AnomalyDetector(_input_dim(p, data, "anomaly_detector"), p.hidden_dims, p.dropout)
