"""`tune.asha_mode: promote` (the default for in-process trials): ASHA of the promotion kind,
raytrain.tune.promotion — the rule on its own, and a real search that pauses and resumes."""

from __future__ import annotations

import csv
import json
import textwrap
from pathlib import Path

import pytest
from ray.tune.schedulers import TrialScheduler

from raytrain.tune.promotion import PromotionASHA, milestones

PAUSE, CONTINUE, STOP = TrialScheduler.PAUSE, TrialScheduler.CONTINUE, TrialScheduler.STOP


class _Trial:
    def __init__(self, trial_id: str, status: str = "RUNNING") -> None:
        self.trial_id, self.status, self.last_result = trial_id, status, {}


class _Controller:
    def __init__(self, trials: list[_Trial]) -> None:
        self.trials, self.stopped = trials, []

    def get_trials(self) -> list[_Trial]:
        return self.trials

    def stop_trial(self, trial: _Trial) -> None:
        self.stopped.append(trial.trial_id)
        trial.status = "TERMINATED"


def _report(s: PromotionASHA, trial: _Trial, epoch: int, score: float) -> str:
    result = {"training_iteration": epoch, "score": score}
    trial.last_result = result
    action = s.on_trial_result(None, trial, result)
    if action == PAUSE:
        trial.status = "PAUSED"
    return action


def _scheduler(n: int) -> tuple[PromotionASHA, list[_Trial]]:
    """Rungs at epochs 1, 3 and 9 over `score` (max), and `n` trials added to it."""
    s = PromotionASHA(max_t=9, grace_period=1, reduction_factor=3)
    s.set_search_properties("score", "max")
    trials = [_Trial(f"t{i}") for i in range(n)]
    for t in trials:
        s.on_trial_add(None, t)
    return s, trials


def test_milestones() -> None:
    assert milestones(1, 3, 9) == [1, 3, 9]
    assert milestones(3, 3, 52) == [3, 9, 27, 52]
    assert milestones(5, 3, 5) == [5]


def test_trials_pause_at_a_rung_until_among_its_best_third() -> None:
    s, trials = _scheduler(6)
    # the first two have nothing to beat: they pause (Ray's ASHA lets them run on)
    assert _report(s, trials[0], 1, 0.5) == PAUSE
    assert _report(s, trials[1], 1, 0.9) == PAUSE
    # a third result: the best of three is promoted, from its pause
    assert _report(s, trials[2], 1, 0.1) == PAUSE
    ctl = _Controller([*trials[:3], _Trial("new", "PENDING")])
    assert s.choose_trial_to_run(ctl) is trials[1]
    trials[1].status = "RUNNING"
    # nothing else is among the best third: a new trial starts, the paused ones wait
    assert s.choose_trial_to_run(ctl).trial_id == "new"
    # one that arrives among the best third goes straight on, without a pause
    assert _report(s, trials[3], 1, 0.2) == PAUSE  # 4 results: 1 promotable, already taken
    assert _report(s, trials[4], 1, 0.3) == PAUSE
    assert _report(s, trials[5], 1, 0.95) == CONTINUE  # 6 results: the best two go on
    # the promoted trial trains to the next rung, then max_t stops it as ASHA does
    assert _report(s, trials[1], 2, 0.9) == CONTINUE
    assert _report(s, trials[1], 3, 0.9) == PAUSE  # alone at epoch 3
    assert _report(s, trials[5], 3, 0.99) == PAUSE
    assert _report(s, trials[5], 9, 0.99) == STOP


def test_minimize_ranks_the_lowest_first() -> None:
    s = PromotionASHA(max_t=9, grace_period=1, reduction_factor=3)
    s.set_search_properties("loss", "min")
    trials = [_Trial(f"t{i}") for i in range(3)]
    for t, loss in zip(trials, (0.5, 0.1, 0.9), strict=True):
        t.status = "PAUSED"
        assert s.on_trial_result(None, t, {"training_iteration": 1, "loss": loss}) == PAUSE
    assert s.choose_trial_to_run(_Controller(trials)) is trials[1]


def test_end_game_trains_one_trial_fully_then_stops_the_rest() -> None:
    """A finite search: when nothing runs and nothing new will start, the best paused trial of
    the highest rung goes on while no trial has trained all epochs; then the rest stop."""
    s, trials = _scheduler(2)
    assert _report(s, trials[0], 1, 0.4) == PAUSE
    assert _report(s, trials[1], 1, 0.6) == PAUSE
    ctl = _Controller(trials)
    assert s.choose_trial_to_run(ctl) is trials[1] and not ctl.stopped  # 2 // 3 = 0: end game
    trials[1].status = "RUNNING"
    assert s.choose_trial_to_run(ctl) is None  # it runs: wait
    assert _report(s, trials[1], 3, 0.7) == PAUSE
    assert s.choose_trial_to_run(ctl) is trials[1]  # still no full trial: on to max_t
    trials[1].status = "RUNNING"
    assert _report(s, trials[1], 9, 0.8) == STOP
    s.on_trial_complete(None, trials[1], trials[1].last_result)
    trials[1].status = "TERMINATED"
    assert s.choose_trial_to_run(ctl) is None
    assert ctl.stopped == ["t0"]


