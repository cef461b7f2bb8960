"""ASHA of the promotion kind: trials pause at each rung and only the best go on.

Why: Ray's ASHA is the *stopping* kind. It judges a trial the moment it reaches a rung, against
whatever the rung has recorded so far, so the first trials of a search pass every rung on
almost no evidence (an empty rung stops nothing) and train all `max_t` epochs; on LCBench a
search had started only 12-23 configurations after 200 epochs. The promotion kind (Li et al.,
"A System for Massively Parallel Hyperparameter Tuning", MLSys 2020, Algorithm 2) pauses a
trial at each rung instead, and a free worker resumes a paused trial only once it is in the
top 1/reduction_factor of everything its rung has seen; otherwise the worker starts a new
configuration. Measured on the LCBench surrogate, 10 tasks x 20 seeds, 4 trials at once
(bench/hpo_sim.py, BENCHMARKS.md): with grace 2, 5.0x random search's speed to its target
(95% CI 4.4-5.8; 4.98x, 4.33-5.74, ranking by the best epoch below), where the stopping kind
with raytrain's rung check and revisiting gave 2.8x; on Hartmann-6 "terrible" its regret at
the budget is 0.83x random search's (0.87x).

A rung ranks trials by their best epoch so far (`rung_score="best"`, `tune.rung_score`), not
by the value at the rung's epoch as the paper does: the search scores a trial by its best epoch
(its best checkpoint), and a small model's validation metric dips for single epochs. On the
sample U-Net's training curves the best so far predicts the final best better from the second
rung on (rank correlation with the final best 0.984 against 0.923 at epoch 18, and the same
with the best of the epochs after the rung); on LCBench's smooth surrogate curves the two rank
alike (searches: 4.98x against 5.06x random, within each other's CI; Hartmann 0.87x against
0.83x): bench/rung_score.py, BENCHMARKS.md.

Pausing needs Tune checkpoints (a paused trial is resumed from the checkpoint it reported at
the rung), so it applies to in-process trials (`resources.num_workers: 1`); `tune.asha_mode`
picks it (`auto`: wherever trials can pause).

Two rules make it finish a search of a fixed number of trials, which the paper's endless
stream of configurations never has to: when nothing runs and the searcher has handed out all
its trials, the best paused trial of the highest rung goes on if no trial has trained all
`max_t` epochs yet (so a search always has a fully trained best trial), and otherwise the
paused trials are stopped. A search with `tune.epoch_budget` ends when the budget is spent, not
when the searcher runs out, so there a third rule finishes it: once the budget left (less what
running trials will train to their next rung) could not train a new configuration all `max_t`
epochs, a free worker resumes the best paused trial of the highest rung instead.

Optuna's side of a pause (the trial's record closed, hidden from the sampler) is
raytrain.tune.optuna_pauses.
"""

from __future__ import annotations

import math
from typing import Any

from ray.tune.experiment import Trial
from ray.tune.schedulers import FIFOScheduler, TrialScheduler


def milestones(grace_period: int, reduction_factor: float, max_t: int) -> list[int]:
    """The rungs' epochs: grace, grace*rf, ... below max_t, then max_t itself."""
    out, m = [], float(grace_period)
    while round(m) < max_t:
        out.append(int(round(m)))
        m *= reduction_factor
    return [*out, int(max_t)]


#: what a trial is ranked by at a rung: "best", its best value at any epoch so far (how the
#: search scores a trial: by its best epoch, whose checkpoint it keeps); "last", its value at
#: the rung's epoch (Li et al.; Ray's and Optuna's schedulers)
RUNG_SCORES = {"best", "last"}


