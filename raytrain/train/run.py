"""`raytrain train`: one training run (the seed's training scripts, as one command).

Writes seed 002's results layout under `<output_dir>/<name>_<timestamp>/`: `config.json`,
`best_model/` and `final_model/` (checkpoint folders), `training_log.csv`,
`tensorboard_logs/`, and Ray Train's own run folder `train/`.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from raytrain.config.schema import ExperimentConfig
from raytrain.data.checks import data_report
from raytrain.data.manifest import atomic_write_text
from raytrain.data.problems import format_report
from raytrain.data.resolve import data_info_for, resolve_dataset
from raytrain.errors import RaytrainError, failure_reason
from raytrain.resources import check_storage, plan_resources
from raytrain.train.launch import build_trainer
from raytrain.train.loop import monitor_of, task_for, task_name_of


@dataclass
class TrainResult:
    run_dir: Path
    metrics: dict[str, Any]
    best_dir: Path
    final_dir: Path
    registered: dict[str, Any] | None = None


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

    from raytrain.tune.runner import alive_nodes, ensure_ray

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
        # Ray Train finds the run's checkpoints under the same name and storage path and
        # restarts the workers from the latest one.
        if not (run_dir / "train").is_dir():
            raise RaytrainError(f"--resume {run_dir}: no Ray Train run folder 'train/' in it")
    elif run_dir.exists() and any(run_dir.iterdir()):
        raise RaytrainError(f"{run_dir}: run folder exists and is not empty")
    # the data first: a missing or corrupt dataset stops the run before anything is written
    data_dir = resolve_dataset(cfg, task_name_of(cfg))
    data = data_report(data_dir, cfg.dataset.on_bad_data, image_size=cfg.dataset.image_size)
    monitor, mode = monitor_of(cfg, task_for(cfg, data_info_for(cfg, data_dir)))
    run_dir.mkdir(parents=True, exist_ok=True)
    # what this run trains with (a resumed run's overrides, e.g. more epochs, included)
    atomic_write_text(run_dir / "config.json", json.dumps(cfg.model_dump(mode="json"), indent=2))
    atomic_write_text(run_dir / "data_report.json", json.dumps(data, indent=2))
    echo(
        f"training {cfg.model.architecture} on {data_dir} ({format_report(data)})\n"
        f"  {plan.describe()}\n  results -> {run_dir}"
    )
    trainer = build_trainer(
        cfg, data_dir, plan, name="train", storage_path=run_dir, log_dir=run_dir
    )
    from ray.train import TrainingFailedError

    try:
        result = trainer.fit()  # Train V2 raises the run's error from fit()
    except TrainingFailedError as e:
        raise RaytrainError(f"training failed: {failure_reason(e)}") from None
    if result.error:
        raise RaytrainError(f"training failed: {failure_reason(result.error)}")
    best = result.get_best_checkpoint(metric=monitor, mode=mode) or result.checkpoint
    if best is None:
        raise RaytrainError(f"{run_dir}: the run reported no checkpoint")
    best_dir, final_dir = run_dir / "best_model", run_dir / "final_model"
    for folder, source in ((best_dir, best.path), (final_dir, result.checkpoint.path)):
        shutil.rmtree(folder, ignore_errors=True)  # a resumed run's earlier copy
        shutil.copytree(source, folder)
    out = TrainResult(run_dir, dict(result.metrics), best_dir, final_dir)
    echo(
        "final: "
        + ", ".join(f"{k}={v:.4g}" for k, v in result.metrics.items() if isinstance(v, float))
    )
    if register:
        from raytrain.registry import ModelRegistry

        entry = ModelRegistry(cfg.export.registry_dir).register(
            cfg.export.registry_name or cfg.training.name,
            best_dir,
            source={"run": str(run_dir)},
            onnx=cfg.export.onnx,
            opset=cfg.export.opset,
            tolerance=cfg.export.tolerance,
        )
        out.registered = entry
        echo(f"registered {entry['name']} v{entry['version']}")
    return out
