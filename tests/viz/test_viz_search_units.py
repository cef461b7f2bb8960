"""Search plots' pure functions on hand-made trial tables (no experiment folder): how the
parallel-coordinates axes normalise values, and the optimization history's running best."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from raytrain.viz.search import (
    AxisSpec,
    axis_specs,
    history_info,
    objectives_of,
    parallel_info,
    pareto_info,
    searched_params,
)


def _trials() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "trial": ["a", "b", "c", "d"],
            "status": ["OK", "OK", "ERROR", "OK"],
            "epochs": [5, 5, 1, 5],
            "lr": [1e-5, 1e-2, 1e-3, 1e-3],
            "width": [16, 64, 32, 40],
            "optimizer": ["adam", "sgd", "adam", "adamw"],
            "best_val_loss": [0.5, 0.3, float("nan"), 0.4],
        }
    )


def test_searched_params_skip_bookkeeping_and_results() -> None:
    assert searched_params(_trials()) == ["lr", "width", "optimizer"]


def test_axis_position_linear_log_categorical() -> None:
    linear = AxisSpec("width", "linear", True, 16.0, 64.0)
    assert linear.position(16) == 0.0 and linear.position(64) == 1.0
    assert linear.position(40) == pytest.approx(0.5)
    log = AxisSpec("lr", "log", low=1e-4, high=1e-2)
    assert log.position(1e-3) == pytest.approx(0.5)
    assert log.position(1e-2) == pytest.approx(1.0)
    cat = AxisSpec("optimizer", "categorical", choices=["adam", "sgd", "adamw"])
    assert [cat.position(c) for c in ("adam", "sgd", "adamw")] == [0.0, 0.5, 1.0]
    assert math.isnan(cat.position("rmsprop")) and math.isnan(linear.position(None))
    assert AxisSpec("x", "categorical", choices=["only"]).position("only") == 0.5
    assert AxisSpec("x", "linear", low=3.0, high=3.0).position(3.0) == 0.5
    assert [label for _, label in linear.ticks()] == ["16", "28", "40", "52", "64"]


def test_axis_specs_infer_types_or_take_the_declared_space() -> None:
    specs = axis_specs(_trials())
    assert specs["lr"].kind == "log"  # 1e-5..1e-2 spans more than two decades
    assert (specs["lr"].low, specs["lr"].high) == (1e-5, 1e-2) and not specs["lr"].is_int
    assert specs["width"].kind == "linear" and specs["width"].is_int
    assert specs["optimizer"].choices == ["adam", "sgd", "adamw"]  # first-seen order
    declared = axis_specs(
        _trials(),
        {
            "width": {"type": "uniform", "low": 0, "high": 128},
            "optimizer": {"type": "choice", "values": ["sgd", "adamw", "adam", "lion"]},
        },
    )
    assert (declared["width"].low, declared["width"].high) == (0.0, 128.0)
    assert not declared["width"].is_int  # the declared type wins over integral values
    assert declared["optimizer"].choices == ["sgd", "adamw", "adam", "lion"]


def test_parallel_info_normalises_every_completed_trial() -> None:
    info = parallel_info(_trials(), "val_loss", "min")
    assert [a.name for a in info.axes] == ["lr", "width", "optimizer"]
    assert info.trials == ["a", "b", "d"]  # the errored trial has no line
    assert info.objective == [0.5, 0.3, 0.4]
    assert info.best_trial == "b"
    expected = [[0.0, 0.0, 0.0], [1.0, 1.0, 0.5], [2 / 3, 0.5, 1.0]]  # lr on log10
    for got, want in zip(info.positions, expected, strict=True):
        assert got == pytest.approx(want)


def test_history_info_running_best_in_completion_order() -> None:
    info = history_info(_trials(), "val_loss", "min", order=["d", "a"])
    assert info.trials == ["d", "a", "b"]  # b is not in `order`: after the ones that are
    assert info.values == [0.4, 0.5, 0.3]
    assert info.best_so_far == [0.4, 0.4, 0.3]
    assert (info.best_trial, info.best_value) == ("b", 0.3)
    assert info.errored == ["c"]
    assert history_info(_trials(), "val_loss", "max").best_so_far == [0.5, 0.5, 0.5]


def test_pareto_info_keeps_trials_with_every_objective_and_orders_the_front() -> None:
    trials = pd.DataFrame(
        {
            "trial": ["a", "b", "c", "d", "e"],
            "status": ["OK", "STOPPED", "OK", "ERROR", "OK"],
            "best_val_f1": [0.9, 0.8, 0.7, float("nan"), 0.95],
            "latency_ms": [5.0, 2.0, 6.0, 1.0, 9.0],
        }
    )
    objectives = [("val_f1", "max"), ("latency_ms", "min")]
    info = pareto_info(trials, objectives, front=["e", "b", "a"])
    assert info.trials == ["a", "b", "c", "e"]  # d has no val_f1
    assert (info.x, info.y) == ([0.9, 0.8, 0.7, 0.95], [5.0, 2.0, 6.0, 9.0])
    assert info.front == ["b", "a", "e"]  # along the first objective
    assert info.front_points == [(0.8, 2.0), (0.9, 5.0), (0.95, 9.0)]
    assert pareto_info(trials, objectives[:1], front=[]).trials == []  # one objective: no plot
    assert objectives_of({"objectives": [{"metric": "f", "mode": "max"}], "metric": "f"}) == [
        ("f", "max")
    ]
    assert objectives_of({"metric": "loss", "mode": "min"}) == [("loss", "min")]
