"""Tamper detection: binary labels on coefficient vectors, BCE with pos_weight."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from raytrain.models.registry import DataInfo
from raytrain.tasks.base import (
    Task,
    binary_counts,
    binary_metrics,
    register_task,
    resolve_pos_weight,
)


@register_task("anomaly")
class AnomalyTask(Task):
    default_metric = "val_f1_score"
    default_mode = "max"
    inputs = "vector"
    target = "label"

    def __init__(
        self, data: DataInfo, threshold: float = 0.5, pos_weight: float | str | None = "auto"
    ) -> None:
        super().__init__(data)
        self.threshold = threshold
        self.pos_weight = resolve_pos_weight(pos_weight, data)

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        pw = None if self.pos_weight is None else output.new_tensor(self.pos_weight)
        return F.binary_cross_entropy_with_logits(
            output.view(-1), target.float().view(-1), pos_weight=pw
        )

    def num_stats(self) -> int:
        return 4

    def update_stats(self, stats: torch.Tensor, output: torch.Tensor, target: torch.Tensor) -> None:
        pred = torch.sigmoid(output.view(-1)) > self.threshold
        stats += binary_counts(pred, target.view(-1) > 0.5)

    def compute_metrics(self, stats: torch.Tensor) -> dict[str, float]:
        m = binary_metrics(*stats.tolist())
        keys = ("accuracy", "precision", "recall", "f1_score", "false_positive_rate")
        return {k: m[k] for k in keys}

    def output_activation(self) -> nn.Module:
        return nn.Sigmoid()
