"""Everything decided before a search starts (`plan_search`): the config, the space, the
searcher and scheduler, resources. `--dry-run` prints it; `raytrain validate` checks it."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from raytrain.config.load import apply_overrides, validate
from raytrain.config.objective import resolve_objective
from raytrain.config.schema import ExperimentConfig
from raytrain.config.search_space import SearchSpace, build_search_space
from raytrain.errors import RaytrainError
from raytrain.runtime.resources import (
    TRIAL_DRIVER_CPUS,
    ResourcePlan,
    check_places,
    plan_resources,
)
from raytrain.tasks.resolve import monitor_of, task_name_of
from raytrain.tune.experiment import (
    experiment_dir_for,
    experiment_uri_for,
)
from raytrain.tune.objectives import objectives_of
from raytrain.tune.schedulers import SchedulerSpec, scheduler_spec
from raytrain.tune.searchers import (
    SearchContext,
    SearchMethod,
    check_method,
    optuna_storage_url,
    search_method,
)
from raytrain.tune.stopping import check_rules, describe_rules
from raytrain.tune.study_url import shown
from raytrain.tune.warm_start import WarmStart, warm_start_of

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
    data_dir: str | Path | None = None  # a folder, or a bucket URI
    places: list[str] = field(default_factory=list)  # what the run reads and writes, checked
    #: points run first, a finished search's trials (raytrain.tune.warm_start)
    warm: WarmStart | None = None

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
            self.warm,
        )

    @property
    def param_space(self) -> dict[str, Any]:
        return self.method.param_space(self.space)

    @property
    def optuna_storage(self) -> str | None:
        if not self.method.optuna:
            return None
        return optuna_storage_url(self.experiment_dir, self.config)

    def describe(self, full: bool = False) -> str:
        """The plan as text; `full` adds the resolved config (the dry run prints it)."""
        cfg = self.config
        objective = " and ".join(f"{m} {md}" for m, md in self.objectives)
        if len(self.objectives) > 1:
            objective = f"{objective} (Pareto front; {self.metric} schedules and registers)"
        r = self.resources
        waves = math.ceil(self.expected_trials / max(1, r.max_concurrent_trials))
        storage = shown(self.optuna_storage or "none (Tune's experiment state only)")
        lines = [
            f"experiment   {cfg.training.name} -> {self.experiment_dir}",
            f"model        {cfg.model.architecture} (task: {self.task})"
            if cfg.model
            else f"function     {cfg.objective}",
            f"objective    {objective}",
            f"searcher     {self.method.name}: {self.method.summary}",
            f"             seed {self.context.seed}, {self.expected_trials} trial(s) expected, "
            f"{cfg.training_params.num_epochs} epoch(s) each at most",
            f"scheduler    {self.scheduler.describe(self.context)}",
            f"stops        {describe_rules(self.context)}",
            *([f"warm start   {self.warm.describe()}"] if self.warm else []),
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
            (
                f"storage      {experiment_uri_for(cfg)} (a bucket; working copy "
                f"{self.experiment_dir})"
                if experiment_uri_for(cfg)
                else f"storage      {self.experiment_dir} (tune.shared_storage: "
                f"{str(cfg.tune.shared_storage).lower()})"
            ),
            f"optuna       {storage}",
            f"dataset      {self.data_dir or _dataset_of(cfg)}"
            if not cfg.objective
            else "dataset      none: the function reads its own",
            *(f"checked      {p}" for p in self.places),
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


def plan_search(
    cfg: ExperimentConfig,
    *,
    cluster_cpus: float,
    cluster_gpus: float,
    experiment_dir: Path | None = None,
) -> SearchPlan:
    if cfg.objective:  # a user's function: no model, data or task
        return plan_function_search(
            cfg, cluster_cpus=cluster_cpus, cluster_gpus=cluster_gpus, experiment_dir=experiment_dir
        )
    from raytrain.data.augment import build_augmentation

    task_name = task_name_of(cfg)
    space = build_search_space(cfg)
    places = check_places(cfg)  # a bad path fails now, not after the last trial
    if cfg.export.register_best:  # a bad name would only fail after the whole search
        from raytrain.artifacts.registry import check_name

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
    _check_losses(cfg, space, task_name)
    objectives = objectives_of(cfg, metric, mode)
    method = search_method(cfg)
    exp = experiment_dir or experiment_dir_for(cfg)
    ctx = SearchContext(cfg, space, metric, mode, objectives, exp)
    check_method(method, ctx)
    check_rules(ctx)
    scheduler = scheduler_spec(ctx)
    expected = method.expected_trials(cfg, space)
    warm = warm_start_of(cfg, space, objectives, method, expected)
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
        places=places,
        warm=warm,
    )


def _dataset_of(cfg: ExperimentConfig) -> str:
    ds = cfg.dataset
    if ds.path is not None:
        return f"{ds.path} (prepared)"
    if ds.train_path is not None:
        return f"{ds.train_path}, {ds.val_path} (prepared on first use)"
    return "built-in sample data (generated on first use)"


def _check_losses(cfg: ExperimentConfig, space: SearchSpace, task: str) -> None:
    """`training_params.loss`, and every searched value of it, must be one of the task's."""
    from raytrain.config.search_space import probe_values
    from raytrain.tasks.losses import check_loss

    check_loss(task, cfg.training_params.loss)
    entry = space.entries.get("training_params.loss")
    for value in probe_values(entry) if entry is not None else ():
        try:
            check_loss(task, value)
        except RaytrainError as e:
            raise RaytrainError(f"search_space: {e}") from None
    if cfg.training_params.label_smoothing and task != "classification":
        raise RaytrainError(
            f"training_params.label_smoothing: only for classification (this is {task})"
        )


