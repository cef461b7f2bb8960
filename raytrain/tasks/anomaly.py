"""Tamper detection: binary labels on coefficient vectors, BCE with pos_weight."""

from __future__ import annotations

import torch
import torch.nn as nn

from raytrain.models.registry import DataInfo
from raytrain.tasks.base import (
    Task,
    binary_counts,
    binary_metrics,
    register_task,
    resolve_pos_weight,
)
from raytrain.tasks.losses import binary_loss, check_loss


@register_task("anomaly")
class AnomalyTask(Task):
    default_metric = "val_f1_score"
    default_mode = "max"
    inputs = "vector"
    target = "label"

    def __init__(
        self,
        data: DataInfo,
        threshold: float = 0.5,
        pos_weight: float | str | None = "auto",
        loss: str | None = None,
    ) -> None:
        super().__init__(data)
        self.threshold = threshold
        self.pos_weight = resolve_pos_weight(pos_weight, data)
        self.loss_name = check_loss("anomaly", loss)
        self._loss = binary_loss(self.loss_name, self.pos_weight)

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self._loss(output.view(-1), target.float().view(-1))

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
