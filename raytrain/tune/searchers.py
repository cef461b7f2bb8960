"""Search methods (`search.method`): a registry of how each one builds its Tune search algorithm.

Each method says how it treats `grid` entries of the space, whether it can optimize several
objectives, whether its history lives in an Optuna study (resumable, `optuna-dashboard`), and
how many trials it runs. `raytrain.tune.runner` only looks methods up here, so adding one is
one decorated function.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from raytrain.config.schema import ExperimentConfig
from raytrain.config.search_space import SearchSpace
from raytrain.errors import RaytrainError


@dataclass(frozen=True)
class SearchContext:
    """What a method needs to build its searcher."""

    cfg: ExperimentConfig
    space: SearchSpace
    metric: str
    mode: str
    #: (metric, "max" | "min") per objective; one entry for a single-objective search
    objectives: list[tuple[str, str]]
    experiment_dir: Path
    #: trials at once (Tune ignores `max_concurrent_trials` for a BasicVariantGenerator
    #: it did not build, so the generator gets it here)
    max_concurrent: int = 0
    #: points to run first, earlier trials to learn from (raytrain.tune.warm_start)
    warm: Any = None

    @property
    def seed(self) -> int:
        s = self.cfg.search.seed
        return self.cfg.training.seed if s is None else s

    @property
    def multi_objective(self) -> bool:
        return len(self.objectives) > 1


@dataclass(frozen=True)
class SearchMethod:
    name: str
    summary: str
    build: Callable[[SearchContext], Any]
    #: "forbid": grid entries are an error; "cross": each sample is crossed with the grid;
    #: "all": every entry is enumerated
    grid: Literal["forbid", "cross", "all"]
    multi_objective: bool
    #: history in an Optuna study on disk (optuna.db): resumable, optuna-dashboard
    optuna: bool
    #: population-based training: the PBT scheduler replaces tune.scheduler
    population: bool = False
    #: can run `search.points_to_evaluate` first
    warm_points: bool = True
    #: can learn from a finished search's trials (`search.warm_start_from`)
    warm_results: bool = False

    def num_samples(self, cfg: ExperimentConfig, space: SearchSpace) -> int:
        """Tune's `num_samples`; with grid entries each sample is one pass over the grid."""
        if self.grid == "all":
            return 1
        if space.has_grid:
            return max(1, math.ceil(cfg.search.num_trials / space.grid_size()))
        return cfg.search.num_trials

    def param_space(self, space: SearchSpace) -> dict[str, Any]:
        return space.as_grid() if self.grid == "all" else space.param_space

    def expected_trials(self, cfg: ExperimentConfig, space: SearchSpace) -> int:
        if self.grid == "all":
            return space.full_grid_size()
        return self.num_samples(cfg, space) * max(1, space.grid_size())


SEARCH_METHODS: dict[str, SearchMethod] = {}


def register_search_method(
    name: str,
    summary: str,
    *,
    grid: Literal["forbid", "cross", "all"] = "forbid",
    multi_objective: bool = False,
    optuna: bool = False,
    population: bool = False,
    warm_points: bool = True,
    warm_results: bool = False,
    aliases: tuple[str, ...] = (),
) -> Callable[[Callable[[SearchContext], Any]], Callable[[SearchContext], Any]]:
    def deco(build: Callable[[SearchContext], Any]) -> Callable[[SearchContext], Any]:
        method = SearchMethod(
            name,
            summary,
            build,
            grid,
            multi_objective,
            optuna,
            population,
            warm_points,
            warm_results,
        )
        for n in (name, *aliases):
            SEARCH_METHODS[n] = method
        return build

    return deco


def search_method(cfg: ExperimentConfig) -> SearchMethod:
    try:
        return SEARCH_METHODS[cfg.search.method]
    except KeyError:
        raise RaytrainError(
            f"search.method: '{cfg.search.method}' is not one of {', '.join(SEARCH_METHODS)}"
        ) from None


def check_method(method: SearchMethod, ctx: SearchContext) -> None:
    """Combinations that cannot work, found before anything runs."""
    key = f"search.method: {ctx.cfg.search.method}"
    if ctx.space.has_grid and method.grid == "forbid":
        raise RaytrainError(
            f"{key}: grid entries in search_space need search.method random or grid "
            f"(this sampler cannot enumerate a grid)"
        )
    if method.grid == "all":
        ctx.space.full_grid_size()  # raises for a range without a step
    if ctx.multi_objective and not method.multi_objective:
        multi = ", ".join(sorted({m.name for m in SEARCH_METHODS.values() if m.multi_objective}))
        raise RaytrainError(
            f"{key}: cannot optimize several search.objectives; use one of {multi} "
            f"(random and grid also report a Pareto front)"
        )
    if method.population:
        if ctx.cfg.resources.num_workers != 1:
            raise RaytrainError(
                f"{key}: population-based training copies checkpoints between running trials, "
                f"which needs resources.num_workers: 1 (trials run in-process)"
            )
        if not ctx.space.mutations():
            raise RaytrainError(
                f"{key}: nothing to mutate; PBT changes search_space entries outside model.* "
                f"(a checkpoint cannot change architecture), e.g. learning_rate"
            )


