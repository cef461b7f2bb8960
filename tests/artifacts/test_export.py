"""`raytrain export NAME[:VERSION]`: the exported `.pth` and ONNX give the registered model's
outputs at batch sizes 1, 3 and 8; the ONNX batch axis is dynamic; nothing half-written is
left; existing files are kept. No Ray: models come from fresh tiny checkpoints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
import torch.nn as nn
from click.testing import CliRunner
from unit_helpers import SEED_71_KEYS, example_input, make_checkpoint, tiny_model

from raytrain.artifacts.checkpoint import read_meta
from raytrain.artifacts.export import ExportError, export_onnx, load_bundle, with_activation
from raytrain.artifacts.registry import ModelRegistry
from raytrain.cli.app import main
from raytrain.errors import RaytrainError

BATCHES = (1, 3, 8)


def _registry(tmp_path: Path, arch: str) -> ModelRegistry:
    reg = ModelRegistry(tmp_path / "models")
    _, ckpt = make_checkpoint(tmp_path / "ckpt", arch, seed=4)
    reg.register("m", ckpt, onnx=False)
    return reg


@pytest.mark.parametrize("arch", ["coefficient_optimizer", "cnn_classifier"])
def test_export_round_trip(tmp_path: Path, arch: str) -> None:
    reg = _registry(tmp_path, arch)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main, ["export", "m:1.0.0", "--out", str(out), "--root", str(reg.root)]
    )
    assert result.exit_code == 0, result.output
    assert "checked against PyTorch at batch sizes 1, 3, 8" in result.output
    pth, onnx_path, card = out / "m_v1.0.0.pth", out / "m_v1.0.0.onnx", out / "m_v1.0.0.md"
    assert pth.is_file() and onnx_path.is_file() and card.is_file()
    assert sorted(p.name for p in out.iterdir()) == sorted([pth.name, onnx_path.name, card.name])

    registered, entry = reg.load("m", "1.0.0")
    from_pth, bundle = load_bundle(pth)
    assert set(bundle) >= SEED_71_KEYS
    assert bundle["metadata"]["name"] == "m" and bundle["metadata"]["version"] == "1.0.0"
    assert bundle["specifications"]["input_shape"] == entry["input_shape"]
    meta = read_meta(reg.path_of(entry))
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    graph = onnx.load(str(onnx_path))
    assert graph.graph.input[0].type.tensor_type.shape.dim[0].dim_param  # dynamic batch
    data = tiny_model(arch)[1]
    for b in BATCHES:
        x = example_input(data, b, seed=b)
        with torch.no_grad():
            want = registered(x)
            assert torch.equal(from_pth(x), want), b
            probs = with_activation(registered, meta)(x).numpy()
        got = session.run(None, {"input": x.numpy()})[0]
        assert got.shape == probs.shape and got.shape[0] == b
        np.testing.assert_allclose(got, probs, atol=1e-5, rtol=0)


def test_export_latest_by_default_and_single_format(tmp_path: Path) -> None:
    reg = _registry(tmp_path, "coefficient_optimizer")
    _, ckpt = make_checkpoint(tmp_path / "ckpt2", "coefficient_optimizer", seed=7)
    reg.register("m", ckpt, onnx=False)
    reg.promote("m", "1.0.0", "production")
    written = reg.export("m", None, tmp_path / "a", formats=("onnx",))
    assert set(written) == {"onnx", "card"} and written["onnx"].name == "m_v1.1.0.onnx"
    written = reg.export("m", "production", tmp_path / "b", formats=("pytorch",))
    assert written["pytorch"].name == "m_v1.0.0.pth"
    assert not (tmp_path / "b" / "m_v1.0.0.onnx").exists()


def test_existing_files_are_kept_without_overwrite(tmp_path: Path) -> None:
    reg = _registry(tmp_path, "coefficient_optimizer")
    out = tmp_path / "out"
    out.mkdir()
    (out / "m_v1.0.0.pth").write_text("mine")
    args = ["export", "m", "--out", str(out), "--root", str(reg.root)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2 and "m_v1.0.0.pth: exists" in result.output
    assert (out / "m_v1.0.0.pth").read_text() == "mine"
    assert sorted(p.name for p in out.iterdir()) == ["m_v1.0.0.pth"]
    result = CliRunner().invoke(main, [*args, "--overwrite"])
    assert result.exit_code == 0, result.output
    assert load_bundle(out / "m_v1.0.0.pth")[1]["metadata"]["version"] == "1.0.0"


@pytest.mark.parametrize(
    ("ref", "message"),
    [("../x", "registry name '../x'"), ("m:2.0.0", "has no version 2.0.0"), ("m@prod", "alias")],
)
def test_export_errors(tmp_path: Path, ref: str, message: str) -> None:
    reg = _registry(tmp_path, "coefficient_optimizer")
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["export", ref, "--out", str(out), "--root", str(reg.root)])
    assert result.exit_code == 2 and result.output.startswith("error: ")
    assert message in result.output
    assert not out.exists()


class _FixedBatch(nn.Module):
    """Right in PyTorch at any batch size, but `int(x.shape[0])` is traced as the constant 2:
    its ONNX graph answers 2 rows whatever the batch (broadcasting hides it from a value check)."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(5, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x) + torch.zeros(int(x.shape[0]), 1)


def test_a_graph_that_only_runs_at_one_batch_size_is_rejected(tmp_path: Path) -> None:
    _, ckpt = make_checkpoint(tmp_path / "ckpt", "coefficient_optimizer")
    meta = read_meta(ckpt)
    path = tmp_path / "fixed.onnx"
    with pytest.raises(ExportError, match=r"fixed\.onnx: ONNX output shape \[2, 1\] at batch 1"):
        export_onnx(_FixedBatch().eval(), meta, path)
    assert not path.exists()


def test_load_bundle_refuses_other_files(tmp_path: Path) -> None:
    path = tmp_path / "plain.pth"
    torch.save({"w": torch.ones(1)}, path)
    with pytest.raises(RaytrainError, match="not a raytrain model bundle"):
        load_bundle(path)
