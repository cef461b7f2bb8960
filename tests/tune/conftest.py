"""Fixtures of the tune tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import optuna
import pytest


@pytest.fixture
def durable_searcher() -> Callable[..., Any]:
    """`durable_searcher(url, metric=, mode=, space=, max_concurrent=)`: raytrain's Optuna
    searcher over an SQLite study "s" (TPE, seed 0, 2 start-up trials), set up as Tune sets it
    up, with the concurrency limit it enforces itself."""
    from ray import tune

    from raytrain.tune.optuna_store import DurableOptunaSearch

    def make(
        url: str,
        *,
        metric: str = "loss",
        mode: str = "min",
        space: dict[str, Any] | None = None,
        max_concurrent: int = 2,
    ) -> DurableOptunaSearch:
        s = DurableOptunaSearch(
            metric=metric,
            mode=mode,
            sampler=optuna.samplers.TPESampler(seed=0, n_startup_trials=2),
            storage=optuna.storages.RDBStorage(url),
            study_name="s",
        )
        default = {"lr": tune.loguniform(1e-4, 1e-1), "width": tune.choice([4, 8, 16])}
        s.set_search_properties(None, None, space or default)
        assert s.set_max_concurrency(max_concurrent) is True  # Tune then adds no limiter
        return s

    return make
