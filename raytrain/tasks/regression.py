"""Coefficient-count regression: MSE on a standardized target; RMSE, MAE, R².

The loss is computed in standard-deviation units (the model's own target_mean/target_std
buffers), so one learning rate suits any target scale; metrics are reported in real units.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from raytrain.models.registry import DataInfo
from raytrain.tasks.base import Task, register_task
from raytrain.tasks.losses import check_loss, regression_loss


@register_task("regression")
class RegressionTask(Task):
    default_metric = "val_rmse"
    default_mode = "min"
    inputs = "vector"
    target = "value"

    def __init__(self, data: DataInfo, loss: str | None = None, **_: object) -> None:
        super().__init__(data)
        self.loss_name = check_loss("regression", loss)
        self._loss = regression_loss(self.loss_name)
        self.mean = float(data.extra.get("target_mean", 0.0))
        self.std = float(data.extra.get("target_std", 1.0)) or 1.0

    def prepare_model(self, model: nn.Module) -> None:
        if hasattr(model, "target_mean"):
            model.target_mean.fill_(self.mean)
            model.target_std.fill_(self.std)

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self._loss((output.view(-1) - target.float().view(-1)) / self.std)

    def num_stats(self) -> int:
        return 5  # sum sq err, sum abs err, sum y, sum y^2, n

    def update_stats(self, stats: torch.Tensor, output: torch.Tensor, target: torch.Tensor) -> None:
        y = target.double().view(-1)
        err = output.double().view(-1) - y
        stats += torch.stack(
            [
                (err * err).sum(),
                err.abs().sum(),
                y.sum(),
                (y * y).sum(),
                y.new_tensor(float(y.numel())),
            ]
        )

    def compute_metrics(self, stats: torch.Tensor) -> dict[str, float]:
        sse, sae, sy, syy, n = stats.tolist()
        return regression_metrics(sse, sae, syy - sy * sy / n if n else 0.0, n)


def regression_metrics(sse: float, sae: float, sst: float, n: float) -> dict[str, float]:
    """RMSE, MAE and R² from the sums of squared and absolute errors, the target's total sum of
    squares about its mean and the row count. R² is 0 for a constant target (sst 0) rather than
    a division by zero; every metric is NaN without rows. The evaluation plots call this too."""
    if n == 0:
        return {"rmse": float("nan"), "mae": float("nan"), "r2": float("nan")}
    return {"rmse": (sse / n) ** 0.5, "mae": sae / n, "r2": 1.0 - sse / sst if sst > 0 else 0.0}
