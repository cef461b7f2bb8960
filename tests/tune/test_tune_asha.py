"""`tune.revisit_early_promotions`: ASHA judges again the trials it let through a rung before
the rung had anything to compare them with — and only those (`raytrain.tune.asha`).

Driven through Tune's scheduler API (`on_trial_add`, `on_trial_result`) with results written
by hand, beside Ray's own ASHA given the same results.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass

import numpy as np
import pytest
from ray.tune.schedulers import ASHAScheduler, TrialScheduler

from raytrain.tune.asha import CheckedASHA, RevisitingASHA, rank_correlation

CONTINUE, STOP = TrialScheduler.CONTINUE, TrialScheduler.STOP


@dataclass(frozen=True)
class _Trial:
    trial_id: str


def _schedulers() -> tuple[ASHAScheduler, RevisitingASHA]:
    kw = dict(metric="f1", mode="max", grace_period=1, max_t=9, reduction_factor=3)
    return ASHAScheduler(**kw), RevisitingASHA(**kw)


def _report(sched: ASHAScheduler, trial: _Trial, epoch: int, f1: float) -> str:
    return sched.on_trial_result(None, trial, {"training_iteration": epoch, "f1": f1})


def test_a_first_arrival_below_the_later_cutoff_is_stopped_at_its_next_report() -> None:
    ray_asha, ours = _schedulers()
    trials = [_Trial(f"t{i}") for i in range(4)]
    for sched in (ray_asha, ours):
        for t in trials:
            sched.on_trial_add(None, t)
        # epoch 1 (the first rung): t0 arrives first with F1 0.1 and is compared with nothing
        f1s = (0.1, 0.5, 0.6, 0.7)
        decisions = [_report(sched, t, 1, f1) for t, f1 in zip(trials, f1s, strict=True)]
        assert decisions == [CONTINUE] * 4  # t1-t3 each beat the cut-off of those before
    # epoch 2: Ray's ASHA lets them all go on to the next rung; ours judges t0 (0.1), t1 (0.5)
    # and t2 (0.6) again against the three others the rung has now (cut-off: their top third)
    assert [_report(ray_asha, t, 2, 0.0) for t in trials] == [CONTINUE] * 4
    assert [_report(ours, t, 2, 0.0) for t in trials] == [STOP, STOP, CONTINUE, CONTINUE]


def test_a_promotion_is_revisited_once_and_never_one_made_on_enough_results() -> None:
    _, ours = _schedulers()
    trials = [_Trial(f"t{i}") for i in range(7)]
    for t in trials:
        ours.on_trial_add(None, t)
    for t, f1 in zip(trials[:4], (0.4, 0.5, 0.6, 0.7), strict=True):
        assert _report(ours, t, 1, f1) == CONTINUE
    assert _report(ours, trials[2], 2, 0.6) == CONTINUE  # 0.6 >= the others' top third: kept
    # t3 passed epoch 1 judged against three results: a real ASHA decision, never revisited
    for t, f1 in zip(trials[4:], (0.9, 0.95, 0.99), strict=True):
        _report(ours, t, 1, f1)
    assert _report(ours, trials[3], 2, 0.7) == CONTINUE
    assert _report(ours, trials[2], 3, 0.6) == CONTINUE  # t2 was judged again once: final


def test_the_scheduler_pickles_with_its_bookkeeping() -> None:
    """Tune saves a scheduler with the experiment (resume after a killed driver)."""
    _, ours = _schedulers()
    t = _Trial("t0")
    ours.on_trial_add(None, t)
    _report(ours, t, 1, 0.1)
    restored = pickle.loads(pickle.dumps(ours))
    assert restored._brackets[0]._unjudged == {"t0": {1}}


# ------------------------------------------------------------ tune.rung_check (CheckedASHA)


def _checked(**kw: object) -> CheckedASHA:
    args = dict(metric="f1", mode="max", grace_period=1, max_t=9, reduction_factor=3)
    return CheckedASHA(**{**args, "min_pairs": 4, "min_correlation": 0.7, **kw})


def _finish(sched: ASHAScheduler, trial: _Trial, f1: float) -> None:
    """A trial that trained all max_t (9) epochs: Tune's last result, then its completion."""
    result = {"training_iteration": 9, "f1": f1}
    assert sched.on_trial_result(None, trial, result) == STOP  # max_t reached
    sched.on_trial_complete(None, trial, result)


def _curves(sched: ASHAScheduler, curves: list[tuple[float, ...]]) -> list[list[str]]:
    """Feed each trial's curve (values at epochs 1, 3, 9) in turn; the decisions per trial."""
    out = []
    for i, curve in enumerate(curves):
        t = _Trial(f"t{len(sched._trial_info)}-{i}")
        sched.on_trial_add(None, t)
        decisions = []
        for epoch, f1 in zip((1, 3), curve[:2], strict=True):
            decisions.append(_report(sched, t, epoch, f1))
            if decisions[-1] == STOP:
                sched.on_trial_complete(None, t, {"training_iteration": epoch, "f1": f1})
                break
        else:
            _finish(sched, t, curve[2])
        out.append(decisions)
    return out


