"""raytrain: one YAML file becomes a distributed hyperparameter search and training run on Ray.

The public Python API is importable from here; each name is imported on first use, so
`import raytrain` stays cheap (no torch, no Ray)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import nn

__version__ = "0.1.0"

#: public name -> the module that defines it
_API: dict[str, str] = {
    "run_search": "raytrain.tune.runner",
    "plan_search": "raytrain.tune.plan",
    "run_training": "raytrain.runtime.run",
    "ModelRegistry": "raytrain.artifacts.registry",
    "load_bundle": "raytrain.artifacts.export",
    "Predictor": "raytrain.inference.predictor",
    "PluginRegistry": "raytrain.inference.plugins",
    "load_config": "raytrain.config",
    "RaytrainError": "raytrain.errors",
    "PluginError": "raytrain.errors",
    # `raytrain.tune` / `raytrain.train` are subpackages: the workflows are `search` and `fit`
    "search": "raytrain.api.workflows",
    "fit": "raytrain.api.workflows",
    "SearchOutcome": "raytrain.api.workflows",
    "TrainOutcome": "raytrain.api.workflows",
}

__all__ = ["load_model", *_API]


def load_model(ref: str, root: str = "models") -> nn.Module:
    """A registered model (eval mode, CPU, checksum-checked) by reference: `"edges"` (highest
    version), `"edges:1.0.0"`, `"edges@production"` or `"edges@<alias>"`."""
    from raytrain.artifacts.registry import load_registered

    return load_registered(ref, root)


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'raytrain' has no attribute {name!r}")
