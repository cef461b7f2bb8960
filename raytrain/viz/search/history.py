"""Optimization history (`optimization_history.png`): the objective per completed trial and
the running best.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from raytrain.viz.search._draw import _better, _note_figure
from raytrain.viz.search.experiment import _completed, _objective


@dataclass
class HistoryInfo:
    """Objective per completed trial, in completion order, and the running best."""

    metric: str
    mode: str
    trials: list[str]
    values: list[float]
    best_so_far: list[float]
    best_trial: str | None
    best_value: float | None
    errored: list[str]


def history_info(
    trials_df: pd.DataFrame, metric: str, mode: str, order: Sequence[str] | None = None
) -> HistoryInfo:
    """`order` is trial ids by completion time (from `timeline_info`); trials it lacks keep
    their trials.csv order after the ones it has (Tune lists results in creation order)."""
    done = _completed(trials_df, metric)
    values = _objective(trials_df, metric)
    rank = {t: i for i, t in enumerate(order or [])}
    rows = [
        (rank.get(t, len(rank) + i), t, float(v))
        for i, (t, v, d) in enumerate(zip(trials_df["trial"], values, done, strict=True))
        if d
    ]
    rows.sort()
    ids = [t for _, t, _ in rows]
    vals = [v for _, _, v in rows]
    pick = max if mode == "max" else min
    best_so_far: list[float] = []
    for v in vals:
        best_so_far.append(v if not best_so_far else pick(best_so_far[-1], v))
    best_value = best_so_far[-1] if best_so_far else None
    best_trial = ids[vals.index(best_value)] if best_value is not None else None
    errored = [str(t) for t, d in zip(trials_df["trial"], done, strict=True) if not d]
    return HistoryInfo(metric, mode, ids, vals, best_so_far, best_trial, best_value, errored)


def _get_history_plot(info: HistoryInfo) -> Figure:
    title = f"Optimization history ({info.metric}, {_better(info.mode)})"
    if not info.values:
        return _note_figure(title, "no completed trial reported the metric")
    fig = Figure(figsize=(9, 4.8))
    ax = fig.add_subplot()
    x = np.arange(1, len(info.values) + 1)
    ax.scatter(x, info.values, color="tab:blue", zorder=3, label="trial's best value")
    ax.step(x, info.best_so_far, where="post", color="tab:red", label="best so far")
    ib = info.trials.index(info.best_trial) if info.best_trial in info.trials else None
    if ib is not None:
        ax.scatter(
            [x[ib]],
            [info.values[ib]],
            marker="*",
            s=250,
            color="gold",
            edgecolor="black",
            zorder=4,
            label=f"best: {info.best_trial}",
        )
    ax.set_xlabel("trial (in completion order)")
    ax.set_ylabel(info.metric)
    if len(x) <= 30:
        ax.set_xticks(x, info.trials, rotation=45, ha="right", fontsize=8)
    if info.errored:
        title += f" - {len(info.errored)} trial(s) without a result not shown"
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=9)
    return fig
