"""The model registry: versions, checksums, exports, safe loading, and `raytrain registry list`."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import torch
from click.testing import CliRunner
from unit_helpers import SEED_71_KEYS, example_input, make_checkpoint, tiny_model

from raytrain.artifacts.checkpoint import MODEL_FILE, load_model, load_state_dict
from raytrain.artifacts.registry import INDEX, ModelRegistry, check_name, next_version, parse_ref
from raytrain.cli.app import main
from raytrain.data.manifest import sha256_file
from raytrain.errors import RaytrainError

#: Cheapest architecture to export (an MLP); the second one for "architecture changed".
ARCH = "coefficient_optimizer"


@pytest.fixture()
def registered(tmp_path: Path) -> tuple[ModelRegistry, dict[str, Any], torch.nn.Module]:
    """A registry with one model (`coef` v1.0.0) registered from a fresh checkpoint."""
    model, ckpt = make_checkpoint(tmp_path / "ckpt", ARCH)
    reg = ModelRegistry(tmp_path / "models")
    entry = reg.register("coef", ckpt, source={"test": True})
    return reg, entry, model


def test_first_registration(
    registered: tuple[ModelRegistry, dict[str, Any], torch.nn.Module],
) -> None:
    reg, entry, _ = registered
    assert entry["version"] == "1.0.0" and entry["architecture"] == ARCH
    assert entry["task"] == "regression" and entry["input_shape"] == [5]
    index = json.loads((reg.root / INDEX).read_text())
    assert [e["version"] for e in index["models"]["coef"]] == ["1.0.0"]
    folder = reg.path_of(entry)
    assert folder == reg.root / "coef" / "1.0.0"
    files = entry["files"]
    assert {MODEL_FILE, "meta.json", "card.md", "coef_v1.0.0.pth", "coef_v1.0.0.onnx"} <= set(files)
    for name, digest in files.items():
        assert sha256_file(folder / name) == digest, name
    assert entry["onnx_max_abs_diff"] is not None and entry["onnx_max_abs_diff"] <= 1e-4
    assert entry["source"] == {"test": True}
    # No temp folders left behind.
    assert sorted(p.name for p in (reg.root / "coef").iterdir()) == ["1.0.0"]


def test_version_bumps(
    tmp_path: Path, registered: tuple[ModelRegistry, dict[str, Any], torch.nn.Module]
) -> None:
    reg, _, _ = registered
    _, ckpt2 = make_checkpoint(tmp_path / "ckpt2", ARCH, seed=1)
    assert reg.register("coef", ckpt2, onnx=False)["version"] == "1.1.0"
    _, ckpt3 = make_checkpoint(tmp_path / "ckpt3", "anomaly_detector")
    assert reg.register("coef", ckpt3, onnx=False)["version"] == "2.0.0"
    assert reg.register("coef", ckpt3, onnx=False, bump="patch")["version"] == "2.0.1"
    assert reg.get("coef")["version"] == "2.0.1"
    assert reg.get("coef", "1.1.0")["architecture"] == ARCH
    assert [e["version"] for e in reg.list()["coef"]] == ["1.0.0", "1.1.0", "2.0.0", "2.0.1"]


def test_architecture_change_with_same_input_is_major(tmp_path: Path) -> None:
    reg = ModelRegistry(tmp_path / "models")
    _, a = make_checkpoint(tmp_path / "a", "unet")
    _, b = make_checkpoint(tmp_path / "b", "vit_edge")
    assert reg.register("edge", a, onnx=False)["version"] == "1.0.0"
    assert reg.register("edge", b, onnx=False)["version"] == "2.0.0"


def test_next_version_rules() -> None:
    meta = {
        "architecture": "unet",
        "task": "edges",
        "data_info": {"in_channels": 1, "image_size": 32},
    }
    prev = {"version": "1.4.2", "architecture": "unet", "task": "edges", "input_shape": [1, 32, 32]}
    assert next_version(None, meta) == "1.0.0"
    assert next_version(prev, meta) == "1.5.0"
    bigger = {**meta, "data_info": {"in_channels": 1, "image_size": 64}}
    assert next_version(prev, bigger) == "2.0.0"
    assert next_version(prev, meta, bump="patch") == "1.4.3"


def test_load_returns_the_same_model(
    registered: tuple[ModelRegistry, dict[str, Any], torch.nn.Module],
) -> None:
    reg, _, original = registered
    x = example_input(tiny_model(ARCH)[1], 6, seed=3)
    with torch.no_grad():
        want = original(x)
    for version in (None, "1.0.0"):
        loaded, entry = reg.load("coef", version)
        assert entry["version"] == "1.0.0"
        assert not loaded.training
        with torch.no_grad():
            assert torch.equal(loaded(x), want)


def test_unknown_name_and_version(
    registered: tuple[ModelRegistry, dict[str, Any], torch.nn.Module],
) -> None:
    reg, _, _ = registered
    with pytest.raises(RaytrainError, match=r"no registered model 'cof'.*did you mean 'coef'"):
        reg.get("cof")
    with pytest.raises(RaytrainError, match=r"no version 9\.9\.9; versions: 1\.0\.0"):
        reg.get("coef", "9.9.9")


def test_tampered_weights_fail_the_checksum(
    registered: tuple[ModelRegistry, dict[str, Any], torch.nn.Module],
) -> None:
    reg, entry, _ = registered
    weights = reg.path_of(entry) / MODEL_FILE
    state = torch.load(weights, weights_only=True)
    key = next(k for k, v in state.items() if v.is_floating_point())
    state[key] = state[key] + 1.0
    torch.save(state, weights)
    with pytest.raises(RaytrainError, match="checksum"):
        reg.load("coef")


@pytest.mark.parametrize(
    "name", ["../evil", "a/b", "..", "a..b", "/abs", ".hidden", "", "a" * 101, "a\\b"]
)
def test_unsafe_names_are_refused(name: str, tmp_path: Path) -> None:
    with pytest.raises(RaytrainError, match="registry name"):
        check_name(name)
    with pytest.raises(RaytrainError, match="registry name"):
        ModelRegistry(tmp_path / "models").register(name, tmp_path / "no-checkpoint")
    assert not (tmp_path / "evil").exists() and not (tmp_path / "models").exists()


def test_parse_ref() -> None:
    assert parse_ref("coef") == ("coef", None)
    assert parse_ref("coef:1.2.0") == ("coef", "1.2.0")
    with pytest.raises(RaytrainError):
        parse_ref("../x:1.0.0")


def test_corrupt_index_is_not_overwritten(tmp_path: Path) -> None:
    root = tmp_path / "models"
    root.mkdir()
    (root / INDEX).write_text("{not json")
    with pytest.raises(RaytrainError, match="corrupt registry index"):
        ModelRegistry(root).list()
    assert (root / INDEX).read_text() == "{not json"


def test_pth_bundle_loads_weights_only(
    registered: tuple[ModelRegistry, dict[str, Any], torch.nn.Module],
) -> None:
    reg, entry, original = registered
    bundle = torch.load(reg.path_of(entry) / "coef_v1.0.0.pth", weights_only=True)
    assert set(bundle) >= SEED_71_KEYS
    assert bundle["metadata"]["version"] == "1.0.0"
    assert bundle["specifications"]["input_shape"] == [5]
    for k, v in original.state_dict().items():
        assert torch.equal(bundle["model_state_dict"][k], v)


def test_pth_bundle_has_seed_keys(
    registered: tuple[ModelRegistry, dict[str, Any], torch.nn.Module],
) -> None:
    # Content check, independent of the weights_only test above.
    from torch.torch_version import TorchVersion

    reg, entry, original = registered
    with torch.serialization.safe_globals([TorchVersion]):
        bundle = torch.load(reg.path_of(entry) / "coef_v1.0.0.pth", weights_only=True)
    assert set(bundle) >= SEED_71_KEYS
    meta = bundle["metadata"]
    assert (meta["name"], meta["version"], meta["architecture"]) == ("coef", "1.0.0", ARCH)
    assert bundle["specifications"]["input_shape"] == [5]
    assert bundle["specifications"]["output_shape"] == [1]
    assert bundle["metrics"]["val_loss"] == 0.25
    assert bundle["training_config"]["model"]["architecture"] == ARCH
    assert {"torch", "numpy", "opencv", "python"} <= set(bundle["requirements"])
    for k, v in original.state_dict().items():
        assert torch.equal(bundle["model_state_dict"][k], v)


def test_registry_list_json(
    registered: tuple[ModelRegistry, dict[str, Any], torch.nn.Module],
) -> None:
    reg, _, _ = registered
    result = CliRunner().invoke(main, ["registry", "list", "--root", str(reg.root), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert list(data) == ["coef"]
    (e,) = data["coef"]
    assert e["version"] == "1.0.0" and e["architecture"] == ARCH
    assert "config" not in e and MODEL_FILE in e["files"]
    text = CliRunner().invoke(main, ["registry", "list", "--root", str(reg.root)])
    assert text.exit_code == 0 and "coef" in text.output and "v1.0.0" in text.output


def test_registry_list_empty(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["registry", "list", "--root", str(tmp_path / "none")])
    assert result.exit_code == 0 and "no models registered" in result.output


# -- loading refuses pickled code ---------------------------------------------------------------


class _Payload:
    """Unpickling this runs a shell command: what a malicious checkpoint would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.marker}",))


