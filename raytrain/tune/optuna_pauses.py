"""Optuna's record of trials that pause (ASHA of the promotion kind, raytrain.tune.promotion).

Why: Optuna has no "paused" state. Left RUNNING, a paused trial costs the search on every `ask`:
Optuna's cached storage re-reads every unfinished trial from the database each time, and under
promotion most trials stay paused until the search ends (an ask with 660 paused trials of 1,000
in SQLite: 546 ms, against 55 ms with them finished). So a trial is told PRUNED the moment it
pauses, with the values it reported so far, marked `paused_at` (the step): the record Optuna's
own pruner would have left had it stopped the trial at that rung.

A promoted trial trains on while its Optuna record is closed; its later values are kept here,
and when it pauses again or ends, one more finished record with the same parameters and every
value so far is added to the study (`study.add_trial`). A configuration promoted twice thus has
three records: PRUNED at epoch 2, PRUNED at 6, COMPLETE at the end; optuna-dashboard shows each.

The sampler does not see the records closed at a pause (`WithoutPauseRecords`): it models the
trials that ended, exactly as when paused trials were RUNNING. Measured on the LCBench
surrogate (10 tasks x 20 seeds, 4 at once, bench/hpo_sim.py): letting TPE learn from the pause
records, as Optuna's pruners let it, made the search worse, 4.3x random search's speed instead
of 5.0x, the target missed in 1-9 of 20 seeds on 8 of the 10 tasks: two epochs rank
configurations too poorly for TPE to model them.

Used by raytrain's searcher (raytrain.tune.optuna_store) and by the simulated searches of
bench/hpo_sim.py, so the benchmark measures this code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from optuna.samplers import BaseSampler

#: Optuna user attribute of a record closed at a pause: the step (epoch) it paused at
PAUSED_AT_ATTR = "paused_at"


def _visible(trials: list[Any]) -> list[Any]:
    return [t for t in trials if PAUSED_AT_ATTR not in t.user_attrs]


class StudyView:
    """A study as a sampler sees it: the records closed at a pause left out. Optuna's samplers
    read trials through `Study._get_trials` (TPE, GP, CMA-ES, NSGA-II in Optuna 4-5; a private
    method, so tests/tune/test_optuna_pauses.py fails if a release reads them another way) or
    the public `get_trials` / `trials`; everything else is the study's own."""

    def __init__(self, study: Any) -> None:
        self._study = study

    def __getattr__(self, name: str) -> Any:
        return getattr(self._study, name)

    def _get_trials(
        self, deepcopy: bool = True, states: Any = None, use_cache: bool = False
    ) -> list[Any]:
        return _visible(self._study._get_trials(deepcopy, states, use_cache))

    def get_trials(self, deepcopy: bool = True, states: Any = None) -> list[Any]:
        return self._get_trials(deepcopy, states)

    @property
    def trials(self) -> list[Any]:
        return self.get_trials()


class WithoutPauseRecords(BaseSampler):
    """Wraps a study's sampler so it models only trials that ended (module docstring)."""

    def __init__(self, sampler: BaseSampler) -> None:
        self.sampler = sampler

    def __str__(self) -> str:
        return f"{type(self.sampler).__name__} (pause records hidden)"

    def _view(self, study: Any) -> StudyView:
        """What the sampler sees of `study` (bench/hpo_sim.py measures other views)."""
        return StudyView(study)

    def infer_relative_search_space(self, study: Any, trial: Any) -> dict[str, Any]:
        return self.sampler.infer_relative_search_space(self._view(study), trial)

    def sample_relative(self, study: Any, trial: Any, search_space: dict[str, Any]) -> dict:
        return self.sampler.sample_relative(self._view(study), trial, search_space)

    def sample_independent(self, study: Any, trial: Any, param_name: str, dist: Any) -> Any:
        return self.sampler.sample_independent(self._view(study), trial, param_name, dist)

    def before_trial(self, study: Any, trial: Any) -> None:
        self.sampler.before_trial(study, trial)

    def after_trial(self, study: Any, trial: Any, state: Any, values: Any) -> None:
        self.sampler.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self.sampler.reseed_rng()


