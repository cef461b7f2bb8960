"""The accounting of `bench/hpo_quality.py` and `bench/hpo_sim.py` on hand-made traces:
equal compute in epochs, targets, speed-ups (a miss counts 1x), bootstrap CIs, regret, and the
simulated clock that orders K trials' epochs."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from bench import hpo_quality, hpo_sim  # noqa: E402


def test_epochs_to_reach_counts_compute_and_stops_at_the_budget() -> None:
    trace = [0.1, 0.5, 0.3, 0.9, 0.95]
    assert hpo_sim.epochs_to_reach(trace, 0.5) == 2
    assert hpo_sim.epochs_to_reach(trace, 0.9) == 4
    assert hpo_sim.epochs_to_reach(trace, 0.9, budget=3) is None  # past B does not count
    assert hpo_sim.epochs_to_reach(trace, 0.99) is None
    assert list(hpo_sim.best_so_far(trace, 4)) == [0.1, 0.5, 0.5, 0.9]


def test_target_is_randoms_lower_quartile_final_best() -> None:
    random_traces = [[0.0, v] for v in (0.1, 0.2, 0.3, 0.4, 0.5)]
    assert hpo_sim.target_of(random_traces, budget=2) == pytest.approx(0.2)


def test_speedup_is_randoms_median_over_the_methods_epochs_and_a_miss_is_1x() -> None:
    # random reaches 0.8 after 4, 6 and never (inf): median 6
    rnd = [[0, 0, 0, 0.8, 0, 0], [0] * 5 + [0.8], [0] * 6]
    method = [[0.9, 0, 0, 0, 0, 0], [0, 0, 0.8, 0, 0, 0], [0] * 6]
    assert hpo_sim.speedups(rnd, method, 0.8, budget=6) == [6.0, 2.0, 1.0]
    # random itself against its own median
    assert hpo_sim.speedups(rnd, rnd, 0.8, budget=6) == [1.5, 1.0, 1.0]
    # random's median is "never": nothing to be faster than
    assert hpo_sim.speedups([[0] * 6] * 3, method, 0.8, budget=6) == [1.0, 1.0, 1.0]


def test_geomean_and_bootstrap_ci() -> None:
    assert hpo_sim.geomean([1, 4]) == pytest.approx(2.0)
    lo, hi = hpo_sim.bootstrap_ci([[2.0] * 5, [8.0] * 5])
    assert lo == pytest.approx(4.0) and hi == pytest.approx(4.0)  # no spread, no width
    lo, hi = hpo_sim.bootstrap_ci([[1.0, 2.0, 4.0, 8.0, 16.0]], n=500)
    assert 1.0 <= lo < 4.0 < hi <= 16.0


def test_normalized_regret() -> None:
    trace = [50.0, 70.0, 90.0]
    # best known 100, median random configuration 60
    assert hpo_sim.regret(trace, 100.0, 60.0, at=1) == pytest.approx(1.25)
    assert hpo_sim.regret(trace, 100.0, 60.0, at=2) == pytest.approx(0.75)
    assert hpo_sim.regret(trace, 100.0, 60.0, at=3) == pytest.approx(0.25)
    assert hpo_sim.regret([100.0], 100.0, 60.0, at=1) == 0.0


def test_wall_clock_orders_epochs_across_trials() -> None:
    rows = [(3.0, 0.3), (1.0, 0.1), (2.0, 0.2), (4.0, 0.9)]
    assert hpo_quality._trace_from_rows(rows, budget=3) == [0.1, 0.2, 0.3]


class _FakeBench:
    """Configurations alternate: slow epochs (90.0, 10 s each), then fast ones (10.0, 1 s)."""

    def __init__(self) -> None:
        self.calls = 0

    def curve(self, task: str, config: dict) -> dict:
        slow = self.calls % 2 == 0
        self.calls += 1
        values = np.full(52, 90.0 if slow else 10.0)
        seconds = 10.0 if slow else 1.0
        return {"val_accuracy": values, "time": np.cumsum(np.full(52, seconds))}


def test_simulated_clock_runs_k_trials_at_once() -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = lambda: optuna.create_study(  # noqa: E731
        direction="maximize",
        sampler=optuna.samplers.RandomSampler(seed=0),
        pruner=optuna.pruners.NopPruner(),
    )
    one = hpo_sim.simulate(_FakeBench(), "t", study, concurrency=1, budget=30)
    assert one == [90.0] * 30  # one at a time: the first (slow) trial's epochs
    two = hpo_sim.simulate(_FakeBench(), "t", study, concurrency=2, budget=33)
    # two at once: the slow trial's first epoch ends at 10 s, when the fast one has done 10;
    # at 30 s: 3 slow epochs, 30 fast ones (its 52-epoch trial not yet over)
    assert two[:9] == [10.0] * 9
    assert two.count(90.0) == 3 and two.count(10.0) == 30


def test_simulated_tune_scheduler_stops_poor_trials() -> None:
    import optuna
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def run(scheduler: object) -> list[float]:
        return hpo_sim.simulate_tune(
            _FakeBench(),
            "t",
            optuna.samplers.RandomSampler(seed=1),
            scheduler,
            concurrency=1,
            budget=200,
        )

    fifo = run(FIFOScheduler())
    asha = run(ASHAScheduler(max_t=52, grace_period=1, reduction_factor=3))
    # FIFO: every trial 52 epochs; ASHA: poor (10.0) trials stop at a rung, so more trials
    # (more distinct runs of values) fit in the same 200 epochs
    runs = lambda t: sum(1 for i in range(1, len(t)) if t[i] != t[i - 1]) + 1  # noqa: E731
    assert len(fifo) == len(asha) == 200
    assert runs(asha) >= runs(fifo)
    assert not math.isnan(sum(asha))


def test_simulated_promotion_with_an_epoch_budget_finishes_and_records_each_pause(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The promotion kind on the simulated clock, 2 workers: trials pause and resume, Optuna
    gets a closed record per pause (hidden from the sampler) and no trial is left RUNNING
    but those still training; with the epoch budget the workers wait rather than start
    configurations that could not finish, and the trace still fills the budget."""
    import optuna

    from raytrain.tune.optuna_pauses import PAUSED_AT_ATTR, WithoutPauseRecords
    from raytrain.tune.promotion import PromotionASHA

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    studies: list[optuna.Study] = []
    real = optuna.create_study

    def keep(*args: object, **kwargs: object) -> optuna.Study:
        studies.append(real(*args, **kwargs))
        return studies[-1]

    monkeypatch.setattr(optuna, "create_study", keep)
    traces = []
    for budget in (None, 300):
        scheduler = PromotionASHA(max_t=52, grace_period=2, reduction_factor=3)
        scheduler.epoch_budget = budget
        sampler = optuna.samplers.RandomSampler(seed=1)
        traces.append(
            hpo_sim.simulate_tune(_FakeBench(), "t", sampler, scheduler, concurrency=2, budget=300)
        )
    assert [len(t) for t in traces] == [300, 300]
    for study in studies:
        assert isinstance(study.sampler, WithoutPauseRecords)
        paused = [t for t in study.trials if PAUSED_AT_ATTR in t.user_attrs]
        assert paused and {t.state.name for t in paused} == {"PRUNED"}
        assert len([t for t in study.trials if t.state.name == "RUNNING"]) <= 2
    # knowing the budget, fewer configurations start near its end
    started = [len({tuple(t.params.items()) for t in study.trials}) for study in studies]
    assert started[1] < started[0]


