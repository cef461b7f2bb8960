"""Optuna's record of trials that pause (raytrain.tune.optuna_pauses): closed at each pause,
recorded again when a promoted trial pauses or ends, hidden from the sampler, and rebuilt
after a driver restart."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import optuna
import pytest
from ray import tune

from raytrain.tune.optuna_pauses import PAUSED_AT_ATTR, PauseRecords, hide_pause_records
from raytrain.tune.optuna_store import TUNE_TRIAL_ATTR, DurableOptunaSearch

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _states(study: optuna.Study) -> list[tuple[str, int | None, float | None]]:
    return [(t.state.name, t.user_attrs.get(PAUSED_AT_ATTR), t.value) for t in study.trials]


def test_a_trial_is_closed_at_each_pause_and_recorded_at_its_end() -> None:
    study = optuna.create_study(direction="maximize")
    records = PauseRecords()
    trial = study.ask()
    x = trial.suggest_float("x", 0, 1)
    for step, v in ((1, 0.5), (2, 0.6)):
        records.report(trial, "a", v, step)
    records.pause(study, trial, "a")
    assert _states(study) == [("PRUNED", 2, 0.6)]
    records.pause(study, trial, "a")  # still paused: nothing new
    assert len(study.trials) == 1
    records.report(trial, "a", 0.7, 3)  # promoted: its Optuna trial is closed, values kept
    records.pause(study, trial, "a")
    records.report(trial, "a", 0.8, 4)
    assert records.end(study, "a", 0.8, complete=True)
    assert _states(study) == [("PRUNED", 2, 0.6), ("PRUNED", 3, 0.7), ("COMPLETE", None, 0.8)]
    last = study.trials[-1]
    assert last.params == {"x": x} and last.intermediate_values == {1: 0.5, 2: 0.6, 3: 0.7, 4: 0.8}
    assert study.best_value == 0.8
    # a trial that never paused is the caller's to tell; one stopped while paused adds nothing
    other = study.ask()
    other.suggest_float("x", 0, 1)
    records.report(other, "b", 0.1, 1)
    assert not records.end(study, "b", 0.1, complete=True)
    third = study.ask()
    third.suggest_float("x", 0, 1)
    records.report(third, "c", 0.2, 1)
    records.pause(study, third, "c")
    n = len(study.trials)
    assert records.end(study, "c", None, complete=False) and len(study.trials) == n


def _study_with(pauses: bool, hidden: bool) -> tuple[optuna.Study, list[float]]:
    """20 finished trials in [0, 0.5), optionally 40 pause records in [0.5, 1); then 5 TPE
    samples."""
    sampler = optuna.samplers.TPESampler(seed=3, n_startup_trials=5)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    dist = {"x": optuna.distributions.FloatDistribution(0, 1)}
    for i in range(20):
        x = i / 40  # all in [0, 0.5)
        study.add_trial(optuna.trial.create_trial(params={"x": x}, distributions=dist, value=-x))
    if pauses:
        for i in range(40):
            x = 0.5 + i / 80
            study.add_trial(
                optuna.trial.create_trial(
                    state=optuna.trial.TrialState.PRUNED,
                    params={"x": x},
                    distributions=dist,
                    value=10.0,
                    intermediate_values={2: 10.0},
                    user_attrs={PAUSED_AT_ATTR: 2},
                )
            )
    if hidden:
        hide_pause_records(study)
    xs = []
    for _ in range(5):
        t = study.ask()
        xs.append(t.suggest_float("x", 0, 1))
        study.tell(t, -xs[-1])
    return study, xs


def test_the_sampler_does_not_see_pause_records() -> None:
    """TPE behind the view samples exactly as if the pause records were not there (it reads
    trials through Optuna's `Study._get_trials`: if a release reads them another way, this
    fails); without the view the same records change its samples."""
    _, plain = _study_with(pauses=False, hidden=False)
    _, hidden = _study_with(pauses=True, hidden=True)
    _, seen = _study_with(pauses=True, hidden=False)
    assert hidden == pytest.approx(plain)
    assert seen != pytest.approx(plain)


def test_the_searcher_closes_paused_trials_and_rebuilds_them_after_a_restart(
    tmp_path: Path, durable_searcher: Callable[..., DurableOptunaSearch]
) -> None:
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    space = {"lr": tune.loguniform(1e-4, 1e-1)}
    s = durable_searcher(url, metric="score", mode="max", space=space, max_concurrent=1)
    assert s.suggest("a")
    s.on_trial_result("a", {"score": 0.3, "training_iteration": 1})
    s.set_paused({"a"})  # what promotion ASHA tells it
    assert s.suggest("b")  # a paused trial holds no slot
    s.on_trial_result("b", {"score": 0.1, "training_iteration": 1})
    s.set_paused({"a", "b"})
    study = optuna.load_study(study_name="s", storage=url)
    assert [t.state.name for t in study.trials] == ["PRUNED", "PRUNED"]
    saved = tmp_path / "searcher.pkl"
    s.save(str(saved))

    # a new driver; Tune resumes trial a (promoted) and it trains on to the end
    r = durable_searcher(url, metric="score", mode="max", space=space, max_concurrent=1)
    r.restore(str(saved))
    assert set(r._pauses.closed) == {"a", "b"}
    r.set_paused({"b"})
    r.on_trial_result("a", {"score": 0.5, "training_iteration": 2})
    assert "a" not in r._completed_trials  # running again: it holds the one slot
    assert r.suggest("c") is None
    r.on_trial_complete("a", {"score": 0.6, "training_iteration": 3, "done": True})
    r.on_trial_complete("b")  # stopped while paused (the end game): nothing new to record
    by = [(t.user_attrs[TUNE_TRIAL_ATTR], t.state.name) for t in study.get_trials()]
    assert by == [("a", "PRUNED"), ("b", "PRUNED"), ("a", "COMPLETE")]
    assert study.best_trial.intermediate_values == {1: 0.3, 2: 0.5}
    assert study.best_value == 0.6
    assert r.suggest("c")
