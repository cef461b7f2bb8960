"""Stopping a whole search (raytrain.tune.stopping): the rules on their own, then real Ray Tune
searches of an instant function that end by `tune.time_budget_s`, `tune.stop` and
`tune.stop_plateau`, saying why in the output and summary.json."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from quad_objective import quad_yaml, run_quad

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


def test_epoch_budget_is_one_of_the_rules(quad_module: str, tmp_path: Path) -> None:
    # its end-to-end path (a SearchStopper in a real search, the reason in summary.json) is the
    # one the threshold (tests/tune/test_warm_start.py) and plateau searches below take
    from raytrain.tune.plan import plan_search
    from raytrain.tune.stopper import search_stopper, stop_reason

    text = quad_yaml(quad_module, tmp_path, "e", "method: tpe, num_trials: 10", "epoch_budget: 4")
    plan = plan_search(load_config_text(text), cluster_cpus=2, cluster_gpus=0)
    assert "stops        after 4 epochs of all trials together" in plan.describe()
    stopper = search_stopper(plan.context, "epochs-key")
    assert stopper is not None and list(stopper.criteria) == ["tune.epoch_budget"]
    for trial, epoch in (("a", 1), ("a", 2), ("b", 1)):
        assert stopper(trial, {"epoch": epoch, "score": 0.5}) is False  # never one trial alone
        assert not stopper.stop_all()
    stopper("b", {"epoch": 2, "score": 0.5})
    assert stopper.stop_all()
    assert stop_reason("epochs-key") == (
        "tune.epoch_budget",
        "the trials trained 4 epoch(s) together (budget 4)",
    )


@pytest.mark.slow
def test_plateau_stops_after_patience_trials_without_gain(
    ray_start_2_cpus: None, quad_module: str, tmp_path: Path
) -> None:
    # the best point first, then a worse one: trial 1 sets the best, 2 does not beat it, and
    # the search of 12 trials ends (a third may have started meanwhile)
    points = "[{x: 0.3, kind: b, n: 1}, {x: 0.9, kind: a, n: 1}]"
    result, summary, out = run_quad(
        quad_module,
        tmp_path / "results",
        "plateau",
        f"method: random, num_trials: 12, points_to_evaluate: {points}",
        "stop_plateau: {patience: 1, min_delta: 0.001}",
        concurrent=1,
    )
    assert 2 <= len(result.trials) <= 3
    assert summary["stopped_by"] == "tune.stop_plateau"
    assert summary["stop_reason"] == (
        "the best score (0.976667) did not improve by more than 0.001 in the last 1 finished "
        "trial(s) (tune.stop_plateau.patience 1)"
    )
    assert "(tune.stop_plateau)" in out
    assert summary["best"]["trial"] == result.trials[0]["trial"] == result.best["trial"]


@pytest.mark.slow
def test_time_budget_ends_the_search(
    ray_start_2_cpus: None, quad_module: str, tmp_path: Path
) -> None:
    # 20 trials of 3 x 30 s, one at a time, would take 30 minutes; the budget of 1 s ends the
    # search before any trial reports (on a busy machine a trial's process alone can take longer
    # than a budget of seconds, so this does not wait for a report; the best kept and the reason
    # in summary.json go the way the threshold and plateau searches show)
    started = time.monotonic()
    with pytest.raises(RaytrainError) as info:
        run_quad(
            quad_module,
            tmp_path / "results",
            "budget",
            "method: random, num_trials: 20",
            "time_budget_s: 1",
            "objective_params: {sleep: 30.0}\n",
            concurrent=1,
        )
    assert str(info.value).endswith(
        "no trial reported 'score' with a checkpoint; nothing to register (the search ended "
        "early: the time budget of 1 s ran out; tune.time_budget_s)"
    )
    assert time.monotonic() - started < 60
