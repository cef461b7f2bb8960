"""`raytrain tune`: plan a search, run it with Ray Tune, pick, register and export the best.

Each Tune trial is a small *function trainable* that builds a `TorchTrainer` for its sampled
config and calls `fit()`; `TuneReportCallback` forwards every epoch's metrics (and the
checkpoint path) from rank 0 to Tune, so ASHA can stop poor trials early and Optuna sees
every intermediate result (Ray Train V2: a Tuner takes no Trainer directly).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from raytrain.config.load import apply_overrides, validate
from raytrain.config.schema import ExperimentConfig
from raytrain.data.manifest import atomic_write_text
from raytrain.data.resolve import resolve_dataset
from raytrain.errors import RaytrainError
from raytrain.resources import TRIAL_DRIVER_CPUS, ResourcePlan, check_storage, plan_resources
from raytrain.search_space import SearchSpace, build_search_space
from raytrain.train.loop import monitor_of, task_name_of

Printer = Callable[[str], None]


@dataclass
class SearchPlan:
    """Everything decided before a search starts; `--dry-run` prints it."""

    config: ExperimentConfig
    space: SearchSpace
    task: str
    metric: str
    mode: str
    searcher: str
    scheduler: str
    num_samples: int
    resources: ResourcePlan
    experiment_dir: Path
    data_dir: Path | None = None

    def describe(self) -> str:
        lines = [
            f"experiment   {self.config.training.name} -> {self.experiment_dir}",
            f"model        {self.config.model.architecture} (task: {self.task})",
            f"objective    {self.mode} {self.metric}",
            f"searcher     {self.searcher}, {self.num_samples} trial(s)",
            f"scheduler    {self.scheduler}",
            f"resources    {self.resources.describe()}",
            f"dataset      {self.data_dir or 'built-in sample data (generated on first use)'}",
            "search space",
        ]
        for path, entry in self.space.entries.items():
            spec = entry.model_dump(exclude_defaults=True)
            lines.append(f"  {path:<28} {json.dumps(spec, default=str)}")
        if not self.space.entries:
            lines.append("  (empty: every trial trains the same config)")
        return "\n".join(lines)


def cluster_resources(address: str | None, verbose: bool = False) -> tuple[float, float]:
    import ray

    ensure_ray(address, verbose)
    res = ray.cluster_resources()
    return float(res.get("CPU", 0)), float(res.get("GPU", 0))


def alive_nodes() -> int:
    import ray

    return sum(1 for n in ray.nodes() if n.get("Alive"))


def ensure_ray(address: str | None = None, verbose: bool = False) -> None:
    """Connect to `address` (a running cluster) or start a local Ray once per process.

    Workers' logs stay in Ray's log folder unless `verbose`: Tune's trial table and raytrain's
    summary are what a user reads; a failing trial's error is summarized at the end.
    """
    import ray

    if ray.is_initialized():
        return
    from raytrain.ray_address import check_address

    check_address(address)  # seconds, where ray.init would retry a dead address for minutes
    try:
        ray.init(address=address or None, log_to_driver=verbose)
    except ConnectionError as e:
        raise RaytrainError(f"--address {address}: cannot connect to Ray ({e})") from None
    import ray.data

    ray.data.DataContext.get_current().enable_progress_bars = False


def plan_search(
    cfg: ExperimentConfig,
    *,
    cluster_cpus: float,
    cluster_gpus: float,
    experiment_dir: Path | None = None,
) -> SearchPlan:
    from raytrain.data.augment import build_augmentation

    task_name = task_name_of(cfg)
    space = build_search_space(cfg)
    build_augmentation(
        cfg.dataset.augmentation
        if isinstance(cfg.dataset.augmentation, str)
        else list(cfg.dataset.augmentation)
    )  # fail now, not in a trial
    from raytrain.tasks import task_class

    metric, mode = monitor_of(cfg, task_class(task_name))
    _check_models_build(cfg, space, task_name)
    if space.has_grid and cfg.search.method != "random":
        raise RaytrainError(
            "search_space: grid entries need search.method: random "
            "(Optuna samplers cannot enumerate a grid)"
        )
    num_samples = cfg.search.num_trials
    if space.has_grid:
        num_samples = max(1, math.ceil(cfg.search.num_trials / space.grid_size()))
    plan = plan_resources(
        cfg.resources,
        cluster_cpus,
        cluster_gpus,
        num_trials=num_samples * max(1, space.grid_size()),
    )
    searcher = "random" if cfg.search.method == "random" else "optuna TPE"
    scheduler = "FIFO (every trial runs all epochs)"
    if cfg.tune.scheduler == "asha":
        scheduler = (
            f"ASHA (grace {cfg.tune.grace_period} epoch(s), reduction "
            f"{cfg.tune.reduction_factor:g}, max {cfg.training_params.num_epochs})"
        )
    if experiment_dir is None:
        stamp = datetime.now().strftime("%Y%m%d_%H%M%S")
        root = Path(cfg.tune.storage_path or cfg.training.output_dir)
        experiment_dir = (root / f"{cfg.training.name}_{stamp}").absolute()
    return SearchPlan(
        cfg, space, task_name, metric, mode, searcher, scheduler, num_samples, plan, experiment_dir
    )


def _check_models_build(cfg: ExperimentConfig, space: SearchSpace, task: str) -> None:
    """Build the model for the base config and for every searched model value, on the meta
    device (no memory, no compute): a U-Net too deep for the images fails here, not in trial 7."""
    import torch

    from raytrain.data.resolve import expected_data_info
    from raytrain.models import create_model
    from raytrain.search_space import probe_values

    info = expected_data_info(cfg, task)
    if info is None:
        return
    variants: list[dict[str, Any]] = [{}]
    for path, entry in space.entries.items():
        if path.startswith("model."):
            variants += [{path: v} for v in probe_values(entry)]
    base = cfg.model_dump(mode="json")
    for overrides in variants:
        model_cfg = validate(apply_overrides(base, overrides)).model
        where = f" (search_space {overrides})" if overrides else ""
        try:
            with torch.device("meta"):
                create_model(model_cfg.architecture, model_cfg.params(), info)
        except RaytrainError as e:
            raise RaytrainError(f"{e}{where}") from None


def _make_trainable(
    base: dict[str, Any], space: SearchSpace, data_dir: str, plan: ResourcePlan, experiment_dir: str
) -> Any:
    from ray import tune

    in_trial = plan.num_workers == 1

    def trial(params: dict[str, Any]) -> None:
        import ray.data
        from ray.tune.integration.ray_train import TuneReportCallback

        from raytrain.train.launch import build_trainer, run_in_trial

        ray.data.DataContext.get_current().enable_progress_bars = False
        cfg = validate(apply_overrides(base, space.decode(params)), source="trial config")
        trial_id = tune.get_context().get_trial_id()
        trials_dir = Path(experiment_dir) / "trials"
        if in_trial:  # one worker: run the loop right here, no worker group to start
            run_in_trial(cfg, data_dir, name=trial_id, log_dir=trials_dir / trial_id)
            return
        trainer = build_trainer(
            cfg,
            data_dir,
            plan,
            name=trial_id,
            storage_path=trials_dir,
            log_dir=trials_dir / trial_id,
            callbacks=[TuneReportCallback()],
        )
        trainer.fit()

    if not in_trial:
        return tune.with_resources(trial, {"CPU": TRIAL_DRIVER_CPUS})
    worker: dict[str, float] = {"CPU": plan.cpus_per_worker}
    if plan.use_gpu:
        worker["GPU"] = plan.gpus_per_worker
    return tune.with_resources(trial, worker)


@dataclass
class SearchResult:
    experiment_dir: Path
    metric: str
    mode: str
    trials: list[dict[str, Any]]
    best: dict[str, Any] | None
    registered: dict[str, Any] | None = None
    errors: list[str] = field(default_factory=list)


def _best_epoch(df: Any, metric: str, sign: int) -> Any:
    """The row of `df` with the best `metric`, or None when no row has it."""
    scored = df[df[metric].notna()] if metric in df else df.iloc[0:0]
    return None if scored.empty else scored.loc[(scored[metric] * sign).idxmax()]


def _collect(
    results: Any, space: SearchSpace, metric: str, mode: str
) -> tuple[list[dict[str, Any]], dict[str, Any] | None, list[str]]:
    """One row per trial, the best (trial, epoch) whose checkpoint is on disk, and the errors.

    Checkpoints are kept by score (`num_to_keep`), so the best epoch's usually is; the check
    for the folder makes a missing one fall back to the trial's next best epoch, not crash.
    """
    sign = 1 if mode == "max" else -1
    trials, errors = [], []
    best: dict[str, Any] | None = None
    for r in results:
        trial_id = (r.metrics or {}).get("trial_id") or (Path(r.path).name if r.path else "?")
        params = {k: v for k, v in (r.config or {}).items() if k in space.param_space}
        overrides = space.decode(params)
        row: dict[str, Any] = {
            "trial": trial_id,
            "status": "ERROR" if r.error else "OK",
            **overrides,
        }
        if r.error:
            errors.append(f"trial {trial_id}: {str(r.error).strip().splitlines()[-1]}")
        df = r.metrics_dataframe
        if df is not None and "checkpoint_path" not in df and r.best_checkpoints:
            # in-trial runs report checkpoints to Tune itself: find them by epoch
            paths = {m.get("epoch"): c.path for c, m in r.best_checkpoints}
            df = df.assign(checkpoint_path=df["epoch"].map(paths))
        top = None if df is None else _best_epoch(df, metric, sign)
        if top is not None:
            row["epochs"] = int(df["epoch"].max())
            row[f"best_{metric}"] = float(top[metric])
            if "checkpoint_path" in df:
                saved = df[
                    df["checkpoint_path"].map(lambda p: isinstance(p, str) and Path(p).is_dir())
                ]
                pick = _best_epoch(saved, metric, sign)
                if pick is not None and (
                    best is None or sign * pick[metric] > sign * best["value"]
                ):
                    best = {
                        "trial": trial_id,
                        "value": float(pick[metric]),
                        "epoch": int(pick["epoch"]),
                        "checkpoint_path": pick["checkpoint_path"],
                        "params": overrides,
                    }
        trials.append(row)
    return trials, best, errors


def format_table(trials: list[dict[str, Any]]) -> str:
    if not trials:
        return "(no trials)"
    cols = list(dict.fromkeys(k for t in trials for k in t))

    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.4g}"
        return "" if v is None else str(v)

    widths = {c: max(len(c), *(len(fmt(t.get(c))) for t in trials)) for c in cols}
    head = "  ".join(c.ljust(widths[c]) for c in cols)
    body = ["  ".join(fmt(t.get(c)).ljust(widths[c]) for c in cols) for t in trials]
    return "\n".join([head, "-" * len(head), *body])


def run_search(
    cfg: ExperimentConfig,
    *,
    address: str | None = None,
    experiment_dir: Path | None = None,
    echo: Printer = print,
    verbose: bool = False,
) -> SearchResult:
    """Run the whole search; register and export the best trial when configured."""
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler
    from ray.tune.search.basic_variant import BasicVariantGenerator
    from ray.tune.search.optuna import OptunaSearch

    cpus, gpus = cluster_resources(address, verbose)
    check_storage(
        cfg.tune.storage_path or cfg.training.output_dir, cfg.tune.shared_storage, alive_nodes()
    )
    plan = plan_search(cfg, cluster_cpus=cpus, cluster_gpus=gpus, experiment_dir=experiment_dir)
    exp = plan.experiment_dir
    if exp.exists() and any(exp.iterdir()):
        raise RaytrainError(f"{exp}: experiment folder exists and is not empty")
    exp.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    plan.data_dir = resolve_dataset(cfg, plan.task)
    echo(plan.describe())
    atomic_write_text(
        exp / "config.yaml", yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)
    )
    if cfg.search.method == "random":
        searcher: Any = BasicVariantGenerator(random_state=cfg.training.seed)
    else:
        import optuna

        searcher = OptunaSearch(sampler=optuna.samplers.TPESampler(seed=cfg.training.seed))
    scheduler: Any = FIFOScheduler()
    if cfg.tune.scheduler == "asha":
        scheduler = ASHAScheduler(
            time_attr="training_iteration",
            max_t=cfg.training_params.num_epochs,
            grace_period=cfg.tune.grace_period,
            reduction_factor=cfg.tune.reduction_factor,
        )
    tuner = tune.Tuner(
        _make_trainable(
            cfg.model_dump(mode="json"), plan.space, str(plan.data_dir), plan.resources, str(exp)
        ),
        param_space=plan.space.param_space,
        tune_config=tune.TuneConfig(
            metric=plan.metric,
            mode=plan.mode,
            num_samples=plan.num_samples,
            search_alg=searcher,
            scheduler=scheduler,
            max_concurrent_trials=plan.resources.max_concurrent_trials,
        ),
        run_config=tune.RunConfig(
            name="tune",
            storage_path=str(exp),
            verbose=1,
            # in-trial runs checkpoint through Tune: keep each trial's best two
            checkpoint_config=tune.CheckpointConfig(
                num_to_keep=2,
                checkpoint_score_attribute=plan.metric,
                checkpoint_score_order=plan.mode,
            ),
        ),
    )
    results = tuner.fit()
    trials, best, errors = _collect(results, plan.space, plan.metric, plan.mode)
    result = SearchResult(exp, plan.metric, plan.mode, trials, best, errors=errors)
    _write_trials_csv(exp / "trials.csv", trials)
    echo("\n" + format_table(trials))
    for err in errors:
        echo(f"error: {err}")
    if best is None:
        raise RaytrainError(
            f"{exp}: no trial reported '{plan.metric}' with a checkpoint; nothing to register"
        )
    echo(
        f"\nbest: trial {best['trial']} epoch {best['epoch']} {plan.metric}={best['value']:.4g}"
        f" params={json.dumps(best['params'], default=str)}"
    )
    if cfg.export.register_best:
        from raytrain.registry import ModelRegistry

        registry = ModelRegistry(cfg.export.registry_dir)
        entry = registry.register(
            cfg.export.registry_name or cfg.training.name,
            best["checkpoint_path"],
            source={"experiment": str(exp), "trial": best["trial"], "epoch": best["epoch"]},
            onnx=cfg.export.onnx,
            opset=cfg.export.opset,
            tolerance=cfg.export.tolerance,
        )
        result.registered = entry
        folder = registry.path_of(entry)
        echo(f"registered {entry['name']} v{entry['version']} -> {folder}")
        for f in sorted(entry["files"]):
            echo(f"  {folder / f}")
    summary = {
        "experiment_dir": str(exp),
        "metric": plan.metric,
        "mode": plan.mode,
        "best": best,
        "trials": trials,
        "errors": errors,
        "registered": {k: result.registered[k] for k in ("name", "version", "path")}
        if result.registered
        else None,
        "resources": plan.resources.as_dict(),
        "wall_time_s": time.time() - t0,
    }
    atomic_write_text(exp / "summary.json", json.dumps(summary, indent=2, default=str))
    if cfg.logging.visualizations:
        from raytrain.report import write_report
        from raytrain.viz.run import run_safely

        run_safely(write_report, exp)
        if (exp / "report.html").exists():
            echo(f"report: {exp / 'report.html'}")
    return result


def _write_trials_csv(path: Path, trials: list[dict[str, Any]]) -> None:
    import csv
    import io

    cols = list(dict.fromkeys(k for t in trials for k in t))
    buf = io.StringIO()
    w = csv.DictWriter(buf, cols)
    w.writeheader()
    for t in trials:
        w.writerow({k: json.dumps(v) if isinstance(v, list | dict) else v for k, v in t.items()})
    atomic_write_text(path, buf.getvalue())
