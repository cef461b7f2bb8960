"""A checkpoint folder scored on a split of a prepared dataset, in this process (no Ray).

The end of a search and of `raytrain train` score the best checkpoint on the held-out test split
with this; `raytrain evaluate --model` reaches it too. The metrics come from the task's sufficient
statistics, decoded by the training pipeline's own `preprocess_batch` without augmentation,
exactly as validation computed them. `score_split` can also keep a bounded sample of the
predictions from that same pass (a `PredictionBuffer`), which the test-split plots are drawn
from, so the split is read and the model run once for both.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from raytrain.data.local import iter_split, preprocess_for
from raytrain.data.manifest import read_manifest
from raytrain.errors import RaytrainError
from raytrain.viz.run import PredictionBuffer


def has_split(data_dir: str | Path, split: str) -> bool:
    """Whether the prepared dataset at `data_dir` has a non-empty `split`."""
    s = read_manifest(data_dir).splits.get(split)
    return s is not None and s.count > 0


def config_of_meta(meta: dict[str, Any]) -> Any:
    """The training config a checkpoint records, validated; None when it records none."""
    from raytrain.config import validate

    raw = meta.get("config")
    return None if raw is None else validate(raw, source="checkpoint config (meta.json)")


@dataclass
class Scored:
    """One pass of a checkpoint over a split: its metrics, the checkpoint's `meta.json`, the
    task's decision threshold, and (when asked for) the sample of predictions plots use."""

    metrics: dict[str, float]
    meta: dict[str, Any]
    threshold: float
    predictions: PredictionBuffer | None = None


def score_checkpoint(
    folder: str | Path, data_dir: str | Path, split: str = "test", batch_size: int = 64
) -> dict[str, float]:
    """The task's metrics (unprefixed: `accuracy`, `loss`, ...) of the checkpoint in `folder`
    on `split` of the prepared dataset `data_dir`, plus `num_examples` and
    `inference_time_ms` (forward pass per example, batched)."""
    return score_split(folder, data_dir, split, batch_size).metrics


def score_split(
    folder: str | Path,
    data_dir: str | Path,
    split: str = "test",
    batch_size: int = 64,
    keep_predictions: bool = False,
) -> Scored:
    """`score_checkpoint`'s metrics, with the model's activated outputs kept in a
    `PredictionBuffer` (as the training loop keeps validation's) when `keep_predictions`."""
    from raytrain.artifacts.checkpoint import data_info_of, load_model
    from raytrain.evaluation.baselines import as_task_tensors
    from raytrain.evaluation.evaluate import task_of

    model, meta = load_model(folder)
    info = data_info_of(meta)
    cfg = config_of_meta(meta)
    task = task_of(cfg, meta["task"], info)
    manifest = read_manifest(data_dir)
    if manifest.task != task.name:
        raise RaytrainError(
            f"{data_dir}: holds '{manifest.task}' data, the model needs '{task.name}' data"
        )
    p = preprocess_for(task, info)
    stats = task.new_stats()
    buffer = PredictionBuffer(task.name) if keep_predictions else None
    activation = task.output_activation()
    loss_sum, n, forward_s = 0.0, 0, 0.0
    with torch.no_grad():
        for batch in iter_split(data_dir, split, p, batch_size):
            x, y = as_task_tensors(batch["x"], batch["y"], task)
            t0 = time.perf_counter()
            out = model(x)
            forward_s += time.perf_counter() - t0
            task.update_stats(stats, out, y)
            loss_sum += float(task.loss(out.float(), y)) * len(x)
            n += len(x)
            if buffer is not None:
                buffer.add(x, activation(out.float()), y)
    if n == 0:
        raise RaytrainError(f"{data_dir}: the '{split}' split is empty")
    metrics = {
        **task.compute_metrics(stats),
        "loss": loss_sum / n,
        "num_examples": n,
        "inference_time_ms": forward_s * 1e3 / n,
    }
    threshold = cfg.evaluation.threshold if cfg is not None else 0.5
    return Scored(metrics, meta, threshold, buffer)
