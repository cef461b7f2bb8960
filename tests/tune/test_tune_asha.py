"""`tune.revisit_early_promotions`: ASHA judges again the trials it let through a rung before
the rung had anything to compare them with — and only those (`raytrain.tune.asha`).

Driven through Tune's scheduler API (`on_trial_add`, `on_trial_result`) with results written
by hand, beside Ray's own ASHA given the same results.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass

from ray.tune.schedulers import ASHAScheduler, TrialScheduler

from raytrain.tune.asha import RevisitingASHA

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
