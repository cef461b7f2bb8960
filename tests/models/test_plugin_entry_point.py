"""A third-party model type added through the `raytrain.models` entry-point group (the plugin
plugin idea): a tiny package is built and installed in the test (`pip install --no-deps
--target`, no network), then used from a YAML file in subprocesses that have it on PYTHONPATH.

The subprocesses see the package only through PYTHONPATH; this test process never imports it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

PYTHON = Path(sys.executable)
RAYTRAIN = PYTHON.parent / "raytrain"

PYPROJECT = """
[build-system]
requires = ["setuptools"]
build-backend = "setuptools.build_meta"

[project]
name = "raytrain-tiny-plugin"
version = "0.1.0"

[project.entry-points."raytrain.models"]
tiny_regressor = "raytrain_tiny_plugin"
broken = "raytrain_tiny_plugin_broken"

[tool.setuptools]
packages = ["raytrain_tiny_plugin", "raytrain_tiny_plugin_broken"]
"""

MODULE = '''
"""A regression model type from outside raytrain."""
import torch.nn as nn
from pydantic import Field

from raytrain.models import DataInfo, ModelParams, register_model


class TinyParams(ModelParams):
    hidden: int = Field(4, ge=1, le=64)


class TinyRegressor(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, x):
        return self.net(x)


@register_model("tiny_plugin_regressor", params=TinyParams, task="regression")
def build(p: TinyParams, data: DataInfo) -> nn.Module:
    """Two-layer regressor shipped by a plugin package."""
    return TinyRegressor(data.feature_dim, p.hidden)
'''

CONFIG = """
training: {{name: plugin_run, seed: 0, output_dir: {out}}}
dataset:
  batch_size: 32
  sample: {{num_train: 64, num_val: 32, num_test: 16, image_size: 32}}
model: {{architecture: tiny_plugin_regressor, hidden: {hidden}}}
training_params: {{num_epochs: 1}}
logging: {{visualizations: false, analysis: false}}
resources: {{num_workers: 1}}
export: {{registry_dir: {registry}, registry_name: plugged}}
"""

TRAIN = """
import json, sys
import ray
import raytrain
from raytrain.config import load_config
from raytrain.runtime.run import run_training

address, site, config = sys.argv[1:]
# The workers get the plugin the same way as this driver: on their PYTHONPATH.
ray.init(address=address, log_to_driver=False, runtime_env={{"env_vars": {{
    "PYTHONPATH": site, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}}}})
cfg = load_config(config)
result = run_training(cfg, register=True, echo=lambda s: None)
model = raytrain.load_model("plugged:1.0.0", cfg.export.registry_dir)
print("RESULT " + json.dumps({{
    "registered": result.registered["architecture"],
    "model_class": type(model).__name__,
    "metrics": sorted(result.metrics),
}}))
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The plugin package, installed into its own folder (not into the venv)."""
    tmp = tmp_path_factory.mktemp("plugin")
    pkg = tmp / "pkg"
    (pkg / "raytrain_tiny_plugin").mkdir(parents=True)
    (pkg / "raytrain_tiny_plugin_broken").mkdir()
    (pkg / "pyproject.toml").write_text(PYPROJECT)
    (pkg / "raytrain_tiny_plugin" / "__init__.py").write_text(MODULE)
    (pkg / "raytrain_tiny_plugin_broken" / "__init__.py").write_text(
        "raise ImportError('needs a library that is not installed')\n"
    )
    target = tmp / "site"
    proc = subprocess.run(
        [
            str(PYTHON),
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--quiet",
            "--target",
            str(target),
            str(pkg),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert list(target.glob("raytrain_tiny_plugin-0.1.0.dist-info/entry_points.txt"))
    return target


def _run(site: Path, *args: str, timeout: int = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run(
        list(args), capture_output=True, text=True, env=env, timeout=timeout, cwd=site.parent
    )


def test_not_visible_without_the_package() -> None:
    from raytrain.models import list_models

    assert "tiny_plugin_regressor" not in list_models()


def test_plugin_model_is_listed(site: Path) -> None:
    proc = _run(site, str(RAYTRAIN), "models")
    assert proc.returncode == 0, proc.stderr
    line = next(x for x in proc.stdout.splitlines() if x.startswith("tiny_plugin_regressor"))
    assert "regression" in line and "Two-layer regressor shipped by a plugin" in line
    assert "coefficient_optimizer" in proc.stdout  # the built-ins are still there
    # The broken plugin is reported, not fatal.
    assert "model plugin 'broken'" in proc.stderr and "needs a library" in proc.stderr


def test_plugin_model_validates_from_yaml(site: Path, tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(CONFIG.format(out=tmp_path / "runs", registry=tmp_path / "m", hidden=8))
    proc = _run(site, str(RAYTRAIN), "validate", str(good))
    assert proc.returncode == 0, proc.stderr
    assert "ok (tiny_plugin_regressor" in proc.stdout
    # The plugin's own parameter class checks the YAML.
    bad = tmp_path / "bad.yaml"
    bad.write_text(CONFIG.format(out=tmp_path / "runs", registry=tmp_path / "m", hidden=0))
    proc = _run(site, str(RAYTRAIN), "validate", str(bad))
    assert proc.returncode == 2 and "hidden" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_unknown_architecture_names_the_broken_plugin(site: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "typo.yaml"
    text = CONFIG.format(out=tmp_path / "runs", registry=tmp_path / "m", hidden=4)
    cfg.write_text(text.replace("tiny_plugin_regressor", "tiny_plugin_regresor"))
    proc = _run(site, str(RAYTRAIN), "validate", str(cfg))
    assert proc.returncode == 2
    assert "did you mean 'tiny_plugin_regressor'" in proc.stderr
    assert "model plugin 'broken' failed to load" in proc.stderr


def test_plugin_model_trains_registers_and_loads(
    ray_start_2_cpus: None, site: Path, tmp_path: Path
) -> None:
    import ray

    cfg = tmp_path / "train.yaml"
    registry = tmp_path / "models"
    cfg.write_text(CONFIG.format(out=tmp_path / "runs", registry=registry, hidden=4))
    address = ray.get_runtime_context().gcs_address
    script = textwrap.dedent(TRAIN.format())
    proc = _run(site, str(PYTHON), "-c", script, address, str(site), str(cfg), timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
    result = json.loads(line[len("RESULT ") :])
    assert result["registered"] == "tiny_plugin_regressor"
    assert result["model_class"] == "TinyRegressor"
    assert "val_loss" in result["metrics"]
    index = json.loads((registry / "registry.json").read_text())
    (entry,) = index["models"]["plugged"]
    assert entry["files"]["plugged_v1.0.0.onnx"]  # exported and checked like a built-in
