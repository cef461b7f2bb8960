"""YAML file -> validated `ExperimentConfig`, with errors that name the file, line and key path.

Also home of dotted-path overrides (`optimizer.learning_rate=3e-4`), which `--quick`, `--set`,
CLI flags and every search trial use to change one field of the config.
"""

from __future__ import annotations

import copy
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from raytrain.config.schema import ExperimentConfig
from raytrain.config.spellings import canonical_spellings
from raytrain.config.yaml_io import KeyLines, load_file, loads
from raytrain.errors import RaytrainError, did_you_mean

# Short names for the knobs everybody searches over.
SHORT_NAMES: dict[str, str] = {
    "learning_rate": "optimizer.learning_rate",
    "lr": "optimizer.learning_rate",
    "weight_decay": "optimizer.weight_decay",
    "optimizer": "optimizer.type",
    "momentum": "optimizer.momentum",
    "batch_size": "dataset.batch_size",
    "augmentation": "dataset.augmentation",
    "dropout": "model.dropout",
    "base_filters": "model.base_filters",
    "depth": "model.depth",
    "hidden_dims": "model.hidden_dims",
    "num_epochs": "training_params.num_epochs",
    "epochs": "training_params.num_epochs",
    "gradient_clip": "training_params.gradient_clip",
    "num_trials": "search.num_trials",
    "loss": "training_params.loss",
    "label_smoothing": "training_params.label_smoothing",
}


def resolve_path(key: str) -> str:
    """Short name ('learning_rate') or dotted path ('optimizer.learning_rate') -> dotted path."""
    return SHORT_NAMES.get(key, key)


def set_dotted(data: dict[str, Any], path: str, value: Any) -> None:
    """Set `data[a][b][c] = value` for path 'a.b.c', creating missing sections."""
    parts = resolve_path(path).split(".")
    node = data
    for i, part in enumerate(parts[:-1]):
        nxt = node.setdefault(part, {})
        if nxt is None:
            nxt = node[part] = {}
        if not isinstance(nxt, dict):
            where = ".".join(parts[: i + 1])
            raise RaytrainError(f"{path}: '{where}' is a value, not a section")
        node = nxt
    node[parts[-1]] = value


def get_dotted(data: dict[str, Any], path: str) -> Any:
    node: Any = data
    for part in resolve_path(path).split("."):
        if not isinstance(node, dict) or part not in node:
            raise KeyError(path)
        node = node[part]
    return node


def _unwrap(annotation: Any) -> list[Any]:
    """The concrete classes inside Optional/Union/list/dict annotations."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return [c for a in typing.get_args(annotation) for c in _unwrap(a)]
    return [annotation]


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic class that validates the mapping at `loc` (for did-you-mean suggestions)."""
    cls: Any = ExperimentConfig
    i = 0
    while i < len(loc):
        if not (isinstance(cls, type) and issubclass(cls, BaseModel)):
            return None
        field = cls.model_fields.get(str(loc[i]))
        if field is None:
            return None
        nxt = None
        for cand in _unwrap(field.annotation):
            if typing.get_origin(cand) is dict:
                i += 1  # skip the free-form key, e.g. the parameter name in search_space
                cand = typing.get_args(cand)[1]
            if isinstance(cand, type) and issubclass(cand, BaseModel):
                nxt = cand
                break
        cls = nxt
        i += 1
    return cls if isinstance(cls, type) and issubclass(cls, BaseModel) else None


def _line(lines: KeyLines, loc: tuple[Any, ...]) -> int | None:
    key = tuple(str(p) for p in loc)
    while key:
        if key in lines:
            return lines[key]
        key = key[:-1]
    return None


