"""The Tune trainable of a search: one function per trial, which runs the train loop in the
trial itself (one worker) or a TorchTrainer worker group over it (DDP)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from raytrain.artifacts.storage import is_remote, join
from raytrain.config.load import apply_overrides, validate
from raytrain.config.schema import ExperimentConfig
from raytrain.config.search_space import SearchSpace
from raytrain.runtime.resources import (
    TRIAL_DRIVER_CPUS,
    ResourcePlan,
)

#: Searched paths that change what the data pipeline yields; any of them -> datasets per trial.
_DATA_PATHS = ("dataset.", "training.seed", "training.task", "model.architecture")


_NOT_DATA_PATHS = ("dataset.batch_size", "dataset.num_workers")


def shared_datasets(cfg: ExperimentConfig, space: SearchSpace, data_dir: Path) -> Any:
    """The search's Ray Datasets, built once in the driver and handed to every trial (decoded
    rows are cached in the object store once, not once per trial) — or None when the search
    varies the data itself (augmentation, image size, seed), so each trial builds its own."""
    from raytrain.runtime.trainer import datasets_for

    varied = [p for p in space.entries if p.startswith(_DATA_PATHS) and p not in _NOT_DATA_PATHS]
    return None if varied else datasets_for(cfg, data_dir, cfg.resources.num_workers)


def make_trainable(
    base: dict[str, Any],
    space: SearchSpace,
    data_dir: str,
    plan: ResourcePlan,
    experiment_dir: str,
    datasets: Any = None,
    janitor: Any = None,
) -> Any:
    """The Tune trainable of a search. `janitor`: the search's placement-group cleaner
    (`raytrain.runtime.placement_janitor`), for multi-worker trials."""
    from ray import tune

    in_trial = plan.num_workers == 1

    def trial(params: dict[str, Any], datasets: Any = None, janitor: Any = None) -> None:
        import ray.data

        from raytrain.data.pipeline import scope_passes
        from raytrain.runtime import trial_link
        from raytrain.runtime.inline_controller import RunStopped
        from raytrain.runtime.trainer import build_trainer, run_in_trial
        from raytrain.train.spec import build_run_spec

        ray.data.DataContext.get_current().enable_progress_bars = False
        cfg = validate(apply_overrides(base, space.decode(params)), source="trial config")
        trial_id = tune.get_context().get_trial_id()
        if datasets is not None:  # shared by the search: augment as if this trial were alone
            datasets = scope_passes(datasets, trial_id)
        trials_dir = join(experiment_dir, "trials")
        log_dir, log_uri = trials_dir, None
        if is_remote(experiment_dir):  # logs on this node, copied to the bucket at the end
            log_uri = f"{trials_dir}/{trial_id}"
            log_dir = Path(tempfile.gettempdir()) / "raytrain-trials" / cfg.training.name
        spec = build_run_spec(
            cfg, data_dir, log_dir=Path(log_dir) / trial_id, run_name=trial_id, log_uri=log_uri
        )
        if in_trial:  # one worker: run the loop right here, no worker group to start
            run_in_trial(spec, datasets=datasets)
            return
        stop = trial_link.stop_signal()
        trainer = build_trainer(
            spec,
            plan,
            storage_path=trials_dir,
            callbacks=[trial_link.ReportToTune()],
            datasets=datasets,
            should_stop=stop.is_set,
            janitor=janitor,
        )
        try:
            trainer.fit()
        except RunStopped:  # the scheduler stopped this trial; its actor goes to the next one
            return

    if not in_trial:
        trainable = tune.with_parameters(trial, datasets=datasets, janitor=janitor)
        return tune.with_resources(trainable, {"CPU": TRIAL_DRIVER_CPUS})
    trainable = tune.with_parameters(trial, datasets=datasets)
    worker: dict[str, float] = {"CPU": plan.cpus_per_worker}
    if plan.use_gpu:
        worker["GPU"] = plan.gpus_per_worker
    return tune.with_resources(trainable, worker)