def test_no_end_game_while_the_searcher_has_trials_to_give() -> None:
    """All running trials paused in one step, the searcher not yet told (nothing pending): the
    paused trials wait for new trials to rank them against; they are not stopped."""
    s, trials = _scheduler(3)
    assert _report(s, trials[0], 1, 0.1) == PAUSE
    assert _report(s, trials[1], 1, 0.2) == PAUSE
    assert _report(s, trials[2], 1, 0.3) == CONTINUE  # the best of three goes straight on
    trials[2].status = "TERMINATED"  # (whatever became of it) t0, t1 wait

    class _Search:
        searcher = None

        def __init__(self, finished: bool) -> None:
            self.finished = finished

        def is_finished(self) -> bool:
            return self.finished

    ctl = _Controller(trials[:2])
    ctl.search_alg = _Search(finished=False)  # type: ignore[attr-defined]
    assert s.choose_trial_to_run(ctl) is None and not ctl.stopped
    ctl.search_alg = _Search(finished=True)  # type: ignore[attr-defined]
    assert s.choose_trial_to_run(ctl) is trials[1]  # no full trial yet: the best goes on


@pytest.mark.parametrize("mode", ["max", "min"])
@pytest.mark.parametrize("rung_score, promoted", [("best", "t0"), ("last", "t1")])
def test_a_rung_ranks_a_trial_by_its_best_epoch_so_far(
    rung_score: str, promoted: str, mode: str
) -> None:
    """A noisy validation metric dips for one epoch: ranked by its best epoch (the default,
    how the search scores a trial) a trial that dipped exactly at the rung still goes on;
    ranked by the rung's epoch alone ("last", Ray's and Optuna's rule) it waits."""
    sign = 1 if mode == "max" else -1  # min: the same race in losses
    s = PromotionASHA(max_t=9, grace_period=3, reduction_factor=3, rung_score=rung_score)
    s.set_search_properties("score", mode)
    trials = [_Trial(f"t{i}") for i in range(3)]
    for t in trials:
        s.on_trial_add(None, t)
    for epoch, scores in ((1, (0.80, 0.50, 0.1)), (2, (0.90, 0.60, 0.1)), (3, (0.3, 0.7, 0.1))):
        for t, v in zip(trials, scores, strict=True):
            assert _report(s, t, epoch, sign * v) == (PAUSE if epoch == 3 else CONTINUE)
    assert s.choose_trial_to_run(_Controller(trials)).trial_id == promoted
    with pytest.raises(ValueError, match="rung_score"):
        PromotionASHA(max_t=9, rung_score="mean")


@pytest.mark.parametrize("mode", ["max", "min"])
@pytest.mark.parametrize("rung_score, promoted", [("best", 0), ("last", 1)])
def test_adopts_the_trials_of_a_resumed_search(rung_score: str, promoted: int, mode: str) -> None:
    """Tune restores trials, not the scheduler, and restores paused ones as PENDING (and
    starts them): a trial with results is ranked at the rung its last result reached, by its
    best value so far (Tune's `metric_analysis`); after one more epoch it goes on if among
    that rung's best, else it pauses again."""
    sign, other = (1, "min") if mode == "max" else (-1, "max")
    s = PromotionASHA(max_t=9, grace_period=1, reduction_factor=3, rung_score=rung_score)
    s.set_search_properties("score", mode)
    trials = [_Trial(f"t{i}", "PENDING") for i in range(3)]
    values = ((0.2, 0.9), (0.8, 0.8), (0.5, 0.6))  # (last, best) of each, rung at epoch 3
    for t, (last, best) in zip(trials, values, strict=True):
        t.last_result = {"training_iteration": 3, "score": sign * last}
        t.metric_analysis = {"score": {mode: sign * best, other: sign * last}}
        s.on_trial_add(None, t)
    assert [len(r) for r in s._rungs] == [0, 3]  # all three wait at the rung of epoch 3
    for i, (t, (last, _)) in enumerate(zip(trials, values, strict=True)):
        t.status = "RUNNING"
        assert _report(s, t, 4, sign * last) == (CONTINUE if i == promoted else PAUSE)