def _format_errors(
    source: str,
    err: ValidationError,
    lines: KeyLines,
    prefix: tuple[str, ...] = (),
    section: type[BaseModel] | None = None,
) -> str:
    """One line per problem: 'file:line: key.path: what is wrong'.

    `section` is the class that validated the data at `prefix` when it is not a field of
    ExperimentConfig (a model's parameter class), for did-you-mean suggestions.
    """
    out = []
    for e in err.errors():
        # pydantic puts union-member tags into loc ('list[TransformSpec]'); they are not keys.
        raw = prefix + tuple(e["loc"])
        loc = (
            tuple(
                p for p in raw if not (isinstance(p, str) and ("[" in p or p.startswith("literal")))
            )
            or raw
        )  # a user's key that looks like a tag (say '[') is still the key
        path = ".".join(str(p) for p in loc) or "(top level)"
        line = _line(lines, loc)
        where = f"{source}:{line}" if line else source
        if e["type"] == "extra_forbidden":
            parent = section if section and len(loc) == len(prefix) + 1 else _model_at(loc[:-1])
            fields = list(parent.model_fields) if parent else []
            hint = did_you_mean(str(loc[-1]), fields)
            if not hint and fields:
                hint = f" (known keys: {', '.join(sorted(fields))})"
            out.append(f"{where}: {path}: unknown key{hint}")
        elif e["type"] == "missing":
            out.append(f"{where}: {path}: required key is missing")
        else:
            got = e.get("input")
            shown = f" (got {got!r})" if not isinstance(got, dict | list) else ""
            out.append(f"{where}: {path}: {e['msg']}{shown}")
    return "\n".join(dict.fromkeys(out))


def validate(
    data: Any, source: str = "<config>", lines: KeyLines | None = None
) -> ExperimentConfig:
    """Validate a raw config mapping; raise RaytrainError listing every problem."""
    lines = lines or {}
    if not isinstance(data, dict):
        raise RaytrainError(f"{source}: the top level must be a mapping of sections")
    data, _ = canonical_spellings(data)  # optimizer_type, beta_1, ... (config/spellings.py)
    try:
        cfg = ExperimentConfig.model_validate(data)
    except ValidationError as e:
        raise RaytrainError(_format_errors(source, e, lines)) from None
    if cfg.objective is not None:
        _validate_objective(cfg.objective, source, lines)
    elif cfg.model is None:
        raise RaytrainError(
            f"{source}: model: required key is missing (or objective: module:function)"
        )
    else:
        _validate_model_params(cfg, source, lines)
    return cfg


def _validate_objective(spec: str, source: str, lines: KeyLines) -> None:
    from raytrain.config.objective import resolve_objective

    line = _line(lines, ("objective",))
    try:
        resolve_objective(spec)
    except RaytrainError as e:
        raise RaytrainError(f"{source}:{line or '?'}: {e}") from None


def _validate_model_params(cfg: ExperimentConfig, source: str, lines: KeyLines) -> None:
    from raytrain.models import get_model_spec

    try:
        spec = get_model_spec(cfg.model.architecture)
    except RaytrainError as e:
        line = _line(lines, ("model", "architecture"))
        raise RaytrainError(f"{source}:{line or '?'}: model.architecture: {e}") from None
    try:
        spec.params.model_validate(cfg.model.params())
    except ValidationError as e:
        raise RaytrainError(
            _format_errors(source, e, lines, prefix=("model",), section=spec.params)
        ) from None


def apply_overrides(data: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of `data` with dotted-path overrides applied."""
    out = copy.deepcopy(data)
    for path, value in overrides.items():
        set_dotted(out, path, value)
    return out


def load_config(
    path: str | Path, overrides: dict[str, Any] | None = None, quick: bool = False
) -> ExperimentConfig:
    """Read and validate an experiment YAML.

    `quick` applies the file's own `quick:` overrides (a run that ends in minutes); `overrides`
    (dotted paths or short names) are applied last, so command-line flags win.
    """
    data, lines = load_file(path)
    return _build(data, lines, str(path), overrides, quick)


def load_config_text(
    text: str,
    overrides: dict[str, Any] | None = None,
    quick: bool = False,
    source: str = "<string>",
) -> ExperimentConfig:
    data, lines = loads(text, source)
    return _build(data, lines, source, overrides, quick)


def _build(
    data: Any, lines: KeyLines, source: str, overrides: dict[str, Any] | None, quick: bool
) -> ExperimentConfig:
    if data is None:
        raise RaytrainError(f"{source}: the file is empty")
    if not isinstance(data, dict):
        raise RaytrainError(f"{source}: the top level must be a mapping of sections")
    if quick:
        quick_overrides = data.get("quick") or {}
        if not isinstance(quick_overrides, dict):
            raise RaytrainError(f"{source}: quick: must be a mapping of dotted keys to values")
        data = apply_overrides(data, quick_overrides)
        for key in quick_overrides:  # errors in a quick override point at the quick: line
            if ("quick", str(key)) in lines:
                lines[tuple(resolve_path(str(key)).split("."))] = lines[("quick", str(key))]
    if overrides:
        data = apply_overrides(data, overrides)
    return validate(data, source, lines)