class _Custom:
    def __init__(self) -> None:
        self.weight = torch.ones(2)


def test_pickle_with_code_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"weight": torch.ones(1), "x": _Payload(marker)}, path)
    with pytest.raises(RaytrainError, match="refused to load"):
        load_state_dict(path)
    assert not marker.exists()


def test_custom_class_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "custom.pt"
    torch.save(_Custom(), path)
    with pytest.raises(RaytrainError, match=f"{path}: refused to load"):
        load_state_dict(path)


def test_plain_state_dict_loads(tmp_path: Path) -> None:
    path = tmp_path / "ok.pt"
    torch.save({"w": torch.arange(3)}, path)
    assert torch.equal(load_state_dict(path)["w"], torch.arange(3))
    with pytest.raises(RaytrainError, match="no such checkpoint file"):
        load_state_dict(tmp_path / "missing.pt")


def test_checkpoint_with_code_cannot_be_registered(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    _, ckpt = make_checkpoint(tmp_path / "ckpt", ARCH)
    torch.save({"x": _Payload(marker)}, ckpt / MODEL_FILE)
    with pytest.raises(RaytrainError, match="refused to load"):
        load_model(ckpt)
    with pytest.raises(RaytrainError, match="refused to load"):
        ModelRegistry(tmp_path / "models").register("coef", ckpt)
    assert not marker.exists()
    assert not (tmp_path / "models" / INDEX).exists()


def test_weights_of_another_architecture_are_refused(tmp_path: Path) -> None:
    _, ckpt = make_checkpoint(tmp_path / "ckpt", ARCH)
    other, _ = tiny_model("anomaly_detector")
    torch.save(other.state_dict(), ckpt / MODEL_FILE)
    with pytest.raises(RaytrainError, match="do not fit architecture"):
        load_model(ckpt)


def test_folder_without_meta_is_not_a_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(RaytrainError, match="not a raytrain checkpoint"):
        load_model(tmp_path)
