"""Learning curves of every trial (`learning_curves.png`): the metric per epoch."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure

from raytrain.errors import RaytrainError
from raytrain.viz.search._draw import _note_figure
from raytrain.viz.search.experiment import _progress_files, _read_csv, read_experiment


@dataclass
class Curve:
    """One trial's monitored metric per epoch."""

    trial: str
    epochs: list[int]
    values: list[float]
    status: str
    #: finished before max_epochs without an error: ASHA or early stopping cut it
    stopped: bool


@dataclass
class CurvesInfo:
    metric: str
    max_epochs: int
    curves: list[Curve]
    best_trial: str | None
    #: trials with no per-epoch log at all (typically errored before epoch 1)
    missing: list[str]


def curves_info(
    experiment_dir: Path, metric: str, max_epochs: int, mode: str | None = None
) -> CurvesInfo:
    """Per-epoch `metric` of every trial, from `trials/<id>/training_log.csv` (or Tune's
    progress.csv when the log is missing). A trial is *stopped* when it ended OK before
    `max_epochs`: ASHA cut it or early stopping ended it (the files cannot tell which)."""
    exp = Path(experiment_dir)
    statuses: dict[str, str] = {}
    best_trial = None
    try:
        e = read_experiment(exp)
        statuses = dict(zip(e.trials["trial"], e.trials["status"].astype(str), strict=True))
        best_trial = e.best_trial
        mode = mode or e.mode
    except RaytrainError:
        pass
    ids = list(statuses)
    if (exp / "trials").is_dir():
        ids += sorted(
            p.name for p in (exp / "trials").iterdir() if p.is_dir() and p.name not in statuses
        )
    progress = _progress_files(exp)
    curves, missing = [], []
    for trial in ids:
        df = None
        log = exp / "trials" / trial / "training_log.csv"
        if log.is_file():
            df = _read_csv(log)
        if (df is None or metric not in df) and trial in progress:
            df = _read_csv(progress[trial])
        epoch_col = "epoch" if df is not None and "epoch" in df else "training_iteration"
        if df is None or metric not in df or epoch_col not in df:
            missing.append(trial)
            continue
        rows = df[[epoch_col, metric]].apply(pd.to_numeric, errors="coerce").dropna()
        if rows.empty:
            missing.append(trial)
            continue
        status = statuses.get(trial, "OK").upper()
        epochs = [int(x) for x in rows[epoch_col]]
        stopped = status == "OK" and max(epochs) < max_epochs
        curves.append(Curve(trial, epochs, [float(v) for v in rows[metric]], status, stopped))
    if best_trial not in {c.trial for c in curves} and curves:
        pick = max if (mode or "max") == "max" else min
        best_trial = pick(curves, key=lambda c: pick(c.values)).trial
    elif not curves:
        best_trial = None
    return CurvesInfo(metric, max_epochs, curves, best_trial, missing)


def _get_curves_plot(info: CurvesInfo) -> Figure:
    title = f"Learning curves ({info.metric})"
    if not info.curves:
        return _note_figure(title, "no trial has a per-epoch log of the metric")
    fig = Figure(figsize=(9, 5.2))
    ax = fig.add_subplot()
    cmap = colormaps["tab10"]
    labelled_stop = labelled_err = False
    for i, c in enumerate(info.curves):
        best = c.trial == info.best_trial
        ax.plot(
            c.epochs,
            c.values,
            marker="o",
            ms=3 if not best else 5,
            lw=3.0 if best else 1.2,
            alpha=1.0 if best else 0.7,
            color="black" if best else cmap(i % 10),
            zorder=3 if best else 2,
            label=f"{c.trial} (best)" if best else c.trial,
        )
        if c.stopped:
            ax.scatter(
                [c.epochs[-1]],
                [c.values[-1]],
                marker="X",
                s=110,
                color="tab:red",
                zorder=4,
                label=None if labelled_stop else "stopped by ASHA/early stop",
            )
            labelled_stop = True
        elif c.status != "OK":
            ax.scatter(
                [c.epochs[-1]],
                [c.values[-1]],
                marker="s",
                s=70,
                color="tab:orange",
                zorder=4,
                label=None if labelled_err else "errored",
            )
            labelled_err = True
    ax.axvline(info.max_epochs, color="0.5", ls="--", lw=1)
    ax.set_xlabel(f"epoch (max {info.max_epochs})")
    ax.set_ylabel(info.metric)
    if info.max_epochs <= 30:
        ax.set_xticks(range(1, info.max_epochs + 1))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best", ncol=2 if len(info.curves) > 8 else 1)
    if info.missing:
        title += f" - no log: {', '.join(info.missing[:5])}" + (
            "..." if len(info.missing) > 5 else ""
        )
    ax.set_title(title)
    return fig
