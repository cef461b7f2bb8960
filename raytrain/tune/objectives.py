"""Objectives of a search: single or several (`search.objectives`), derived metrics, Pareto front.

The train loop reports quality metrics (`val_*`). A trade-off such as "F1 up, latency down"
also needs what a model costs; `DERIVED_METRICS` computes such numbers from a trial's config
(the model built with its sampled parameters) once per trial, and `DerivedMetricsCallback`
adds them to every result before Optuna, the progress files and the results table see it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from raytrain.config.schema import ExperimentConfig
from raytrain.errors import RaytrainError

DIRECTION_TO_MODE = {"maximize": "max", "minimize": "min"}


def objectives_of(cfg: ExperimentConfig, metric: str, mode: str) -> list[tuple[str, str]]:
    """[(metric, mode)]: the search's objectives, the primary `metric` first."""
    objectives = cfg.search.objectives
    if not objectives:
        return [(metric, mode)]
    if metric not in objectives:
        raise RaytrainError(
            f"search.objectives: the primary metric '{metric}' (search.metric, which schedules "
            f"trials and picks the checkpoint) must be one of the objectives "
            f"({', '.join(objectives)})"
        )
    if DIRECTION_TO_MODE[objectives[metric]] != mode:
        raise RaytrainError(
            f"search.objectives: '{metric}' is to {objectives[metric]}, but search.direction "
            f"says {mode}"
        )
    rest = [(m, DIRECTION_TO_MODE[d]) for m, d in objectives.items() if m != metric]
    return [(metric, mode), *rest]


# -- derived metrics --------------------------------------------------------------------------

#: warm-up and timed forward passes for latency_ms
LATENCY_WARMUP, LATENCY_RUNS = 3, 15


def _model_of(cfg: ExperimentConfig) -> tuple[Any, tuple[int, ...]]:
    from raytrain.artifacts.export import input_shape
    from raytrain.data.resolve import expected_data_info
    from raytrain.models import create_model
    from raytrain.tasks.resolve import task_name_of

    info = expected_data_info(cfg, task_name_of(cfg))
    if info is None:
        raise RaytrainError(
            "latency_ms: the dataset's input shape is unknown before it is prepared"
        )
    model = create_model(cfg.model.architecture, cfg.model.params(), info).eval()
    return model, input_shape({"data_info": info.__dict__})


def latency_ms(cfg: ExperimentConfig) -> float:
    """Median CPU time of one forward pass of the trial's model on a batch of one, in ms (one
    thread, random weights: the architecture's cost, not the weights')."""
    import torch

    model, shape = _model_of(cfg)
    x = torch.rand(1, *shape)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.no_grad():
            for _ in range(LATENCY_WARMUP):
                model(x)
            samples = []
            for _ in range(LATENCY_RUNS):
                t0 = time.perf_counter()
                model(x)
                samples.append((time.perf_counter() - t0) * 1e3)
    finally:
        torch.set_num_threads(threads)
    return sorted(samples)[len(samples) // 2]


def num_params(cfg: ExperimentConfig) -> float:
    """Trainable parameters of the trial's model."""
    model, _ = _model_of(cfg)
    return float(sum(p.numel() for p in model.parameters() if p.requires_grad))


#: metric name -> function of the trial's config
DERIVED_METRICS: dict[str, Callable[[ExperimentConfig], float]] = {
    "latency_ms": latency_ms,
    "num_params": num_params,
}


def derived_needed(cfg: ExperimentConfig) -> list[str]:
    return [m for m in (cfg.search.objectives or {}) if m in DERIVED_METRICS]


def derived_callback(
    names: list[str], config_of: Callable[[dict[str, Any]], ExperimentConfig]
) -> Any:
    """A Tune callback adding `names` (computed once per trial) to each of its results."""
    from ray.tune import Callback

    class DerivedMetricsCallback(Callback):
        def __init__(self) -> None:
            self._cache: dict[str, dict[str, float]] = {}

        def on_trial_result(
            self, iteration: int, trials: list, trial: Any, result: dict, **info: Any
        ) -> None:
            values = self._cache.get(trial.trial_id)
            if values is None:
                cfg = config_of(trial.config)
                values = {n: DERIVED_METRICS[n](cfg) for n in names}
                self._cache[trial.trial_id] = values
            for n, v in values.items():
                result.setdefault(n, v)

    return DerivedMetricsCallback()


# -- Pareto front -----------------------------------------------------------------------------


def pareto_front(rows: list[dict[str, Any]], objectives: list[tuple[str, str]]) -> list[int]:
    """Indices of the rows no other row dominates (at least as good in every objective, better
    in one). Rows missing an objective take no part."""
    keys = [(m, 1.0 if mode == "max" else -1.0) for m, mode in objectives]
    scored = [
        (i, [s * float(r[m]) for m, s in keys])
        for i, r in enumerate(rows)
        if all(r.get(m) is not None for m, _ in keys)
    ]

    def dominates(a: list[float], b: list[float]) -> bool:
        return all(x >= y for x, y in zip(a, b, strict=True)) and any(
            x > y for x, y in zip(a, b, strict=True)
        )

    return [i for i, a in scored if not any(dominates(b, a) for j, b in scored if j != i)]
