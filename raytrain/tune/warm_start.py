"""Warm starts: trials a search runs first (`search.points_to_evaluate`) and trials it learns
from before its first one (`search.warm_start_from`, a finished raytrain search).

Both are checked against the search space before anything runs and encoded the way the
searcher sees the space (`SearchSpace.param_space`: dotted paths, list-valued choices by index).
A point must give every search_space key a value the entry can produce; a wrong key or value is
an error naming the point and the key. A finished search's trials are taken from its
summary.json: each trial's parameters and its best value (for several objectives, the others at
that epoch, as in trials.csv), added to the new Optuna study as completed trials. Its searched
keys and objectives must be this search's; trials outside this space's ranges are left out.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from raytrain.config.load import resolve_path
from raytrain.config.schema import ExperimentConfig, SearchParam
from raytrain.config.search_space import SearchSpace
from raytrain.errors import RaytrainError


@dataclass(frozen=True)
class WarmStart:
    #: trials to run first, as the searcher samples them
    points: list[dict[str, Any]] = field(default_factory=list)
    #: (parameters as the searcher samples them, values in objective order) of earlier trials
    evaluated: list[tuple[dict[str, Any], list[float]]] = field(default_factory=list)
    source: str | None = None
    #: trials of `source` that lie outside this search space
    left_out: int = 0

    def describe(self) -> str:
        parts = [f"{len(self.points)} given point(s) first"] if self.points else []
        if self.source:
            out = f"; {self.left_out} outside this space left out" if self.left_out else ""
            parts.append(f"{len(self.evaluated)} trial(s) of {self.source}{out}")
        return ", ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        return {
            "points": len(self.points),
            "from": self.source,
            "trials": len(self.evaluated),
            "left_out": self.left_out,
        }


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _same(a: Any, b: Any) -> bool:
    """Equal values of one kind: 8 and 8.0 are one choice, 1 and True are not."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if _number(a) and _number(b):
        return bool(a == b)
    return type(a) is type(b) and a == b


def encode_value(entry: SearchParam, value: Any, by_index: list[Any] | None) -> Any:
    """`value` as the searcher samples it; ValueError saying what is wrong with it."""
    if entry.type in ("categorical", "choice", "grid"):
        choices = list(entry.values or entry.choices or [])
        for i, c in enumerate(choices):
            if _same(c, value):
                return i if by_index is not None else c
        raise ValueError(f"{value!r} is not one of the choices {json.dumps(choices)}")
    low, high = entry.low, entry.high
    assert low is not None and high is not None
    if not _number(value) or not math.isfinite(value):
        raise ValueError(f"{value!r} is not a number")
    if not low <= value <= high:
        raise ValueError(f"{value!r} is outside [{low:g}, {high:g}]")
    if entry.type in ("int", "randint", "qrandint"):
        if value != int(value):
            raise ValueError(f"{value!r} is not a whole number")
        value = int(value)
        if entry.step and value % int(entry.step):
            raise ValueError(f"{value!r} is not a multiple of the step {entry.step:g}")
        return value
    if entry.step and not math.isclose(
        round(value / entry.step) * entry.step, value, abs_tol=1e-12
    ):
        raise ValueError(f"{value!r} is not on the step {entry.step:g}")
    return float(value)


def _path_of(cfg: ExperimentConfig, key: str) -> str:
    """A point's key as a space path: as written for a function, resolved for a model."""
    return key if cfg.objective else resolve_path(str(key))


def encode_point(
    cfg: ExperimentConfig, space: SearchSpace, point: Any, where: str
) -> dict[str, Any]:
    """One point of `search.points_to_evaluate`, checked and encoded; `where` names it."""
    keys = ", ".join(cfg.search_space)
    if not isinstance(point, dict):
        raise RaytrainError(f"{where}: expected a mapping of search_space keys to values")
    out: dict[str, Any] = {}
    for key, value in point.items():
        path = _path_of(cfg, key)
        entry = space.entries.get(path)
        if entry is None:
            raise RaytrainError(f"{where}.{key}: not a search_space key ({keys})")
        if path in out:
            raise RaytrainError(f"{where}.{key}: '{path}' is given twice")
        try:
            out[path] = encode_value(entry, value, space.by_index.get(path))
        except ValueError as e:
            raise RaytrainError(f"{where}.{key}: {e}") from None
    missing = [k for k in cfg.search_space if _path_of(cfg, k) not in out]
    if missing:
        raise RaytrainError(
            f"{where}: no value for {', '.join(missing)} (a point gives every search_space key)"
        )
    return out


