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

import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

from raytrain.config.objective import module_root, resolve_objective
from raytrain.config.schema import ExperimentConfig

_STATE_FILE = "state.pkl"


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


def epoch_budget(budget: int) -> Any:
    """A Tune stopper: the whole search stops once its trials reported `budget` epochs
    together (`tune.epoch_budget`, one of raytrain.tune.stopping's rules; every result is one
    epoch). A resumed search counts afresh."""
    from raytrain.tune.stopper import SearchStopper
    from raytrain.tune.stopping import EpochBudget

    return SearchStopper({"tune.epoch_budget": EpochBudget(budget)})


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
