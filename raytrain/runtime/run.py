"""`raytrain train`: one training run (a training script, as one command).

Writes the results layout under `<output_dir>/<name>_<timestamp>/`: `config.json`,
`best_model/` and `final_model/` (checkpoint folders), `training_log.csv`,
`tensorboard_logs/`, and the checkpoints in `train/`.

A one-worker run on one machine trains right here, in this process (`trains_here`); any other
runs a Ray Train `TorchTrainer` worker group (DDP), whose own run folder is then `train/`.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from raytrain.artifacts.checkpoint import replace_folder
from raytrain.artifacts.storage import check_writable, is_remote
from raytrain.config.schema import ExperimentConfig
from raytrain.data.checks import data_report
from raytrain.data.manifest import atomic_write_text
from raytrain.data.problems import format_report
from raytrain.data.resolve import resolve_dataset
from raytrain.errors import RaytrainError, failure_reason
from raytrain.evaluation.held_out import score_test_split
from raytrain.runtime.checkpoint_keeper import CheckpointKeeper, latest_checkpoint
from raytrain.runtime.resources import (
    ResourcePlan,
    check_places,
    check_storage,
    check_train_folder,
    plan_resources,
)
from raytrain.runtime.trainer import build_trainer
from raytrain.tasks.resolve import task_name_of
from raytrain.train.spec import RunSpec, build_run_spec
from raytrain.viz.held_out import TEST_PLOTS_DIR

#: the file by which Ray Train restores a run's checkpoint records on resume (Ray 2.60)
RAY_TRAIN_SNAPSHOT = "checkpoint_manager_snapshot.json"


@dataclass
class TrainResult:
    run_dir: Path
    metrics: dict[str, Any]
    best_dir: Path
    final_dir: Path
    registered: dict[str, Any] | None = None
    #: the best checkpoint on the test split (`test_` metrics); None without one
    test_metrics: dict[str, float] | None = None


def train_command_config(
    config: Path | None,
    config_option: Path | None,
    resume_dir: Path | None,
    overrides: dict[str, Any],
    quick: bool,
) -> tuple[ExperimentConfig, Path | None]:
    """The config of `raytrain train` (CONFIG, `--config FILE`, or the `config.json` of the
    run `--resume` continues) and the run folder (None: a new timestamped one)."""
    from raytrain.config import load_config

    if config is not None and config_option is not None:
        raise RaytrainError(f"give the config once: {config} or --config {config_option}")
    path = config or config_option
    if resume_dir is not None:
        path = path or resume_dir / "config.json"
        if not Path(path).exists():
            raise RaytrainError(f"--resume {resume_dir}: no config.json (not a raytrain run)")
    if path is None:
        raise RaytrainError("give a config: raytrain train CONFIG.yaml (or --config FILE)")
    cfg = load_config(Path(path), overrides=overrides, quick=quick)
    return cfg, resume_dir.absolute() if resume_dir is not None else None


def run_training(
    cfg: ExperimentConfig,
    *,
    address: str | None = None,
    run_dir: Path | None = None,
    resume: bool = False,
    register: bool = False,
    echo: Callable[[str], None] = print,
    verbose: bool = False,
) -> TrainResult:
    import ray

    from raytrain.runtime.session import alive_nodes, ensure_ray

    check_places(cfg, register)  # data paths and every folder written, before Ray starts
    check_train_folder(cfg)
    if register and is_remote(cfg.export.registry_dir):
        check_writable(cfg.export.registry_dir, "export.registry_dir")
    ensure_ray(address, verbose)
    check_storage(
        cfg.tune.storage_path or cfg.training.output_dir, cfg.tune.shared_storage, alive_nodes()
    )
    res = ray.cluster_resources()
    plan = plan_resources(cfg.resources, float(res.get("CPU", 0)), float(res.get("GPU", 0)))
    if run_dir is None:
        stamp = datetime.now().strftime("%Y%m%d_%H%M%S")
        root = Path(cfg.tune.storage_path or cfg.training.output_dir)
        run_dir = (root / f"{cfg.training.name}_{stamp}").absolute()
    if resume:
        # the run continues from the latest checkpoint in its 'train/' folder
        if not (run_dir / "train").is_dir():
            raise RaytrainError(f"--resume {run_dir}: no run folder 'train/' in it")
    elif run_dir.exists() and any(run_dir.iterdir()):
        raise RaytrainError(f"{run_dir}: run folder exists and is not empty")
    # the data first: a missing or corrupt dataset stops the run before anything is written
    data_dir = resolve_dataset(cfg, task_name_of(cfg))
    data = data_report(data_dir, cfg.dataset.on_bad_data, image_size=cfg.dataset.image_size)
    resume_from = latest_checkpoint(run_dir / "train") if resume else None
    spec = build_run_spec(
        cfg, data_dir, log_dir=run_dir, run_name="train", resume_from=resume_from, progress=True
    )
    run_dir.mkdir(parents=True, exist_ok=True)
    # what this run trains with (a resumed run's overrides, e.g. more epochs, included)
    atomic_write_text(run_dir / "config.json", json.dumps(cfg.model_dump(mode="json"), indent=2))
    atomic_write_text(run_dir / "data_report.json", json.dumps(data, indent=2))
    # A run Ray Train wrote goes on in Ray Train, which restores its own checkpoint records.
    ray_train_run = (run_dir / "train" / RAY_TRAIN_SNAPSHOT).exists()
    here = trains_here(cfg, plan) and not ray_train_run
    echo(
        f"training {cfg.model.architecture} on {data_dir} ({format_report(data)})\n"
        f"  {plan.describe_run(here)}\n  results -> {run_dir}"
    )
    if resume and resume_from is None:
        echo("  no checkpoint to resume from yet: starting at epoch 1")
    run = _Run(spec, plan, run_dir)
    metrics, best, final = (_fit_here if here else _fit_worker_group)(run)
    best_dir, final_dir = run_dir / "best_model", run_dir / "final_model"
    for folder, source in ((best_dir, best), (final_dir, final)):
        replace_folder(source, folder)  # a resumed run's earlier copy is replaced whole
    result = TrainResult(run_dir, metrics, best_dir, final_dir)
    echo("final: " + ", ".join(f"{k}={v:.4g}" for k, v in metrics.items() if isinstance(v, float)))
    plots = run_dir / TEST_PLOTS_DIR if cfg.logging.visualizations else None
    result.test_metrics = score_test_split(best_dir, data_dir, echo, plots)
    if register:
        from raytrain.artifacts.registry import register_run
        from raytrain.data.provenance import data_provenance

        entry = register_run(
            cfg,
            best_dir,
            source={"run": str(run_dir)},
            extra_metrics=result.test_metrics,
            data=data_provenance(data_dir),
        )
        result.registered = entry
        echo(f"registered {entry['name']} v{entry['version']}")
    write_run_summary(result, data_dir)
    return result


def write_run_summary(result: TrainResult, data_dir: str | Path) -> None:
    """`summary.json` of a training run: last epoch's metrics, the best checkpoint's test
    metrics, where the checkpoints are, what was registered, the data's fingerprint."""
    from raytrain.data.provenance import data_fingerprint

    reg = result.registered
    summary = {
        "run_dir": str(result.run_dir),
        "final_metrics": result.metrics,
        "test_metrics": result.test_metrics,
        "best_model": str(result.best_dir),
        "final_model": str(result.final_dir),
        "registered": {k: reg[k] for k in ("name", "version", "path")} if reg else None,
        "data": {"path": str(data_dir), "fingerprint": data_fingerprint(data_dir)},
    }
    atomic_write_text(result.run_dir / "summary.json", json.dumps(summary, indent=2, default=str))


