"""The accounting of `bench/hpo_efficiency.py`: equal compute in epochs, epochs put in the order
they happened, and the compute each method needs to reach random search's final best.

The searches themselves are real `raytrain tune` runs (minutes each); these tests check the
arithmetic that turns their progress.csv files into the recorded figures, on hand-made curves.
"""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _bench():
    spec = importlib.util.spec_from_file_location("hpo_bench", REPO / "bench/hpo_efficiency.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


hpo = _bench()


def _curve(name: str, start: float, f1: list[float], step: float = 1.0) -> dict:
    return {
        "trial": name,
        "start": start,
        "ends": [start + step * (i + 1) for i in range(len(f1))],
        "f1": f1,
    }


def test_epochs_are_ordered_by_when_they_ended_across_trials(tmp_path: Path) -> None:
    # progress.csv as Tune writes it: timestamp = end of the epoch, time_total_s since start
    for name, start, f1s in (("a", 100.0, [0.1, 0.5]), ("b", 100.5, [0.2, 0.9])):
        d = tmp_path / "tune" / name
        d.mkdir(parents=True)
        with (d / "progress.csv").open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=["timestamp", "time_total_s", hpo.METRIC])
            w.writeheader()
            for i, v in enumerate(f1s, start=1):
                w.writerow({"timestamp": start + i, "time_total_s": i, hpo.METRIC: v})
    curves = hpo._trial_curves(tmp_path)
    assert [c["start"] for c in curves] == [100.0, 100.5]
    # a1 (101) b1 (101.5) a2 (102) b2 (102.5)
    assert hpo._epochs_in_order(curves) == [0.1, 0.2, 0.5, 0.9]


def test_a_resumed_trial_s_epochs_come_after_its_pause(tmp_path: Path) -> None:
    """A trial paused at a rung (ASHA of the promotion kind) and resumed later: its epochs
    after the resume end at the resume's start + time_since_restore, not at the trial's start
    + time_total_s (which would put them before the pause)."""
    rows = {
        # a: epochs 1-2 at 101, 102; paused; resumed at 110: epochs 3-4 at 111, 112
        "a": [(101, 1, 1, 0.1), (102, 2, 2, 0.2), (111, 3, 1, 0.7), (112, 4, 2, 0.8)],
        "b": [(103.5, 1, 1, 0.3), (104.5, 2, 2, 0.4)],
    }
    for name, data in rows.items():
        d = tmp_path / "tune" / name
        d.mkdir(parents=True)
        with (d / "progress.csv").open("w", newline="") as f:
            fields = ["timestamp", "time_total_s", "time_since_restore", hpo.METRIC]
            w = csv.DictWriter(f, fieldnames=fields)
            w.writeheader()
            for ts, total, since, v in data:
                w.writerow(dict(zip(fields, (ts, total, since, v), strict=True)))
    curves = hpo._trial_curves(tmp_path)
    assert curves[0]["ends"] == [101.0, 102.0, 111.0, 112.0]
    assert hpo._epochs_in_order(curves) == [0.1, 0.2, 0.3, 0.4, 0.7, 0.8]


def test_random_search_can_come_from_a_recorded_run(tmp_path: Path) -> None:
    older, newer = tmp_path / "old.json", tmp_path / "new.json"
    run = {"curves": [_curve("r", 0.0, [0.5])], "trials": 1, "wall_s": 9.0}
    older.write_text(json.dumps({"seeds": {"0": {"random": run}, "4": {"random": run}}}))
    newer.write_text(json.dumps({"seeds": {"0": {"random": {**run, "trials": 2}}}}))
    got = hpo._recorded_random([older, newer])
    assert got["0"][1] == 2 and got["4"][1] == 1  # the later file wins


def test_only_the_first_b_epochs_count() -> None:
    # the 0.99 comes after the budget of 3 epochs: cut off, as compute past B is
    curves = [_curve("a", 0.0, [0.1, 0.2, 0.3, 0.99])]
    m = hpo._measure(curves, trials=1, wall=1.0, budget=3)
    assert (m["spent"], m["epochs"], m["best"]) == (4, 3, 0.3)
    assert hpo._epochs_to_reach(m["order"], 0.99) is None


