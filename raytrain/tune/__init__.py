"""Hyper-parameter search with Ray Tune over TorchTrainer trials."""

from raytrain.tune.runner import SearchPlan, SearchResult, plan_search, run_search

__all__ = ["SearchPlan", "SearchResult", "plan_search", "run_search"]
