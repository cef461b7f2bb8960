"""Transfer learning: pretrained weights and which layers freeze."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from unit_helpers import make_checkpoint, tiny_model

from raytrain.config import load_config_text
from raytrain.errors import RaytrainError
from raytrain.models import DataInfo, create_model
from raytrain.train.transfer import apply_pretrained, frozen_parameter_names, load_pretrained


def test_pretrained_weights_from_a_checkpoint_folder_or_a_pth_file(tmp_path: Path) -> None:
    trained, folder = make_checkpoint(tmp_path / "ckpt", "unet", seed=1)
    fresh, _ = tiny_model("unet", seed=2)
    assert not torch.equal(fresh.head.weight, trained.head.weight)
    cfg = load_config_text(
        f"model: {{architecture: unet, base_filters: 4, depth: 2, load_pretrained: true}}\n"
        f"pretrained: {{model_path: {folder}}}\n"
    )
    assert "loaded" in (apply_pretrained(fresh, cfg) or "")
    for (name, a), b in zip(fresh.state_dict().items(), trained.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    pth = tmp_path / "weights.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in trained.state_dict().items()}}, pth)
    other, _ = tiny_model("unet", seed=3)
    loaded, total = load_pretrained(other, pth)  # DDP-prefixed keys inside a dict
    assert loaded == total and torch.equal(other.head.weight, trained.head.weight)


def test_pretrained_partial_load_keeps_a_new_head(tmp_path: Path) -> None:
    trained, folder = make_checkpoint(tmp_path / "ckpt", "cnn_classifier", seed=1)
    bigger = create_model(
        "cnn_classifier",
        {"base_filters": 4, "num_blocks": 2},
        DataInfo(in_channels=1, image_size=32, num_classes=5),
    )
    before = {n: p.detach().clone() for n, p in bigger.named_parameters()}
    loaded, total = load_pretrained(bigger, folder)
    assert 0 < loaded < total
    old = dict(trained.named_parameters())
    for name, p in bigger.named_parameters():
        if old[name].shape == p.shape:
            assert torch.equal(p, old[name]), name  # loaded
        else:
            assert torch.equal(p, before[name]), name  # the new head keeps its initialisation


def test_pretrained_errors_name_the_key(tmp_path: Path) -> None:
    model, _ = tiny_model("unet")
    with pytest.raises(RaytrainError, match="pretrained.model_path: .* does not exist"):
        load_pretrained(model, tmp_path / "missing.pth")
    _, mlp = make_checkpoint(tmp_path / "mlp", "anomaly_detector")
    with pytest.raises(RaytrainError, match="no weights that fit"):
        load_pretrained(model, mlp)
    cfg = load_config_text("model: {architecture: unet, load_pretrained: true}\n")
    with pytest.raises(RaytrainError, match="needs pretrained.model_path"):
        apply_pretrained(model, cfg)


def test_which_layers_freeze() -> None:
    unet, _ = tiny_model("unet")
    enc = load_config_text("model: {architecture: unet}\npretrained: {freeze_encoder: true}\n")
    names = frozen_parameter_names(unet, enc)
    assert names and all(n.startswith(("encoder.", "bottleneck.")) for n in names)
    assert len(names) == sum(
        1 for n, _ in unet.named_parameters() if n.startswith(("encoder.", "bottleneck."))
    )
    seed = load_config_text(
        "model: {architecture: unet, fine_tune_layers: [decoder, output]}\n"
        "pretrained: {freeze_encoder: true, freeze_epochs: 10}\n"
    )
    trainable = {n for n, _ in unet.named_parameters()} - set(frozen_parameter_names(unet, seed))
    assert trainable and all(n.startswith(("decoder.", "head.")) for n in trainable)
    nothing = load_config_text("model: {architecture: unet}\n")
    assert frozen_parameter_names(unet, nothing) == []
    mlp, _ = tiny_model("anomaly_detector")
    mlp_cfg = load_config_text(
        "model: {architecture: anomaly_detector}\npretrained: {freeze_encoder: true}\n"
    )
    with pytest.raises(RaytrainError, match="has no encoder"):
        frozen_parameter_names(mlp, mlp_cfg)


def test_pretrained_from_a_training_script_checkpoint_and_the_export_bundle(
    tmp_path: Path,
) -> None:
    """`{'epoch', 'model_state_dict', 'optimizer_state_dict', 'val_loss'}` (a training script's
    format) and raytrain's own `.pth` export bundle both load."""
    from raytrain.artifacts.registry import ModelRegistry

    trained, folder = make_checkpoint(tmp_path / "ckpt", "unet", seed=1)
    opt = torch.optim.Adam(trained.parameters())
    script = tmp_path / "best_model.pth"
    torch.save(
        {
            "epoch": 7,
            "model_state_dict": trained.state_dict(),
            "optimizer_state_dict": opt.state_dict(),
            "val_loss": 0.12,
        },
        script,
    )
    fresh, _ = tiny_model("unet", seed=2)
    loaded, total = load_pretrained(fresh, script)
    assert loaded == total and torch.equal(fresh.head.weight, trained.head.weight)

    entry = ModelRegistry(tmp_path / "models").register("u", folder, onnx=False)
    bundle = tmp_path / "models" / entry["path"] / "u_v1.0.0.pth"
    other, _ = tiny_model("unet", seed=3)
    loaded, total = load_pretrained(other, bundle)
    assert loaded == total and torch.equal(other.head.weight, trained.head.weight)
