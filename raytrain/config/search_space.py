"""`search_space:` YAML -> a Ray Tune parameter space over dotted config paths.

Keys are dotted paths into the config (`optimizer.learning_rate`, `model.hidden_dims`) or the
short names (`learning_rate`, `batch_size`, `dropout`, `weight_decay`). Entries accept the
classic spellings (`loguniform`, `uniform`, `categorical`) and Optuna's short form
(`{type: float, low, high, log, step}`, `{type: int, ...}`). `int` ranges include `high`, as in
Optuna (Tune's `randint` excludes it; the conversion is done here).

Non-scalar categorical choices (lists such as `hidden_dims`) are searched by index, because
Optuna's categorical distribution only takes scalars; `decode` turns indices back into values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from raytrain.config.load import apply_overrides, resolve_path, validate
from raytrain.config.schema import ExperimentConfig, SearchParam
from raytrain.errors import RaytrainError

_SCALARS = (str, int, float, bool, type(None))


@dataclass
class SearchSpace:
    #: dotted path -> Ray Tune domain
    param_space: dict[str, Any]
    #: dotted path -> list of values, for parameters searched by index
    by_index: dict[str, list[Any]] = field(default_factory=dict)
    #: dotted path -> the YAML entry, for printing the plan
    entries: dict[str, SearchParam] = field(default_factory=dict)

    def decode(self, params: dict[str, Any]) -> dict[str, Any]:
        """Sampled trial parameters -> config overrides (dotted path -> value)."""
        out = {}
        for path, value in params.items():
            out[path] = self.by_index[path][value] if path in self.by_index else value
        return out

    @property
    def has_grid(self) -> bool:
        return any(e.type == "grid" for e in self.entries.values())

    def grid_size(self) -> int:
        n = 1
        for e in self.entries.values():
            if e.type == "grid":
                n *= len(e.values or e.choices or [])
        return n

    def as_grid(self) -> dict[str, Any]:
        """The space with every entry enumerated (`search.method: grid`): categorical and grid
        entries take each value, int ranges each integer (or each step), float ranges each
        step. A float range without a step has no finite grid and is an error."""
        from ray import tune

        out = {}
        for path, entry in self.entries.items():
            values = grid_values(path, entry)
            if path in self.by_index:
                values = list(range(len(values)))
            out[path] = tune.grid_search(values)
        return out

    def full_grid_size(self) -> int:
        """Points of `as_grid()`: the product of each entry's value count."""
        n = 1
        for path, entry in self.entries.items():
            n *= len(grid_values(path, entry))
        return n

    def mutations(self) -> dict[str, Any]:
        """What population-based training may change in a running trial: every entry outside
        `model.*` (a checkpoint cannot take a different architecture). Choices mutate by
        shifting along their list, ranges by Tune's perturbation, clipped by `clip`."""
        out: dict[str, Any] = {}
        for path, entry in self.entries.items():
            if path.startswith("model."):
                continue
            domain = self.param_space[path]
            if entry.type in ("categorical", "choice", "grid"):
                n = len(entry.values or entry.choices or [])
                out[path] = (
                    list(range(n)) if path in self.by_index else list(entry.values or entry.choices)
                )
            else:
                out[path] = domain
        return out

    def clip(self, params: dict[str, Any]) -> dict[str, Any]:
        """Bring perturbed range values back inside their entry's [low, high] (ints rounded)."""
        out = dict(params)
        for path, entry in self.entries.items():
            if path not in out or entry.low is None or entry.high is None:
                continue
            v = min(max(out[path], entry.low), entry.high)
            if entry.type in ("int", "randint", "qrandint"):
                v = int(round(v))
            out[path] = v
        return out


