"""Pareto front (`pareto_front.png`) of a multi-objective search: every trial by its first two
objectives, the trials no other trial beats in every objective highlighted and joined.

The front is the search's own (`pareto_front` in summary.json, the `pareto` column of
trials.csv), computed over all objectives: with three or more, a front trial can look beaten in
the two drawn.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from raytrain.viz.search._draw import _note_figure


@dataclass
class ParetoInfo:
    """Trials with a value of every objective; x and y are the first two objectives."""

    #: (metric, "max" | "min"), the search's primary metric first
    objectives: list[tuple[str, str]]
    trials: list[str] = field(default_factory=list)
    x: list[float] = field(default_factory=list)
    y: list[float] = field(default_factory=list)
    #: the front's trials and (x, y) points, in order of x
    front: list[str] = field(default_factory=list)
    front_points: list[tuple[float, float]] = field(default_factory=list)


def objectives_of(summary: dict[str, Any]) -> list[tuple[str, str]]:
    """The search's objectives from its summary.json (one entry: a single-objective search)."""
    objs = [(str(o["metric"]), str(o["mode"])) for o in summary.get("objectives") or []]
    return objs or [(str(summary.get("metric")), str(summary.get("mode") or "max"))]


def _column(trials_df: pd.DataFrame, metric: str, primary: bool) -> pd.Series:
    """The objective's value per trial: `best_<metric>` for the primary one (its best epoch),
    `<metric>` (at that epoch) for the others."""
    col = f"best_{metric}" if primary else metric
    if col not in trials_df:
        return pd.Series(math.nan, index=trials_df.index, dtype=float)
    return pd.to_numeric(trials_df[col], errors="coerce")


def pareto_info(
    trials_df: pd.DataFrame, objectives: list[tuple[str, str]], front: list[str]
) -> ParetoInfo:
    """`front`: the trial ids of the search's Pareto front (summary.json's `pareto_front`)."""
    info = ParetoInfo(list(objectives))
    if len(objectives) < 2:
        return info
    values = [_column(trials_df, m, i == 0) for i, (m, _) in enumerate(objectives)]
    keep = pd.concat(values, axis=1).notna().all(axis=1)
    for trial, x, y, ok in zip(trials_df["trial"], values[0], values[1], keep, strict=True):
        if ok:
            info.trials.append(str(trial))
            info.x.append(float(x))
            info.y.append(float(y))
    on_front = set(map(str, front))
    pts = sorted(
        (x, y, t) for t, x, y in zip(info.trials, info.x, info.y, strict=True) if t in on_front
    )
    info.front = [t for _, _, t in pts]
    info.front_points = [(x, y) for x, y, _ in pts]
    return info


def _get_pareto_plot(info: ParetoInfo) -> Figure:
    if len(info.objectives) < 2:
        return _note_figure("Pareto front", "a single-objective search has no Pareto front")
    (mx, dx), (my, dy) = info.objectives[:2]
    title = f"Pareto front: {mx} ({dx}) vs {my} ({dy})"
    if not info.trials:
        return _note_figure(title, "no trial reported every objective")
    fig = Figure(figsize=(8, 5.5))
    ax = fig.add_subplot()
    ax.scatter(info.x, info.y, color="0.6", s=30, zorder=2, label="trial")
    if info.front_points:
        fx, fy = zip(*info.front_points, strict=True)
        ax.plot(fx, fy, color="tab:red", alpha=0.5, linestyle="--", zorder=3)
        ax.scatter(fx, fy, color="tab:red", edgecolor="black", s=70, zorder=4, label="Pareto front")
        for t, x, y in zip(info.front, fx, fy, strict=True):
            ax.annotate(t, (x, y), textcoords="offset points", xytext=(5, 5), fontsize=8)
    ax.set_xlabel(f"{mx} ({'higher' if dx == 'max' else 'lower'} is better)")
    ax.set_ylabel(f"{my} ({'higher' if dy == 'max' else 'lower'} is better)")
    if len(info.objectives) > 2:
        title += f" (front over all {len(info.objectives)} objectives)"
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=9)
    return fig
