"""When a whole search stops before its last trial: a registry of stop rules (`STOP_RULES`).

Each rule is a `tune:` key: `time_budget_s` (Ray's `TimeoutStopper`), `epoch_budget`, `stop`
(a trial reached a metric threshold) and `stop_plateau` (the best value stopped improving).
Each builds a `Criterion`, which sees every result and every trial's end and says when the
search must stop, and why. `raytrain.tune.stopper` puts a search's criteria in one Tune
`Stopper` (no Ray import here: planning and `--dry-run` stay light).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from raytrain.config.schema import ExperimentConfig
from raytrain.errors import RaytrainError
from raytrain.tune.searchers import SearchContext


class Criterion:
    """One stop rule's state: sees every result and every trial's end, says when it fired."""

    def result(self, trial_id: str, result: dict[str, Any]) -> None:
        """Every reported result."""

    def trial_ended(self, trial_id: str) -> None:
        """A trial finished, was stopped, or failed."""

    def reached(self) -> str | None:
        """Why the search must stop now (one line), or None."""
        return None


@dataclass(frozen=True)
class StopRule:
    key: str
    active: Callable[[ExperimentConfig], bool]
    build: Callable[[SearchContext], Criterion]
    describe: Callable[[SearchContext], str]


STOP_RULES: dict[str, StopRule] = {}


def register_stop_rule(
    key: str, active: Callable[[ExperimentConfig], bool], describe: Callable[[SearchContext], str]
) -> Callable[[Callable[[SearchContext], Criterion]], Callable[[SearchContext], Criterion]]:
    def deco(build: Callable[[SearchContext], Criterion]) -> Callable[[SearchContext], Criterion]:
        STOP_RULES[key] = StopRule(key, active, build, describe)
        return build

    return deco


def active_rules(cfg: ExperimentConfig) -> list[StopRule]:
    return [r for r in STOP_RULES.values() if r.active(cfg)]


def describe_rules(ctx: SearchContext) -> str:
    return "; ".join(r.describe(ctx) for r in active_rules(ctx.cfg)) or "none (every trial runs)"


def check_rules(ctx: SearchContext) -> None:
    """Before anything runs: each rule's metric and direction are known."""
    for rule in active_rules(ctx.cfg):
        rule.build(ctx)


# -- the rules ---------------------------------------------------------------------------------


class TimeBudget(Criterion):
    """Ray's TimeoutStopper: the clock starts at the search's first step."""

    def __init__(self, seconds: float) -> None:
        from ray.tune.stopper import TimeoutStopper

        self.seconds = seconds
        self.timeout = TimeoutStopper(seconds)

    def reached(self) -> str | None:
        if self.timeout.stop_all():
            return f"the time budget of {self.seconds:g} s ran out"
        return None


@register_stop_rule(
    "tune.time_budget_s",
    lambda cfg: cfg.tune.time_budget_s is not None,
    lambda c: f"after {c.cfg.tune.time_budget_s:g} s",
)
def _time_budget(ctx: SearchContext) -> Criterion:
    assert ctx.cfg.tune.time_budget_s is not None
    return TimeBudget(ctx.cfg.tune.time_budget_s)


