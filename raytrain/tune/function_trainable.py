"""Search any Python function: `objective: my_pkg.module:train_fn` in the YAML.

The function takes one argument, the trial's config: a dict of the searched values (the
`search_space:` keys, as written) on top of `objective_params:`, `num_epochs`
(`training_params.num_epochs`) and `seed` (`training.seed`). It trains however it likes and
reports each epoch through one call:

    from raytrain.tune import report

    def train_fn(config):
        model = build(config["hidden"], config["dropout"])
        for epoch in range(1, config["num_epochs"] + 1):
            ...
            report(epoch=epoch, val_loss=loss, val_accuracy=acc)

Everything else is `raytrain tune`'s: the same searcher (`search.method`, the Optuna study in
`optuna.db`), scheduler (`tune.scheduler`), resources and concurrency, `--resume`, trials.csv,
summary.json and report.html. Only what needs a model (datasets, registration, export) is left
out. `report(..., state=obj)` also saves a picklable `obj` as the trial's checkpoint, and
`last_state()` gives it back in a trial that is resumed (a paused HyperBand trial, a search
restarted with `--resume`), so a function can continue instead of starting over.
"""

from __future__ import annotations

import importlib
import os
import pickle
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from raytrain.config.schema import ExperimentConfig
from raytrain.errors import RaytrainError

_STATE_FILE = "state.pkl"


def resolve_objective(spec: str, key: str = "objective") -> Callable[[dict[str, Any]], Any]:
    """`package.module:function` -> the function; a one-line RaytrainError naming `key` when
    the module does not import or the attribute is missing or not callable."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise RaytrainError(f"{key}: '{spec}' must be 'package.module:function'")
    try:
        module = importlib.import_module(module_name)
    except Exception as e:  # noqa: BLE001 - any import failure is the user's to see
        msg = str(e).strip().splitlines()[-1] if str(e).strip() else ""
        raise RaytrainError(
            f"{key}: cannot import module '{module_name}' ({type(e).__name__}: {msg})"
        ) from None
    target: Any = module
    for part in attr.split("."):
        if not hasattr(target, part):
            raise RaytrainError(f"{key}: module '{module_name}' has no attribute '{attr}'")
        target = getattr(target, part)
    if not callable(target):
        raise RaytrainError(f"{key}: '{spec}' is not callable ({type(target).__name__})")
    return target


def module_root(spec: str) -> str | None:
    """The sys.path entry the objective's module was imported from in this process, so that
    trials on this machine import it even where Ray's workers would not find it (a module
    beside a notebook, a test's temp folder); None for an installed or built-in module."""
    import sys

    module = sys.modules.get(spec.partition(":")[0])
    file = getattr(module, "__file__", None)
    if not file:
        return None
    root = Path(file).resolve().parent
    if Path(file).name == "__init__.py":  # a package: its folder's parent
        root = root.parent
    for _ in range(spec.partition(":")[0].count(".")):
        root = root.parent
    return None if "site-packages" in root.parts else str(root)


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


def function_config(cfg: ExperimentConfig | dict[str, Any], values: dict[str, Any]) -> dict:
    """The dict a trial's function receives: the fixed values under the searched ones."""
    data = cfg.model_dump(mode="json") if isinstance(cfg, ExperimentConfig) else cfg
    return {
        "num_epochs": data["training_params"]["num_epochs"],
        "seed": data["training"]["seed"],
        **(data.get("objective_params") or {}),
        **values,
    }


def report(epoch: int, state: Any = None, **metrics: Any) -> None:
    """Report one epoch of the running trial: `epoch` (1, 2, ...) and its metrics, which the
    scheduler and searcher see. `state`: any picklable object, kept as the trial's checkpoint
    (see `last_state`). Outside a search it does nothing, so the function also runs alone."""
    from ray import tune

    if not _in_trial():
        return
    result = {"epoch": int(epoch), **metrics}
    if state is None:
        tune.report(result)
        return
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, _STATE_FILE), "wb") as f:
            pickle.dump({"epoch": int(epoch), "state": state}, f)
        tune.report(result, checkpoint=tune.Checkpoint.from_directory(d))


def last_state() -> Any:
    """The `state` last reported by this trial before it was paused or its search was
    resumed; None in a fresh trial."""
    from ray import tune

    if not _in_trial():
        return None
    ckpt = tune.get_checkpoint()
    if ckpt is None:
        return None
    with ckpt.as_directory() as d:
        path = Path(d) / _STATE_FILE
        if not path.exists():
            return None
        with path.open("rb") as f:
            return pickle.load(f)["state"]


def _in_trial() -> bool:
    try:
        from ray.tune import get_context

        return get_context().get_trial_id() is not None
    except Exception:  # noqa: BLE001 - no Tune session here
        return False


def make_function_trainable(base: dict[str, Any], space: Any, plan: Any) -> Any:
    """The Tune trainable of a function search: import the objective in the trial's process,
    build its config and call it. One trial = one CPU share (`resources.cpus_per_worker`)."""
    from ray import tune

    spec = base["objective"]
    root = module_root(spec)

    def trial(params: dict[str, Any]) -> None:
        import sys

        if root and root not in sys.path:  # found there by the driver: same machine, same path
            sys.path.append(root)
        fn = resolve_objective(spec)
        fn(function_config(base, space.decode(params)))

    resources: dict[str, float] = {"CPU": plan.cpus_per_worker}
    if plan.use_gpu:
        resources["GPU"] = plan.gpus_per_worker
    return tune.with_resources(trial, resources)


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
    from raytrain.tune.plan import SearchPlan
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
    scheduler = scheduler_spec(ctx)
    expected = method.expected_trials(cfg, space)
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
    )


def epoch_budget(budget: int) -> Any:
    """A Tune stopper: the whole search stops once its trials reported `budget` epochs
    together (`tune.epoch_budget`; every result is one epoch). A resumed search counts
    afresh."""
    from ray.tune.stopper import Stopper

    class EpochBudget(Stopper):
        def __init__(self) -> None:
            self.budget = budget
            self.epochs = 0

        def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
            self.epochs += 1
            return False

        def stop_all(self) -> bool:
            return self.epochs >= self.budget

    return EpochBudget()


def best_of(results: Any, space: Any, metric: str, mode: str) -> dict[str, Any] | None:
    """The best (trial, epoch) of a function search by the reported `metric` (no checkpoint
    needed: nothing is registered)."""
    sign = 1 if mode == "max" else -1
    best: dict[str, Any] | None = None
    for r in results:
        df = r.metrics_dataframe
        if df is None or metric not in df or "epoch" not in df or df[metric].isna().all():
            continue
        top = df.loc[(df[metric] * sign).idxmax()]
        if best is None or sign * float(top[metric]) > sign * best["value"]:
            params = {k: v for k, v in (r.config or {}).items() if k in space.param_space}
            best = {
                "trial": (r.metrics or {}).get("trial_id") or Path(r.path).name,
                "value": float(top[metric]),
                "epoch": int(top["epoch"]),
                "checkpoint_path": None,
                "params": space.decode(params),
            }
    return best
