"""Kill the `raytrain tune` driver with SIGKILL mid-search, then `raytrain tune --resume`.

The driver runs in its own process with its own local Ray (RAY_ADDRESS=local, so it never
joins another cluster on this machine). It is killed as soon as Tune's saved experiment state
says two trials have finished. The resumed search must finish every trial, rerun none of the
finished ones (their logs are untouched), lose none, and keep the Optuna study: the trials
Optuna saw before the kill are still in optuna.db with their values, and the new ones join them.
Reusing the name without --resume fails with a clear message, before Ray starts.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
from pathlib import Path

import optuna
import pytest
from ray_helpers import BIN, kill_driver_when, run_to_end, terminated

pytestmark = pytest.mark.slow

NUM_TRIALS = 5

CONFIG = """
training: {{name: killed, seed: 5, output_dir: {out}}}
dataset:
  batch_size: 16
  augmentation: none
  sample: {{num_train: 64, num_val: 32, num_test: 16, image_size: 32}}
model: {{architecture: coefficient_optimizer, hidden_dims: [8, 4], dropout: 0.0}}
training_params: {{num_epochs: 3}}
logging: {{visualizations: false, analysis: false, tensorboard: false}}
search: {{method: tpe, num_trials: {n}, startup_trials: 2}}
search_space:
  learning_rate: {{type: loguniform, low: 1e-3, high: 1e-1}}
  model.dropout: {{type: uniform, low: 0.0, high: 0.3}}
resources: {{num_workers: 1, cpus_per_worker: 0.5, max_concurrent_trials: 2}}
tune: {{scheduler: fifo}}
export: {{registry_dir: {out}/models, onnx: false}}
"""


def _env() -> dict[str, str]:
    return {**os.environ, "RAY_ADDRESS": "local", "PYTHONUNBUFFERED": "1"}


def _optuna_trials(exp: Path) -> list[optuna.trial.FrozenTrial]:
    study = optuna.load_study(study_name="killed", storage=f"sqlite:///{exp / 'optuna.db'}")
    return study.get_trials(deepcopy=False)


def test_kill_9_then_resume_finishes_the_search(tmp_path: Path) -> None:
    cfg = tmp_path / "space.yaml"
    cfg.write_text(CONFIG.format(out=tmp_path / "results", n=NUM_TRIALS))
    exp = tmp_path / "results" / "killed"
    first = [str(BIN / "raytrain"), "tune", str(cfg)]
    kill_driver_when(
        first, _env(), tmp_path / "first.log", lambda: len(terminated(exp / "tune")) >= 2
    )
    assert not (exp / "summary.json").exists()
    finished = terminated(exp / "tune")
    logs_before = {t: (exp / "trials" / t / "training_log.csv").read_text() for t in finished}
    told_before = {t.number: t.values for t in _optuna_trials(exp) if t.state.name == "COMPLETE"}
    assert len(told_before) >= 2

    # the name is taken: without --resume the command refuses, before starting anything
    clash = subprocess.run(
        [str(BIN / "raytrain"), "tune", str(cfg)], env=_env(), capture_output=True, text=True
    )
    assert clash.returncode == 2
    assert "experiment 'killed' already exists" in clash.stderr and "--resume" in clash.stderr

    resumed = run_to_end([*first, "--resume"], _env())
    summary = json.loads((exp / "summary.json").read_text())
    assert summary["resumed"] is True
    with (exp / "trials.csv").open() as f:
        rows = list(csv.DictReader(f))
    ids = [r["trial"] for r in rows]
    # none lost, none twice, all done
    assert len(ids) == len(set(ids)) == NUM_TRIALS
    assert all(r["status"] == "OK" and r["epochs"] == "3" for r in rows)
    assert finished <= set(ids)
    # finished trials were not rerun: their logs are exactly as the killed driver left them
    for t, before in logs_before.items():
        assert (exp / "trials" / t / "training_log.csv").read_text() == before
    # every trial trained all its epochs (one killed mid-epoch redoes that epoch from its
    # last checkpoint, so an epoch may appear twice in its log, but none is missing)
    for t in ids:
        with (exp / "trials" / t / "training_log.csv").open() as f:
            epochs = {int(float(r["epoch"])) for r in csv.DictReader(f)}
        assert epochs == {1, 2, 3}, t
    # the sampler kept its history: the same study, the old values, the new trials added
    after = _optuna_trials(exp)
    assert not [t for t in after if t.state.name == "RUNNING"]
    complete = {t.number: t for t in after if t.state.name == "COMPLETE"}
    for number, values in told_before.items():
        assert complete[number].values == values
    assert {t.user_attrs["tune_trial_id"] for t in complete.values()} == set(ids)
    assert "resuming" in resumed

    again = subprocess.run(
        [str(BIN / "raytrain"), "tune", str(cfg), "--resume"],
        env=_env(),
        capture_output=True,
        text=True,
    )
    assert again.returncode == 2 and "already finished" in again.stderr
