"""Hyper-parameter search with Ray Tune over TorchTrainer trials."""

from raytrain.tune.plan import SearchPlan, plan_search
from raytrain.tune.results import SearchResult
from raytrain.tune.runner import run_search

__all__ = ["SearchPlan", "SearchResult", "plan_search", "run_search"]
