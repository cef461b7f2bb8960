"""Warm starts (raytrain.tune.warm_start) and the Optuna samplers gp and nsga2: the checks before
a search, then real Ray Tune + Optuna searches of an instant function."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import pytest
from quad_objective import quad_yaml, run_quad

from raytrain.config import load_config_text
from raytrain.errors import RaytrainError
from raytrain.tune.optuna_store import WARM_START_ATTR
from raytrain.tune.plan import plan_search

POINTS = "[{x: 0.25, kind: b, n: 4}, {x: 0.75, kind: a, n: 1}]"


def _plan(module: str, tmp_path: Path, search: str, tune: str = "") -> Any:
    text = quad_yaml(module, tmp_path, "w", search, tune)
    return plan_search(load_config_text(text), cluster_cpus=2, cluster_gpus=0)


@pytest.mark.parametrize(
    ("points", "message"),
    [
        ("[{x: 1.5, kind: a, n: 1}]", "search.points_to_evaluate[0].x: 1.5 is outside [0, 1]"),
        (
            "[{x: 0.5, kind: a, n: 1}, {x: 0.5, kind: c, n: 1}]",
            'search.points_to_evaluate[1].kind: \'c\' is not one of the choices ["a", "b"]',
        ),
        ("[{x: 0.5, kind: a, n: 9}]", "search.points_to_evaluate[0].n: 9 is outside [1, 4]"),
        ("[{x: 0.5, kind: a, n: 2.5}]", "search.points_to_evaluate[0].n: 2.5 is not a whole"),
        ("[{x: 0.5, kind: a, n: 1, y: 2}]", "search.points_to_evaluate[0].y: not a search_space"),
        ("[{x: 0.5, kind: a}]", "search.points_to_evaluate[0]: no value for n"),
        ("[{x: yes, kind: a, n: 1}]", "search.points_to_evaluate[0].x: True is not a number"),
    ],
)
def test_a_bad_point_is_one_error_naming_the_point_and_key(
    quad_module: str, tmp_path: Path, points: str, message: str
) -> None:
    with pytest.raises(RaytrainError) as info:
        _plan(quad_module, tmp_path, f"method: tpe, num_trials: 4, points_to_evaluate: {points}")
    assert str(info.value).startswith(message) and "\n" not in str(info.value)


def test_points_are_encoded_and_methods_that_cannot_use_them_refuse(
    quad_module: str, tmp_path: Path
) -> None:
    plan = _plan(quad_module, tmp_path, f"method: tpe, num_trials: 4, points_to_evaluate: {POINTS}")
    assert plan.warm.points == [{"x": 0.25, "kind": "b", "n": 4}, {"x": 0.75, "kind": "a", "n": 1}]
    assert "warm start   2 given point(s) first" in plan.describe()
    with pytest.raises(RaytrainError, match=r"^search.points_to_evaluate: 2 points, but the"):
        _plan(quad_module, tmp_path, f"method: tpe, num_trials: 1, points_to_evaluate: {POINTS}")
    grid = quad_yaml(
        quad_module, tmp_path, "w", "method: grid, points_to_evaluate: [{x: 0.5, kind: a, n: 1}]"
    ).replace("high: 1.0}", "high: 1.0, step: 0.25}")
    with pytest.raises(RaytrainError, match="method grid cannot run given points first"):
        plan_search(load_config_text(grid), cluster_cpus=2, cluster_gpus=0)
    for method in ("random", "cmaes", "nsga2"):
        with pytest.raises(
            RaytrainError,
            match=rf"^search.warm_start_from: search.method {method} cannot learn from earlier "
            r"trials; use gp, tpe$",
        ):
            _plan(quad_module, tmp_path, f"method: {method}, warm_start_from: {tmp_path}")
    with pytest.raises(RaytrainError, match="not a finished raytrain search"):
        _plan(quad_module, tmp_path, f"method: tpe, warm_start_from: {tmp_path / 'nothing'}")


def test_gp_and_nsga2_build_their_optuna_samplers(quad_module: str, tmp_path: Path) -> None:
    gp = _plan(quad_module, tmp_path, "method: gp, num_trials: 8, startup_trials: 3")
    gp.experiment_dir.mkdir(parents=True)  # the study's database goes there
    sampler = gp.method.build(gp.context)._sampler
    assert isinstance(sampler, optuna.samplers.GPSampler) and sampler._n_startup_trials == 3
    for population, expected in (("", 4), (", population_size: 6", 6)):
        nsga = _plan(
            quad_module,
            tmp_path,
            f"method: nsga2, num_trials: 12{population}, objectives: {{score: max, cost: min}}",
        )
        sampler = nsga.method.build(nsga.context)._sampler
        assert isinstance(sampler, optuna.samplers.NSGAIISampler)
        assert sampler._population_size == expected  # default: 12 // 5, at least 4
    with pytest.raises(RaytrainError, match="cmaes: cannot optimize several search.objectives"):
        _plan(quad_module, tmp_path, "method: cmaes, objectives: {score: max, cost: min}")


def _study(result: Any, name: str) -> optuna.Study:
    return optuna.load_study(
        study_name=name, storage=f"sqlite:///{result.experiment_dir / 'optuna.db'}"
    )


# The first two trials are the given points, one at a time: 0.75 scores at most 0.7642; 0.3 (kind
# b) scores 0.91, then 0.96 at epoch 2, which reaches tune.stop.threshold 0.95 and ends the search
# of 4 trials (a third may have started meanwhile).
FIRST_POINTS = [{"x": 0.75, "kind": "a", "n": 1}, {"x": 0.3, "kind": "b", "n": 1}]


@pytest.fixture(scope="module")
def first_search(
    ray_start_2_cpus: None, quad_module_once: str, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Any, dict[str, Any], str]:
    """One tpe search with search.points_to_evaluate and a tune.stop threshold."""
    points = "[{x: 0.75, kind: a, n: 1}, {x: 0.3, kind: b, n: 1}]"
    return run_quad(
        quad_module_once,
        tmp_path_factory.mktemp("first") / "results",
        "first",
        f"method: tpe, num_trials: 4, points_to_evaluate: {points}",
        "stop: {threshold: 0.95}",
        concurrent=1,
    )


@pytest.mark.slow
def test_given_points_are_the_first_trials_and_a_threshold_ends_the_search(
    first_search: tuple[Any, dict[str, Any], str],
) -> None:
    result, summary, out = first_search
    assert 2 <= len(result.trials) <= 3 and not result.errors
    first = [{k: t[k] for k in ("x", "kind", "n")} for t in result.trials[:2]]
    assert first == FIRST_POINTS
    assert [t.params for t in _study(result, "first").trials[:2]] == first  # Optuna's enqueued
    assert summary["warm_start"] == {"points": 2, "from": None, "trials": 0, "left_out": 0}
    hit = result.trials[1]
    assert summary["stopped_by"] == "tune.stop"
    assert summary["stop_reason"] == (
        f"trial {hit['trial']} reported score=0.96 at epoch 2 (>= tune.stop.threshold 0.95)"
    )
    assert "(tune.stop)" in out
    assert summary["best"]["trial"] == hit["trial"]


@pytest.mark.slow
def test_gp_warm_started_from_a_finished_search_learns_from_its_trials(
    first_search: tuple[Any, dict[str, Any], str], quad_module_once: str, tmp_path: Path
) -> None:
    old, old_summary, _ = first_search
    # gp over a narrower x: the first search's trials outside [0, 0.6] (0.75) are left out; the
    # one warm trial inside is its startup trial, so its one trial is the GP's; a stop rule that
    # never fires: the search runs out of trials and says so
    search = f"method: gp, num_trials: 1, startup_trials: 1, warm_start_from: {old.experiment_dir}"
    result, summary, _ = run_quad(
        quad_module_once,
        tmp_path / "results",
        "second",
        search,
        "stop: {threshold: 5}",
        edit={"high: 1.0": "high: 0.6"},
    )
    inside = [t for t in old.trials if t["x"] <= 0.6]
    assert len(result.trials) == 1 and not result.errors and 1 <= len(inside) < len(old.trials)
    study = _study(result, "second")
    warm = [t for t in study.trials if WARM_START_ATTR in t.user_attrs]
    assert len(study.trials) == len(inside) + 1
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    assert [t.params for t in warm] == [{k: t[k] for k in ("x", "kind", "n")} for t in inside]
    assert [t.value for t in warm] == [t["best_score"] for t in inside]
    assert {t.user_attrs[WARM_START_ATTR] for t in warm} == {str(old.experiment_dir)}
    assert summary["warm_start"]["trials"] == len(inside)
    assert summary["warm_start"]["left_out"] == len(old.trials) - len(inside)
    assert summary["search_method"] == "gp" and old_summary["search_method"] == "tpe"
    assert summary["stopped_by"] is None
    assert summary["stop_reason"] == "it ran all its 1 trial(s)"
    # a search of another metric cannot learn from it
    text = quad_yaml(quad_module_once, tmp_path, "third", search).replace(
        "direction: maximize", "direction: minimize"
    )
    with pytest.raises(RaytrainError, match=r"that search optimized score \(max\); this one"):
        plan_search(load_config_text(text), cluster_cpus=2, cluster_gpus=0)


@pytest.mark.slow
def test_nsga2_breeds_generations_and_the_report_draws_the_front(
    ray_start_2_cpus: None, quad_module: str, tmp_path: Path
) -> None:
    # one at a time, 2 per generation: trials 0 and 1 are generation 0, 2 and 3 generation 1
    search = "method: nsga2, num_trials: 4, population_size: 2, objectives: {score: max, cost: min}"
    result, summary, _ = run_quad(
        quad_module,
        tmp_path / "results",
        "moo",
        search,
        concurrent=1,
        edit={"visualizations: false": "visualizations: true"},
    )
    assert len(result.trials) == 4 and not result.errors
    study = _study(result, "moo")
    generations = {
        v for t in study.trials for k, v in t.system_attrs.items() if k.endswith(":generation")
    }
    assert {0, 1} <= generations  # bred past the first
    front = summary["pareto_front"]
    assert front and set(front) <= {t["trial"] for t in result.trials}
    plot = result.experiment_dir / "search_plots" / "pareto_front.png"
    assert plot.is_file() and plot.stat().st_size > 10_000
    from raytrain.viz.search import objectives_of, pareto_info, read_experiment

    exp = read_experiment(result.experiment_dir)
    info = pareto_info(exp.trials, objectives_of(exp.summary), front)
    assert sorted(info.front) == sorted(front) and len(info.trials) == 4
    by_id = {t["trial"]: (t["best_score"], t["cost"]) for t in result.trials}
    assert info.front_points == sorted(by_id[t] for t in front)
    html = (result.experiment_dir / "report.html").read_text()
    assert "pareto_front.png" in html and "Pareto front" in html
