"""Summary dashboard (`analysis/summary_dashboard.png`): the run's headline numbers and its
key curves on one page.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure

from raytrain.viz._common import save_figure
from raytrain.viz.model.architecture import _unwrap
from raytrain.viz.model.dynamics import _duration, _no_data
from raytrain.viz.model.weights import NEAR_ZERO, weight_stats
from raytrain.viz.training._draw import (
    BEST_COLOR,
    TRAIN_COLOR,
    VAL_COLOR,
    _epochs_note,
    _marker,
    _style,
)
from raytrain.viz.training.log import (
    BestEpoch,
    _column,
    best_epoch,
    load_log,
    resolve_monitor,
    smooth,
)
from raytrain.viz.training.overfitting import OverfittingInfo, overfitting_info

SUMMARY_DASHBOARD = "summary_dashboard.png"


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "n/a" if math.isnan(v) else f"{v:.4g}"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    return str(v)


def summary_numbers(
    df: pd.DataFrame,
    model: torch.nn.Module | None,
    monitor: str,
    mode: str,
    extra: dict[str, Any] | None = None,
) -> dict[str, str]:
    """The dashboard's key numbers, formatted, in display order; `extra` entries are appended
    (e.g. test metrics or the trial id, which the log does not know)."""
    out: dict[str, str] = {"epochs logged": str(len(df))}
    try:
        best = best_epoch(df, monitor, mode) if len(df) else None
        col = resolve_monitor(df, monitor)
    except ValueError:
        best, col = None, monitor
    out["monitor"] = f"{col} ({mode})"
    out["best epoch"] = str(best.epoch) if best else "n/a"
    out[f"best {col}"] = _fmt(best.value) if best else "n/a"
    if len(df) and col in df.columns:
        out[f"final {col}"] = _fmt(float(df[col].iloc[-1]))
    for c in ("train_loss", "val_loss"):
        if len(df) and c in df.columns:
            out[f"final {c}"] = _fmt(float(df[c].iloc[-1]))
    if model is not None:
        params = {id(p): p for p in _unwrap(model).parameters()}.values()
        out["parameters"] = f"{sum(p.numel() for p in params):,}"
        out["trainable"] = f"{sum(p.numel() for p in params if p.requires_grad):,}"
    times = _column(df, "epoch_time_s")
    if np.isfinite(times).any():
        out["total time"] = _duration(float(np.nansum(times)))
        out["mean epoch time"] = _duration(float(np.nanmean(times)))
    for c, label in (("world_size", "workers"), ("num_nodes", "nodes")):
        v = _column(df, c)
        if np.isfinite(v).any():
            out[label] = str(int(np.nanmax(v)))
    for k, v in (extra or {}).items():
        out[str(k)] = _fmt(v)
    return out


@dataclass
class SummaryInfo:
    """What the summary dashboard shows: the losses raw and smoothed (EMA 0.6), the monitored
    metric and its best epoch, the learning rate, the generalization gap, the key numbers, and
    the largest weight tensors' statistics (None without a model)."""

    epochs: np.ndarray
    monitor: str
    mode: str
    numbers: dict[str, str]
    losses: dict[str, tuple[np.ndarray, np.ndarray]]  # column -> (raw, EMA)
    best: BestEpoch | None
    monitored: np.ndarray | None  # the best epoch's column, when there is a best epoch
    lr: np.ndarray | None  # None when not logged (or never finite)
    overfitting: OverfittingInfo
    top_weights: list[dict[str, Any]] | None  # the 8 largest of `weight_stats`
    n_weights: int


def summary_info(
    df: pd.DataFrame,
    numbers: dict[str, str],
    stats: list[dict[str, Any]] | None,
    monitor: str,
    mode: str,
) -> SummaryInfo:
    try:
        best = best_epoch(df, monitor, mode) if len(df) else None
    except ValueError:
        best = None
    losses = {
        col: (_column(df, col), smooth(_column(df, col), 0.6))
        for col in ("train_loss", "val_loss")
        if col in df.columns
    }
    lr = _column(df, "lr") if "lr" in df.columns else None
    return SummaryInfo(
        epochs=df["epoch"].to_numpy(),
        monitor=monitor,
        mode=mode,
        numbers=numbers,
        losses=losses,
        best=best,
        monitored=_column(df, best.monitor) if best else None,
        lr=lr if lr is not None and np.isfinite(lr).any() else None,
        overfitting=overfitting_info(df),
        top_weights=sorted(stats, key=lambda s: -s["numel"])[:8] if stats else None,
        n_weights=len(stats) if stats else 0,
    )