def warm_start_of(
    cfg: ExperimentConfig,
    space: SearchSpace,
    objectives: list[tuple[str, str]],
    method: Any,
    expected_trials: int,
) -> WarmStart | None:
    """The search's warm start, checked against its space and method (None: none asked)."""
    s = cfg.search
    if not s.points_to_evaluate and not s.warm_start_from:
        return None
    points: list[dict[str, Any]] = []
    if s.points_to_evaluate:
        if not method.warm_points:
            raise RaytrainError(
                f"search.points_to_evaluate: search.method {s.method} cannot run given points "
                f"first; use {_methods_with('warm_points')}"
            )
        if space.has_grid:
            raise RaytrainError(
                "search.points_to_evaluate: not with type: grid entries in search_space "
                "(each sample is crossed with the grid)"
            )
        if len(s.points_to_evaluate) > expected_trials:
            raise RaytrainError(
                f"search.points_to_evaluate: {len(s.points_to_evaluate)} points, but the search "
                f"runs {expected_trials} trial(s) (search.num_trials)"
            )
        points = [
            encode_point(cfg, space, p, f"search.points_to_evaluate[{i}]")
            for i, p in enumerate(s.points_to_evaluate)
        ]
    if not s.warm_start_from:
        return WarmStart(points)
    if not method.warm_results:
        raise RaytrainError(
            f"search.warm_start_from: search.method {s.method} cannot learn from earlier "
            f"trials; use {_methods_with('warm_results')}"
        )
    evaluated, left_out = _finished_trials(cfg, space, objectives, s.warm_start_from)
    return WarmStart(points, evaluated, s.warm_start_from, left_out)


def _methods_with(flag: str) -> str:
    from raytrain.tune.searchers import SEARCH_METHODS

    return ", ".join(sorted({m.name for m in SEARCH_METHODS.values() if getattr(m, flag)}))


def _finished_trials(
    cfg: ExperimentConfig,
    space: SearchSpace,
    objectives: list[tuple[str, str]],
    source: str,
) -> tuple[list[tuple[dict[str, Any], list[float]]], int]:
    from raytrain.artifacts.storage import exists, join, read_text
    from raytrain.config.yaml_io import loads

    key = f"search.warm_start_from: {source}"
    summary_path, config_path = join(source, "summary.json"), join(source, "config.yaml")
    if not exists(summary_path) or not exists(config_path):
        raise RaytrainError(
            f"{key}: not a finished raytrain search (no summary.json and config.yaml there)"
        )
    try:
        summary = json.loads(read_text(summary_path))
        old_cfg, _ = loads(read_text(config_path), source=str(config_path))
    except (json.JSONDecodeError, RaytrainError) as e:
        raise RaytrainError(f"{key}: cannot read its summary.json and config.yaml ({e})") from None
    if not isinstance(summary, dict) or not isinstance(old_cfg, dict):
        raise RaytrainError(f"{key}: not a raytrain search summary")
    old_objectives = [(o["metric"], o["mode"]) for o in summary.get("objectives") or []] or [
        (summary.get("metric"), summary.get("mode"))
    ]
    if old_objectives != objectives:
        said = lambda objs: " and ".join(f"{m} ({md})" for m, md in objs)  # noqa: E731
        raise RaytrainError(
            f"{key}: that search optimized {said(old_objectives)}; this one optimizes "
            f"{said(objectives)}"
        )
    old_space = old_cfg.get("search_space") or {}
    old_paths = {k if old_cfg.get("objective") else resolve_path(k) for k in old_space}
    for path in sorted(set(space.entries) ^ old_paths):
        which = "this search_space does not" if path in old_paths else "that search did not"
        raise RaytrainError(f"{key}: '{path}' was searched there but {which} search it")
    metric = objectives[0][0]
    evaluated, left_out = [], 0
    for row in summary.get("trials") or []:
        values = [row.get(f"best_{metric}"), *(row.get(m) for m, _ in objectives[1:])]
        if not all(_number(v) and math.isfinite(v) for v in values):
            continue  # an errored trial, or one that never reported
        try:
            params = {
                p: encode_value(e, row.get(p), space.by_index.get(p))
                for p, e in space.entries.items()
            }
        except ValueError:
            left_out += 1
            continue
        evaluated.append((params, [float(v) for v in values]))
    if not evaluated:
        raise RaytrainError(
            f"{key}: none of its trials has a value of {metric} inside this search_space "
            f"({left_out} left out)"
        )
    return evaluated, left_out