def _check_models_build(cfg: ExperimentConfig, space: SearchSpace, task: str) -> None:
    """Build the model for the base config and for every searched model value, on the meta
    device (no memory, no compute): a U-Net too deep for the images fails here, not in trial 7."""
    import torch

    from raytrain.config.search_space import probe_values
    from raytrain.data.resolve import expected_data_info
    from raytrain.models import create_model

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


def build_function_space(cfg: ExperimentConfig) -> Any:
    """`search_space:` of a function search: every key is a name the function receives, as it
    is written (no short names, no config paths); ranges and choices as for models."""
    from raytrain.config.search_space import SearchSpace, _domain

    space: dict[str, Any] = {}
    by_index: dict[str, list[Any]] = {}
    entries = {}
    for key, entry in cfg.search_space.items():
        space[key] = _domain(key, key, entry, by_index)
        entries[key] = entry
    return SearchSpace(space, by_index, entries)


def plan_function_search(
    cfg: ExperimentConfig,
    *,
    cluster_cpus: float,
    cluster_gpus: float,
    experiment_dir: Path | None = None,
) -> Any:
    """`plan_search` for `objective:` configs: the same searcher, scheduler and resources, with
    the metric and direction from `search:` (a function has no task to default them from)."""
    from raytrain.runtime.resources import plan_resources
    from raytrain.tune.experiment import experiment_dir_for
    from raytrain.tune.objectives import objectives_of
    from raytrain.tune.schedulers import scheduler_spec
    from raytrain.tune.searchers import SearchContext, check_method, search_method

    assert cfg.objective is not None
    resolve_objective(cfg.objective)
    s = cfg.search
    if not s.metric or not s.direction:
        raise RaytrainError(
            "search.metric and search.direction: required with objective (which metric of "
            "the function's reports to optimize, maximize or minimize)"
        )
    if cfg.resources.num_workers != 1:
        raise RaytrainError(
            "resources.num_workers: a function trial runs in one process (1); the function "
            "may start its own workers"
        )
    mode = "max" if s.direction == "maximize" else "min"
    space = build_function_space(cfg)
    objectives = objectives_of(cfg, s.metric, mode)
    method = search_method(cfg)
    exp = experiment_dir or experiment_dir_for(cfg)
    ctx = SearchContext(cfg, space, s.metric, mode, objectives, exp)
    check_method(method, ctx)
    check_rules(ctx)
    scheduler = scheduler_spec(ctx)
    expected = method.expected_trials(cfg, space)
    warm = warm_start_of(cfg, space, objectives, method, expected)
    res = plan_resources(cfg.resources, cluster_cpus, cluster_gpus, num_trials=expected)
    return SearchPlan(
        cfg,
        space,
        "function",
        s.metric,
        mode,
        method,
        scheduler,
        method.num_samples(cfg, space),
        res,
        exp,
        objectives,
        expected,
        warm=warm,
    )
