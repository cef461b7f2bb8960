"""Every search method and scheduler, run for real on a local Ray: a tiny MLP on the sample
coefficient-optimizer features, 2-4 trials of 2-4 epochs, in-process single-worker trials.

What each run must show: the right number of trials, every trial OK, the method's own mark
(Optuna trials in optuna.db, the exact grid, PBT's exploits, a Pareto front), the scheduler's
limits on epochs, and the best trial registered.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import optuna
import pytest

from raytrain.config import load_config_text
from raytrain.tune.results import SearchResult
from raytrain.tune.runner import run_search

pytestmark = pytest.mark.slow

TINY = """
training: {{name: {name}, seed: 3, output_dir: {out}}}
dataset:
  batch_size: 16
  augmentation: none
  sample: {{num_train: 64, num_val: 32, num_test: 16, image_size: 32}}
model: {{architecture: coefficient_optimizer, hidden_dims: [8, 4], dropout: 0.0}}
optimizer: {{type: Adam, learning_rate: 1e-2}}
training_params: {{num_epochs: {epochs}}}
logging: {{visualizations: false, analysis: false, tensorboard: false}}
resources: {{num_workers: 1, cpus_per_worker: 0.5}}
export: {{registry_dir: {out}/models, onnx: false}}
"""


def _run(tmp_path: Path, name: str, extra: str, epochs: int = 3) -> tuple[SearchResult, Any]:
    text = TINY.format(name=name, out=tmp_path, epochs=epochs) + extra
    cfg = load_config_text(text)
    lines: list[str] = []
    result = run_search(cfg, echo=lines.append)
    # OK, or STOPPED where the scheduler ended a trial early; never ERROR
    assert all(t["status"] in ("OK", "STOPPED") for t in result.trials), result.errors
    assert result.best is not None and result.registered is not None
    summary = json.loads((result.experiment_dir / "summary.json").read_text())
    assert result.experiment_dir == (tmp_path / name).absolute()
    return result, {"summary": summary, "out": "\n".join(lines), "cfg": cfg}


def _study(result: SearchResult, name: str) -> optuna.Study:
    return optuna.load_study(
        study_name=name, storage=f"sqlite:///{result.experiment_dir / 'optuna.db'}"
    )


def test_tpe_with_asha(ray_start_2_cpus: None, tmp_path: Path) -> None:
    result, info = _run(
        tmp_path,
        "tpe_asha",
        """
search: {method: tpe, num_trials: 4, startup_trials: 2}
search_space:
  learning_rate: {type: loguniform, low: 1e-3, high: 1e-1}
  model.dropout: {type: uniform, low: 0.0, high: 0.3}
tune: {scheduler: asha, asha_mode: stop, grace_period: 1, reduction_factor: 2, max_t: 3,
       revisit_early_promotions: true}
""",
    )
    # Ray's plain ASHA runs for real in test_end_to_end (2-worker trials); here raytrain's
    # revisiting one, whose stops can come between rungs (Optuna must still hear of each trial;
    # the promotion kind's records: test_tune_promotion.py)
    assert len(result.trials) == 4
    assert all(1 <= t["epochs"] <= 3 for t in result.trials)
    study = _study(result, "tpe_asha")
    done = [t for t in study.trials if t.state.is_finished()]
    # every Tune trial is an Optuna trial, told its final value, linked by the Tune trial id
    assert len(done) == 4 and not [t for t in study.trials if not t.state.is_finished()]
    assert {t.user_attrs["tune_trial_id"] for t in done} == {t["trial"] for t in result.trials}
    assert info["summary"]["search_method"] == "tpe"
    assert info["summary"]["scheduler"] == "asha"
    assert "optuna-dashboard sqlite:///" in info["out"]


def test_cmaes_with_median_stopping(ray_start_2_cpus: None, tmp_path: Path) -> None:
    result, info = _run(
        tmp_path,
        "cmaes_median",
        """
search: {method: cmaes, num_trials: 3, startup_trials: 1}
search_space:
  learning_rate: {type: loguniform, low: 1e-3, high: 1e-1}
  model.dropout: {type: uniform, low: 0.0, high: 0.3}