def trains_here(cfg: ExperimentConfig, plan: ResourcePlan) -> bool:
    """Whether the run trains in this process (`DriverContext`) rather than in a Ray Train
    worker group: one worker, on a one-node Ray (this machine is the worker's), with no
    worker-group restarts asked for (`max_failures`), and any GPU it wants visible here."""
    import torch

    from raytrain.runtime.session import alive_nodes

    return (
        plan.num_workers == 1
        and cfg.training_params.max_failures == 0
        and alive_nodes() == 1
        and (not plan.use_gpu or torch.cuda.is_available())
    )


@dataclass(frozen=True)
class _Run:
    """What a run trains with, worked out once by `run_training` for either way it trains."""

    spec: RunSpec
    plan: ResourcePlan
    run_dir: Path


def _fit_here(run: _Run) -> tuple[dict[str, Any], Path, Path]:
    """Train in this process; (last metrics, best checkpoint, latest checkpoint).

    The console shows the loop's epoch lines and Ray Data's warnings, not Ray Data's notices
    about each dataset execution (three lines per dataset per epoch; in a worker group they
    are the workers' to show)."""
    from raytrain.runtime.contexts import DriverContext
    from raytrain.runtime.trainer import datasets_for
    from raytrain.train.loop import run_loop

    spec = run.spec
    cfg, resume_from = spec.config, spec.resume_from
    keeper = CheckpointKeeper(
        run.run_dir / "train", spec.monitor, spec.mode, cfg.training_params.num_to_keep
    )
    try:
        with _quiet_ray_data():
            datasets = datasets_for(cfg, spec.data_dir)
            assert isinstance(datasets, dict)  # one worker: one dict of whole datasets
            ctx = DriverContext(
                datasets,
                keeper,
                resume_from=resume_from,
                use_gpu=run.plan.use_gpu,
            )
            run_loop(spec, ctx)
    except Exception as e:  # the same one line as a worker group's failure gives
        raise RaytrainError(f"training failed: {failure_reason(e)}") from None
    final = ctx.last_checkpoint or (Path(resume_from) if resume_from else None)
    if final is None:
        raise RaytrainError(f"{run.run_dir}: the run reported no checkpoint")
    return ctx.last_metrics, keeper.best() or final, final