def grid_values(key: str, p: SearchParam) -> list[Any]:
    """Every value of one entry, for a grid; an error for a continuous range without a step."""
    if p.type in ("categorical", "choice", "grid"):
        return list(p.values or p.choices or [])
    low, high = p.low, p.high
    assert low is not None and high is not None
    if p.type in ("int", "randint", "qrandint"):
        step = int(p.step or 1)
        return list(range(int(low), int(high) + 1, step))
    if not p.step:
        raise RaytrainError(
            f"search_space.{key}: search.method grid needs finite values; give this range a "
            f"'step' or make it type: grid with 'values'"
        )
    n = int(round((high - low) / p.step))
    return [round(low + i * p.step, 12) for i in range(n + 1)]


def _domain(key: str, path: str, p: SearchParam, by_index: dict[str, list[Any]]) -> Any:
    """The Tune domain of one entry; `key` is the YAML key (for messages), `path` the field."""
    from ray import tune

    t = p.type
    if t in ("categorical", "choice", "grid"):
        values = list(p.values or p.choices or [])
        if not all(isinstance(v, _SCALARS) for v in values):
            by_index[path] = values
            values = list(range(len(values)))
        return tune.grid_search(values) if t == "grid" else tune.choice(values)
    low, high = p.low, p.high
    assert low is not None and high is not None  # checked by SearchParam
    if t in ("int", "randint", "qrandint"):
        lo, hi = int(low), int(high)
        if lo != low or hi != high:
            raise RaytrainError(
                f"search_space.{key}: int range needs whole numbers, got {low}..{high}"
            )
        if p.step and p.step != 1:
            step = int(p.step)
            if p.log or step != p.step or lo % step or hi % step:
                raise RaytrainError(
                    f"search_space.{key}: an int step must be a whole number dividing 'low' and "
                    f"'high' (values are multiples of the step) and cannot combine with log"
                )
            return tune.qrandint(lo, hi, step)
        return tune.lograndint(lo, hi + 1) if p.log else tune.randint(lo, hi + 1)
    if p.step:
        if p.type == "loguniform" or p.log:
            raise RaytrainError(f"search_space.{key}: 'step' cannot combine with a log scale")
        for end in (low, high):
            if not math.isclose(round(end / p.step) * p.step, end, abs_tol=1e-12):
                raise RaytrainError(
                    f"search_space.{key}: 'step' {p.step:g} must divide 'low' "
                    f"and 'high' ({low:g}, {high:g})"
                )
        return tune.quniform(low, high, p.step)
    return tune.loguniform(low, high) if t == "loguniform" or p.log else tune.uniform(low, high)


def probe_values(p: SearchParam) -> list[Any]:
    """Values that must each make a valid config: the ends of a range, every choice."""
    if p.type in ("categorical", "choice", "grid"):
        return list(p.values or p.choices or [])
    low, high = p.low, p.high
    if p.type in ("int", "randint", "qrandint"):
        return [int(low), int(high)]  # type: ignore[arg-type]
    return [low, high]


def build_search_space(cfg: ExperimentConfig) -> SearchSpace:
    """Convert and check `cfg.search_space`: every key must name a config field, and every
    value the space can produce must pass that field's validation."""
    base = cfg.model_dump(mode="json")
    space: dict[str, Any] = {}
    by_index: dict[str, list[Any]] = {}
    entries: dict[str, SearchParam] = {}
    for key, entry in cfg.search_space.items():
        path = resolve_path(key)
        if path in space:
            raise RaytrainError(f"search_space.{key}: '{path}' is searched twice")
        if path.split(".")[0] in ("search_space", "search", "quick", "tune", "resources"):
            raise RaytrainError(f"search_space.{key}: '{path}' cannot be searched over")
        for value in probe_values(entry):
            try:
                validate(apply_overrides(base, {path: value}), source="search_space")
            except RaytrainError as e:
                detail = str(e).split(": ", 1)[-1]
                raise RaytrainError(
                    f"search_space.{key}: value {value!r} for '{path}' is invalid: {detail}"
                ) from None
        space[path] = _domain(key, path, entry, by_index)
        entries[path] = entry
    return SearchSpace(space, by_index, entries)
