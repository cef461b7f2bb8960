"""Hyper-parameter search with Ray Tune over TorchTrainer trials, or over any function
(`objective: module:function`, which reports each epoch with `raytrain.tune.report`)."""

from raytrain.tune.function_trainable import last_state, report
from raytrain.tune.runner import SearchPlan, SearchResult, ensure_ray, plan_search, run_search

__all__ = [
    "SearchPlan",
    "SearchResult",
    "ensure_ray",
    "last_state",
    "plan_search",
    "report",
    "run_search",
]