tune: {scheduler: median, grace_period: 1, min_samples_required: 2}
""",
    )
    assert len(result.trials) == 3
    study = _study(result, "cmaes_median")
    assert len([t for t in study.trials if t.state.is_finished()]) == 3
    lrs = [t["optimizer.learning_rate"] for t in result.trials]
    assert len(set(lrs)) == 3 and all(1e-3 <= v <= 1e-1 for v in lrs)
    assert info["summary"]["search_method"] == "cmaes"
    assert info["summary"]["scheduler"] == "median"


def test_grid_runs_every_point_once_with_fifo(ray_start_2_cpus: None, tmp_path: Path) -> None:
    result, info = _run(
        tmp_path,
        "grid_fifo",
        """
search: {method: grid}
search_space:
  learning_rate: {type: grid, values: [0.003, 0.03]}
  model.hidden_dims: {type: categorical, choices: [[8], [8, 4]]}
tune: {scheduler: fifo}
""",
        epochs=2,
    )
    seen = sorted(
        (t["optimizer.learning_rate"], tuple(t["model.hidden_dims"])) for t in result.trials
    )
    assert seen == sorted(itertools.product([0.003, 0.03], [(8,), (8, 4)]))
    assert all(t["epochs"] == 2 for t in result.trials)  # FIFO stops no one
    assert not (result.experiment_dir / "optuna.db").exists()


def test_random_with_hyperband(ray_start_2_cpus: None, tmp_path: Path) -> None:
    result, info = _run(
        tmp_path,
        "random_hb",
        """
search: {method: random, num_trials: 3}
search_space:
  learning_rate: {type: loguniform, low: 1e-3, high: 1e-1}
tune: {scheduler: hyperband, reduction_factor: 2, max_t: 4}
""",
        epochs=4,
    )
    assert len(result.trials) == 3
    assert all(1 <= t["epochs"] <= 4 for t in result.trials)
    assert info["summary"]["scheduler"] == "hyperband"


def test_pbt_exploits_and_mutates_within_the_space(ray_start_2_cpus: None, tmp_path: Path) -> None:
    result, info = _run(
        tmp_path,
        "pbt",
        """
search: {method: pbt, num_trials: 3}
search_space:
  learning_rate: {type: loguniform, low: 1e-3, high: 1e-1}
  model.dropout: {type: uniform, low: 0.0, high: 0.3}
tune: {perturbation_interval: 1, quantile_fraction: 0.5, resample_probability: 0.5, synch: true}
""",
        epochs=2,
    )
    assert len(result.trials) == 3
    assert info["summary"]["scheduler"] == "pbt"
    tune_dir = result.experiment_dir / "tune"
    # synchronous: after epoch 1 the worst of the three copies one of the others
    exploits = (tune_dir / "pbt_global.txt").read_text().splitlines()
    assert exploits
    for line in (tune_dir / "pbt_global.txt").read_text().splitlines():
        # [target tag, clone tag, target iter, clone iter, old config, new config]
        old, new = json.loads(line)[-2:]
        assert 1e-3 <= new["optimizer.learning_rate"] <= 1e-1
        assert new["model.dropout"] == old["model.dropout"]  # model.* is never mutated


def test_multi_objective_tpe_reports_a_pareto_front(ray_start_2_cpus: None, tmp_path: Path) -> None:
    result, info = _run(
        tmp_path,
        "pareto",
        """
search:
  method: tpe
  num_trials: 4
  metric: val_rmse
  direction: minimize
  objectives: {val_rmse: minimize, latency_ms: minimize}
search_space:
  learning_rate: {type: loguniform, low: 1e-3, high: 1e-1}
  model.hidden_dims: {type: categorical, choices: [[4], [64, 64, 64]]}
tune: {scheduler: fifo}
""",
        epochs=2,
    )
    rows = result.trials
    assert all(t["latency_ms"] > 0 for t in rows)
    front = [t for t in rows if t["pareto"]]
    assert front and [t["trial"] for t in front] == info["summary"]["pareto_front"]
    for t in front:  # nothing beats a front member in both objectives
        assert not any(
            o["best_val_rmse"] <= t["best_val_rmse"]
            and o["latency_ms"] <= t["latency_ms"]
            and (o["best_val_rmse"], o["latency_ms"]) != (t["best_val_rmse"], t["latency_ms"])
            for o in rows
        )
    for t in rows:  # and every other trial is beaten by some member
        if not t["pareto"]:
            assert any(
                f["best_val_rmse"] <= t["best_val_rmse"] and f["latency_ms"] <= t["latency_ms"]
                for f in front
            )
    study = _study(result, "pareto")
    assert len(study.directions) == 2
    assert len(study.best_trials) >= 1
    assert "pareto front over val_rmse (min), latency_ms (min)" in info["out"]
