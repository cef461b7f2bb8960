"""Which task a config trains, the metric that judges it, and how a batch becomes its inputs.

Worked out from the config alone, so the driver, a worker and `raytrain evaluate` agree."""

from __future__ import annotations

from typing import Any

import torch

from raytrain.config.schema import ExperimentConfig
from raytrain.errors import RaytrainError
from raytrain.models import get_model_spec
from raytrain.tasks.base import Task, create_task, higher_is_better
from raytrain.tasks.losses import check_loss


def task_name_of(cfg: ExperimentConfig) -> str:
    """The task of a config: `training.task`, or the one its architecture declares."""
    return cfg.training.task or get_model_spec(cfg.model.architecture).task


def task_for(cfg: ExperimentConfig, data: Any) -> Task:
    """The task object of a config, built for the data it trains on."""
    name = task_name_of(cfg)
    tp = cfg.training_params
    kwargs: dict[str, Any] = {}
    if tp.loss is not None:
        kwargs["loss"] = check_loss(name, tp.loss)
    if name in ("edges", "anomaly"):
        kwargs |= {"threshold": cfg.evaluation.threshold, "pos_weight": tp.pos_weight}
    if name == "classification":
        kwargs["label_smoothing"] = tp.label_smoothing
    elif tp.label_smoothing:
        raise RaytrainError(
            f"training_params.label_smoothing: only for classification (this is {name})"
        )
    return create_task(name, data, **kwargs)


def monitor_of(cfg: ExperimentConfig, task: Task | type[Task]) -> tuple[str, str]:
    """The metric that picks the best epoch, drives early stopping and the search; its mode."""
    tp = cfg.training_params
    metric = cfg.search.metric or tp.monitor_metric or task.default_metric
    if cfg.search.direction:
        return metric, "max" if cfg.search.direction == "maximize" else "min"
    if tp.monitor_mode:
        return metric, tp.monitor_mode
    if metric == task.default_metric:
        return metric, task.default_mode
    return metric, "max" if higher_is_better(metric) else "min"


def to_inputs(batch: dict[str, torch.Tensor], task: Task) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch as the model and loss take it: images as floats in [0, 1]."""
    x, y = batch["x"], batch["y"]
    if task.inputs == "image":
        x = x.float() / 255.0  # uint8 crosses the object store; floats are made here
    if task.target == "image":
        y = y.float() / 255.0
    return x, y
