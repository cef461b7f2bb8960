"""raytrain's own metrics (`raytrain.runtime.metrics`): what the search callback counts, and that
recording never fails a run. The export itself (the series on a node's Prometheus endpoint) is
checked on a real cluster in tests/cluster/test_ray_up.py."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from raytrain.runtime import metrics


def _trial(trial_id: str, **last_result: Any) -> Any:
    return SimpleNamespace(trial_id=trial_id, last_result=last_result, config={"e": 3})


def test_search_callback_counts_trials_by_state(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[dict[str, int]] = []
    monkeypatch.setattr(metrics, "record_search", lambda exp, counts: seen.append(dict(counts)))
    cb = metrics.search_callback("exp", epochs_of=lambda config: config["e"])
    a, b, c, d = _trial("a"), _trial("b"), _trial("c"), _trial("d")
    for t in (a, b, c, d):
        cb.on_trial_start(0, [], t)
    assert seen[-1] == {"running": 4, "finished": 0, "stopped": 0, "errored": 0}
    a.last_result = {"epoch": 3}  # ended by ASHA at its last epoch: it finished
    cb.on_trial_complete(0, [], a)
    b.last_result = {"epoch": 1}  # ended by ASHA after 1 of 3 epochs
    cb.on_trial_complete(0, [], b)
    c.last_result = {"epoch": 2, "done": True}  # early stopping: the trainable returned
    cb.on_trial_complete(0, [], c)
    cb.on_trial_error(0, [], d)
    assert seen[-1] == {"running": 0, "finished": 2, "stopped": 1, "errored": 1}


def test_recording_never_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("no metrics agent")

    monkeypatch.setattr(metrics, "_gauge", broken)
    monkeypatch.setattr(metrics, "_failed", False)
    metrics.record_epoch(
        "exp", "t1", epoch=1, samples=64, seconds=0.5, metric="val_loss", value=0.3, best=0.3
    )
    metrics.record_search("exp", {"running": 1})
    assert metrics._failed
