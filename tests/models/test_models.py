"""Every registered architecture: forward, backward and ONNX export on tiny inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from unit_helpers import TINY_DATA, checkpoint_meta, example_input, tiny_model

from raytrain.artifacts.export import export_onnx, input_shape
from raytrain.errors import RaytrainError
from raytrain.models import DataInfo, create_model, get_model_spec, list_models
from raytrain.tasks import create_task

MODELS = list_models()


def test_builtin_models_are_registered() -> None:
    assert {
        "unet",
        "vit_edge",
        "cnn_classifier",
        "coefficient_optimizer",
        "anomaly_detector",
    } <= set(MODELS)
    assert list_models("unet*") == ["unet"]


def test_aliases_resolve() -> None:
    assert get_model_spec("UNet").name == "unet"
    assert get_model_spec("simple_cnn").name == "cnn_classifier"
    assert get_model_spec("ViTEdgeDetector").name == "vit_edge"


def _output_shape(task: str, data: DataInfo, batch: int) -> tuple[int, ...]:
    if task == "edges":
        return (batch, 1, data.image_size, data.image_size)  # type: ignore[return-value]
    if task == "classification":
        return (batch, data.num_classes)  # type: ignore[return-value]
    return (batch, 1)


def _random_target(task: str, data: DataInfo, out: torch.Tensor) -> torch.Tensor:
    gen = torch.Generator().manual_seed(1)
    if task == "classification":
        return torch.randint(0, data.num_classes or 2, (out.shape[0],), generator=gen)
    if task == "regression":
        return torch.randn(out.shape[0], generator=gen) * 4 + 20
    return (torch.rand(out.shape, generator=gen) > 0.5).float()


@pytest.mark.parametrize("name", MODELS)
def test_forward(name: str) -> None:
    model, data = tiny_model(name)
    task = get_model_spec(name).task
    model.eval()
    with torch.no_grad():
        out = model(example_input(data, 3))
    assert out.shape == _output_shape(task, data, 3)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", MODELS)
def test_backward_gives_finite_grads(name: str) -> None:
    model, data = tiny_model(name)
    spec = get_model_spec(name)
    task = create_task(spec.task, data)
    task.prepare_model(model)
    model.train()
    out = model(example_input(data, 4))
    loss = task.loss(out, _random_target(spec.task, data, out))
    assert torch.isfinite(loss)
    loss.backward()
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    assert trainable
    for pname, p in trainable:
        assert p.grad is not None, f"{name}.{pname} got no gradient"
        assert torch.isfinite(p.grad).all(), f"{name}.{pname} has a non-finite gradient"
    assert any(p.grad.abs().sum() > 0 for _, p in trainable)  # type: ignore[union-attr]


@pytest.mark.parametrize("name", MODELS)
def test_onnx_export_matches_torch(name: str, tmp_path: Path) -> None:
    import onnxruntime as ort

    model, data = tiny_model(name)
    create_task(get_model_spec(name).task, data).prepare_model(model)
    model.eval()
    meta = checkpoint_meta(name, data)
    path = tmp_path / f"{name}.onnx"
    worst = export_onnx(model, meta, path, tolerance=1e-4)
    assert path.exists()
    assert 0.0 <= worst <= 1e-4
    # The file itself: dynamic batch axis, probabilities for classifiers.
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = example_input(data, 5, seed=7).numpy()
    assert tuple(x.shape[1:]) == input_shape(meta)
    got = session.run(None, {"input": x})[0]
    task = get_model_spec(name).task
    assert got.shape == _output_shape(task, data, 5)
    if task in ("edges", "anomaly"):
        assert got.min() >= 0.0 and got.max() <= 1.0
    if task == "classification":
        np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-5)


def test_onnx_export_rejects_a_disagreeing_model(tmp_path: Path) -> None:
    model, data = tiny_model("coefficient_optimizer")
    model.eval()
    path = tmp_path / "m.onnx"
    # A negative tolerance can never be met: the check must fail and delete the file.
    with pytest.raises(RaytrainError, match="differs from PyTorch"):
        export_onnx(model, checkpoint_meta("coefficient_optimizer", data), path, tolerance=-1.0)
    assert not path.exists()


# -- registry errors ----------------------------------------------------------------------------


def test_unknown_model_lists_known() -> None:
    with pytest.raises(RaytrainError) as info:
        create_model("resnet_9000", {}, DataInfo())
    msg = str(info.value)
    assert "unknown model architecture 'resnet_9000'" in msg
    for name in MODELS:
        assert name in msg


def test_unet_depth_must_fit_image_size() -> None:
    with pytest.raises(RaytrainError, match=r"model\.depth: .*divisible by 8.*20"):
        create_model("unet", {"base_filters": 4, "depth": 3}, DataInfo(image_size=20))


def test_vit_patch_must_divide_image_size() -> None:
    with pytest.raises(RaytrainError, match=r"model\.patch_size"):
        create_model(
            "vit_edge", {"patch_size": 8, "embed_dim": 16, "num_heads": 2}, DataInfo(image_size=36)
        )


def test_vit_heads_must_divide_width() -> None:
    with pytest.raises(RaytrainError, match=r"model\.num_heads"):
        create_model("vit_edge", {"embed_dim": 18, "num_heads": 4}, DataInfo(image_size=32))


def test_classifier_num_classes_must_match_data() -> None:
    with pytest.raises(RaytrainError, match=r"model\.num_classes"):
        create_model("cnn_classifier", {"num_classes": 5}, TINY_DATA["classification"])


def test_mlp_input_dim_must_match_data() -> None:
    with pytest.raises(RaytrainError, match=r"model\.input_dim"):
        create_model("anomaly_detector", {"input_dim": 9}, DataInfo(feature_dim=8))
