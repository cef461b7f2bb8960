"""Edge detection: per-pixel binary maps, BCE loss, F1 / precision / recall / IoU."""

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


@register_task("edges")
class EdgeTask(Task):
    default_metric = "val_f1_score"
    default_mode = "max"
    inputs = "image"
    target = "image"

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
        self.loss_name = check_loss("edges", loss)
        self._loss = binary_loss(self.loss_name, self.pos_weight)

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self._loss(output, target)

    def num_stats(self) -> int:
        return 4

    def update_stats(self, stats: torch.Tensor, output: torch.Tensor, target: torch.Tensor) -> None:
        stats += binary_counts(torch.sigmoid(output) > self.threshold, target > 0.5)

    def compute_metrics(self, stats: torch.Tensor) -> dict[str, float]:
        m = binary_metrics(*stats.tolist())
        return {k: m[k] for k in ("f1_score", "precision", "recall", "iou", "accuracy")}

    def output_activation(self) -> nn.Module:
        return nn.Sigmoid()
