"""Hyper-parameter search with Ray Tune over TorchTrainer trials, or over any function
(`objective: module:function`, which reports each epoch with `raytrain.tune.report`)."""

from raytrain.tune.function_trainable import last_state, report
from raytrain.tune.plan import SearchPlan, plan_search
from raytrain.tune.results import SearchResult
from raytrain.tune.runner import run_search

__all__ = ["SearchPlan", "SearchResult", "last_state", "plan_search", "report", "run_search"]