class _Below(logging.Filter):
    """Drops a logger's records below `level`."""

    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= self.level


#: Ray Data's loggers that speak once per dataset execution, and what of theirs still shows
_RAY_DATA_CHATTER = {
    # "Starting execution of Dataset ...", its plan, "execution finished in ..."
    "ray.data._internal.execution.streaming_executor": logging.WARNING,
    # "Progress bars disabled. To enable, set ..." (raytrain turns them off on purpose)
    "ray.data._internal.progress": logging.ERROR,
}


@contextlib.contextmanager
def _quiet_ray_data() -> Iterator[None]:
    """Without Ray Data's per-execution chatter; its warnings and errors still show. Logger
    filters, not levels: Ray Data sets its loggers' levels itself as it runs."""
    filters = {name: _Below(level) for name, level in _RAY_DATA_CHATTER.items()}
    for name, f in filters.items():
        logging.getLogger(name).addFilter(f)
    try:
        yield
    finally:
        for name, f in filters.items():
            logging.getLogger(name).removeFilter(f)


def _fit_worker_group(run: _Run) -> tuple[dict[str, Any], Path, Path]:
    """Train in a Ray Train worker group; (last metrics, best checkpoint, latest checkpoint)."""
    from ray.train import TrainingFailedError

    trainer = build_trainer(run.spec, run.plan, storage_path=run.run_dir)
    try:
        result = trainer.fit()  # Train V2 raises the run's error from fit()
    except TrainingFailedError as e:
        raise RaytrainError(f"training failed: {failure_reason(e)}") from None
    if result.error:
        raise RaytrainError(f"training failed: {failure_reason(result.error)}")
    best = result.get_best_checkpoint(metric=run.spec.monitor, mode=run.spec.mode)
    best = best or result.checkpoint
    if best is None:
        raise RaytrainError(f"{run.run_dir}: the run reported no checkpoint")
    return dict(result.metrics), Path(best.path), Path(result.checkpoint.path)
