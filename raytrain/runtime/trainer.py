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
from raytrain.runtime.contexts import InTrialContext, RayTrainContext
from raytrain.runtime.inline_controller import run_controller_here
from raytrain.runtime.resources import ResourcePlan
from raytrain.runtime.torch_backend import TorchBackendConfig
from raytrain.tasks.resolve import task_for
from raytrain.train.loop import run_loop
from raytrain.train.spec import RunSpec


def build_trainer(
    spec: RunSpec,
    plan: ResourcePlan,
    *,
    storage_path: str | Path,
    callbacks: Sequence[Any] = (),
    datasets: dict[str, Any] | list[dict[str, Any]] | None = None,
    should_stop: Callable[[], bool] | None = None,
    janitor: Any = None,
) -> Any:
    """A ready-to-fit TorchTrainer for the run `spec` describes (`datasets`: the Ray Datasets
    of a search, built once, from `datasets_for`; default: built here). Per-rank datasets
    travel in the loop's config, each worker reading its own; a single dict goes to Ray Train,
    which splits it across the workers.

    `should_stop` (a Tune trial's): the run's controller runs in this thread
    (`raytrain.runtime.inline_controller`), which polls it; once it returns True the Train run is
    aborted (worker group and placement group released) and `fit()` raises `RunStopped`.
    `janitor`: a search's `raytrain.runtime.placement_janitor` actor, which then stands in for Ray's
    per-run cleaner actor. `spec.resume_from`: the checkpoint folder to start from when Ray
    Train has none of its own for this run (a `raytrain train --resume` of a run it did not
    write)."""
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig

    cfg = spec.config
    if datasets is None:
        datasets = datasets_for(cfg, spec.data_dir, plan.num_workers)
    loop_config: dict[str, Any] = {"spec": spec}
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
            name=spec.run_name,
            storage_path=str(storage_path),
            callbacks=list(callbacks),
            checkpoint_config=CheckpointConfig(
                num_to_keep=cfg.training_params.num_to_keep,
                checkpoint_score_attribute=spec.monitor,
                checkpoint_score_order=spec.mode,
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
       (`raytrain.runtime.placement_janitor`): again one process less per trial.
    3. With `should_stop` (in a Tune trial), the run's controller runs in the trial's own
       thread instead of a new actor process (`raytrain.runtime.inline_controller`: ~2.4 s of a
       2-worker trial), and `fit()` can be stopped from outside. A Tune trial that the
       scheduler stops would otherwise stay inside Ray's `fit()`, its worker group holding
       CPUs, and Tune could not reuse the trial's actor for the next trial (a new actor per
       trial costs ~3 s on 2 cores); here the run is aborted and `fit()` raises `RunStopped`.
    4. Torch's process group set up by `TorchBackendConfig` (`raytrain.runtime.torch_backend`),
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
                from raytrain.runtime.placement_janitor import JanitorCallback

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


def train_loop_per_worker(loop_config: dict[str, Any]) -> None:
    """Ray Train's entry point: the loop in a `TorchTrainer` worker."""
    spec = loop_config["spec"]
    run_loop(spec, RayTrainContext(loop_config.get("rank_datasets"), spec.resume_from))


def run_in_trial(spec: RunSpec, datasets: dict[str, Any] | None = None) -> None:
    """Run the train loop inside the current Tune trial: one worker, no worker group.

    Same loop, same data pipeline, same checkpoints as a 1-worker `TorchTrainer`, minus the
    worker group's start-up; epochs and checkpoints are reported to Tune directly.
    """
    cfg = spec.config
    ctx = InTrialContext(
        datasets or datasets_for(cfg, spec.data_dir), use_gpu=cfg.resources.use_gpu
    )
    run_loop(spec, ctx)


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
        "read_tasks": cfg.dataset.num_workers,
    }
    if num_workers > 1 and cfg.dataset.on_bad_data != "skip":
        return build_rank_datasets(*args, world_size=num_workers, **kw)
    return build_datasets(*args, **kw)