class PromotionASHA(FIFOScheduler):
    """Promotion-type ASHA (module docstring). Rung k's trials pause at `milestones[k]`; one
    is promoted (resumed to rung k+1) while it is among the best `len(rung) // rf` of its
    rung; rungs are tried from the top, then a new trial starts."""

    def __init__(
        self,
        *,
        time_attr: str = "training_iteration",
        max_t: int,
        grace_period: int = 1,
        reduction_factor: float = 3,
        metric: str | None = None,
        mode: str | None = None,
        epoch_budget: int | None = None,
        rung_score: str = "best",
    ) -> None:
        super().__init__()
        if grace_period < 1 or max_t < grace_period or reduction_factor <= 1:
            raise ValueError("PromotionASHA: needs 1 <= grace_period <= max_t, reduction > 1")
        if rung_score not in RUNG_SCORES:
            raise ValueError(f"PromotionASHA: rung_score must be one of {sorted(RUNG_SCORES)}")
        self._time_attr = time_attr
        self._max_t = int(max_t)
        self._rf = float(reduction_factor)
        self._milestones = milestones(grace_period, reduction_factor, max_t)
        #: per rung below max_t: trial id -> metric at the rung (maximized: sign applied)
        self._rungs: list[dict[str, float]] = [{} for _ in self._milestones[:-1]]
        self._promoted: list[set[str]] = [set() for _ in self._milestones[:-1]]
        self._goal: dict[str, int] = {}  # trial id -> the rung it trains to
        self._full = 0  # trials that trained all max_t epochs
        self._metric, self._mode = metric, mode
        #: `tune.epoch_budget`: the epochs all trials may train together (None: no budget)
        self.epoch_budget = epoch_budget
        self._spent = 0  # results seen (each one epoch), as tune.epoch_budget counts them
        self._at: dict[str, int] = {}  # trial id -> its last result's epoch
        #: what a trial is ranked by at a rung (RUNG_SCORES)
        self.rung_score = rung_score
        self._best: dict[str, float] = {}  # trial id -> its best value so far (sign applied)

    # ------------------------------------------------------------------ Tune's hooks

    def set_search_properties(self, metric: str | None, mode: str | None, **spec: Any) -> bool:
        if self._metric and metric and self._metric != metric:
            return False
        self._metric = self._metric or metric
        self._mode = self._mode or mode
        return True

    def on_trial_add(self, tune_controller: Any, trial: Trial) -> None:
        self._goal.setdefault(trial.trial_id, 0)
        if trial.last_result:  # a trial of a resumed search (Tune restores trials as PENDING)
            self._adopt(trial)

    def on_trial_result(self, tune_controller: Any, trial: Trial, result: dict) -> str:
        t = int(result.get(self._time_attr, 0))
        tid = trial.trial_id
        self._spent += 1
        self._at[tid] = t
        value = self._value(result)
        if tid not in self._best:  # its first result here: a resumed trial has a past
            self._best[tid] = self._best_before(trial)
        self._best[tid] = max(value, self._best[tid])
        if t >= self._max_t:
            return TrialScheduler.STOP  # on_trial_complete counts it
        k = self._goal.setdefault(tid, 0)
        if k >= len(self._rungs) or t < self._milestones[k]:
            return TrialScheduler.CONTINUE
        self._record(k, tid, value)
        if tid in self._candidates(k):  # promoted on arrival: no pause, no restore
            self._promote(k, tid)
            return TrialScheduler.CONTINUE
        return TrialScheduler.PAUSE

    def on_trial_complete(self, tune_controller: Any, trial: Trial, result: dict) -> None:
        if result and int(result.get(self._time_attr, 0)) >= self._max_t:
            self._full += 1
        self._goal.pop(trial.trial_id, None)
        self._at.pop(trial.trial_id, None)
        self._best.pop(trial.trial_id, None)

    def on_trial_remove(self, tune_controller: Any, trial: Trial) -> None:
        for kept in (self._goal, self._at, self._best):
            kept.pop(trial.trial_id, None)

    def on_trial_error(self, tune_controller: Any, trial: Trial) -> None:
        self._goal.pop(trial.trial_id, None)

    def choose_trial_to_run(self, tune_controller: Any) -> Trial | None:
        trials = tune_controller.get_trials()
        paused = {t.trial_id: t for t in trials if t.status == Trial.PAUSED}
        _tell_searcher(tune_controller, set(paused))
        for k in reversed(range(len(self._rungs))):  # the highest rung first
            for tid in self._candidates(k):
                if tid in paused:
                    self._promote(k, tid)
                    return paused[tid]
        busy = any(t.status == Trial.RUNNING for t in trials)
        if self._short_of_budget(trials):  # no new configuration could finish: finish one
            best = self._best_waiting(paused)
            if best is not None:
                return paused[best]
            if busy:
                return None
        for trial in trials:
            if trial.status == Trial.PENDING:
                return trial
        if paused and not busy and _search_finished(tune_controller):
            return self._end_game(tune_controller, paused)
        return None

    def debug_string(self) -> str:
        rungs = ", ".join(
            f"epoch {m}: {len(r)} ({len(p)} promoted)"
            for m, r, p in zip(self._milestones, self._rungs, self._promoted, strict=False)
        )
        return f"PromotionASHA: {rungs}; {self._full} trained all {self._max_t} epochs"

    # ------------------------------------------------------------------ the rule

    def _value(self, result: dict) -> float:
        v = float(result.get(self._metric, math.nan)) if self._metric else math.nan
        if math.isnan(v):
            return -math.inf
        return -v if self._mode == "min" else v

    def _record(self, k: int, tid: str, last: float) -> None:
        """Rung k ranks the trial by `rung_score`: its best so far, or `last` (its value now)."""
        self._rungs[k][tid] = self._best[tid] if self.rung_score == "best" else last

    def _candidates(self, k: int) -> list[str]:
        """Rung k's trials among its best `len // rf`, not promoted yet, best first."""
        rung = self._rungs[k]
        top = sorted(rung, key=lambda tid: -rung[tid])[: int(len(rung) // self._rf)]
        return [tid for tid in top if tid not in self._promoted[k]]

    def _promote(self, k: int, tid: str) -> None:
        self._promoted[k].add(tid)
        self._goal[tid] = k + 1

    def _best_before(self, trial: Trial) -> float:
        """The best value a trial reported before this scheduler saw it (a resumed search):
        Tune keeps each metric's max and min of a trial and restores them with it."""
        kept = (getattr(trial, "metric_analysis", None) or {}).get(self._metric) or {}
        return self._value({self._metric: kept.get(self._mode, math.nan)})

    def _adopt(self, trial: Trial) -> None:
        """A trial with results this scheduler did not see (a resumed search: Tune restores
        trials, not the scheduler): recorded at the highest rung its last result reached, where
        it waits to be ranked. Tune restores paused trials as PENDING and starts them whatever
        a scheduler says, so such a trial trains one epoch, then is judged at that rung: it
        goes on if among the rung's best, else pauses again."""
        tid = trial.trial_id
        if any(tid in r for r in self._rungs):
            return
        result = trial.last_result or {}
        t = int(result.get(self._time_attr, 0))
        reached = [k for k, m in enumerate(self._milestones[:-1]) if m <= t]
        if not reached:
            return
        k = reached[-1]
        last = self._value(result)
        self._best[tid] = max(last, self._best_before(trial))
        self._record(k, tid, last)
        self._goal[tid] = k

    def _best_waiting(self, paused: dict[str, Trial]) -> str | None:
        """The best paused trial of the highest rung that has one, promoted; None if none."""
        for k in reversed(range(len(self._rungs))):
            rung = self._rungs[k]
            waiting = [tid for tid in rung if tid in paused and tid not in self._promoted[k]]
            if waiting:
                best = max(waiting, key=lambda tid: rung[tid])
                self._promote(k, best)
                return best
        return None

    def _short_of_budget(self, trials: list[Trial]) -> bool:
        """With `tune.epoch_budget`: whether the budget left, less what the running trials
        will train to their next rung, is under `max_t`, so that a new configuration could
        not train all its epochs before the search ends. Then the best paused trials are
        finished instead, as in the end game (on the sample U-Net, trials still climbing at
        epochs 13-15 when the budget ran out, while new configurations took 2 epochs each)."""
        if self.epoch_budget is None:
            return False
        committed = 0
        for t in trials:
            if t.status == Trial.RUNNING:
                goal = self._milestones[min(self._goal.get(t.trial_id, 0), len(self._rungs))]
                committed += max(0, goal - self._at.get(t.trial_id, 0))
        return self.epoch_budget - self._spent - committed < self._max_t

    def _end_game(self, tune_controller: Any, paused: dict[str, Trial]) -> Trial | None:
        """Nothing runs and nothing new will start: the best paused trial of the highest rung
        goes on while no trial has trained all epochs; otherwise the paused trials stop."""
        if self._full == 0:
            best = self._best_waiting(paused)
            if best is not None:
                return paused[best]
        for trial in paused.values():
            tune_controller.stop_trial(trial)
        return None


def _search_finished(tune_controller: Any) -> bool:
    """Whether the search algorithm will hand out no new trial (all `num_samples` created).
    Not only "nothing pending": in the step where the last running trials pause, the searcher
    has not yet heard that they paused (`_tell_searcher` runs after Tune asked it for trials),
    so nothing is pending although new trials will come; an end game then would stop every
    paused trial of a search that is far from over."""
    alg = getattr(tune_controller, "search_alg", None)
    return alg is None or bool(alg.is_finished())


def _tell_searcher(tune_controller: Any, paused: set[str]) -> None:
    """Paused trials hold no resources: the searcher's concurrency limit must not count them,
    or once as many trials as run at once are paused it hands out no new trial and the search
    waits for ever. raytrain's searchers take the set (`set_paused`); Tune hands schedulers
    the search algorithm as `tune_controller.search_alg`: a BasicVariantGenerator, or a
    SearchGenerator around the ConcurrencyLimiter Tune wraps around every Searcher (which
    leaves the limit to raytrain's searcher, whose `set_max_concurrency` accepts it)."""
    node = getattr(tune_controller, "search_alg", None)
    while node is not None:  # SearchGenerator -> Tune's ConcurrencyLimiter -> our searcher
        if hasattr(node, "set_paused"):
            node.set_paused(paused)
        node = getattr(node, "searcher", None)
