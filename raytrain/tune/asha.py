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

import logging
from typing import Any

import numpy as np
from ray.tune.schedulers import AsyncHyperBandScheduler, TrialScheduler
from ray.tune.schedulers.async_hyperband import _Bracket

log = logging.getLogger(__name__)


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
            if recorded[tid] < cutoff and self.may_stop(milestone):
                return TrialScheduler.STOP
        return action

    def may_stop(self, milestone: float) -> bool:
        """Whether the rung at `milestone` may stop trials (`_CheckedBracket` says when not)."""
        return True


class _BracketASHA(AsyncHyperBandScheduler):
    """Ray's `AsyncHyperBandScheduler` with brackets of another `_Bracket` class: its own
    bracket choice, bookkeeping and `max_t` stop stay Ray's."""

    def __init__(
        self,
        *,
        grace_period: int,
        max_t: int,
        reduction_factor: float,
        brackets: int = 1,
        stop_last_trials: bool = True,
        bracket: type[_Bracket],
        bracket_kwargs: dict[str, Any] | None = None,
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
            bracket(
                grace_period,
                max_t,
                reduction_factor,
                s,
                stop_last_trials=stop_last_trials,
                **(bracket_kwargs or {}),
            )
            for s in range(brackets)
        ]


class RevisitingASHA(_BracketASHA):
    """`AsyncHyperBandScheduler` whose brackets revisit early promotions (module docstring)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(bracket=_RevisitingBracket, **kwargs)


def rank_correlation(pairs: list[tuple[float, float]]) -> float:
    """Spearman's rank correlation of (x, y) pairs (ties ranked by order; NaN-free input)."""
    a = np.asarray(pairs, dtype=float)
    rx = np.argsort(np.argsort(a[:, 0])).astype(float)
    ry = np.argsort(np.argsort(a[:, 1])).astype(float)
    rx -= rx.mean()
    ry -= ry.mean()
    denom = float(np.sqrt((rx * rx).sum() * (ry * ry).sum()))
    return float((rx * ry).sum() / denom) if denom > 0 else 0.0


