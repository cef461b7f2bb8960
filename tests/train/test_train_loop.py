"""The whole per-worker loop (`run_loop`) in this process, on one worker, without Ray: early
stopping, checkpoint frequency, resume, and the NaN stop.

`MemoryContext` is a third implementation of `raytrain.train.context.LoopContext` (beside Ray
Train's and the Tune trial's): shards are the prepared sample dataset decoded into memory, and
each report is kept, its checkpoint folder copied away as Ray would.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from raytrain.config import load_config_text
from raytrain.config.schema import ExperimentConfig
from raytrain.data.local import iter_split, preprocess_for
from raytrain.data.resolve import data_info_for, resolve_dataset
from raytrain.tasks.resolve import task_for, task_name_of
from raytrain.train.loop import NonFiniteLossError, run_loop
from raytrain.train.spec import build_run_spec


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """Tiny tensors: one intra-op thread, so a busy machine's thread pool does not dominate."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


class MemoryShard:
    def __init__(self, batches: list[dict[str, np.ndarray]]) -> None:
        self.x = np.concatenate([b["x"] for b in batches])
        self.y = np.concatenate([b["y"] for b in batches])

    def iter_torch_batches(
        self, batch_size: int, drop_last: bool = False, device: Any = None, **_: Any
    ) -> Iterator[dict[str, torch.Tensor]]:
        n = len(self.x) - (len(self.x) % batch_size if drop_last else 0)
        for i in range(0, n, batch_size):
            yield {
                "x": torch.from_numpy(self.x[i : i + batch_size]),
                "y": torch.from_numpy(self.y[i : i + batch_size]),
            }


class Folder:
    def __init__(self, path: Path) -> None:
        self.path = path

    @contextlib.contextmanager
    def as_directory(self) -> Iterator[str]:
        yield str(self.path)


class MemoryContext:
    world_rank = 0
    world_size = 1

    def __init__(self, cfg: ExperimentConfig, data_dir: Path, keep: Path, resume: Any = None):
        task = task_for(cfg, data_info_for(cfg, data_dir))
        p = preprocess_for(task, data_info_for(cfg, data_dir))
        self.shards = {s: MemoryShard(list(iter_split(data_dir, s, p))) for s in ("train", "val")}
        self.keep = keep
        self.resume = resume
        self.reports: list[tuple[dict[str, Any], Folder | None]] = []
        self.epochs_done: list[Any] = []

    def dataset_shard(self, name: str) -> MemoryShard:
        return self.shards[name]

    def checkpoint(self) -> Any:
        return self.resume

    def device(self) -> torch.device:
        return torch.device("cpu")

    def prepare_model(self, model: torch.nn.Module) -> torch.nn.Module:
        return model

    def num_nodes(self) -> int:
        return 1

    def epoch_done(self, record: Any) -> None:
        self.epochs_done.append(record)

    def report(self, metrics: dict[str, Any], checkpoint_dir: str | None) -> None:
        saved = None
        if checkpoint_dir:
            saved = Folder(self.keep / f"epoch{metrics['epoch']}")
            shutil.copytree(checkpoint_dir, saved.path)
        self.reports.append((dict(metrics), saved))


def run(tmp_path: Path, extra: str, resume: Any = None, tag: str = "a") -> MemoryContext:
    cfg = load_config_text(
        "dataset: {batch_size: 8, sample: {num_train: 32, num_val: 16, num_test: 8,"
        " image_size: 64}}\n"
        "model: {architecture: coefficient_optimizer, hidden_dims: [8, 4], dropout: 0.0}\n"
        "logging: {visualizations: false, tensorboard: false}\n" + extra
    )
    data_dir = resolve_dataset(cfg, task_name_of(cfg))
    keep = tmp_path / f"ckpt_{tag}"
    keep.mkdir()
    ctx = MemoryContext(cfg, data_dir, keep, resume)
    run_loop(build_run_spec(cfg, data_dir, log_dir=tmp_path / "logs", run_name="t"), ctx)
    return ctx


def test_early_stopping_counts_patience_in_the_monitored_mode(tmp_path: Path) -> None:
    # `epoch` in mode min: epoch 1 is the best there will be, so every later epoch is "bad"
    stop = "training_params: {num_epochs: 4, early_stopping_patience: 2, monitor_metric: epoch,"
    ctx = run(tmp_path, stop + " monitor_mode: min}\n", tag="min")
    assert [m["epoch"] for m, _ in ctx.reports] == [1, 2, 3]
    assert [m["is_best"] for m, _ in ctx.reports] == [True, False, False]
    assert [m["finished"] for m, _ in ctx.reports] == [False, False, True]  # its own stop
    ctx = run(tmp_path, stop + " monitor_mode: max}\n", tag="max")  # always improving
    assert [m["epoch"] for m, _ in ctx.reports] == [1, 2, 3, 4]
    assert [m["finished"] for m, _ in ctx.reports] == [False, False, False, True]


def test_checkpoints_every_n_epochs_plus_best_and_last(tmp_path: Path) -> None:
    ctx = run(
        tmp_path,
        "training_params: {num_epochs: 5, save_frequency: 2, monitor_metric: epoch,"
        " monitor_mode: min}\n",
    )
    saved = [m["epoch"] for m, ckpt in ctx.reports if ckpt is not None]
    assert saved == [1, 2, 4, 5]  # 1: best, 2 and 4: every 2nd, 5: last


def test_resume_continues_epochs_steps_and_schedule(tmp_path: Path) -> None:
    sched = "scheduler: {type: exponential_decay, decay_rate: 0.5, decay_steps: 1}\n"
    first = run(tmp_path, sched + "training_params: {num_epochs: 4}\n", tag="full")
    lrs = [m["lr"] for m, _ in first.reports]
    epoch2 = first.reports[1][1]  # saved every epoch (save_frequency 1)
    assert epoch2 is not None
    resumed = run(tmp_path, sched + "training_params: {num_epochs: 4}\n", epoch2, tag="res")
    assert [m["epoch"] for m, _ in resumed.reports] == [3, 4]
    assert [m["lr"] for m, _ in resumed.reports] == pytest.approx(lrs[2:])  # step count kept
    assert [m["train_loss"] for m, _ in resumed.reports] == pytest.approx(
        [m["train_loss"] for m, _ in first.reports[2:]], rel=1e-5
    )  # same weights and optimizer state: the same curve


def test_non_finite_loss_stops_the_run_with_the_reason(tmp_path: Path) -> None:
    with pytest.raises(NonFiniteLossError, match=r"epoch \d+, step \d+: loss is (nan|inf)"):
        run(
            tmp_path,
            "optimizer: {type: SGD, learning_rate: 10.0, momentum: 0.9}\n"
            "training_params: {num_epochs: 50}\n",
        )
