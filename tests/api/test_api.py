"""The Python API: `raytrain.search` (= `raytrain.api.tune`) and `raytrain.fit`
(= `raytrain.api.train`) return results, not printouts."""

from __future__ import annotations

import importlib
import types
from pathlib import Path

import pytest

import raytrain
from raytrain.api import workflows
from raytrain.api.workflows import _config
from raytrain.config import load_config_text
from raytrain.errors import RaytrainError

TINY = """
training: {{name: api_{kind}, seed: 0, output_dir: {out}}}
dataset:
  batch_size: 16
  sample: {{num_train: 64, num_val: 32, num_test: 16, image_size: 64}}
model: {{architecture: coefficient_optimizer, hidden_dims: [8, 4], dropout: 0.0}}
optimizer: {{type: Adam, learning_rate: 1e-2}}
training_params: {{num_epochs: 2}}
logging: {{visualizations: false, analysis: false, tensorboard: false}}
search: {{method: random, num_trials: 2}}
search_space:
  learning_rate: {{type: loguniform, low: 1e-3, high: 1e-2}}
resources: {{num_workers: 1, cpus_per_worker: 0.5}}
tune: {{scheduler: fifo}}
export: {{registry_dir: {out}/models, onnx: false}}
quick:
  training_params.num_epochs: 1
"""


def test_the_names_and_the_subpackages_they_leave_alone() -> None:
    assert raytrain.search is workflows.tune and raytrain.fit is workflows.train
    importlib.import_module("raytrain.train.loop")
    importlib.import_module("raytrain.tune.runner")
    assert isinstance(raytrain.tune, types.ModuleType)  # still the subpackage
    assert isinstance(raytrain.train, types.ModuleType)


def test_a_config_from_a_path_a_mapping_or_a_config(tmp_path: Path) -> None:
    text = TINY.format(kind="c", out=tmp_path)
    (tmp_path / "c.yaml").write_text(text)
    over = {"learning_rate": 3e-3}
    from_path = _config(tmp_path / "c.yaml", over, quick=True)
    assert from_path.optimizer.learning_rate == 3e-3
    assert from_path.training_params.num_epochs == 1
    import yaml

    from_dict = _config(yaml.safe_load(text), over, quick=True)
    assert from_dict == from_path
    built = load_config_text(text)
    assert _config(built, {"epochs": 5}, quick=False).training_params.num_epochs == 5
    with pytest.raises(RaytrainError, match="quick=True needs the YAML"):
        _config(built, None, quick=True)


@pytest.mark.slow
def test_search_and_fit_return_their_results(ray_start_2_cpus: None, tmp_path: Path) -> None:
    out = raytrain.search(_write(tmp_path, "s"))
    assert out.best_trial is not None and len(out.trials) == 2
    assert {t["status"] for t in out.trials} <= {"OK", "STOPPED"}
    assert out.metric == "val_rmse" and out.metrics["val_rmse"] == out.best_trial["value"]
    assert out.test_metrics and out.metrics["test_rmse"] == out.test_metrics["test_rmse"]
    assert out.registered and out.registered["version"] == "1.0.0"
    assert out.paths["model"].is_dir() and out.paths["summary"].exists()

    run = raytrain.fit(_write(tmp_path, "t"), overrides={"epochs": 1}, run_dir=tmp_path / "run")
    assert run.metrics["epoch"] == 1 and run.test_metrics is not None
    assert run.paths["best_model"].is_dir() and run.paths["summary"].exists()
    assert run.registered is None


def _write(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / f"{kind}.yaml"
    path.write_text(TINY.format(kind=kind, out=tmp_path))
    return path
