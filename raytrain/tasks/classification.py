"""Image classification: cross-entropy; accuracy and macro-F1 from a confusion matrix."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from raytrain.errors import RaytrainError
from raytrain.models.registry import DataInfo
from raytrain.tasks.base import Task, register_task
from raytrain.tasks.losses import check_loss


@register_task("classification")
class ClassificationTask(Task):
    default_metric = "val_accuracy"
    default_mode = "max"
    inputs = "image"
    target = "label"

    def __init__(
        self, data: DataInfo, loss: str | None = None, label_smoothing: float = 0.0, **_: object
    ) -> None:
        super().__init__(data)
        self.loss_name = check_loss("classification", loss)
        self.label_smoothing = label_smoothing
        if not data.num_classes:
            raise RaytrainError("classification data must say its number of classes")
        self.k = data.num_classes

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(output, target.long().view(-1), label_smoothing=self.label_smoothing)

    def num_stats(self) -> int:
        return self.k * self.k  # confusion matrix, row = truth, column = prediction

    def update_stats(self, stats: torch.Tensor, output: torch.Tensor, target: torch.Tensor) -> None:
        idx = target.long().view(-1) * self.k + output.argmax(dim=1)
        stats += torch.bincount(idx, minlength=self.k * self.k).double()

    def compute_metrics(self, stats: torch.Tensor) -> dict[str, float]:
        cm = stats.view(self.k, self.k)
        tp = cm.diag()
        precision = tp / cm.sum(0).clamp(min=1)
        recall = tp / cm.sum(1).clamp(min=1)
        f1 = torch.where(
            precision + recall > 0,
            2 * precision * recall / (precision + recall).clamp(min=1e-12),
            0.0,
        )
        total = cm.sum().item()
        # Average over the classes present in the truth or the predictions (sklearn's
        # convention): a class absent from a small split must not count as F1 = 0.
        present = (cm.sum(0) + cm.sum(1)) > 0
        macro = f1[present].mean().item() if present.any() else 0.0
        return {"accuracy": tp.sum().item() / total if total else 0.0, "macro_f1": macro}

    def output_activation(self) -> nn.Module:
        return nn.Softmax(dim=1)
