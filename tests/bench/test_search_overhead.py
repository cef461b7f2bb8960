"""The accounting of `bench/search_overhead.py` on hand-made trial ends and timed calls: seconds
per trial by tenth of a search, each timed function's share, and the fitted growth."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from bench import search_overhead  # noqa: E402


def test_split_time_by_tenth_of_the_trials() -> None:
    # 100 trials: 0.1 s apart for the first 50, 0.3 s apart after
    ends = [0.1 * i if i < 50 else 4.9 + 0.3 * (i - 49) for i in range(100)]
    # one 'save' call per trial end, 5 ms early and 50 ms late
    events = [(t, "save", 0.005 if t < 5 else 0.050) for t in ends]
    split = search_overhead.split_time(ends, events)
    assert len(split) == 10
    assert split[0]["k"] == pytest.approx(5.5)
    assert split[0]["s_per_trial"] == pytest.approx(0.1)
    assert split[-1]["s_per_trial"] == pytest.approx(0.3)
    # the first call at ends[lo] belongs to the tenth before: 9 calls over 9 trial gaps
    assert split[0]["parts"]["save"] == pytest.approx(0.005)
    assert split[-1]["ms_per_call"]["save"] == pytest.approx(50.0)


def test_fit_line() -> None:
    a, b = search_overhead.fit_line([(0, 1.0), (10, 2.0), (20, 3.0)])
    assert a == pytest.approx(1.0) and b == pytest.approx(0.1)


def test_the_objective_reports_every_epoch(monkeypatch: pytest.MonkeyPatch) -> None:
    import raytrain.tune

    seen: list[dict] = []
    monkeypatch.setattr(raytrain.tune, "report", lambda **kw: seen.append(kw))
    search_overhead.instant_fn({"x": 0.3, "y": 0.6, "num_epochs": 3})
    assert [r["epoch"] for r in seen] == [1, 2, 3]
    assert seen[-1]["score"] == pytest.approx(1.0 - 0.1 / 3)
