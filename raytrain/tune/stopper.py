"""The Tune side of `raytrain.tune.stopping`: a search's stop rules as one Ray Tune `Stopper`.

`search_stopper` combines the rules a config sets into a `SearchStopper`, given to
`RunConfig(stop=...)`; the first rule to fire ends the search: Tune stops the running trials
and the searcher makes no new ones. Which rule fired, and why, is recorded under the search's
key (`stop_reason`), so the runner can say so in the output and in summary.json, also after a
`--resume`, whose stopper Tune unpickles from its own saved state (these classes pickle by
reference: the record is this module's).

`stop_plateau` counts finished trials, so the stopper also needs `trial_ends_callback`, which
tells it when each trial ends.
"""

from __future__ import annotations

from typing import Any

from ray.tune import Callback
from ray.tune.stopper import Stopper

from raytrain.tune.searchers import SearchContext
from raytrain.tune.stopping import Criterion, active_rules

#: search key -> (the rule's key, why): written by the stopper in the driver, read after fit
_REASONS: dict[str, tuple[str, str]] = {}


class SearchStopper(Stopper):
    """The rules of one search in one Tune Stopper; never stops a single trial by itself."""

    def __init__(self, criteria: dict[str, Criterion], key: str = "") -> None:
        self.criteria = criteria
        self.key = key

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        for c in self.criteria.values():
            c.result(trial_id, result)
        return False

    def trial_ended(self, trial_id: str) -> None:
        for c in self.criteria.values():
            c.trial_ended(trial_id)

    def stop_all(self) -> bool:
        for name, c in self.criteria.items():
            why = c.reached()
            if why:
                _REASONS.setdefault(self.key, (name, why))
                return True
        return False


class _TrialEnds(Callback):
    def __init__(self, stopper: SearchStopper) -> None:
        self.stopper = stopper

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.stopper.trial_ended(trial.trial_id)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.stopper.trial_ended(trial.trial_id)


def search_stopper(ctx: SearchContext, key: str) -> SearchStopper | None:
    """The stopper of the rules `ctx.cfg` sets (None: no rule); `key` names the search."""
    rules = active_rules(ctx.cfg)
    if not rules:
        return None
    _REASONS.pop(key, None)
    return SearchStopper({r.key: r.build(ctx) for r in rules}, key)


def trial_ends_callback(stopper: SearchStopper) -> Callback:
    """The Tune callback that tells `stopper` when each trial ends."""
    return _TrialEnds(stopper)


def stop_reason(key: str) -> tuple[str, str] | None:
    """(rule key, why) of the rule that ended the search `key`, or None."""
    return _REASONS.get(key)
