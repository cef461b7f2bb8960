"""`objective: module:function`: any Python function searched with raytrain's searcher,
scheduler, Optuna study, resume and reports (raytrain.tune.function_trainable)."""

from __future__ import annotations

import csv
import json
import textwrap
from pathlib import Path

import pytest

from raytrain.config import load_config_text
from raytrain.errors import RaytrainError
from raytrain.tune.function_trainable import function_config

FUNCTION = '''
from raytrain.tune import last_state, report


def train_fn(config):
    """Score peaks at x = center; it grows with the epochs."""
    start = last_state() or 0
    for epoch in range(start + 1, config["num_epochs"] + 1):
        score = 1.0 - (config["x"] - config["center"]) ** 2 - 0.1 / epoch
        report(epoch=epoch, score=score, kind=config["kind"], state=epoch)


NOT_CALLABLE = 3
'''


@pytest.fixture
def fn_module(make_module) -> str:
    """A module in a temp folder, importable here (and, through the driver's path, in trials)."""
    return make_module("fn_objective", FUNCTION)


def _yaml(module: str, out: Path, extra: str = "") -> str:
    return (
        textwrap.dedent(
            f"""
        training: {{name: fn, output_dir: {out}, seed: 3}}
        objective: {module}:train_fn
        objective_params: {{center: 0.3, kind: a}}
        training_params: {{num_epochs: 4}}
        search: {{method: tpe, num_trials: 6, metric: score, direction: maximize}}
        search_space:
          x: {{type: uniform, low: 0.0, high: 1.0}}
          kind: {{type: categorical, choices: [a, b]}}
        resources: {{cpus_per_worker: 0.25, max_concurrent_trials: 2}}
        tune: {{scheduler: asha, grace_period: 1}}
        logging: {{visualizations: false}}
        """
        )
        + extra
    )


def _error(text: str) -> str:
    with pytest.raises(RaytrainError) as info:
        load_config_text(text, source="space.yaml")
    return str(info.value)


def test_objective_config_needs_no_model(fn_module: str, tmp_path: Path) -> None:
    cfg = load_config_text(_yaml(fn_module, tmp_path))
    assert cfg.model is None and cfg.objective == f"{fn_module}:train_fn"
    # the searched values over the fixed ones, plus num_epochs and seed
    assert function_config(cfg, {"x": 0.5, "kind": "b"}) == {
        "num_epochs": 4,
        "seed": 3,
        "center": 0.3,
        "kind": "b",
        "x": 0.5,
    }


@pytest.mark.parametrize(
    ("objective", "message"),
    [
        ("no_such_module_xyz:train_fn", "cannot import module 'no_such_module_xyz'"),
        ("{m}:nope", "module '{m}' has no attribute 'nope'"),
        ("{m}:NOT_CALLABLE", "'{m}:NOT_CALLABLE' is not callable"),
        ("{m}", "'{m}' must be 'package.module:function'"),
    ],
)
def test_bad_objective_is_one_line_naming_the_key(
    fn_module: str, tmp_path: Path, objective: str, message: str
) -> None:
    text = _yaml(fn_module, tmp_path).replace(
        f"{fn_module}:train_fn", objective.format(m=fn_module)
    )
    err = _error(text)
    assert "\n" not in err
    assert err.startswith("space.yaml:3: objective: ")
    assert message.format(m=fn_module) in err


def test_without_objective_the_model_is_required(tmp_path: Path) -> None:
    assert "model: required key is missing" in _error("training: {name: x}\n")


def test_function_search_needs_metric_and_direction(fn_module: str, tmp_path: Path) -> None:
    from raytrain.tune.runner import plan_search

    text = _yaml(fn_module, tmp_path).replace(", metric: score, direction: maximize", "")
    cfg = load_config_text(text)
    with pytest.raises(RaytrainError, match="search.metric and search.direction: required"):
        plan_search(cfg, cluster_cpus=2, cluster_gpus=0)
    plan = plan_search(load_config_text(_yaml(fn_module, tmp_path)), cluster_cpus=2, cluster_gpus=0)
    assert (plan.metric, plan.mode, plan.method.name, plan.scheduler.name) == (
        "score",
        "max",
        "tpe",
        "asha",
    )
    assert "function     " in plan.describe()


@pytest.mark.slow
def test_function_searched_through_run_search(
    ray_start_2_cpus: None, fn_module: str, tmp_path: Path
) -> None:
    from raytrain.tune.runner import run_search

    cfg = load_config_text(_yaml(fn_module, tmp_path / "results"))
    result = run_search(cfg, echo=lambda s: None)
    exp = result.experiment_dir
    assert len(result.trials) == 6 and not result.errors
    # ASHA stopped some trials early; the Optuna study holds every trial, none left running
    # (a promoted trial has a record per rung it paused at, raytrain.tune.optuna_pauses)
    epochs = [t["epochs"] for t in result.trials]
    assert max(epochs) == 4 and min(epochs) < 4
    import optuna

    study = optuna.load_study(study_name="fn", storage=f"sqlite:///{exp / 'optuna.db'}")
    assert len({t.user_attrs["tune_trial_id"] for t in study.trials}) == 6
    assert "RUNNING" not in {t.state.name for t in study.trials}
    best = result.best
    assert best is not None and best["value"] == max(t["best_score"] for t in result.trials)
    assert set(best["params"]) == {"x", "kind"}
    summary = json.loads((exp / "summary.json").read_text())
    assert summary["search_method"] == "tpe" and summary["registered"] is None
    with (exp / "trials.csv").open() as f:
        assert len(list(csv.DictReader(f))) == 6


def test_epoch_budget_stops_the_search_after_n_epochs_in_all() -> None:
    from raytrain.tune.function_trainable import epoch_budget

    stop = epoch_budget(3)
    for trial in ("a", "b", "a"):
        assert not stop.stop_all()
        assert stop(trial, {"epoch": 1}) is False  # never stops one trial by itself
    assert stop.stop_all()
