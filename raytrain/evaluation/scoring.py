"""A checkpoint folder scored on a split of a prepared dataset, in this process (no Ray).

The end of a search and of `raytrain train` score the best checkpoint on the held-out test split
with this; `raytrain evaluate --model` reaches it too. The metrics come from the task's sufficient
statistics, decoded by the training pipeline's own `preprocess_batch` without augmentation,
exactly as validation computed them.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from raytrain.data.local import iter_split, preprocess_for
from raytrain.data.manifest import read_manifest
from raytrain.errors import RaytrainError


def has_split(data_dir: str | Path, split: str) -> bool:
    """Whether the prepared dataset at `data_dir` has a non-empty `split`."""
    s = read_manifest(data_dir).splits.get(split)
    return s is not None and s.count > 0


def config_of_meta(meta: dict[str, Any]) -> Any:
    """The training config a checkpoint records, validated; None when it records none."""
    from raytrain.config import validate

    raw = meta.get("config")
    return None if raw is None else validate(raw, source="checkpoint config (meta.json)")


def score_checkpoint(
    folder: str | Path, data_dir: str | Path, split: str = "test", batch_size: int = 64
) -> dict[str, float]:
    """The task's metrics (unprefixed: `accuracy`, `loss`, ...) of the checkpoint in `folder`
    on `split` of the prepared dataset `data_dir`, plus `num_examples` and
    `inference_time_ms` (forward pass per example, batched)."""
    from raytrain.artifacts.checkpoint import data_info_of, load_model
    from raytrain.evaluation.baselines import as_task_tensors
    from raytrain.evaluation.evaluate import task_of

    model, meta = load_model(folder)
    info = data_info_of(meta)
    task = task_of(config_of_meta(meta), meta["task"], info)
    manifest = read_manifest(data_dir)
    if manifest.task != task.name:
        raise RaytrainError(
            f"{data_dir}: holds '{manifest.task}' data, the model needs '{task.name}' data"
        )
    p = preprocess_for(task, info)
    stats = task.new_stats()
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
    if n == 0:
        raise RaytrainError(f"{data_dir}: the '{split}' split is empty")
    return {
        **task.compute_metrics(stats),
        "loss": loss_sum / n,
        "num_examples": n,
        "inference_time_ms": forward_s * 1e3 / n,
    }


def held_out_metrics(
    folder: str | Path, data_dir: str | Path, split: str = "test"
) -> dict[str, float] | None:
    """`score_checkpoint` on the test split with every metric prefixed `test_`; None when the
    dataset has no test split."""
    if not has_split(data_dir, split):
        return None
    scored = score_checkpoint(folder, data_dir, split)
    return {f"test_{k}": v for k, v in scored.items()}
