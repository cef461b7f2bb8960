"""Evaluation and registration as scripts do them: `evaluate --model PATH --test-data DIR` on
raw folders, `registry add`, a measured `inference_time_ms`, and `PluginError`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from unit_helpers import make_checkpoint

from raytrain.artifacts.registry import ModelRegistry
from raytrain.cli.app import main
from raytrain.config.schema import SampleDataSection
from raytrain.data.sample import write_sample_folders
from raytrain.errors import PluginError, RaytrainError
from raytrain.evaluation.from_path import evaluate_path
from raytrain.inference.plugins import load_plugins
from raytrain.inference.predictor import Predictor


@pytest.fixture(scope="module")
def raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    s = SampleDataSection(num_train=12, num_val=6, num_test=9, image_size=32, num_classes=3)
    return write_sample_folders("classification", s, tmp_path_factory.mktemp("raw") / "shapes")


@pytest.fixture
def ckpt(tmp_path: Path) -> Path:
    return make_checkpoint(tmp_path / "best_model", "cnn_classifier")[1]


def _cli(*args: str) -> tuple[int, str]:
    out = CliRunner().invoke(main, list(args))
    return out.exit_code, out.output


def test_evaluate_a_checkpoint_on_a_raw_split_folder(raw: Path, ckpt: Path, tmp_path: Path) -> None:
    code, out = _cli(
        "evaluate",
        "--model",
        str(ckpt / "model.pt"),
        "--test-data",
        str(raw / "test"),
        "--out",
        str(tmp_path / "ev"),
    )
    assert code == 0, out
    assert "[test, 9 examples]" in out and "| accuracy |" in out
    assert (tmp_path / "ev" / "evaluation.json").exists()
    one = evaluate_path(ckpt, raw / "test")
    whole = evaluate_path(ckpt, raw)  # train/ val/ test/: its test split
    assert one["metrics"]["accuracy"] == whole["metrics"]["accuracy"]
    assert one["num_examples"] == whole["num_examples"] == 9
    assert one["metrics"]["inference_time_ms"] > 0


def test_evaluate_an_export_bundle_and_refuse_a_bare_weights_file(
    raw: Path, ckpt: Path, tmp_path: Path
) -> None:
    import torch

    reg = ModelRegistry(tmp_path / "models")
    entry = reg.register("cls", ckpt, onnx=False)
    bundle = reg.path_of(entry) / "cls_v1.0.0.pth"
    got = evaluate_path(bundle, raw / "test")["metrics"]["accuracy"]
    assert got == evaluate_path(ckpt, raw / "test")["metrics"]["accuracy"]
    bare = tmp_path / "weights.pth"
    torch.save({"epoch": 1, "model_state_dict": torch.load(ckpt / "model.pt")}, bare)
    with pytest.raises(RaytrainError, match="give the checkpoint folder"):
        evaluate_path(bare, raw / "test")
    code, out = _cli("evaluate", "--model", str(ckpt))
    assert code == 2 and "--test-data" in out


def test_registry_add_any_checkpoint_with_version_and_notes(ckpt: Path, tmp_path: Path) -> None:
    root = str(tmp_path / "models")
    code, out = _cli(
        "registry",
        "add",
        str(ckpt),
        "--name",
        "mine",
        "--version",
        "2.1.0",
        "--notes",
        "from a script",
        "--no-onnx",
        "--root",
        root,
    )
    assert code == 0, out
    assert "registered mine v2.1.0" in out
    code, out = _cli("registry", "show", "mine", "--root", root)
    assert "mine v2.1.0" in out and "from a script" in out
    code, out = _cli(
        "registry", "add", str(ckpt), "--name", "mine", "--version", "2.1.0", "--root", root
    )
    assert code == 2 and "already issued" in out
    code, out = _cli("registry", "add", str(ckpt), "--name", "mine", "--no-onnx", "--root", root)
    assert code == 0, out
    assert "registered mine v" in out and "v2.1.0" not in out  # the next version, not a reuse


def test_performance_metrics_measure_inference_time(ckpt: Path, tmp_path: Path) -> None:
    ModelRegistry(tmp_path / "models").register("cls", ckpt, onnx=False)
    p = Predictor.load("cls", root=tmp_path / "models", device="cpu")
    before = p.get_performance_metrics()
    assert before["inference_time_ms"] > 0 and before["val_loss"] == 0.25
    p.predict([np.zeros((32, 32), np.uint8)] * 4)
    assert p.get_performance_metrics()["inference_time_ms"] > 0


def test_the_plugin_surface_raises_plugin_error(ckpt: Path, tmp_path: Path) -> None:
    with pytest.raises(PluginError, match="unknown plugin config key"):
        Predictor().initialize({"model_pth": "x"})
    with pytest.raises(PluginError):
        Predictor().initialize({"model_path": "nothing_registered"})
    with pytest.raises(PluginError):
        load_plugins(tmp_path / "missing.yaml")
    assert issubclass(PluginError, RaytrainError)
    import raytrain

    assert raytrain.PluginError is PluginError