def test_ratio_is_asha_epochs_to_random_best_over_randoms(capsys) -> None:
    budget = 8
    random = hpo._measure(
        [_curve("r", 0.0, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8])], 1, 1, budget
    )
    asha = hpo._measure([_curve("t", 0.0, [0.5, 0.8, 0.9, 0.2, 0.1, 0.1, 0.1, 0.1])], 1, 1, budget)
    ratio, never, oracle = hpo._report_seed(0, random, asha, budget)
    assert (random["need"], asha["need"]) == (8, 2)
    assert ratio == pytest.approx(2 / 8) and not never
    # the oracle: ASHA's configuration reached 0.8 at its epoch 2, x 3 trials at once
    assert oracle == pytest.approx(2 * hpo.CONCURRENT / 8)
    assert "0.25 of the compute" in capsys.readouterr().out


def test_never_reaching_counts_as_the_whole_budget_and_is_a_bound(capsys) -> None:
    budget = 4
    random = hpo._measure([_curve("r", 0.0, [0.1, 0.9, 0.9, 0.9])], 1, 1, budget)
    asha = hpo._measure([_curve("t", 0.0, [0.1, 0.2, 0.3, 0.4])], 1, 1, budget)
    ratio, never, oracle = hpo._report_seed(0, random, asha, budget)
    assert never and ratio == pytest.approx(4 / 2)
    assert oracle == pytest.approx(hpo.CONCURRENT * 2 / 2)  # random's own trial is the fastest
    assert ">= 2.00" in capsys.readouterr().out


def test_a_search_that_ran_out_of_trials_before_b_is_flagged(capsys) -> None:
    budget = 6
    random = hpo._measure([_curve("r", 0.0, [0.1] * 6)], 1, 1, budget)
    asha = hpo._measure([_curve("t", 0.0, [0.2, 0.3])], 1, 1, budget)
    hpo._report_seed(0, random, asha, budget)
    assert "ran out of trials after 2 of B = 6" in capsys.readouterr().out


def test_the_oracle_takes_the_fastest_configuration_of_either_search() -> None:
    curves = [
        _curve("slow", 0.0, [0.1, 0.2, 0.3, 0.9]),
        _curve("fast", 5.0, [0.5, 0.95]),  # started late, but reaches 0.9 in 2 epochs
        _curve("never", 0.0, [0.1, 0.1]),
    ]
    assert hpo._oracle_epochs(curves, 0.9) == 2 * hpo.CONCURRENT
    assert hpo._oracle_epochs(curves, 0.99) is None


def _dump(path: Path, **overrides: str) -> Path:
    args = {
        "max_t": "5",
        "random_trials": "2",
        "asha_trials": "5",
        "startup_trials": "1",
        "grace_period": "1",
        "reduction_factor": "2",
        "num_train": "64",
        "num_val": "16",
        **overrides,
    }
    runs = {
        # B = 2 x 5 = 10 epochs; random's best (1.0) comes at epoch 10, ASHA's 1.0 at epoch 1
        "random": {
            "curves": [_curve("r", 0.0, [i / 10 for i in range(1, 11)])],
            "wall_s": 1,
            "trials": 2,
        },
        "asha_tpe": {"curves": [_curve("t", 0.0, [1.0] + [0.1] * 9)], "wall_s": 1, "trials": 5},
    }
    path.write_text(json.dumps({"args": args, "seeds": {"0": runs}}))
    return path


def test_combine_summarizes_dumps_that_differ_only_in_asha_trials(tmp_path: Path, capsys) -> None:
    a = _dump(tmp_path / "a.json")
    b = _dump(tmp_path / "b.json", asha_trials="9")  # only how far past B it ran
    hpo._combine([a, b])
    out = capsys.readouterr().out
    assert out.count("ASHA+TPE / random = 0.10 of the compute") == 2
    assert "geometric mean 0.10 (goal <= 0.25: met; the oracle's: 0.30)" in out


def test_combine_refuses_dumps_of_different_experiments(tmp_path: Path) -> None:
    a = _dump(tmp_path / "a.json")
    b = _dump(tmp_path / "b.json", num_train="512")
    with pytest.raises(SystemExit, match="different settings"):
        hpo._combine([a, b])
