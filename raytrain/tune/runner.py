"""`raytrain tune`: plan a search, run it with Ray Tune, pick, register and export the best.

Each Tune trial is a small *function trainable*. A one-worker trial runs the train loop right
in the trial; a multi-worker trial builds a `TorchTrainer` for its sampled config and calls
`fit()`, the run's controller in the trial's thread, and `trial_link.ReportToTune` forwards
every epoch's metrics (and the checkpoint path) from rank 0 to Tune, so ASHA can stop poor
trials early and Optuna sees every intermediate result (Ray Train V2: a Tuner takes no
Trainer directly).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from raytrain.config.load import apply_overrides, validate
from raytrain.config.schema import ExperimentConfig
from raytrain.data.checks import data_report
from raytrain.data.manifest import atomic_write_text
from raytrain.data.problems import format_report
from raytrain.data.resolve import resolve_dataset
from raytrain.errors import RaytrainError
from raytrain.resources import TRIAL_DRIVER_CPUS, ResourcePlan, check_storage, plan_resources
from raytrain.search_space import SearchSpace, build_search_space
from raytrain.train.loop import monitor_of, task_name_of
from raytrain.tune.experiment import (
    TUNE_DIR,
    claim,
    dashboard_url,
    experiment_dir_for,
    saved_trial_ids,
)
from raytrain.tune.objectives import derived_callback, derived_needed, objectives_of, pareto_front
from raytrain.tune.schedulers import SchedulerSpec, scheduler_spec
from raytrain.tune.searchers import (
    SearchContext,
    SearchMethod,
    check_method,
    optuna_storage_url,
    search_method,
)

Printer = Callable[[str], None]


@dataclass
class SearchPlan:
    """Everything decided before a search starts; `--dry-run` prints it."""

    config: ExperimentConfig
    space: SearchSpace
    task: str
    metric: str
    mode: str
    method: SearchMethod
    scheduler: SchedulerSpec
    num_samples: int
    resources: ResourcePlan
    experiment_dir: Path
    objectives: list[tuple[str, str]]
    expected_trials: int
    data_dir: Path | None = None

    @property
    def context(self) -> SearchContext:
        return SearchContext(
            self.config,
            self.space,
            self.metric,
            self.mode,
            self.objectives,
            self.experiment_dir,
            self.resources.max_concurrent_trials,
        )

    @property
    def param_space(self) -> dict[str, Any]:
        return self.method.param_space(self.space)

    @property
    def optuna_storage(self) -> str | None:
        return optuna_storage_url(self.experiment_dir) if self.method.optuna else None

    def describe(self, full: bool = False) -> str:
        """The plan as text; `full` adds the resolved config (the dry run prints it)."""
        cfg = self.config
        objective = " and ".join(f"{m} {md}" for m, md in self.objectives)
        if len(self.objectives) > 1:
            objective = f"{objective} (Pareto front; {self.metric} schedules and registers)"
        r = self.resources
        waves = math.ceil(self.expected_trials / max(1, r.max_concurrent_trials))
        storage = self.optuna_storage or "none (Tune's experiment state only)"
        lines = [
            f"experiment   {cfg.training.name} -> {self.experiment_dir}",
            f"model        {cfg.model.architecture} (task: {self.task})",
            f"objective    {objective}",
            f"searcher     {self.method.name}: {self.method.summary}",
            f"             seed {self.context.seed}, {self.expected_trials} trial(s) expected, "
            f"{cfg.training_params.num_epochs} epoch(s) each at most",
            f"scheduler    {self.scheduler.describe(self.context)}",
            f"per trial    {r.num_workers} worker(s) x {r.cpus_per_worker:g} CPU"
            + (f" + {r.gpus_per_worker:g} GPU" if r.use_gpu else "")
            + (
                " (in-process: the trial is the worker)"
                if r.num_workers == 1
                else f" + {TRIAL_DRIVER_CPUS:g} CPU trial driver"
            )
            + f" = {r.cpus_per_trial:g} CPU",
            f"cluster      {r.cluster_cpus:g} CPU / {r.cluster_gpus:g} GPU, {r.data_cpus:g} CPU "
            f"kept for Ray Data",
            f"concurrency  {r.max_concurrent_trials} trial(s) at once = min(what fits: "
            f"({r.cluster_cpus:g} - {r.data_cpus:g}) / {r.cpus_per_trial:g} CPU"
            + (
                f", {r.cluster_gpus:g} / {r.num_workers * r.gpus_per_worker:g} GPU"
                if r.use_gpu
                else ""
            )
            + f"; trials: {self.expected_trials}"
            + (
                f"; resources.max_concurrent_trials: {cfg.resources.max_concurrent_trials}"
                if cfg.resources.max_concurrent_trials
                else ""
            )
            + f") -> about {waves} wave(s)",
            f"storage      {self.experiment_dir} (tune.shared_storage: "
            f"{str(cfg.tune.shared_storage).lower()})",
            f"optuna       {storage}",
            f"dataset      {self.data_dir or 'built-in sample data (generated on first use)'}",
            "search space",
        ]
        for path, entry in self.space.entries.items():
            spec = entry.model_dump(exclude_defaults=True)
            lines.append(f"  {path:<28} {json.dumps(spec, default=str)}")
        if not self.space.entries:
            lines.append("  (empty: every trial trains the same config)")
        if full:
            lines.append("resolved config")
            dumped = yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)
            lines += [f"  {line}" for line in dumped.rstrip().splitlines()]
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
    from raytrain.ray_local import prepare_local_ray

    if address == "local" or (not address and not _joins_running_ray()):
        prepare_local_ray()  # a Ray started here; a running cluster keeps its own settings
    try:
        ray.init(address=address or None, log_to_driver=verbose)
    except ConnectionError as e:
        raise RaytrainError(f"--address {address}: cannot connect to Ray ({e})") from None
    import ray.data

    ray.data.DataContext.get_current().enable_progress_bars = False


def _joins_running_ray() -> bool:
    """Whether `ray.init()` without an address would join a running Ray (RAY_ADDRESS, or the
    cluster `ray start` recorded in /tmp/ray) rather than start one."""
    from ray._private.services import canonicalize_bootstrap_address

    try:
        return canonicalize_bootstrap_address(None) is not None
    except Exception:  # a stale record of a dead cluster: ray.init will say so
        return True


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
    if cfg.export.register_best:  # a bad name would only fail after the whole search
        from raytrain.registry import check_name

        key = "export.registry_name" if cfg.export.registry_name else "training.name"
        try:
            check_name(cfg.export.registry_name or cfg.training.name)
        except RaytrainError as e:
            raise RaytrainError(f"{key}: {e}") from None
    build_augmentation(
        cfg.dataset.augmentation
        if isinstance(cfg.dataset.augmentation, str)
        else list(cfg.dataset.augmentation)
    )  # fail now, not in a trial
    from raytrain.tasks import task_class

    metric, mode = monitor_of(cfg, task_class(task_name))
    _check_models_build(cfg, space, task_name)
    objectives = objectives_of(cfg, metric, mode)
    method = search_method(cfg)
    exp = experiment_dir or experiment_dir_for(cfg)
    ctx = SearchContext(cfg, space, metric, mode, objectives, exp)
    check_method(method, ctx)
    scheduler = scheduler_spec(ctx)
    expected = method.expected_trials(cfg, space)
    plan = plan_resources(cfg.resources, cluster_cpus, cluster_gpus, num_trials=expected)
    if method.population and cfg.tune.synch and plan.max_concurrent_trials < expected:
        raise RaytrainError(
            f"tune.synch: synchronous PBT waits for all {expected} members at each interval, "
            f"but only {plan.max_concurrent_trials} fit at once; lower search.num_trials or "
            f"resources.cpus_per_worker, or set tune.synch: false"
        )
    return SearchPlan(
        cfg,
        space,
        task_name,
        metric,
        mode,
        method,
        scheduler,
        method.num_samples(cfg, space),
        plan,
        exp,
        objectives,
        expected,
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


#: Searched paths that change what the data pipeline yields; any of them -> datasets per trial.
_DATA_PATHS = ("dataset.", "training.seed", "training.task", "model.architecture")
_NOT_DATA_PATHS = ("dataset.batch_size", "dataset.num_workers")


def shared_datasets(cfg: ExperimentConfig, space: SearchSpace, data_dir: Path) -> Any:
    """The search's Ray Datasets, built once in the driver and handed to every trial (decoded
    rows are cached in the object store once, not once per trial) — or None when the search
    varies the data itself (augmentation, image size, seed), so each trial builds its own."""
    from raytrain.train.launch import datasets_for

    varied = [p for p in space.entries if p.startswith(_DATA_PATHS) and p not in _NOT_DATA_PATHS]
    return None if varied else datasets_for(cfg, data_dir, cfg.resources.num_workers)


def _make_trainable(
    base: dict[str, Any],
    space: SearchSpace,
    data_dir: str,
    plan: ResourcePlan,
    experiment_dir: str,
    datasets: Any = None,
    janitor: Any = None,
) -> Any:
    """The Tune trainable of a search. `janitor`: the search's placement-group cleaner
    (`raytrain.train.pg_cleanup`), for multi-worker trials."""
    from ray import tune

    in_trial = plan.num_workers == 1

    def trial(params: dict[str, Any], datasets: Any = None, janitor: Any = None) -> None:
        import ray.data

        from raytrain.data.pipeline import scope_passes
        from raytrain.train.controller_here import RunStopped
        from raytrain.train.launch import build_trainer, run_in_trial
        from raytrain.tune import trial_link

        ray.data.DataContext.get_current().enable_progress_bars = False
        cfg = validate(apply_overrides(base, space.decode(params)), source="trial config")
        trial_id = tune.get_context().get_trial_id()
        if datasets is not None:  # shared by the search: augment as if this trial were alone
            datasets = scope_passes(datasets, trial_id)
        trials_dir = Path(experiment_dir) / "trials"
        if in_trial:  # one worker: run the loop right here, no worker group to start
            run_in_trial(
                cfg, data_dir, name=trial_id, log_dir=trials_dir / trial_id, datasets=datasets
            )
            return
        stop = trial_link.stop_signal()
        trainer = build_trainer(
            cfg,
            data_dir,
            plan,
            name=trial_id,
            storage_path=trials_dir,
            log_dir=trials_dir / trial_id,
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


@dataclass
class SearchResult:
    experiment_dir: Path
    metric: str
    mode: str
    trials: list[dict[str, Any]]
    best: dict[str, Any] | None
    registered: dict[str, Any] | None = None
    errors: list[str] = field(default_factory=list)
    #: multi-objective searches: the trials no other trial beats in every objective
    pareto_front: list[dict[str, Any]] = field(default_factory=list)


def _best_epoch(df: Any, metric: str, sign: int) -> Any:
    """The row of `df` with the best `metric`, or None when no row has it."""
    scored = df[df[metric].notna()] if metric in df else df.iloc[0:0]
    return None if scored.empty else scored.loc[(scored[metric] * sign).idxmax()]


def _collect(
    results: Any, space: SearchSpace, metric: str, mode: str, also: tuple[str, ...] = ()
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
        if df is not None and "epoch" not in df:  # a trial that never reported an epoch
            df = None
        if df is not None and "checkpoint_path" not in df and r.best_checkpoints:
            # in-trial runs report checkpoints to Tune itself: find them by epoch
            paths = {m.get("epoch"): c.path for c, m in r.best_checkpoints}
            df = df.assign(checkpoint_path=df["epoch"].map(paths))
        top = None if df is None else _best_epoch(df, metric, sign)
        if top is not None:
            row["epochs"] = int(df["epoch"].max())
            row[f"best_{metric}"] = float(top[metric])
            for m in also:  # the other objectives, at the same (best) epoch
                if m in top and top[m] == top[m]:
                    row[m] = float(top[m])
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
    resume: bool = False,
) -> SearchResult:
    """Run the whole search (or, with `resume`, finish one whose driver died); register and
    export the best trial when configured."""

    exp = (experiment_dir or experiment_dir_for(cfg)).absolute()
    claim(exp, cfg, resume)  # a name clash fails before Ray starts
    cpus, gpus = cluster_resources(address, verbose)
    check_storage(
        cfg.tune.storage_path or cfg.training.output_dir, cfg.tune.shared_storage, alive_nodes()
    )
    plan = plan_search(cfg, cluster_cpus=cpus, cluster_gpus=gpus, experiment_dir=exp)
    exp.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    plan.data_dir = resolve_dataset(cfg, plan.task)
    # error mode: a bad file stops here; skip mode: every row checked, skips counted
    data = data_report(plan.data_dir, cfg.dataset.on_bad_data, image_size=cfg.dataset.image_size)
    echo(plan.describe())
    echo(f"data: {format_report(data)}")
    if plan.optuna_storage:
        echo(f"optuna study '{cfg.training.name}': optuna-dashboard {plan.optuna_storage}")
    url = dashboard_url()
    echo(f"ray dashboard: {url}" if url else "ray dashboard: not running (needs ray[default])")
    if not resume:
        atomic_write_text(
            exp / "config.yaml", yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)
        )
    # Save Tune's experiment state every second (default: adaptive, >= 10 s), so a killed driver
    # loses at most a second of bookkeeping: finished trials are not rerun on --resume.
    tune_env = {"TUNE_GLOBAL_CHECKPOINT_S": os.environ.get("TUNE_GLOBAL_CHECKPOINT_S", "1")}
    # multi-worker trials: one placement-group cleaner for the whole search, not one per trial
    janitor = None
    if plan.resources.num_workers > 1:
        from raytrain.train.pg_cleanup import start_janitor

        janitor = start_janitor()
    with _settled(janitor):
        results = _fit(cfg, plan, exp, echo, resume, tune_env, janitor)
    others = tuple(m for m, _ in plan.objectives[1:])
    trials, best, errors = _collect(results, plan.space, plan.metric, plan.mode, others)
    result = SearchResult(exp, plan.metric, plan.mode, trials, best, errors=errors)
    if plan.optuna_storage:
        from raytrain.tune.optuna_store import fail_orphans

        fail_orphans(plan.optuna_storage, cfg.training.name, {str(t["trial"]) for t in trials})
    if len(plan.objectives) > 1:
        scored = [{**t, plan.metric: t.get(f"best_{plan.metric}")} for t in trials]
        front = set(pareto_front(scored, plan.objectives))
        for i, t in enumerate(trials):
            t["pareto"] = i in front
        result.pareto_front = [trials[i] for i in sorted(front)]
    _write_trials_csv(exp / "trials.csv", trials)
    echo("\n" + format_table(trials))
    if result.pareto_front:
        names = ", ".join(f"{m} ({md})" for m, md in plan.objectives)
        echo(f"\npareto front over {names}: {len(result.pareto_front)} trial(s)")
        echo(format_table(result.pareto_front))
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
        "search_method": plan.method.name,
        "scheduler": plan.scheduler.name,
        "objectives": [{"metric": m, "mode": md} for m, md in plan.objectives],
        "pareto_front": [t["trial"] for t in result.pareto_front],
        "optuna_storage": plan.optuna_storage,
        "resumed": resume,
        "data": data,
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


@contextlib.contextmanager
def _settled(janitor: Any) -> Iterator[None]:
    """Settle the search's placement-group janitor however the search ends: the PGs of
    trials Tune killed at the end go now, and the janitor with them."""
    try:
        yield
    finally:
        if janitor is not None:
            from raytrain.train.pg_cleanup import settle

            settle(janitor)


def _fit(
    cfg: ExperimentConfig,
    plan: SearchPlan,
    exp: Path,
    echo: Printer,
    resume: bool,
    tune_env: dict[str, str],
    janitor: Any,
) -> Any:
    """Build the trainable and the Tuner (new, or restored with `resume`) and run it."""
    from ray import tune

    base = cfg.model_dump(mode="json")
    trainable = _make_trainable(
        base,
        plan.space,
        str(plan.data_dir),
        plan.resources,
        str(exp),
        shared_datasets(cfg, plan.space, plan.data_dir),
        janitor,
    )
    from raytrain.metrics import search_callback

    def epochs_of(params: dict[str, Any]) -> int:
        overrides = plan.space.decode(
            {k: v for k, v in params.items() if k in plan.space.param_space}
        )
        return validate(apply_overrides(base, overrides)).training_params.num_epochs

    callbacks = [search_callback(cfg.training.name, epochs_of)]
    derived = derived_needed(cfg)
    if derived:
        space = plan.space

        def config_of(params: dict[str, Any]) -> ExperimentConfig:
            overrides = space.decode({k: v for k, v in params.items() if k in space.param_space})
            return validate(apply_overrides(base, overrides), source="trial config")

        callbacks.append(derived_callback(derived, config_of))
        # derived metrics join each result in a callback, after Tune's check that a result has
        # every searched metric; the train loop itself checks the metrics it must report
        tune_env["TUNE_DISABLE_STRICT_METRIC_CHECKING"] = "1"
    run_config = tune.RunConfig(
        name=TUNE_DIR,
        storage_path=str(exp),
        verbose=1,
        callbacks=callbacks,
        # a worker group retries itself (Ray Train's FailureConfig); an in-trial run is
        # retried by Tune, from its last checkpoint
        failure_config=tune.FailureConfig(
            max_failures=cfg.training_params.max_failures if plan.resources.num_workers == 1 else 0
        ),
        # in-trial runs checkpoint through Tune: keep each trial's best two (PBT: four, so
        # that a checkpoint another trial is about to copy is not deleted under it)
        checkpoint_config=tune.CheckpointConfig(
            num_to_keep=4 if plan.method.population else 2,
            checkpoint_score_attribute=plan.metric,
            checkpoint_score_order=plan.mode,
        ),
    )
    if resume:
        echo(f"resuming {exp / TUNE_DIR}")
        if plan.optuna_storage and (exp / "optuna.db").exists():
            from raytrain.tune.optuna_store import fail_orphans

            fail_orphans(plan.optuna_storage, cfg.training.name, saved_trial_ids(exp))
        tuner = tune.Tuner.restore(
            str(exp / TUNE_DIR),
            trainable,
            resume_unfinished=True,
            resume_errored=True,
            param_space=plan.param_space,
        )
    else:
        ctx = plan.context
        tuner = tune.Tuner(
            trainable,
            param_space=plan.param_space,
            tune_config=tune.TuneConfig(
                metric=plan.metric,
                mode=plan.mode,
                num_samples=plan.num_samples,
                search_alg=plan.method.build(ctx),
                scheduler=plan.scheduler.build(ctx),
                max_concurrent_trials=plan.resources.max_concurrent_trials,
                # The next trial runs in the finished trial's actor: no new process, no torch
                # import (one-worker trials: 4.0 s -> 0.1 s a trial). A multi-worker trial
                # the scheduler stops aborts its Train run when Tune resets the actor
                # (`trial_link.stop_signal`); before, it stayed inside fit(), Tune failed the next
                # trial ("Could not re-use actor") and the search hung. Until Tune hands the
                # kept actor its next trial, the stopped run trains on at most about one more
                # epoch, then waits in its next report. Not for PBT, which
                # restores trials from each other's checkpoints: with reuse, a PBT trial now
                # and then came back with no results at all (seen in tests).
                reuse_actors=plan.scheduler.name != "pbt",
            ),
            run_config=run_config,
        )
    with _environ(tune_env):
        return tuner.fit()


@contextlib.contextmanager
def _environ(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the search only (Tune reads these in the driver)."""

    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


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