def test_where_early_epochs_rank_trials_well_it_decides_as_rays_asha() -> None:
    """Curves that keep their order: the check passes and every decision is Ray's."""
    rng = np.random.default_rng(0)
    quality = rng.uniform(0, 1, 40)
    curves = [(0.3 * q, 0.6 * q, q) for q in quality]  # epoch 1/3/9, same ranking throughout
    ray_asha = ASHAScheduler(metric="f1", mode="max", grace_period=1, max_t=9, reduction_factor=3)
    ours = _checked()
    assert _curves(ours, curves) == _curves(ray_asha, curves)
    assert any(STOP in d for d in _curves(_checked(), curves))  # it does stop trials
    checks = ours.rung_checks()
    assert [c["milestone"] for c in checks] == [1, 3]
    assert all(c["trusted"] and c["correlation"] > 0.99 for c in checks)


def test_a_rung_the_next_level_contradicts_stops_no_trial(caplog) -> None:
    """Epoch 1 ranks trials upside down (as Hartmann-6 "terrible" does): once 4 trials that
    reached epochs 1 and 3 show it, epoch 1 stops nothing, and the console says so once; epoch
    3, which agrees with epoch 9, keeps stopping trials. Ray's ASHA goes on stopping at 1."""
    rng = np.random.default_rng(1)
    quality = rng.uniform(0, 1, 30)
    curves = [(1 - q, q, q) for q in quality]  # epoch 1 upside down; epochs 3 and 9 agree
    ours, ray_asha = (
        _checked(),
        ASHAScheduler(metric="f1", mode="max", grace_period=1, max_t=9, reduction_factor=3),
    )
    with caplog.at_level("WARNING", logger="raytrain.tune.asha"):
        mine = _curves(ours, curves)
    theirs = _curves(ray_asha, curves)
    stopped_at_1 = [d == [STOP] for d in mine]
    assert sum(d == [STOP] for d in theirs[10:]) >= 5  # Ray's ASHA keeps stopping at epoch 1
    assert not any(stopped_at_1[10:])  # ours no longer does once the check has its pairs
    assert any(STOP in d and len(d) == 2 for d in mine)  # epoch 3 still stops trials
    by_rung = {c["milestone"]: c for c in ours.rung_checks()}
    assert not by_rung[1]["trusted"] and by_rung[1]["correlation"] < 0
    assert by_rung[3]["trusted"] and by_rung[3]["correlation"] > 0.99
    warned = [
        r.getMessage() for r in caplog.records if "epoch 1 ranks trials unlike" in r.getMessage()
    ]
    assert len(warned) == 1 and "tune.rung_check.min_correlation 0.70" in warned[0]


def test_the_check_also_guards_revisited_promotions() -> None:
    """With tune.revisit_early_promotions, a promotion judged again at a rung the check does not
    trust is not stopped; at a trusted rung it is."""
    sched = _checked(revisit_early_promotions=True, min_pairs=3)
    bracket = sched._brackets[0]
    assert bracket.may_stop(1)  # unchecked rungs are trusted (trust_unchecked)
    # three trials that reached epochs 1 and 3 in opposite orders: epoch 1 is distrusted
    for i, (a, b) in enumerate(((0.9, 0.1), (0.5, 0.5), (0.1, 0.9))):
        bracket._rungs[-1][1][f"p{i}"] = a
        bracket._rungs[-2][1][f"p{i}"] = b
    assert not bracket.may_stop(1)
    t = _Trial("late")
    sched.on_trial_add(None, t)
    bracket._unjudged["late"] = {1}
    bracket._rungs[-1][1]["late"] = 0.0  # the worst at epoch 1, judged again at its next report
    assert _report(sched, t, 2, 0.0) == CONTINUE


def test_the_checked_scheduler_pickles() -> None:
    ours = _checked()
    _curves(ours, [(0.1, 0.2, 0.3), (0.2, 0.3, 0.4)])
    restored = pickle.loads(pickle.dumps(ours))
    assert restored.rung_checks() == ours.rung_checks()
    assert restored._brackets[0]._final == ours._brackets[0]._final != {}


def test_rank_correlation() -> None:
    assert rank_correlation([(1, 10), (2, 20), (3, 30)]) == pytest.approx(1.0)
    assert rank_correlation([(1, 3), (2, 2), (3, 1)]) == pytest.approx(-1.0)
    assert rank_correlation([(1, 5), (1, 5)]) == pytest.approx(1.0)
