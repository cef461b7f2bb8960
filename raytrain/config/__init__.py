"""Experiment configuration: the typed schema and the YAML loader."""

from raytrain.config.load import (
    SHORT_NAMES,
    apply_overrides,
    get_dotted,
    load_config,
    load_config_text,
    resolve_path,
    set_dotted,
    validate,
)
from raytrain.config.schema import ExperimentConfig

__all__ = [
    "SHORT_NAMES",
    "ExperimentConfig",
    "apply_overrides",
    "get_dotted",
    "load_config",
    "load_config_text",
    "resolve_path",
    "set_dotted",
    "validate",
]
