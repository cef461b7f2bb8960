"""Small builders shared by the fast unit tests (no Ray cluster, tiny models, tiny data).

Plain functions, not fixtures, so each test says what it builds. Imported as `unit_helpers`
(pytest puts tests/ on sys.path).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn as nn

from raytrain.artifacts.checkpoint import save_checkpoint
from raytrain.config import load_config_text
from raytrain.models import DataInfo, create_model, get_model_spec

REPO = Path(__file__).resolve().parent.parent

#: The smallest parameters that still exercise each built-in architecture. A model added to the
#: registry later runs with its defaults (on the tiny data below) until it gets an entry here.
TINY_PARAMS: dict[str, dict[str, Any]] = {
    "unet": {"base_filters": 4, "depth": 2},
    "vit_edge": {"embed_dim": 16, "num_layers": 1, "num_heads": 2, "patch_size": 8},
    "cnn_classifier": {"base_filters": 4, "num_blocks": 2},
    "coefficient_optimizer": {"hidden_dims": [8, 4]},
    "anomaly_detector": {"hidden_dims": [8, 4]},
}

IMAGE_SIZE = 32

#: The keys of the exported .pth bundle.
SEED_71_KEYS = {
    "model_state_dict",
    "metadata",
    "specifications",
    "metrics",
    "training_config",
    "requirements",
}

#: What the data of each task looks like, in the smallest form the models accept.
TINY_DATA: dict[str, DataInfo] = {
    "edges": DataInfo(in_channels=1, image_size=IMAGE_SIZE),
    "classification": DataInfo(in_channels=1, image_size=IMAGE_SIZE, num_classes=3),
    "regression": DataInfo(feature_dim=5, extra={"target_mean": 20.0, "target_std": 4.0}),
    "anomaly": DataInfo(feature_dim=8),
}


def tiny_model(architecture: str, seed: int = 0) -> tuple[nn.Module, DataInfo]:
    """A freshly built tiny model of `architecture` and the DataInfo it was built for."""
    spec = get_model_spec(architecture)
    data = TINY_DATA[spec.task]
    torch.manual_seed(seed)
    model = create_model(architecture, TINY_PARAMS.get(spec.name, {}), data)
    return model, data


def example_input(data: DataInfo, batch: int, seed: int = 0) -> torch.Tensor:
    """A random batch in the model's input format (images in [0, 1], vectors ~ N(0, 1))."""
    gen = torch.Generator().manual_seed(seed)
    if data.feature_dim:
        return torch.randn(batch, data.feature_dim, generator=gen)
    size = data.image_size or IMAGE_SIZE
    return torch.rand(batch, data.in_channels, size, size, generator=gen)


def experiment_config_json(architecture: str) -> dict[str, Any]:
    """A validated config for `architecture` with its tiny parameters, dumped as train/loop does."""
    spec = get_model_spec(architecture)
    params = "".join(f"  {k}: {v}\n" for k, v in TINY_PARAMS.get(spec.name, {}).items())
    cfg = load_config_text(f"model:\n  architecture: {architecture}\n{params}")
    return cfg.model_dump(mode="json")


def checkpoint_meta(
    architecture: str, data: DataInfo, metrics: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The `meta` dict of a checkpoint, built the way train/loop.py builds it."""
    spec = get_model_spec(architecture)
    metrics = metrics if metrics is not None else {"epoch": 3, "val_loss": 0.25, "is_best": True}
    return {
        "architecture": spec.name,
        "model_params": dict(TINY_PARAMS.get(spec.name, {})),
        "task": spec.task,
        "data_info": data.__dict__,
        "epoch": 3,
        "metrics": metrics,
        "monitor": "val_loss",
        "mode": "min",
        "config": experiment_config_json(architecture),
    }


def make_checkpoint(folder: Path, architecture: str, seed: int = 0) -> tuple[nn.Module, Path]:
    """A tiny model saved with `save_checkpoint`; returns the model (eval mode) and the folder."""
    model, data = tiny_model(architecture, seed)
    model.eval()
    save_checkpoint(folder, model, checkpoint_meta(architecture, data))
    return model, folder


def png_bytes(img: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", img)
    assert ok
    return buf.tobytes()


def random_gray(h: int, w: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(h, w), dtype=np.uint8)


def random_edges(h: int, w: int, seed: int) -> np.ndarray:
    """A binary (0/255) map, like an edge map."""
    return (np.random.default_rng(seed).random((h, w)) > 0.8).astype(np.uint8) * 255
