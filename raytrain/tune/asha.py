"""ASHA that revisits the promotions it made before a rung had anything to compare with.

Why: Ray's ASHA (the *stopping* kind) decides when a trial reaches a rung, against the results
the rung has recorded so far, and the cut-off of an empty rung is "none": the first trial to
reach a rung always continues, and the next ones are judged against one or two results. So the
first trials of every search tend to train all max_t epochs whatever they score. Measured on
the sample edge task (`bench/hpo_efficiency.py`, BENCHMARKS.md): 29-81 of a 216-epoch budget
went to the first three trials, among them configurations that ended at F1 0.23.

`tune.revisit_early_promotions: true` keeps ASHA's rule and adds one: a trial that passed a
rung while the rung had fewer than `reduction_factor` other results is judged again, on its
next report, once the rung has that many — with the same cut-off (the top 1/reduction_factor
of the others), and only once. Promotions made on enough evidence are never revisited, so the
trials ASHA would keep are kept.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from ray.tune.schedulers import AsyncHyperBandScheduler, TrialScheduler
from ray.tune.schedulers.async_hyperband import _Bracket


class _RevisitingBracket(_Bracket):
    """One ASHA bracket that remembers which of its promotions were made on too few results."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: trial id -> the rungs (milestones) it passed with fewer than `rf` others recorded
        self._unjudged: dict[str, set[float]] = {}

    def _rung(self, milestone: float) -> dict[str, float]:
        """The results recorded at `milestone`: trial id -> metric."""
        return next(r for m, r in self._rungs if m == milestone)

    @staticmethod
    def _others(recorded: dict[str, float], trial_id: str) -> list[float]:
        return [v for t, v in recorded.items() if t != trial_id]

    def on_result(self, trial: Any, cur_iter: int, cur_rew: float | None) -> str:
        tid = trial.trial_id
        seen = {m: tid in r for m, r in self._rungs}
        action = super().on_result(trial, cur_iter, cur_rew)
        if action != TrialScheduler.CONTINUE:
            return action
        for milestone, recorded in self._rungs:
            just_recorded = tid in recorded and not seen[milestone]
            if just_recorded and len(self._others(recorded, tid)) < self.rf:  # judged on few
                self._unjudged.setdefault(tid, set()).add(milestone)
        for milestone in sorted(self._unjudged.get(tid, ())):
            recorded = self._rung(milestone)
            others = self._others(recorded, tid)
            if len(others) < self.rf:
                continue  # still too few to judge it by
            self._unjudged[tid].discard(milestone)
            cutoff = np.nanpercentile(others, (1 - 1 / self.rf) * 100)
            if recorded[tid] < cutoff:
                return TrialScheduler.STOP
        return action


class RevisitingASHA(AsyncHyperBandScheduler):
    """`AsyncHyperBandScheduler` whose brackets revisit early promotions (module docstring)."""

    def __init__(
        self,
        *,
        grace_period: int,
        max_t: int,
        reduction_factor: float,
        brackets: int = 1,
        stop_last_trials: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            grace_period=grace_period,
            max_t=max_t,
            reduction_factor=reduction_factor,
            brackets=brackets,
            stop_last_trials=stop_last_trials,
            **kwargs,
        )
        self._brackets = [
            _RevisitingBracket(
                grace_period, max_t, reduction_factor, s, stop_last_trials=stop_last_trials
            )
            for s in range(brackets)
        ]
