"""`RunSpec`: what one training run trains, worked out once on the driver and handed to workers.

The config, the data it trains on, its task and the metric that judges it are decided in one
place (`build_run_spec`), so the driver, every worker and the registry agree on them; the
loop reads them from here rather than working them out again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from raytrain.config.schema import ExperimentConfig
from raytrain.data.manifest import read_manifest
from raytrain.data.resolve import data_info_for
from raytrain.models import DataInfo
from raytrain.tasks import Task
from raytrain.tasks.resolve import monitor_of, task_for


@dataclass(frozen=True)
class RunSpec:
    """One run's inputs; frozen and picklable (it travels to Ray Train workers)."""

    config: ExperimentConfig
    data: DataInfo  # shapes and classes of the prepared dataset in `data_dir`
    task: str  # the task's registered name ("edges", "regression", ...)
    monitor: str  # the metric that picks the best epoch, stops early and drives the search
    mode: str  # "max" or "min"
    train_rows: int  # rows in the training split
    data_dir: str  # the prepared dataset folder
    log_dir: str  # where rank 0 writes logs and plots
    run_name: str
    resume_from: str | None = None  # a checkpoint folder to start from (`raytrain train --resume`)
    progress: bool = False  # per-batch progress on rank 0 (`raytrain train`; not in a search)
    #: `log_dir` is copied here when the run ends (a search on object storage: s3://, gs://)
    log_uri: str | None = None

    def build_task(self) -> Task:
        """The task object (loss, metrics) for this run's data: built where it is used, since
        it holds tensors that belong on the worker's device."""
        return task_for(self.config, self.data)

    def steps_per_epoch(self, world_size: int) -> int:
        """Optimizer steps per epoch on each worker, known before training (the schedules need
        the run's length): full batches of this worker's share of the training split, grouped
        by gradient accumulation (a short last group is a step too)."""
        batches = (self.train_rows // max(1, world_size)) // self.config.dataset.batch_size
        accumulation = self.config.training_params.gradient_accumulation_steps
        return max(1, math.ceil(batches / accumulation))

    def config_json(self) -> dict[str, Any]:
        """The config as saved beside checkpoints and logs (plain JSON)."""
        return self.config.model_dump(mode="json")


def build_run_spec(
    cfg: ExperimentConfig,
    data_dir: str | Path,
    log_dir: str | Path,
    run_name: str,
    resume_from: str | Path | None = None,
    progress: bool = False,
    log_uri: str | None = None,
) -> RunSpec:
    """The spec of a run of `cfg` on the prepared dataset in `data_dir`."""
    data = data_info_for(cfg, data_dir)
    task = task_for(cfg, data)
    monitor, mode = monitor_of(cfg, task)
    return RunSpec(
        config=cfg,
        data=data,
        task=task.name,
        monitor=monitor,
        mode=mode,
        train_rows=read_manifest(data_dir).splits["train"].count,
        data_dir=str(data_dir),
        log_dir=str(log_dir),
        run_name=run_name,
        resume_from=str(resume_from) if resume_from is not None else None,
        progress=progress,
        log_uri=log_uri,
    )
