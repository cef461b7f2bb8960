"""Single-worker trials run the train loop inside the Tune trial (no worker group): same
metrics, checkpoints through Tune, best one registered. Real local Ray, real Tune."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from raytrain.artifacts.registry import ModelRegistry
from raytrain.config import load_config_text
from raytrain.tune.runner import run_search

pytestmark = pytest.mark.slow

ONE_WORKER = """
training: {{name: in_trial, seed: 3, output_dir: {out}}}
dataset:
  batch_size: 16
  sample: {{num_train: 64, num_val: 32, num_test: 16}}
model: {{architecture: coefficient_optimizer, hidden_dims: [16, 8]}}
training_params: {{num_epochs: 3}}
search: {{method: bayesian, num_trials: 2}}
search_space:
  learning_rate: {{type: loguniform, low: 1e-3, high: 1e-2}}
resources: {{num_workers: 1}}
tune: {{scheduler: fifo}}
logging: {{visualizations: false, analysis: false}}
export: {{registry_dir: {registry}, onnx: false}}
"""


def test_one_worker_trials_train_in_the_trial_and_register(
    ray_start_2_cpus: None, tmp_path: Path
) -> None:
    cfg = load_config_text(ONE_WORKER.format(out=tmp_path / "results", registry=tmp_path / "m"))
    result = run_search(cfg, echo=lambda s: None)

    assert [t["status"] for t in result.trials] == ["OK", "OK"], result.errors
    assert all(t["epochs"] == 3 for t in result.trials)
    for trial_dir in (result.experiment_dir / "trials").iterdir():
        rows = list(csv.DictReader((trial_dir / "training_log.csv").open()))
        assert [float(r["epoch"]) for r in rows] == [1, 2, 3]
        assert {float(r["world_size"]) for r in rows} == {1.0}
        # no Ray Train run folder: the loop ran in the trial, checkpoints went to Tune
        assert not list(trial_dir.glob("checkpoint_*"))
    best = result.best
    assert best is not None
    ckpt = Path(best["checkpoint_path"])
    assert ckpt.is_relative_to(result.experiment_dir / "tune")
    meta = json.loads((ckpt / "meta.json").read_text())
    assert meta["epoch"] == best["epoch"]
    assert meta["metrics"][result.metric] == pytest.approx(best["value"])
    entry = ModelRegistry(tmp_path / "m").get("in_trial")
    assert entry["metrics"][result.metric] == pytest.approx(best["value"])
    summary = json.loads((result.experiment_dir / "summary.json").read_text())
    assert summary["data"]["skipped_rows"] == 0


def test_datasets_built_once_unless_the_search_varies_the_data(
    ray_start_2_cpus: None, tmp_path: Path
) -> None:
    from raytrain.config.search_space import build_search_space
    from raytrain.data.resolve import resolve_dataset
    from raytrain.tune.trainable import shared_datasets

    cfg = load_config_text(ONE_WORKER.format(out=tmp_path, registry=tmp_path))
    data_dir = resolve_dataset(cfg, "regression")
    shared = shared_datasets(cfg, build_search_space(cfg), data_dir)
    assert set(shared) == {"train", "val"}
    assert shared["val"].count() == 32

    varied = load_config_text(
        ONE_WORKER.format(out=tmp_path, registry=tmp_path).replace(
            "search_space:\n",
            "search_space:\n  dataset.augmentation: {type: categorical, choices: [none, basic]}\n",
        )
    )
    assert shared_datasets(varied, build_search_space(varied), data_dir) is None
