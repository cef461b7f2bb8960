"""raytrain's workflows as Python functions: `tune`/`search` and `train`/`fit`
(see `raytrain.api.workflows` for why the package root exports `search` and `fit`)."""

from raytrain.api.workflows import SearchOutcome, TrainOutcome, fit, search, train, tune

__all__ = ["SearchOutcome", "TrainOutcome", "fit", "search", "train", "tune"]
