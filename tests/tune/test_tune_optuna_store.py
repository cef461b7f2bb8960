"""The durable Optuna searcher without Ray: concurrency it enforces itself, a restore from a
stale checkpoint that reattaches to the study on disk, and orphaned trials failed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import optuna
from ray import tune

from raytrain.tune.optuna_store import TUNE_TRIAL_ATTR, DurableOptunaSearch, fail_orphans


def test_concurrency_and_restore_from_a_stale_checkpoint(
    tmp_path: Path, durable_searcher: Callable[..., DurableOptunaSearch]
) -> None:
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    s = durable_searcher(url)
    assert s.suggest("a") and s.suggest("b")
    assert s.suggest("c") is None  # two live already
    s.on_trial_complete("a", {"loss": 0.5})
    assert s.suggest("c")
    stale = tmp_path / "searcher.pkl"
    s.save(str(stale))  # the last checkpoint before the "kill": a done, b and c running
    s.on_trial_complete("b", {"loss": 0.25})  # told after the checkpoint
    assert s.suggest("d")  # asked after the checkpoint; Tune never recorded it

    # a new driver: the pickled state says b is running and knows nothing of d
    r = durable_searcher(url)
    r.restore(str(stale))
    assert r._completed_trials == {"a", "b"}  # b's result came from the database
    assert set(r._ot_trials) == {"a", "b", "c", "d"}
    study = optuna.load_study(study_name="s", storage=url)
    assert [t.value for t in study.trials[:2]] == [0.5, 0.25]

    # Tune's saved state knows a, b, c: d is an orphan nobody will finish
    assert fail_orphans(url, "s", {"a", "b", "c"}) == 1
    r.reattach()
    assert r._completed_trials == {"a", "b", "d"}
    r.on_trial_complete("c", {"loss": 0.1})  # the resumed trial ends: Optuna hears of it
    states = {t.user_attrs[TUNE_TRIAL_ATTR]: t.state.name for t in study.get_trials()}
    assert states == {"a": "COMPLETE", "b": "COMPLETE", "c": "COMPLETE", "d": "FAIL"}
    assert study.best_value == 0.1
    # and the sampler goes on from the whole history
    assert r.suggest("e") and len(study.get_trials()) == 5


def test_multi_objective_study_keeps_every_objective(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    s = DurableOptunaSearch(
        metric=["val_f1_score", "latency_ms"],
        mode=["max", "min"],
        storage=optuna.storages.RDBStorage(url),
        study_name="mo",
    )
    # Tune hands the searcher its single scheduling metric; the objectives must stay
    s.set_search_properties("val_f1_score", "max", {"lr": tune.loguniform(1e-4, 1e-1)})
    study = optuna.load_study(study_name="mo", storage=url)
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE"]
    assert s.suggest("a")
    s.on_trial_complete("a", {"val_f1_score": 0.8, "latency_ms": 2.0})
    assert study.get_trials()[0].values == [0.8, 2.0]


def test_a_trial_the_scheduler_stopped_is_pruned_not_complete(
    tmp_path: Path, durable_searcher: Callable[..., DurableOptunaSearch]
) -> None:
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    s = durable_searcher(url)
    assert s.suggest("full") and s.suggest("cut")
    for step, loss in enumerate([0.9, 0.5, 0.3], start=1):
        s.on_trial_result("full", {"loss": loss, "training_iteration": step})
    s.on_trial_complete("full", {"loss": 0.3, "training_iteration": 3, "done": True})
    s.on_trial_result("cut", {"loss": 0.8, "training_iteration": 1})
    s.on_trial_complete("cut", {"loss": 0.8, "training_iteration": 1, "done": False})  # ASHA
    study = optuna.load_study(study_name="s", storage=url)
    by = {t.user_attrs[TUNE_TRIAL_ATTR]: t for t in study.get_trials()}
    assert by["full"].state.name == "COMPLETE" and by["full"].value == 0.3
    assert by["cut"].state.name == "PRUNED" and by["cut"].intermediate_values == {1: 0.8}
    assert study.best_value == 0.3  # a pruned trial's partial value never wins
    assert s.suggest("next")  # the searcher goes on