class EpochBudget(Criterion):
    """Every result is one epoch of one trial; a resumed search counts afresh."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.epochs = 0

    def result(self, trial_id: str, result: dict[str, Any]) -> None:
        self.epochs += 1

    def reached(self) -> str | None:
        if self.epochs >= self.budget:
            return f"the trials trained {self.epochs} epoch(s) together (budget {self.budget})"
        return None


@register_stop_rule(
    "tune.epoch_budget",
    lambda cfg: cfg.tune.epoch_budget is not None,
    lambda c: f"after {c.cfg.tune.epoch_budget} epochs of all trials together",
)
def _epoch_budget(ctx: SearchContext) -> Criterion:
    assert ctx.cfg.tune.epoch_budget is not None
    return EpochBudget(ctx.cfg.tune.epoch_budget)


def _metric_mode(
    ctx: SearchContext, mode_key: str, metric: str | None, mode: str | None
) -> tuple[str, str]:
    """The rule's metric (default the search's) and direction (default the metric's in the
    search; required for another metric)."""
    metric = metric or ctx.metric
    known = dict(ctx.objectives)
    if mode is None:
        if metric not in known:
            raise RaytrainError(
                f"{mode_key}: required for '{metric}', which is not one of the search's "
                f"objectives ({', '.join(known)}): max or min"
            )
        mode = known[metric]
    return metric, mode


def _better(value: float, than: float, mode: str, by: float = 0.0) -> bool:
    return value > than + by if mode == "max" else value < than - by


class Threshold(Criterion):
    def __init__(self, metric: str, mode: str, threshold: float) -> None:
        self.metric, self.mode, self.threshold = metric, mode, threshold
        self.hit: tuple[str, float, Any] | None = None

    def result(self, trial_id: str, result: dict[str, Any]) -> None:
        value = result.get(self.metric)
        if self.hit is not None or not isinstance(value, int | float) or value != value:
            return
        if value == self.threshold or _better(value, self.threshold, self.mode):
            self.hit = (trial_id, float(value), result.get("epoch"))

    def reached(self) -> str | None:
        if self.hit is None:
            return None
        trial, value, epoch = self.hit
        sign = ">=" if self.mode == "max" else "<="
        at = f" at epoch {epoch}" if epoch is not None else ""
        return (
            f"trial {trial} reported {self.metric}={value:.6g}{at} "
            f"({sign} tune.stop.threshold {self.threshold:g})"
        )


@register_stop_rule(
    "tune.stop",
    lambda cfg: cfg.tune.stop is not None,
    lambda c: (
        f"when a trial reports {c.cfg.tune.stop.metric or c.metric} "
        f"{'>=' if _threshold(c).mode == 'max' else '<='} {c.cfg.tune.stop.threshold:g}"
    ),
)
def _threshold(ctx: SearchContext) -> Threshold:
    s = ctx.cfg.tune.stop
    assert s is not None
    metric, mode = _metric_mode(ctx, "tune.stop.mode", s.metric, s.mode)
    return Threshold(metric, mode, s.threshold)


class Plateau(Criterion):
    """The best of each finished trial's best reports; `patience` finished trials in a row that
    do not beat the search's best by more than `min_delta` end the search."""

    def __init__(self, metric: str, mode: str, patience: int, min_delta: float) -> None:
        self.metric, self.mode = metric, mode
        self.patience, self.min_delta = patience, min_delta
        self.trial_best: dict[str, float] = {}
        self.best: float | None = None
        self.since = 0  # finished trials since the best last improved
        self.ended: set[str] = set()

    def result(self, trial_id: str, result: dict[str, Any]) -> None:
        value = result.get(self.metric)
        if not isinstance(value, int | float) or value != value:
            return
        old = self.trial_best.get(trial_id)
        if old is None or _better(value, old, self.mode):
            self.trial_best[trial_id] = float(value)

    def trial_ended(self, trial_id: str) -> None:
        if trial_id in self.ended:
            return
        self.ended.add(trial_id)
        value = self.trial_best.get(trial_id)
        if value is None:  # an errored trial without a report: no evidence either way
            return
        if self.best is None or _better(value, self.best, self.mode, self.min_delta):
            self.best, self.since = value, 0
        else:
            self.since += 1

    def reached(self) -> str | None:
        if self.best is None or self.since < self.patience:
            return None
        return (
            f"the best {self.metric} ({self.best:.6g}) did not improve by more than "
            f"{self.min_delta:g} in the last {self.since} finished trial(s) "
            f"(tune.stop_plateau.patience {self.patience})"
        )


@register_stop_rule(
    "tune.stop_plateau",
    lambda cfg: cfg.tune.stop_plateau is not None,
    lambda c: (
        f"when {c.cfg.tune.stop_plateau.patience} finished trial(s) in a row do not improve "
        f"the best {c.cfg.tune.stop_plateau.metric or c.metric} by more than "
        f"{c.cfg.tune.stop_plateau.min_delta:g}"
    ),
)
def _plateau(ctx: SearchContext) -> Plateau:
    p = ctx.cfg.tune.stop_plateau
    assert p is not None
    metric, mode = _metric_mode(ctx, "tune.stop_plateau.mode", p.metric, p.mode)
    return Plateau(metric, mode, p.patience, p.min_delta)