def test_the_rung_model_takes_the_highest_rung_with_enough_configurations() -> None:
    """BOHB's model input: 6 configurations paused at epoch 2, 3 of them promoted and paused
    at 6, one of those finished: with 1 a rung the sampler sees the finished one, with 2-3 the
    3 at epoch 6, with 4-6 the 6 at epoch 2, with 7 nothing (its own start-up sampling)."""
    import optuna

    from raytrain.tune.optuna_pauses import PauseRecords

    study = optuna.create_study(direction="maximize")
    records = PauseRecords()
    trials = []
    for i in range(6):
        t = study.ask()
        t.suggest_float("x", 0, 1)
        for step in (1, 2):
            records.report(t, f"t{i}", i + step / 10, step)
        records.pause(study, t, f"t{i}")
        trials.append(t)
    for i in (3, 4, 5):
        for step in range(3, 7):
            records.report(trials[i], f"t{i}", 10 * i + step, step)
        records.pause(study, trials[i], f"t{i}")
    records.report(trials[5], "t5", 99.0, 7)
    records.end(study, "t5", 99.0, complete=True)
    assert len(study.trials) == 10
    done = study.get_trials()
    assert hpo_sim.rung_trials(done, 7) is None
    assert sorted(t.value for t in hpo_sim.rung_trials(done, 6)) == [i + 0.2 for i in range(6)]
    at6 = hpo_sim.rung_trials(done, 2)
    assert sorted(t.value for t in at6) == [36, 46, 56]
    assert {t.state.name for t in at6} == {"COMPLETE"}
    assert [t.value for t in hpo_sim.rung_trials(done, 1)] == [99.0]


def test_rung_score_compares_the_two_scores_against_the_final_best() -> None:
    """`bench/rung_score.py`: curves whose value dips at the rung's epoch rank right by their
    best so far and wrong by the value there; the recorded U-Net curves load."""
    from bench import rung_score

    rng = np.random.default_rng(0)
    quality = rng.uniform(0.5, 0.9, 30)
    curves = quality[:, None] * np.array([0.5, *[1.0] * 8])[None, :]  # level from epoch 2
    curves[::2, 3] *= 0.3  # every other trial dips at epoch 4
    ((m, rho_at, rho_best, top_at, top_best),) = rung_score.compare(curves, [4])
    assert m == 4 and rho_best == pytest.approx(1.0) and top_best == 1.0
    assert rho_at < 0.5 and top_at < 1.0
    unet = rung_score.unet_curves()
    assert unet.ndim == 2 and unet.shape[1] == 27 and len(unet) >= 40