def hide_pause_records(study: Any) -> None:
    """Give `study`'s sampler the view without pause records (once)."""
    if not isinstance(study.sampler, WithoutPauseRecords):
        study.sampler = WithoutPauseRecords(study.sampler)


@dataclass
class _Closed:
    """A trial whose Optuna record was closed at a pause."""

    #: its first Optuna trial (closed): the parameters, distributions and user attributes
    trial: Any
    #: every value reported so far, by step (the closed record's and the ones since)
    values: dict[int, float]
    #: the last step a record of this trial holds
    recorded: int


@dataclass
class PauseRecords:
    """Keeps Optuna's study in step with trials that pause, keyed by the caller's trial id."""

    #: values reported by trials whose Optuna record is open, by step
    live: dict[str, dict[int, float]] = field(default_factory=dict)
    closed: dict[str, _Closed] = field(default_factory=dict)

    def report(self, trial: Any, key: str, value: float, step: int) -> None:
        """A trial's value at `step`: to its live Optuna trial, or kept for its next record."""
        c = self.closed.get(key)
        if c is None:
            trial.report(value, step)
            self.live.setdefault(key, {})[int(step)] = float(value)
        else:
            c.values[int(step)] = float(value)

    def pause(self, study: Any, trial: Any, key: str) -> None:
        """The trial paused: its live Optuna trial is told PRUNED (its value: the last one
        reported); a promoted one that trained since its last record gets a new record. Safe
        to call again for a trial still paused (nothing new: nothing recorded)."""
        from optuna.trial import TrialState

        c = self.closed.get(key)
        if c is not None:
            if max(c.values) > c.recorded:
                self._record(study, c, TrialState.PRUNED, paused=True)
            return
        values = self.live.pop(key, None)
        if not values:  # paused before any report: nothing to tell yet
            return
        step = max(values)
        trial.set_user_attr(PAUSED_AT_ATTR, step)
        study.tell(trial, state=TrialState.PRUNED)
        self.closed[key] = _Closed(trial, values, step)

    def end(self, study: Any, key: str, value: float | None, complete: bool) -> bool:
        """The trial ended. Returns False when its record was never closed at a pause (the
        caller tells its live Optuna trial as usual); else adds the record of its training
        since (COMPLETE with `value` when it finished, PRUNED when stopped) if there was any."""
        from optuna.trial import TrialState

        self.live.pop(key, None)
        c = self.closed.pop(key, None)
        if c is None:
            return False
        if complete and value is not None:
            self._record(study, c, TrialState.COMPLETE, value=value)
        else:
            self._record(study, c, TrialState.PRUNED)
        return True

    def restore(self, key: str, trial: Any, frozen: Any) -> None:
        """After a driver restart: a trial whose latest record (`frozen`, of the Optuna
        `trial`) was closed at a pause."""
        self.closed[key] = _Closed(
            trial, dict(frozen.intermediate_values), int(frozen.user_attrs[PAUSED_AT_ATTR])
        )

    @staticmethod
    def _record(
        study: Any, c: _Closed, state: Any, *, value: float | None = None, paused: bool = False
    ) -> None:
        import optuna

        step = max(c.values)
        if step <= c.recorded and value is None:
            return  # nothing trained since the last record (stopped while paused)
        attrs = {k: v for k, v in c.trial.user_attrs.items() if k != PAUSED_AT_ATTR}
        if paused:
            attrs[PAUSED_AT_ATTR] = step
        study.add_trial(
            optuna.trial.create_trial(
                state=state,
                params=c.trial.params,
                distributions=c.trial.distributions,
                value=c.values[step] if value is None else value,
                intermediate_values=dict(c.values),
                user_attrs=attrs,
            )
        )
        c.recorded = step
