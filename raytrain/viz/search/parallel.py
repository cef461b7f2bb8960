"""Parallel coordinates (`parallel_coordinates.png`): one axis per searched parameter, each
value placed on [0, 1] by its axis (linear, log or categorical), lines coloured by the
objective.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from raytrain.viz.search._draw import _better, _note_figure
from raytrain.viz.search.experiment import _completed, _label, _objective, searched_params

#: A numeric range wider than this ratio (two decades) is drawn on a log axis.
LOG_SPAN = 100.0


@dataclass
class AxisSpec:
    """How one searched parameter is laid out: a log, linear or categorical axis."""

    name: str
    kind: str  # "log" | "linear" | "categorical"
    is_int: bool = False
    low: float = 0.0
    high: float = 1.0
    choices: list[str] = field(default_factory=list)

    def position(self, value: Any) -> float:
        """`value` -> [0, 1] along the axis; NaN for a missing value (the line breaks there)."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return math.nan
        if self.kind == "categorical":
            label = _label(value)
            if label not in self.choices:
                return math.nan
            n = len(self.choices)
            return 0.5 if n == 1 else self.choices.index(label) / (n - 1)
        v = float(value)
        lo, hi = self.low, self.high
        if self.kind == "log":
            v, lo, hi = math.log10(v), math.log10(lo), math.log10(hi)
        return 0.5 if hi == lo else (v - lo) / (hi - lo)

    def ticks(self) -> list[tuple[float, str]]:
        if self.kind == "categorical":
            return [(self.position(c), c) for c in self.choices]
        if self.kind == "log":
            k0, k1 = math.ceil(math.log10(self.low)), math.floor(math.log10(self.high))
            values = [10.0**k for k in range(k0, k1 + 1)]
            if len(values) < 2:
                values = [self.low, self.high]
            return [(self.position(v), f"{v:.0e}") for v in values]
        if self.high == self.low:
            return [(0.5, f"{self.low:.4g}")]
        values = np.linspace(self.low, self.high, 5)
        if self.is_int:
            values = np.unique(np.round(values))
        return [(self.position(v), f"{v:.3g}") for v in values]


def axis_specs(
    trials_df: pd.DataFrame, space: dict[str, dict[str, Any]] | None = None
) -> dict[str, AxisSpec]:
    """One axis per searched parameter. The declared search space (if given) sets the type,
    the choices and the range; otherwise they are inferred from the values: text is
    categorical, numbers are a range, log-scaled when the range spans more than two decades."""
    specs: dict[str, AxisSpec] = {}
    space = space or {}
    for name in searched_params(trials_df):
        col = trials_df[name]
        decl = space.get(name, {})
        dtype = str(decl.get("type") or "").lower()
        observed = col.dropna()
        numeric = pd.to_numeric(observed, errors="coerce")
        is_text = col.dtype == bool or bool(numeric.isna().any())
        if dtype in ("categorical", "choice", "grid") or is_text:
            choices = [_label(c) for c in (decl.get("values") or decl.get("choices") or [])]
            for v in observed:
                if _label(v) not in choices:
                    choices.append(_label(v))
            specs[name] = AxisSpec(name, "categorical", choices=choices)
            continue
        lows = [float(numeric.min())] if len(numeric) else []
        highs = [float(numeric.max())] if len(numeric) else []
        if decl.get("low") is not None and decl.get("high") is not None:
            lows.append(float(decl["low"]))
            highs.append(float(decl["high"]))
        if not lows:
            specs[name] = AxisSpec(name, "categorical", choices=[])
            continue
        lo, hi = min(lows), max(highs)
        declared_log = bool(decl.get("log")) or dtype in ("loguniform", "qloguniform", "lograndint")
        log = lo > 0 and (declared_log or hi / lo > LOG_SPAN)
        is_int = dtype in ("int", "randint", "qrandint", "lograndint") or (
            not dtype and bool((numeric == numeric.round()).all())
        )
        specs[name] = AxisSpec(name, "log" if log else "linear", is_int, lo, hi)
    return specs


@dataclass
class ParallelInfo:
    """Each completed trial as a polyline across one [0, 1] axis per parameter."""

    metric: str
    mode: str
    axes: list[AxisSpec]
    trials: list[str]
    objective: list[float]
    #: positions[i][j]: trial i on axis j (NaN where the trial lacks the parameter)
    positions: list[list[float]]
    best_trial: str | None


def parallel_info(
    trials_df: pd.DataFrame,
    metric: str,
    mode: str,
    space: dict[str, dict[str, Any]] | None = None,
) -> ParallelInfo:
    specs = axis_specs(trials_df, space)
    done = trials_df[_completed(trials_df, metric)]
    objective = [float(v) for v in _objective(done, metric)]
    positions = [
        [spec.position(row[name]) for name, spec in specs.items()] for _, row in done.iterrows()
    ]
    best = None
    if objective:
        best = str(
            done["trial"].iloc[int(np.argmax(objective) if mode == "max" else np.argmin(objective))]
        )
    return ParallelInfo(
        metric, mode, list(specs.values()), list(done["trial"]), objective, positions, best
    )


def _get_parallel_plot(info: ParallelInfo) -> Figure:
    title = f"Parallel coordinates (colour: {info.metric}, {_better(info.mode)})"
    if not info.axes:
        return _note_figure(title, "no searched parameters: every trial trained the same config")
    if not info.trials:
        return _note_figure(title, "no completed trial reported the metric")
    fig = Figure(figsize=(max(7.0, 2.0 * len(info.axes) + 2), 5.5))
    ax = fig.add_subplot()
    lo, hi = min(info.objective), max(info.objective)
    norm = Normalize(lo, hi if hi > lo else lo + 1e-12)
    cmap = colormaps["viridis" if info.mode == "max" else "viridis_r"]
    x = np.arange(len(info.axes))
    # Best trial last so it is drawn on top.
    order = sorted(range(len(info.trials)), key=lambda i: info.trials[i] == info.best_trial)
    for i in order:
        best = info.trials[i] == info.best_trial
        ax.plot(
            x,
            info.positions[i],
            color=cmap(norm(info.objective[i])),
            lw=3.0 if best else 1.4,
            alpha=1.0 if best else 0.8,
            zorder=3 if best else 2,
            marker="o",
            ms=3,
        )
    for j, spec in enumerate(info.axes):
        ax.axvline(j, color="0.2", lw=1, zorder=1)
        for pos, label in spec.ticks():
            ax.text(j - 0.03, pos, label, ha="right", va="center", fontsize=7, color="0.25")
    names = [f"{s.name}\n({s.kind})" for s in info.axes]
    ax.set_xticks(x, names, fontsize=8)
    ax.set_xlim(-0.5, len(info.axes) - 0.5)
    ax.set_ylim(-0.05, 1.05)
    ax.set_yticks([])
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, label=info.metric)
    ax.set_title(title + (f"; thick: best trial {info.best_trial}" if info.best_trial else ""))
    return fig