def optuna_storage_url(experiment_dir: Path, cfg: ExperimentConfig | None = None) -> str:
    """The Optuna study's storage: `tune.optuna_storage` (a database several drivers and
    optuna-dashboard share), else a file in the experiment folder, which `optuna-dashboard`
    opens and which survives the driver (the sampler's history on resume)."""
    if cfg is not None and cfg.tune.optuna_storage:
        return cfg.tune.optuna_storage
    return f"sqlite:///{experiment_dir / 'optuna.db'}"


def _optuna(ctx: SearchContext, sampler: Any) -> Any:
    from raytrain.tune.optuna_store import DurableOptunaSearch, open_storage

    storage = open_storage(optuna_storage_url(ctx.experiment_dir, ctx.cfg))
    metric: Any = ctx.metric
    mode: Any = ctx.mode
    if ctx.multi_objective:
        metric = [m for m, _ in ctx.objectives]
        mode = [d for _, d in ctx.objectives]
    warm = ctx.warm
    return DurableOptunaSearch(
        metric=metric,
        mode=mode,
        sampler=sampler,
        storage=storage,
        study_name=ctx.cfg.training.name,
        points_to_evaluate=list(warm.points) if warm and warm.points else None,
        evaluated=list(warm.evaluated) if warm else None,
        warm_source=warm.source if warm else None,
    )


def _startup(ctx: SearchContext) -> dict[str, int]:
    n = ctx.cfg.search.startup_trials
    return {} if n is None else {"n_startup_trials": n}


@register_search_method(
    "tpe",
    "Optuna TPE (Bayesian): models good and bad regions from finished and running trials",
    multi_objective=True,
    optuna=True,
    warm_results=True,
    aliases=("bayesian",),
)
def _tpe(ctx: SearchContext) -> Any:
    import optuna

    return _optuna(ctx, optuna.samplers.TPESampler(seed=ctx.seed, **_startup(ctx)))


@register_search_method(
    "cmaes",
    "Optuna CMA-ES: adapts a Gaussian over the numeric ranges (categoricals are sampled "
    "independently)",
    optuna=True,
)
def _cmaes(ctx: SearchContext) -> Any:
    import optuna

    try:
        import cmaes  # noqa: F401
    except ImportError:
        raise RaytrainError(
            "search.method: cmaes needs the 'cmaes' package (pip install cmaes)"
        ) from None
    return _optuna(
        ctx,
        optuna.samplers.CmaEsSampler(
            seed=ctx.seed, warn_independent_sampling=False, **_startup(ctx)
        ),
    )


@register_search_method(
    "gp",
    "Optuna GPSampler: a Gaussian-process model of the objective(s), each next trial where "
    "expected improvement is highest (best on small budgets of numeric ranges)",
    multi_objective=True,
    optuna=True,
    warm_results=True,
)
def _gp(ctx: SearchContext) -> Any:
    import optuna

    if not hasattr(optuna.samplers, "GPSampler"):
        raise RaytrainError(
            f"search.method: gp needs Optuna's GPSampler (Optuna 3.6 or newer; this is "
            f"{optuna.__version__})"
        )
    return _optuna(
        ctx,
        optuna.samplers.GPSampler(seed=ctx.seed, warn_independent_sampling=False, **_startup(ctx)),
    )


def nsga2_population(ctx: SearchContext) -> int:
    """`search.population_size`, else num_trials // 5 between 4 and 50 (Optuna's default)."""
    size = ctx.cfg.search.population_size
    return size if size is not None else min(50, max(4, ctx.cfg.search.num_trials // 5))


@register_search_method(
    "nsga2",
    "Optuna NSGA-II: a genetic algorithm that breeds each generation from the Pareto "
    "ranks of the last (several objectives; one works too)",
    multi_objective=True,
    optuna=True,
)
def _nsga2(ctx: SearchContext) -> Any:
    from raytrain.tune.optuna_store import PicklableNSGAII

    return _optuna(ctx, PicklableNSGAII(population_size=nsga2_population(ctx), seed=ctx.seed))


def _basic_variant(ctx: SearchContext) -> Any:
    """Tune's own generator: random samples and/or every grid point of the param space (the
    space decides which), the given points first; with the concurrency limit, which Tune
    ignores for a user-built one; restored in agreement with the experiment it resumes
    (raytrain.tune.variants)."""
    from raytrain.tune.variants import ResumableVariantGenerator

    points = list(ctx.warm.points) if ctx.warm and ctx.warm.points else None
    return ResumableVariantGenerator(
        points_to_evaluate=points, random_state=ctx.seed, max_concurrent=ctx.max_concurrent
    )


register_search_method(
    "random",
    "random sampling (grid entries are crossed with every sample)",
    grid="cross",
    multi_objective=True,
)(_basic_variant)
register_search_method(
    "grid",
    "every point of the space (ranges need a step); search.num_trials is ignored",
    grid="all",
    multi_objective=True,
    warm_points=False,
)(_basic_variant)


@register_search_method(
    "pbt",
    "population-based training: a random population; every perturbation_interval epochs the "
    "bottom quantile copies a top trial's checkpoint and mutates its hyper-parameters",
    population=True,
)
def _pbt(ctx: SearchContext) -> Any:
    return _basic_variant(ctx)