class _CheckedBracket(_Bracket):
    """One ASHA bracket that stops trials at a rung only while that rung ranks trials the way
    the next one does (the module's `CheckedASHA`)."""

    def __init__(
        self,
        *args: Any,
        max_t: int,
        min_pairs: int,
        min_correlation: float,
        trust_unchecked: bool,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.trust_unchecked = trust_unchecked
        self._said: dict[float, bool] = {}  # the trust last logged per rung
        self._max_t = max_t
        self.min_pairs = min_pairs
        self.min_correlation = min_correlation
        #: trial id -> metric of the trials that ran all max_t epochs (the level above the top rung)
        self._final: dict[str, float] = {}

    def _levels(self) -> list[tuple[float, dict[str, float]]]:
        """(milestone, recorded) from the first rung up, then the finished trials at max_t. A
        rung at max_t itself (grace_period x reduction_factor^k == max_t) stops no trial in
        Ray's ASHA; the finished trials stand for it."""
        rungs = [(m, r) for m, r in reversed(self._rungs) if m < self._max_t]
        return [*rungs, (float(self._max_t), self._final)]

    def agreement(self, milestone: float) -> tuple[int, float | None]:
        """(pairs, rank correlation) between a rung and the next level, over the trials that
        reached both; the correlation is None below `min_pairs` pairs."""
        levels = self._levels()
        i = next(k for k, (m, _) in enumerate(levels) if m == milestone)
        here, above = levels[i][1], levels[i + 1][1]
        pairs = [(here[t], v) for t, v in above.items() if t in here]
        if len(pairs) < self.min_pairs:
            return len(pairs), None
        return len(pairs), rank_correlation(pairs)

    def trusted(self, milestone: float) -> bool:
        """Whether the rung may stop trials: until `min_pairs` trials reached it and the next
        level, `trust_unchecked`; then while their rank correlation is `min_correlation` or
        more."""
        _, rho = self.agreement(milestone)
        return self.trust_unchecked if rho is None else rho >= self.min_correlation

    def may_stop(self, milestone: float) -> bool:
        """`trusted`, saying so on the console when a rung's trust changes."""
        trusted = self.trusted(milestone)
        if trusted != self._said.get(milestone, True):
            self._said[milestone] = trusted
            n, rho = self.agreement(milestone)
            shown = "n/a" if rho is None else f"{rho:.2f}"
            if trusted:
                log.info(
                    "ASHA: epoch %d ranks trials like the next level again (rank correlation "
                    "%s over %d trials); it stops trials again",
                    milestone,
                    shown,
                    n,
                )
            else:
                log.warning(
                    "ASHA: epoch %d ranks trials unlike the next level (rank correlation %s "
                    "over %d trials; tune.rung_check.min_correlation %.2f): that rung stops "
                    "no trial while it disagrees",
                    milestone,
                    shown,
                    n,
                    self.min_correlation,
                )
        return trusted

    def on_result(self, trial: Any, cur_iter: int, cur_rew: float | None) -> str:
        tid = trial.trial_id
        if cur_iter >= self._max_t:  # the scheduler's on_trial_complete of a finished trial
            if cur_rew is not None and not np.isnan(cur_rew):
                self._final[tid] = cur_rew
            return super().on_result(trial, cur_iter, cur_rew)  # Ray's bookkeeping as ever
        deciding = next(
            (m for m, r in self._rungs if cur_iter >= m and tid not in r), None
        )  # the rung Ray's rule decides at (rungs are highest first)
        action = super().on_result(trial, cur_iter, cur_rew)
        if action == TrialScheduler.STOP and deciding is not None and not self.may_stop(deciding):
            return TrialScheduler.CONTINUE
        return action


class _RevisitingCheckedBracket(_CheckedBracket, _RevisitingBracket):
    """Both: revisits early promotions, and only at rungs the check trusts."""


class CheckedASHA(_BracketASHA):
    """ASHA that stops trusting a rung whose ranking the next rung contradicts.

    Why: ASHA stops a trial at a rung on the assumption that a configuration's metric after
    few epochs ranks it the way its final metric would. Where cheap epochs mislead (noise that
    dwarfs early differences; early values upside down, like mf-prior-bench's Hartmann-6
    "terrible"), ASHA stops the good configurations and the searcher learns from the ones it
    kept: measured, TPE + ASHA grace 3 had 1.29x random search's regret there while TPE alone
    had 0.65x (BENCHMARKS.md). The evidence is in the search itself: the trials that reached
    two levels (a rung and the next rung, or the top rung and max_t) pair their two values.
    Once a rung has `min_pairs` pairs and their rank correlation is below `min_correlation`,
    the rung records results but stops no trial (each trial then goes on to the next rung,
    which is checked the same way); if later pairs agree again, it stops trials again. Where
    early epochs rank well (LCBench's learning curves) the check passes and this is ASHA.
    """

    def __init__(
        self,
        *,
        max_t: int,
        min_pairs: int = 4,
        min_correlation: float = 0.7,
        trust_unchecked: bool = True,
        revisit_early_promotions: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            max_t=max_t,
            bracket=_RevisitingCheckedBracket if revisit_early_promotions else _CheckedBracket,
            bracket_kwargs=dict(
                max_t=max_t,
                min_pairs=min_pairs,
                min_correlation=min_correlation,
                trust_unchecked=trust_unchecked,
            ),
            **kwargs,
        )

    def rung_checks(self) -> list[dict[str, Any]]:
        """Per bracket and rung: milestone, results, pairs with the next level, correlation,
        trusted (what the check saw; bench/hpo_sim.py's diagnostics and the tests read it)."""
        out = []
        for b, bracket in enumerate(self._brackets):
            for milestone, recorded in bracket._levels()[:-1]:
                n, rho = bracket.agreement(milestone)
                out.append(
                    {
                        "bracket": b,
                        "milestone": int(milestone),
                        "results": len(recorded),
                        "pairs": n,
                        "correlation": rho,
                        "trusted": bracket.trusted(milestone),
                    }
                )
        return out
