"""Stopping a whole search (raytrain.tune.stopping): the rules on their own, then real Ray Tune
searches of an instant function that end by `tune.time_budget_s`, `tune.stop` and
`tune.stop_plateau`, saying why in the output and summary.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from quad_objective import quad_yaml

from raytrain.config import load_config_text
from raytrain.errors import RaytrainError
from raytrain.tune.stopping import Plateau, Threshold


def test_threshold_fires_in_the_metric_direction_only() -> None:
    up = Threshold("score", "max", 0.9)
    up.result("a", {"score": 0.89, "epoch": 1})
    assert up.reached() is None
    up.result("b", {"score": 0.9, "epoch": 2})  # at the threshold counts
    up.result("c", {"score": 0.95, "epoch": 1})  # later hits do not replace the first
    assert up.reached() == "trial b reported score=0.9 at epoch 2 (>= tune.stop.threshold 0.9)"
    down = Threshold("loss", "min", 0.1)
    down.result("a", {"loss": 0.5})
    down.result("a", {"other": 0.0})
    assert down.reached() is None
    down.result("b", {"loss": 0.05})
    assert "trial b reported loss=0.05" in str(down.reached())


def test_plateau_counts_finished_trials_by_their_best_report() -> None:
    p = Plateau("score", "max", patience=2, min_delta=0.01)
    for trial, scores in (("a", [0.5, 0.7]), ("b", [0.705]), ("c", [0.6, 0.71])):
        for s in scores:
            p.result(trial, {"score": s})
        p.trial_ended(trial)
    # a sets 0.7; b (0.705) and c (0.71) gain less than min_delta: two without improvement
    assert p.since == 2 and p.best == 0.7
    assert p.reached() is not None and "did not improve by more than 0.01" in p.reached()
    q = Plateau("loss", "min", patience=1, min_delta=0.0)
    q.trial_ended("errored")  # no report: no evidence
    q.result("a", {"loss": 0.5})
    q.trial_ended("a")
    q.result("b", {"loss": 0.4})
    q.trial_ended("b")
    q.trial_ended("b")  # told twice (complete and error): counted once
    assert q.reached() is None and q.best == 0.4
    q.result("c", {"loss": 0.45})
    q.trial_ended("c")
    assert q.reached() is not None


def test_stop_rules_need_a_direction_for_a_metric_not_searched(
    quad_module: str, tmp_path: Path
) -> None:
    from raytrain.tune.plan import plan_search

    def plan(tune: str):  # noqa: ANN202
        text = quad_yaml(quad_module, tmp_path, "s", "method: tpe, num_trials: 4", tune)
        return plan_search(load_config_text(text), cluster_cpus=2, cluster_gpus=0)

    with pytest.raises(RaytrainError, match=r"^tune.stop.mode: required for 'cost'"):
        plan("stop: {metric: cost, threshold: 0.1}")
    with pytest.raises(RaytrainError, match=r"^tune.stop_plateau.mode: required for 'cost'"):
        plan("stop_plateau: {metric: cost, patience: 2}")
    text = plan(
        "time_budget_s: 60, stop: {metric: cost, mode: minimize, threshold: 0.1}, "
        "stop_plateau: {patience: 3}"
    ).describe()
    assert (
        "stops        after 60 s; when a trial reports cost <= 0.1; when 3 finished trial(s) "
        "in a row do not improve the best score by more than 0" in text
    )
    assert "stops        none (every trial runs)" in plan("").describe()


def _search(  # noqa: ANN202
    module: str,
    tmp_path: Path,
    name: str,
    search: str,
    tune: str,
    extra: str = "",
    one: bool = False,
):
    from raytrain.tune.runner import run_search

    out = tmp_path / "results"
    cfg = load_config_text(quad_yaml(module, out, name, search, tune, extra, 1 if one else 2))
    lines: list[str] = []
    result = run_search(cfg, echo=lines.append)
    summary = json.loads((result.experiment_dir / "summary.json").read_text())
    return result, summary, "\n".join(lines)


@pytest.mark.slow
def test_time_budget_ends_the_search_with_its_best(
    ray_start_2_cpus: None, quad_module: str, tmp_path: Path
) -> None:
    # 40 trials of 3 x 1 s, two at once, need 60 s; the budget is 20 s (the first trials of
    # a session wait seconds for their process on a busy machine)
    result, summary, out = _search(
        quad_module,
        tmp_path,
        "budget",
        "method: random, num_trials: 40",
        "time_budget_s: 20",
        "objective_params: {sleep: 1.0}\n",
    )
    assert 1 <= len(result.trials) < 40
    assert summary["stopped_by"] == "tune.time_budget_s"
    assert summary["stop_reason"] == "the time budget of 20 s ran out"
    assert "search ended: the time budget of 20 s ran out (tune.time_budget_s)" in out
    assert result.best is not None and summary["best"]["trial"] == result.best["trial"]
    assert summary["wall_time_s"] < 50


@pytest.mark.slow
def test_threshold_stops_once_a_trial_reaches_it(
    ray_start_2_cpus: None, quad_module: str, tmp_path: Path
) -> None:
    # the first point scores 1.0 - 0.1/epoch + 0.01: 0.91, then 0.96 at epoch 2, which reaches
    # 0.95; one trial at a time, so the search ends in the first trial
    result, summary, out = _search(
        quad_module,
        tmp_path,
        "threshold",
        "method: random, num_trials: 20, points_to_evaluate: [{x: 0.3, kind: b, n: 1}]",
        "stop: {threshold: 0.95}",
        one=True,
    )
    first = result.trials[0]
    assert len(result.trials) <= 2 and first["x"] == 0.3
    assert summary["stopped_by"] == "tune.stop"
    assert summary["stop_reason"] == (
        f"trial {first['trial']} reported score=0.96 at epoch 2 (>= tune.stop.threshold 0.95)"
    )
    assert "(tune.stop)" in out


@pytest.mark.slow
def test_plateau_stops_after_patience_trials_without_gain(
    ray_start_2_cpus: None, quad_module: str, tmp_path: Path
) -> None:
    # the best point first, then only worse ones: trial 1 sets the best, 2 and 3 do not beat
    # it, and the search of 12 trials ends (a third may have started meanwhile)
    points = "[{x: 0.3, kind: b, n: 1}, {x: 0.9, kind: a, n: 1}, {x: 0.0, kind: a, n: 1}]"
    result, summary, _ = _search(
        quad_module,
        tmp_path,
        "plateau",
        f"method: random, num_trials: 12, points_to_evaluate: {points}",
        "stop_plateau: {patience: 2, min_delta: 0.001}",
        one=True,
    )
    assert 3 <= len(result.trials) <= 4
    assert summary["stopped_by"] == "tune.stop_plateau"
    assert summary["stop_reason"].startswith("the best score (0.976667) did not improve")


@pytest.mark.slow
def test_a_search_that_runs_out_of_trials_says_so(
    ray_start_2_cpus: None, quad_module: str, tmp_path: Path
) -> None:
    result, summary, _ = _search(
        quad_module, tmp_path, "all", "method: random, num_trials: 3", "stop: {threshold: 5}"
    )
    assert len(result.trials) == 3
    assert summary["stopped_by"] is None
    assert summary["stop_reason"] == "it ran all its 3 trial(s)"


@pytest.mark.slow
def test_epoch_budget_is_one_of_the_rules(
    ray_start_2_cpus: None, quad_module: str, tmp_path: Path
) -> None:
    result, summary, _ = _search(
        quad_module, tmp_path, "epochs", "method: tpe, num_trials: 10", "epoch_budget: 4", one=True
    )
    assert len(result.trials) <= 3 and sum(t["epochs"] for t in result.trials) <= 5
    assert summary["stopped_by"] == "tune.epoch_budget"
    assert summary["stop_reason"].startswith("the trials trained 4 epoch(s) together (budget 4)")
