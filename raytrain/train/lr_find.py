"""The learning-rate range test (Smith, 2017): `raytrain lr-find CONFIG`.

Train the config's model from its initial weights for `num_iter` steps while the learning
rate grows exponentially from `start_lr` to `end_lr`, and record the loss of every step. The
suggestion is the steepest-descent rule — the LR where the loss falls fastest (the most negative
gradient of the loss curve) — applied to the exponentially smoothed loss, before the point
where the loss diverges (4x its best), so one noisy batch does not decide it.

Runs in this process on the training split of the prepared dataset (no augmentation, no Ray),
with the config's optimizer, task loss and mixed-precision setting. Writes `lr_finder.png` and
`lr_finder.csv` to the output folder.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from raytrain.config.schema import ExperimentConfig
from raytrain.errors import RaytrainError

DIVERGE = 4.0
SMOOTH = 0.9


@dataclass
class LRFindResult:
    lrs: list[float]
    losses: list[float]
    smoothed: list[float]
    suggested_lr: float
    stopped_early: bool
    plot: Path | None
    table: Path | None


def smooth(losses: list[float], beta: float = SMOOTH) -> list[float]:
    """Bias-corrected exponential moving average (what fastai's finder plots)."""
    out, avg = [], 0.0
    for i, loss in enumerate(losses, 1):
        avg = beta * avg + (1 - beta) * loss
        out.append(avg / (1 - beta**i))
    return out


def suggest(lrs: list[float], smoothed: list[float]) -> float:
    """Steepest descent: the LR at the most negative d(loss)/d(step), skipping the
    first tenth of the steps (the average is still settling there) and the last few (where
    the loss turns up towards divergence)."""
    n = len(lrs)
    lo, hi = n // 10, n - min(5, n // 10)
    if hi - lo < 3:
        raise RaytrainError(f"lr-find: only {n} steps before the loss diverged; lower --start-lr")
    grads = np.gradient(np.asarray(smoothed[lo:hi]))
    return float(lrs[lo + int(np.argmin(grads))])


def range_test(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    batches: Callable[[], Iterator[tuple[torch.Tensor, torch.Tensor]]],
    *,
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    num_iter: int = 100,
    amp_dtype: torch.dtype | None = None,
    device: torch.device | None = None,
) -> tuple[list[float], list[float], bool]:
    """(lrs, losses, stopped_early): one step per LR, cycling through `batches()`."""
    if not 0 < start_lr < end_lr:
        raise RaytrainError(f"lr-find: need 0 < start_lr < end_lr (got {start_lr}, {end_lr})")
    device = device or torch.device("cpu")
    gamma = (end_lr / start_lr) ** (1 / max(1, num_iter - 1))
    lrs: list[float] = []
    losses: list[float] = []
    model.train()
    it = batches()
    best = math.inf
    for i in range(num_iter):
        try:
            x, y = next(it)
        except StopIteration:
            it = batches()
            x, y = next(it)
        lr = start_lr * gamma**i
        for g in optimizer.param_groups:
            g["lr"] = lr
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            loss = loss_fn(model(x), y)
        value = loss.item()
        if not math.isfinite(value):
            return lrs, losses, True
        lrs.append(lr)
        losses.append(value)
        best = min(best, smooth(losses)[-1])
        if smooth(losses)[-1] > DIVERGE * best:
            return lrs, losses, True
        loss.backward()
        optimizer.step()
    return lrs, losses, False


def plot(result: LRFindResult, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 6))
    ax.plot(result.lrs, result.losses, color="0.75", lw=1, label="loss per step")
    ax.plot(result.lrs, result.smoothed, color="tab:blue", lw=2, label="smoothed")
    ax.axvline(
        result.suggested_lr,
        color="tab:red",
        ls="--",
        label=f"suggested {result.suggested_lr:.2e} (steepest descent)",
    )
    ax.set_xscale("log")
    ax.set_xlabel("Learning Rate")
    ax.set_ylabel("Loss")
    ax.set_title("Learning Rate Finder")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def find_learning_rate(
    cfg: ExperimentConfig,
    out_dir: str | Path,
    *,
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    num_iter: int = 100,
) -> LRFindResult:
    """The range test for `cfg`'s model and training data; writes the plot and the table."""
    from raytrain.data.local import iter_split, preprocess_for
    from raytrain.data.resolve import data_info_for, resolve_dataset
    from raytrain.models import create_model
    from raytrain.tasks.resolve import task_for, task_name_of, to_inputs
    from raytrain.train.optim import build_optimizer
    from raytrain.train.step import autocast_dtype
    from raytrain.train.transfer import apply_pretrained

    data_dir = resolve_dataset(cfg, task_name_of(cfg))
    data = data_info_for(cfg, data_dir)
    task = task_for(cfg, data)
    torch.manual_seed(cfg.training.seed)
    model = create_model(cfg.model.architecture, cfg.model.params(), data)
    task.prepare_model(model)
    apply_pretrained(model, cfg)
    optimizer = build_optimizer(model.parameters(), cfg.optimizer)
    p = preprocess_for(task, data)
    bs = cfg.dataset.batch_size

    def batches() -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for b in iter_split(data_dir, "train", p, batch_size=bs):
            if len(b["x"]) == bs:
                yield to_inputs({k: torch.from_numpy(np.asarray(b[k])) for k in "xy"}, task)

    if next(batches(), None) is None:
        raise RaytrainError(f"lr-find: {data_dir} has no full training batch of {bs} rows")
    device = torch.device("cpu")
    lrs, losses, stopped = range_test(
        model,
        optimizer,
        task.loss,
        batches,
        start_lr=start_lr,
        end_lr=end_lr,
        num_iter=num_iter,
        amp_dtype=autocast_dtype(cfg.training_params.mixed_precision, device),
        device=device,
    )
    smoothed = smooth(losses)
    result = LRFindResult(lrs, losses, smoothed, suggest(lrs, smoothed), stopped, None, None)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    result.plot = plot(result, out / "lr_finder.png")
    result.table = out / "lr_finder.csv"
    with open(result.table, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["step", "lr", "loss", "smoothed_loss"])
        for i, row in enumerate(zip(lrs, losses, smoothed, strict=True), 1):
            w.writerow([i, *row])
    return result


__all__: list[Any] = ["find_learning_rate", "range_test", "suggest"]
