"""The architecture registry: `@register_model` on a builder, `create_model(config)` to build.

Each architecture declares a pydantic class for its parameters, so `model:` keys in a YAML are
checked (unknown key, wrong type, out of range) before anything runs, and the task it solves,
so a YAML needs no separate task key. Third-party packages add architectures through the
`raytrain.models` entry-point group: the entry point names a module (or callable) whose import
registers them.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

import torch.nn as nn
from pydantic import BaseModel, ConfigDict

from raytrain.errors import RaytrainError, did_you_mean

ENTRY_POINT_GROUP = "raytrain.models"


class ModelParams(BaseModel):
    """Base for an architecture's parameters; unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class DataInfo:
    """What a builder may need to know about the data (filled in from the dataset manifest)."""

    in_channels: int = 1
    image_size: int | None = None
    feature_dim: int | None = None
    num_classes: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


Builder = Callable[[Any, DataInfo], nn.Module]


@dataclass(frozen=True)
class ModelSpec:
    name: str
    builder: Builder
    params: type[ModelParams]
    task: str
    aliases: tuple[str, ...] = ()
    description: str = ""


_REGISTRY: dict[str, ModelSpec] = {}
_ALIASES: dict[str, str] = {}
_entry_points_loaded = False
_PLUGIN_ERRORS: dict[str, str] = {}


def _key(name: str) -> str:
    return name.strip().lower().replace("-", "_")


def register_model(
    name: str,
    *,
    params: type[ModelParams],
    task: str,
    aliases: tuple[str, ...] = (),
    description: str = "",
) -> Callable[[Builder], Builder]:
    """Register `builder(params, data_info) -> nn.Module` under `name` (and aliases)."""

    def deco(builder: Builder) -> Builder:
        key = _key(name)
        if key in _REGISTRY and _REGISTRY[key].builder is not builder:
            raise ValueError(f"model '{name}' is already registered")
        doc = description or next(iter((builder.__doc__ or "").strip().splitlines()), "")
        spec = ModelSpec(key, builder, params, task, tuple(_key(a) for a in aliases), doc)
        _REGISTRY[key] = spec
        for alias in spec.aliases:
            _ALIASES[alias] = key
        return builder

    return deco


def _load_entry_points() -> None:
    """Import third-party model plugins once; a broken plugin is reported, not fatal.

    An entry point names a module (importing it runs its `@register_model`s) or a callable
    (called once, with no arguments). Failures are kept so that "unknown architecture" can say
    which plugin failed instead of leaving the user to guess.
    """
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            obj = ep.load()
            if callable(obj) and not isinstance(obj, type):
                obj()
        except Exception as e:  # a plugin's bug must not break every command
            import warnings

            _PLUGIN_ERRORS[ep.name] = f"{ep.value}: {type(e).__name__}: {e}"
            warnings.warn(
                f"raytrain model plugin '{ep.name}' ({ep.value}) failed to load: {e}",
                stacklevel=2,
            )


def plugin_errors() -> dict[str, str]:
    """Entry point name -> why it failed to load (empty when every plugin loaded)."""
    _load_entry_points()
    return dict(_PLUGIN_ERRORS)


def list_models(pattern: str = "*") -> list[str]:
    """Registered architecture names matching a glob pattern, sorted."""
    _load_entry_points()
    return sorted(n for n in _REGISTRY if fnmatch.fnmatch(n, pattern))


def get_model_spec(name: str) -> ModelSpec:
    """Look an architecture up by name or alias (case-insensitive)."""
    _load_entry_points()
    key = _key(name)
    key = _ALIASES.get(key, key)
    if key not in _REGISTRY:
        known = list(_REGISTRY) + list(_ALIASES)
        failed = "".join(
            f"; model plugin '{n}' failed to load ({why})" for n, why in _PLUGIN_ERRORS.items()
        )
        raise RaytrainError(
            f"unknown model architecture '{name}'{did_you_mean(key, known)}; "
            f"registered: {', '.join(list_models())}{failed}"
        )
    return _REGISTRY[key]


def create_model(architecture: str, params: dict[str, Any], data: DataInfo) -> nn.Module:
    """Build a model from its registered name, raw parameters and what the data looks like."""
    spec = get_model_spec(architecture)
    return spec.builder(spec.params.model_validate(params), data)