def test_with_an_epoch_budget_it_finishes_the_best_instead_of_starting_new_ones() -> None:
    """`tune.epoch_budget`: once the budget left, less what running trials will train to
    their next rung, cannot train a new configuration all max_t epochs, a free worker resumes
    the best paused trial of the highest rung instead (waits, if none and others run)."""
    for budget, expect in ((None, "new"), (40, "new"), (12, "t0")):
        s, trials = _scheduler(3)
        s.epoch_budget = budget
        for t, v in zip(trials, (0.5, 0.9, 0.1), strict=True):
            assert _report(s, t, 1, v) == PAUSE
        ctl = _Controller([*trials, _Trial("new", "PENDING")])
        assert s.choose_trial_to_run(ctl) is trials[1]  # the best third, as always
        trials[1].status = "RUNNING"  # 3 epochs spent, 2 more to its rung at epoch 3
        assert s.choose_trial_to_run(ctl).trial_id == expect
    # nothing paused left and a trial still running: the worker waits for it
    s, trials = _scheduler(1)
    s.epoch_budget = 5
    assert _report(s, trials[0], 1, 0.5) == PAUSE
    ctl = _Controller([trials[0], _Trial("new", "PENDING")])
    assert s.choose_trial_to_run(ctl) is trials[0]  # short of budget: the only paused one
    trials[0].status = "RUNNING"
    assert s.choose_trial_to_run(ctl) is None
    trials[0].status = "TERMINATED"  # nothing runs: a new one starts rather than a hang
    assert s.choose_trial_to_run(ctl).trial_id == "new"


def test_tells_the_searcher_which_trials_are_paused() -> None:
    """Paused trials hold no resources: the searcher's concurrency limit must not count them
    (else a search with as many paused trials as run at once never starts another)."""
    from ray.tune.search import ConcurrencyLimiter, SearchGenerator

    from raytrain.tune.optuna_store import DurableOptunaSearch
    from raytrain.tune.variants import ResumableVariantGenerator

    s, _ = _scheduler(0)
    gen = ResumableVariantGenerator(max_concurrent=1)
    ctl = _Controller([_Trial("a", "PAUSED")])
    ctl.search_alg = gen  # type: ignore[attr-defined]
    s.choose_trial_to_run(ctl)
    assert gen._paused == {"a"}
    # a Searcher as Tune runs it: SearchGenerator(ConcurrencyLimiter(searcher))
    searcher = DurableOptunaSearch(metric="score", mode="max")
    ctl.search_alg = SearchGenerator(ConcurrencyLimiter(searcher, max_concurrent=1))  # type: ignore[attr-defined]
    s.choose_trial_to_run(ctl)
    assert searcher._paused == {"a"}


FUNCTION = '''
import json, os, time

from raytrain.tune import last_state, report


def train_fn(config):
    """Score = quality x (1 - 1/(epoch+1)); every epoch trained is logged."""
    start = last_state() or 0
    for epoch in range(start + 1, config["num_epochs"] + 1):
        with open(config["log"], "a") as f:
            f.write(json.dumps([round(config["q"], 9), epoch]) + "\\n")
        report(epoch=epoch, score=config["q"] * (1 - 1 / (epoch + 1)), state=epoch)
        time.sleep(config.get("sleep", 0))
'''


