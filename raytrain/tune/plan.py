"""Everything decided before a search starts (`plan_search`): the config, the space, the
searcher and scheduler, resources. `--dry-run` prints it; `raytrain validate` checks it."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from raytrain.config.load import apply_overrides, validate
from raytrain.config.schema import ExperimentConfig
from raytrain.config.search_space import SearchSpace, build_search_space
from raytrain.errors import RaytrainError
from raytrain.runtime.resources import (
    TRIAL_DRIVER_CPUS,
    ResourcePlan,
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
from raytrain.tune.study_url import shown

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
            (
                f"storage      {experiment_uri_for(cfg)} (a bucket; working copy "
                f"{self.experiment_dir})"
                if experiment_uri_for(cfg)
                else f"storage      {self.experiment_dir} (tune.shared_storage: "
                f"{str(cfg.tune.shared_storage).lower()})"
            ),
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
