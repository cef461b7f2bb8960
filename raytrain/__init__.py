"""raytrain: one YAML file becomes a distributed hyperparameter search and training run on Ray."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import nn

__version__ = "0.1.0"


def load_model(ref: str, root: str = "models") -> nn.Module:
    """A registered model (eval mode, CPU, checksum-checked) by reference: `"edges"` (highest
    version), `"edges:1.0.0"`, `"edges@production"` or `"edges@<alias>"` (seed 000 §4.1).

    Imported lazily so `import raytrain` stays cheap."""
    from raytrain.registry import load_registered

    return load_registered(ref, root)