def test_a_search_pauses_promotes_and_resumes(
    ray_start_2_cpus: None, make_module, tmp_path: Path
) -> None:
    """12 trials, 2 at once, rungs at epochs 1, 2 and 4 (the default asha_mode, auto): a trial
    pauses at a rung unless among the best half so far; exactly the best half go on; a
    resumed trial continues from its checkpoint (no epoch trained twice)."""
    from raytrain.config import load_config_text
    from raytrain.tune.runner import run_search

    promo_module = make_module("promo_objective", FUNCTION)
    log = tmp_path / "epochs.jsonl"
    text = textwrap.dedent(
        f"""
        training: {{name: promo, output_dir: {tmp_path / "out"}, seed: 5}}
        objective: {promo_module}:train_fn
        objective_params: {{log: {log}}}
        training_params: {{num_epochs: 4}}
        search: {{method: tpe, num_trials: 12, metric: score, direction: maximize}}
        search_space:
          q: {{type: uniform, low: 0.0, high: 1.0}}
        resources: {{cpus_per_worker: 0.25, max_concurrent_trials: 2}}
        tune: {{scheduler: asha, grace_period: 1, reduction_factor: 2}}
        logging: {{visualizations: false}}
        """
    )
    lines: list[str] = []
    result = run_search(load_config_text(text), echo=lines.append)
    assert "promotion kind" in "\n".join(lines)
    trained = [tuple(json.loads(x)) for x in log.read_text().splitlines()]
    assert len(trained) == len(set(trained)), "a resumed trial trained an epoch again"
    epochs: dict[float, int] = {}
    for q, e in trained:
        epochs[q] = max(epochs.get(q, 0), e)
    assert len(epochs) == 12
    # score ranks trials by q at every epoch: exactly the best half of epoch 1 (the 6 best q)
    # went on to epoch 2, each once its rung held enough trials (a paused trial that became
    # promotable later was not stopped before), and the best half of those trained all 4
    ranked = sorted(epochs, reverse=True)
    assert {q for q, e in epochs.items() if e >= 2} == set(ranked[:6])
    assert {q for q, e in epochs.items() if e == 4} == set(ranked[:3])
    with open(result.experiment_dir / "trials.csv") as f:
        assert len(list(csv.DictReader(f))) == 12
    # Optuna: a trial is closed (PRUNED, paused_at) the moment it pauses, nothing stays
    # RUNNING, and the 3 full trials are COMPLETE once each
    import optuna

    from raytrain.tune.optuna_pauses import PAUSED_AT_ATTR

    study = optuna.load_study(
        study_name="promo", storage=f"sqlite:///{result.experiment_dir / 'optuna.db'}"
    )
    records = study.get_trials()
    assert not [t for t in records if t.state.name == "RUNNING"]
    complete = sorted(t.params["q"] for t in records if t.state.name == "COMPLETE")
    assert complete == pytest.approx(sorted(ranked[:3]))
    paused = [t for t in records if PAUSED_AT_ATTR in t.user_attrs]
    assert {t.state.name for t in paused} == {"PRUNED"}
    assert {round(t.params["q"], 9) for t in paused if t.user_attrs[PAUSED_AT_ATTR] == 1} >= {
        round(q, 9) for q in ranked[6:]
    }
    assert len({t.user_attrs["tune_trial_id"] for t in records}) == 12


@pytest.mark.slow
def test_a_killed_search_resumes_with_its_paused_trials(tmp_path: Path, make_module) -> None:
    """SIGKILL the driver once Tune's saved state holds paused trials, then `--resume`: Tune
    restores the paused trials as PENDING and starts them, the scheduler (not restored) ranks
    each at the rung it had reached; none of them starts over, every trial is there once, and
    the best configuration trains all epochs. (A trial running at the kill may start over:
    Tune's saved state can predate its first checkpoint, as in a CI run of 2026-12-06.)"""
    import os
    import sys

    from ray_helpers import kill_driver_when, run_to_end, saved_with_status

    module = make_module("promo_resume", FUNCTION)
    log = tmp_path / "epochs.jsonl"
    cfg = tmp_path / "space.yaml"
    cfg.write_text(
        textwrap.dedent(
            f"""
            training: {{name: promo, output_dir: {tmp_path / "out"}, seed: 3}}
            objective: {module}:train_fn
            objective_params: {{log: {log}, sleep: 0.3}}
            training_params: {{num_epochs: 4}}
            search: {{method: random, num_trials: 10, metric: score, direction: maximize}}
            search_space:
              q: {{type: uniform, low: 0.0, high: 1.0}}
            resources: {{cpus_per_worker: 0.25, max_concurrent_trials: 2}}
            tune: {{scheduler: asha, grace_period: 1, reduction_factor: 2}}
            logging: {{visualizations: false, analysis: false}}
            """
        )
    )
    env = {**os.environ, "RAY_ADDRESS": "local", "PYTHONPATH": str(tmp_path)}
    first = [sys.executable, "-m", "raytrain", "tune", str(cfg)]
    tune_dir = tmp_path / "out" / "promo" / "tune"

    def two_paused() -> bool:
        return len(saved_with_status(tune_dir, "PAUSED")) >= 2

    kill_driver_when(first, env, tmp_path / "first.log", two_paused, 300)
    paused = saved_with_status(tune_dir, "PAUSED")  # Tune's last saved state
    run_to_end([*first, "--resume"], env)

    trained = [tuple(json.loads(x)) for x in log.read_text().splitlines()]
    epochs: dict[float, list[int]] = {}
    for q, e in trained:
        epochs.setdefault(q, []).append(e)
    assert len(epochs) == 10
    with (tmp_path / "out" / "promo" / "trials.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len({r["trial"] for r in rows}) == len(rows) == 10
    q_of = {r["trial"]: round(float(r["q"]), 9) for r in rows}
    assert len(paused) >= 2
    for tid in paused:  # resumed from the checkpoint of their pause: none started over
        got = epochs[q_of[tid]]
        assert got.count(1) == 1, (tid, got)
    for q, got in epochs.items():  # no epoch skipped
        assert sorted(set(got)) == list(range(1, max(got) + 1)), (q, got)
    assert max(epochs[max(epochs)]) == 4  # the best configuration trained all epochs
