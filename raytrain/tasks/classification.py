"""Image classification: cross-entropy; accuracy and macro-F1 from a confusion matrix."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from raytrain.errors import RaytrainError
from raytrain.models.registry import DataInfo
from raytrain.tasks.base import Task, register_task, safe_ratio
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
        s = class_scores(stats.detach().cpu().numpy().reshape(self.k, self.k))
        return {"accuracy": s["accuracy"], "macro_f1": s["macro_f1"]}

    def output_activation(self) -> nn.Module:
        return nn.Softmax(dim=1)


def confusion_matrix(targets: Any, preds: Any, k: int) -> np.ndarray:
    """k x k counts of label arrays, row = truth, column = prediction: the matrix that
    `ClassificationTask.update_stats` accumulates batch by batch (index truth * k + prediction)."""
    t = np.asarray(targets).astype(np.int64).ravel()
    p = np.asarray(preds).astype(np.int64).ravel()
    if t.size != p.size:
        raise ValueError(f"{t.size} targets for {p.size} predictions")
    if t.size and (min(t.min(), p.min()) < 0 or max(t.max(), p.max()) >= k):
        raise ValueError(f"labels must lie in [0, {k})")
    return np.bincount(t * k + p, minlength=k * k).reshape(k, k)


def class_scores(cm: Any) -> dict[str, Any]:
    """Per-class precision, recall and F1 (arrays; 0 where undefined), the classes `present` in
    the truth or the predictions, accuracy, and macro F1 over the present classes only
    (sklearn's convention: a class absent from a small split must not count as F1 = 0)."""
    cm = np.asarray(cm, np.float64)
    tp, predicted, actual = np.diag(cm), cm.sum(axis=0), cm.sum(axis=1)
    precision, recall = safe_ratio(tp, predicted), safe_ratio(tp, actual)
    f1 = safe_ratio(2 * precision * recall, precision + recall)
    present = (predicted + actual) > 0
    total = float(cm.sum())
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "present": present,
        "accuracy": float(tp.sum()) / total if total else 0.0,
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
    }
