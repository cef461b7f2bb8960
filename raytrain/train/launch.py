"""Launch one training run: a Ray Train `TorchTrainer` over the per-worker loop.

Used directly by `raytrain train`, and by every Tune trial (`raytrain.tune.trainable`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from raytrain.config.schema import ExperimentConfig
from raytrain.data.pipeline import build_datasets, build_rank_datasets
from raytrain.data.resolve import data_info_for
from raytrain.resources import ResourcePlan
from raytrain.train.context import InTrialContext
from raytrain.train.controller_here import run_controller_here
from raytrain.train.loop import monitor_of, run_loop, task_for, train_loop_per_worker
from raytrain.train.torch_backend import TorchBackendConfig


def build_trainer(
    cfg: ExperimentConfig,
    data_dir: str | Path,
    plan: ResourcePlan,
    *,
    name: str,
    storage_path: str | Path,
    log_dir: str | Path,
    callbacks: Sequence[Any] = (),
    datasets: dict[str, Any] | list[dict[str, Any]] | None = None,
    should_stop: Callable[[], bool] | None = None,
    janitor: Any = None,
    resume_from: str | Path | None = None,
) -> Any:
    """A ready-to-fit TorchTrainer for `cfg` on the prepared dataset in `data_dir`
    (`datasets`: the Ray Datasets of a search, built once, from `datasets_for`; default: built
    here). Per-rank datasets travel in the loop's config, each worker reading its own; a
    single dict goes to Ray Train, which splits it across the workers.

    `should_stop` (a Tune trial's): the run's controller runs in this thread
    (`raytrain.train.controller_here`), which polls it; once it returns True the Train run is
    aborted (worker group and placement group released) and `fit()` raises `RunStopped`.
    `janitor`: a search's `raytrain.train.pg_cleanup` actor, which then stands in for Ray's
    per-run cleaner actor. `resume_from`: the checkpoint folder to start from when Ray Train has
    none of its own for this run (a `raytrain train --resume` of a run it did not write)."""
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig

    data = data_info_for(cfg, data_dir)
    task = task_for(cfg, data)
    monitor, mode = monitor_of(cfg, task)
    if datasets is None:
        datasets = datasets_for(cfg, data_dir, plan.num_workers)
    loop_config = loop_config_for(cfg, data_dir, log_dir, name)
    if resume_from is not None:
        loop_config["resume_from"] = str(resume_from)
    if isinstance(datasets, list):
        loop_config["rank_datasets"], datasets = datasets, None
    worker_res: dict[str, float] = {"CPU": plan.cpus_per_worker}
    if plan.use_gpu:
        worker_res["GPU"] = plan.gpus_per_worker
    trainer = _trainer_class()(
        train_loop_per_worker,
        train_loop_config=loop_config,
        scaling_config=ScalingConfig(
            num_workers=plan.num_workers,
            use_gpu=plan.use_gpu,
            resources_per_worker=worker_res,
            placement_strategy=cfg.resources.placement_strategy,
        ),
        run_config=RunConfig(
            name=name,
            storage_path=str(storage_path),
            callbacks=list(callbacks),
            checkpoint_config=CheckpointConfig(
                num_to_keep=cfg.training_params.num_to_keep,
                checkpoint_score_attribute=monitor,
                checkpoint_score_order=mode,
            ),
            failure_config=FailureConfig(max_failures=cfg.training_params.max_failures),
        ),
        datasets=datasets,
    )
    trainer.should_stop, trainer.janitor = should_stop, janitor
    return trainer


def _trainer_class() -> type:
    """`TorchTrainer` with four changes, each a no-op where a Ray upgrade moves what it uses.

    1. Minus Ray Train's dataset actor when it is handed no datasets. Ray Train 2.60 starts a
       `DatasetManager` actor for every run, datasets or not: one more process (~1.5
       CPU-seconds of start-up) per trial, for nothing when each worker reads its own rows
       (`build_rank_datasets`).
    2. With a `janitor`, the search's placement-group cleaner replaces Ray's per-run one
       (`raytrain.train.pg_cleanup`): again one process less per trial.
    3. With `should_stop` (in a Tune trial), the run's controller runs in the trial's own
       thread instead of a new actor process (`raytrain.train.controller_here`: ~2.4 s of a
       2-worker trial), and `fit()` can be stopped from outside. A Tune trial that the
       scheduler stops would otherwise stay inside Ray's `fit()`, its worker group holding
       CPUs, and Tune could not reuse the trial's actor for the next trial (a new actor per
       trial costs ~3 s on 2 cores); here the run is aborted and `fit()` raises `RunStopped`.
    4. Torch's process group set up by `TorchBackendConfig` (`raytrain.train.torch_backend`),
       so that the controller does not import torch (~2 s of every run).
    """
    from ray.train.torch import TorchTrainer

    try:
        from ray.train.v2._internal.callbacks.datasets import DatasetsCallback
        from ray.train.v2._internal.callbacks.placement_group_callback import (
            PlacementGroupCleanerCallback,
        )
        from ray.train.v2._internal.execution.controller import TrainController
    except ImportError:  # another Ray: keep its defaults
        return TorchTrainer

    class Trainer(TorchTrainer):
        should_stop: Callable[[], bool] | None = None
        janitor: Any = None

        def __init__(self, *args: Any, torch_config: Any = None, **kwargs: Any) -> None:
            super().__init__(*args, torch_config=torch_config or TorchBackendConfig(), **kwargs)

        def _create_default_callbacks(self) -> list[Any]:
            callbacks = super()._create_default_callbacks()
            if not self.datasets:
                callbacks = [c for c in callbacks if not isinstance(c, DatasetsCallback)]
            if self.janitor is not None:
                from raytrain.train.pg_cleanup import JanitorCallback

                callbacks = [
                    JanitorCallback(self.janitor)
                    if isinstance(c, PlacementGroupCleanerCallback)
                    else c
                    for c in callbacks
                ]
            return callbacks

        def _initialize_and_run_controller(self, **controller_init_kwargs: Any) -> Any:
            if self.should_stop is None:
                return super()._initialize_and_run_controller(**controller_init_kwargs)
            return run_controller_here(TrainController, self.should_stop, **controller_init_kwargs)

    return Trainer


def run_in_trial(
    cfg: ExperimentConfig,
    data_dir: str | Path,
    *,
    name: str,
    log_dir: str | Path,
    datasets: dict[str, Any] | None = None,
) -> None:
    """Run the train loop inside the current Tune trial: one worker, no worker group.

    Same loop, same data pipeline, same checkpoints as a 1-worker `TorchTrainer`, minus the
    worker group's start-up; epochs and checkpoints are reported to Tune directly.
    """
    ctx = InTrialContext(datasets or datasets_for(cfg, data_dir), use_gpu=cfg.resources.use_gpu)
    run_loop(loop_config_for(cfg, data_dir, log_dir, name), ctx)


def loop_config_for(
    cfg: ExperimentConfig, data_dir: str | Path, log_dir: str | Path, name: str
) -> dict[str, Any]:
    """What `run_loop` is handed, wherever it runs (all JSON: it travels to Ray workers)."""
    return {
        "config": cfg.model_dump(mode="json"),
        "data_dir": str(data_dir),
        "log_dir": str(log_dir),
        "run_name": name,
    }


def datasets_for(
    cfg: ExperimentConfig, data_dir: str | Path, num_workers: int = 1
) -> dict[str, Any] | list[dict[str, Any]]:
    """The train and val Ray Datasets of `cfg` (lazy; decoded rows cached when they fit).

    For several workers, one dict per rank, each reading only that rank's rows
    (`build_rank_datasets`: no split coordinators to start per trial); with
    `on_bad_data: skip` row counts are not known in advance, so one dict that Ray Train splits.
    """
    task = task_for(cfg, data_info_for(cfg, data_dir))
    args = (
        data_dir,
        task.inputs,
        task.target,
        cfg.dataset.augmentation,
        cfg.training.seed,
        cfg.dataset.image_size,
    )
    kw: dict[str, Any] = {
        "on_bad_data": cfg.dataset.on_bad_data,
        "cache": cfg.dataset.cache_dataset,
    }
    if num_workers > 1 and cfg.dataset.on_bad_data != "skip":
        return build_rank_datasets(*args, world_size=num_workers, **kw)
    return build_datasets(*args, **kw)