def _get_dashboard_plot(info: SummaryInfo, note: str) -> Figure:
    fig = Figure(figsize=(16, 11.5), layout="constrained")
    grid = fig.add_gridspec(3, 3, height_ratios=(1.1, 1, 0.9))
    curves = fig.add_subplot(grid[0, :2])
    text = fig.add_subplot(grid[0, 2])
    mon, lr_ax, gap_ax = (fig.add_subplot(grid[1, i]) for i in range(3))
    table_ax = fig.add_subplot(grid[2, :])
    e, mk, best = info.epochs, _marker(len(info.epochs)), info.best

    colors = {"train_loss": TRAIN_COLOR, "val_loss": VAL_COLOR}
    for col, (y, ema) in info.losses.items():
        curves.plot(e, y, color=colors[col], alpha=0.35, marker=mk, ms=3)
        curves.plot(e, ema, color=colors[col], lw=2, label=col.replace("_", " "))
    if best:
        curves.axvline(best.epoch, color=BEST_COLOR, ls="--", label=f"best epoch {best.epoch}")
    curves.set_title("loss (faint: raw, solid: EMA 0.6)")
    _style(curves, ylabel="loss")
    if len(e):
        curves.legend(fontsize=8)

    text.axis("off")
    width = max((len(k) for k in info.numbers), default=0)
    text.text(
        0.0,
        1.0,
        "\n".join(f"{k:<{width}}  {v}" for k, v in info.numbers.items()),
        va="top",
        family="monospace",
        fontsize=10,
    )
    text.set_title("key numbers", loc="left")

    if best:
        mon.plot(e, info.monitored, color=VAL_COLOR, marker=mk, ms=3)
        mon.plot([best.epoch], [best.value], marker="*", ms=15, color=BEST_COLOR)
        mon.set_title(f"{best.monitor} (best {best.value:.4g}, {info.mode})")
    else:
        _no_data(mon, f"{info.monitor} not logged")
    _style(mon)

    if info.lr is not None:
        lr = info.lr
        lr_ax.plot(e, lr, color="tab:purple", marker=mk, ms=3)
        if (lr[np.isfinite(lr)] > 0).all():
            lr_ax.set_yscale("log")
    else:
        _no_data(lr_ax, "lr not logged")
    lr_ax.set_title("learning rate")
    _style(lr_ax)

    ov = info.overfitting
    gap_ax.plot(e, ov.gap, color="tab:purple", marker=mk, ms=3)
    gap_ax.axhline(0, color="grey", lw=0.8)
    if ov.onset_epoch is not None:
        gap_ax.axvline(ov.onset_epoch, color="tab:red", ls="--", label="overfitting onset")
        gap_ax.legend(fontsize=8)
    gap_ax.set_title("generalization gap (val - train loss)")
    _style(gap_ax)

    table_ax.axis("off")
    if info.top_weights:
        top = info.top_weights
        cells = [
            [
                s["name"],
                str(s["shape"]),
                f"{s['numel']:,}",
                f"{s['mean']:.3g}",
                f"{s['std']:.3g}",
                f"{s['near_zero_frac'] * 100:.1f} %",
            ]
            for s in top
        ]
        table = table_ax.table(
            cellText=cells,
            colLabels=["weight", "shape", "values", "mean", "std", f"|w|<{NEAR_ZERO:g}"],
            loc="upper center",
            cellLoc="left",
        )
        table.auto_set_font_size(False)
        table.set_fontsize(9)
        table.scale(1, 1.3)
        table_ax.set_title(f"largest weight tensors ({len(top)} of {info.n_weights})")
    else:
        _no_data(table_ax, "no model given: weight statistics unavailable")
    fig.suptitle(f"Run summary ({note})", fontsize=15)
    return fig


def write_summary_dashboard(
    log_csv: Path,
    model: torch.nn.Module | None,
    path: Path,
    monitor: str,
    mode: str,
    extra: dict[str, Any] | None = None,
) -> Path:
    """One-page summary of a run — loss curves, monitored metric, LR, generalization gap, the
    largest weight tensors' statistics and the key numbers (best epoch and value, parameters,
    total time, plus `extra`) — to `path` (conventionally `analysis/summary_dashboard.png`)."""
    df = load_log(log_csv)
    numbers = summary_numbers(df, model, monitor, mode, extra)
    stats = weight_stats(model) if model is not None else None
    info = summary_info(df, numbers, stats, monitor, mode)
    fig = _get_dashboard_plot(info, _epochs_note(len(df)))
    return save_figure(fig, Path(path))
