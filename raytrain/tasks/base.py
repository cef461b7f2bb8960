"""What a task is: how a batch becomes a loss, and how predictions become metrics.

Metrics are computed from *sufficient statistics* (confusion counts, sums of errors) kept in one
float64 vector. Under DDP each worker accumulates over its shard and one `all_reduce` makes the
exact global metric — no averaging of per-worker F1 scores, which would be wrong.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
import torch
import torch.nn as nn

from raytrain.errors import RaytrainError, did_you_mean
from raytrain.models.registry import DataInfo


class Task(ABC):
    """One model type's loss, metrics and output activation."""

    name: str
    #: The validation metric a search optimizes by default, and its direction.
    default_metric: str
    default_mode: Literal["max", "min"]
    #: Whether batches are images (uint8, decoded and augmented) or feature vectors.
    inputs: Literal["image", "vector"]
    #: What a row's target is: an image (edge map), a class label, or a real value.
    target: Literal["image", "label", "value"]

    def __init__(self, data: DataInfo) -> None:
        self.data = data

    def prepare_model(self, model: nn.Module) -> None:  # noqa: B027  (optional hook)
        """Adjust a freshly built model to the data (e.g. target scaling); default: nothing."""

    @abstractmethod
    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor: ...

    @abstractmethod
    def num_stats(self) -> int: ...

    @abstractmethod
    def update_stats(
        self, stats: torch.Tensor, output: torch.Tensor, target: torch.Tensor
    ) -> None: ...

    @abstractmethod
    def compute_metrics(self, stats: torch.Tensor) -> dict[str, float]: ...

    def output_activation(self) -> nn.Module:
        """Applied to the model's output for export and prediction (logits -> probabilities)."""
        return nn.Identity()

    def new_stats(self, device: torch.device | str = "cpu") -> torch.Tensor:
        return torch.zeros(self.num_stats(), dtype=torch.float64, device=device)


def higher_is_better(metric: str) -> bool:
    """Direction of a metric: losses, errors and rates (false-positive rate) go down."""
    return not metric.endswith(("loss", "rmse", "mae", "rate"))


def safe_ratio(a: Any, b: Any) -> np.ndarray:
    """a / b elementwise, 0 where b == 0: an undefined precision, recall or F1 counts as 0."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.divide(a, b, out=np.zeros(np.broadcast(a, b).shape), where=b != 0)


def binary_rates(tp: Any, fp: Any, fn: Any, tn: Any) -> dict[str, np.ndarray]:
    """`binary_metrics` elementwise over arrays of confusion counts (one entry per threshold,
    say): the same rates and the same rule that an undefined rate is 0."""
    tp, fp, fn, tn = (np.asarray(x, np.float64) for x in (tp, fp, fn, tn))
    precision, recall = safe_ratio(tp, tp + fp), safe_ratio(tp, tp + fn)
    return {
        "precision": precision,
        "recall": recall,
        "f1_score": safe_ratio(2 * precision * recall, precision + recall),
        "iou": safe_ratio(tp, tp + fp + fn),
        "accuracy": safe_ratio(tp + tn, tp + fp + fn + tn),
        "false_positive_rate": safe_ratio(fp, fp + tn),
    }


def binary_metrics(tp: float, fp: float, fn: float, tn: float) -> dict[str, float]:
    """Precision, recall, F1, IoU, accuracy and false-positive rate from confusion counts."""
    return {k: float(v) for k, v in binary_rates(tp, fp, fn, tn).items()}


def binary_counts(pred: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """[tp, fp, fn, tn] as float64 for boolean tensors of the same shape."""
    pred, truth = pred.bool(), truth.bool()
    return torch.stack(
        [(pred & truth).sum(), (pred & ~truth).sum(), (~pred & truth).sum(), (~pred & ~truth).sum()]
    ).double()


def resolve_pos_weight(pos_weight: float | str | None, data: DataInfo) -> float | None:
    """'auto' -> sqrt(negatives / positives) from the training split's statistics.

    Edge maps are ~5-15% positive: plain BCE learns to predict "no edge" everywhere (F1 0 for
    the first epochs). Full class balancing over-predicts edges; the square root is the usual
    compromise. Balanced data (the anomaly sample set) gets 1.
    """
    if pos_weight != "auto":
        return None if pos_weight is None else float(pos_weight)
    p = data.extra.get("positive_fraction")
    if not p or p >= 1:
        return None
    return float(min(50.0, ((1 - p) / p) ** 0.5))


_TASKS: dict[str, type[Task]] = {}


def register_task(name: str) -> Callable[[type[Task]], type[Task]]:
    def deco(cls: type[Task]) -> type[Task]:
        cls.name = name
        _TASKS[name] = cls
        return cls

    return deco


def list_tasks() -> list[str]:
    return sorted(_TASKS)


def create_task(name: str, data: DataInfo, **kwargs: Any) -> Task:
    if name not in _TASKS:
        raise RaytrainError(
            f"unknown task '{name}'{did_you_mean(name, _TASKS)}; known: {', '.join(list_tasks())}"
        )
    return _TASKS[name](data, **kwargs)


def task_class(name: str) -> type[Task]:
    if name not in _TASKS:
        raise RaytrainError(
            f"unknown task '{name}'{did_you_mean(name, _TASKS)}; known: {', '.join(list_tasks())}"
        )
    return _TASKS[name]
