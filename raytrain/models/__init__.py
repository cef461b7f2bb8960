"""The model zoo. Importing this package registers every built-in architecture."""

from raytrain.models import cnn, mlp, unet, vit  # noqa: F401  (registration on import)
from raytrain.models.registry import (
    DataInfo,
    ModelParams,
    ModelSpec,
    create_model,
    get_model_spec,
    list_models,
    register_model,
)

__all__ = [
    "DataInfo",
    "ModelParams",
    "ModelSpec",
    "create_model",
    "get_model_spec",
    "list_models",
    "register_model",
]
