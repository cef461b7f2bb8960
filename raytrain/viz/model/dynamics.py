"""Training dynamics (`analysis/training_dynamics.png`): epoch time and the epoch-to-epoch
change of the losses and metrics.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from raytrain.viz._common import save_figure
from raytrain.viz.training._draw import (
    TRAIN_COLOR,
    VAL_COLOR,
    _epochs_note,
    _marker,
    _style,
)
from raytrain.viz.training.log import (
    _column,
    load_log,
    metric_columns,
)

TRAINING_DYNAMICS = "training_dynamics.png"


@dataclass
class DynamicsInfo:
    """Per-epoch changes. `d_*[t] = x[t] - x[t-1]` (NaN at the first epoch); `lr[t]` is the rate
    epoch t trained with, so the pair (lr[t], d_val_loss[t]) says what that rate achieved.
    `velocity[m]` is the per-epoch change of each validation metric."""

    epochs: np.ndarray
    epoch_time: np.ndarray
    d_train_loss: np.ndarray
    d_val_loss: np.ndarray
    lr: np.ndarray
    velocity: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def total_time(self) -> float:
        return float(np.nansum(self.epoch_time)) if np.isfinite(self.epoch_time).any() else np.nan


def _diff(x: np.ndarray) -> np.ndarray:
    return np.r_[np.nan, np.diff(x)] if len(x) else x


def dynamics_info(df: pd.DataFrame) -> DynamicsInfo:
    """Training-dynamics numbers of a log (see `DynamicsInfo`)."""
    return DynamicsInfo(
        epochs=df["epoch"].to_numpy(dtype=int),
        epoch_time=_column(df, "epoch_time_s"),
        d_train_loss=_diff(_column(df, "train_loss")),
        d_val_loss=_diff(_column(df, "val_loss")),
        lr=_column(df, "lr"),
        velocity={m: _diff(_column(df, m)) for m in metric_columns(df)},
    )


def _no_data(ax: Axes, message: str) -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes)


def _get_dynamics_plot(info: DynamicsInfo, note: str) -> Figure:
    fig = Figure(figsize=(12, 8.5), layout="constrained")
    (a, b), (c, d) = fig.subplots(2, 2)
    e = info.epochs

    if np.isfinite(info.epoch_time).any():
        a.bar(e, info.epoch_time, color="tab:gray", alpha=0.8)
        a.axhline(np.nanmean(info.epoch_time), color="black", ls="--", lw=1, label="mean")
        a.legend(fontsize=8)
        a.set_title(f"epoch time (total {_duration(info.total_time)})")
    else:
        _no_data(a, "epoch_time_s not logged")
        a.set_title("epoch time")
    _style(a, ylabel="seconds")

    has_deltas = len(e) > 1
    if has_deltas:
        w = 0.4
        b.bar(e - w / 2, info.d_train_loss, w, color=TRAIN_COLOR, label="Δ train loss")
        b.bar(e + w / 2, info.d_val_loss, w, color=VAL_COLOR, label="Δ val loss")
        b.axhline(0, color="grey", lw=0.8)
        b.legend(fontsize=8)
    else:
        _no_data(b, f"{note}: no change to show")
    b.set_title("loss change per epoch (negative = better)")
    _style(b, ylabel="Δ loss")

    ok = np.isfinite(info.lr) & np.isfinite(info.d_val_loss)
    if ok.any():
        sc = c.scatter(info.lr[ok], info.d_val_loss[ok], c=e[ok], cmap="viridis", s=30)
        fig.colorbar(sc, ax=c, label="epoch")
        c.axhline(0, color="grey", lw=0.8)
        if (info.lr[ok] > 0).all() and info.lr[ok].max() > info.lr[ok].min():
            c.set_xscale("log")
    else:
        _no_data(c, f"{note}: no change to show")
    c.set_title("learning rate vs val-loss change")
    c.set_xlabel("learning rate")
    c.set_ylabel("Δ val loss")
    c.grid(True, alpha=0.3)

    if has_deltas and info.velocity:
        for m, v in info.velocity.items():
            d.plot(e, v, marker=_marker(len(e)), ms=3, label=m.removeprefix("val_"))
        d.axhline(0, color="grey", lw=0.8)
        d.legend(fontsize=7, ncol=2)
    else:
        _no_data(d, "no validation metrics to differentiate" if has_deltas else note)
    d.set_title("metric velocity (change per epoch)")
    _style(d, ylabel="Δ metric")
    fig.suptitle(f"Training dynamics ({note})")
    return fig


def write_training_dynamics(log_csv: Path, path: Path) -> Path:
    """Epoch time, loss deltas, LR against loss change and metric velocity from the run's
    `training_log.csv`, to `path` (conventionally `analysis/training_dynamics.png`)."""
    df = load_log(log_csv)
    return save_figure(_get_dynamics_plot(dynamics_info(df), _epochs_note(len(df))), Path(path))


def _duration(seconds: float) -> str:
    if not np.isfinite(seconds):
        return "n/a"
    if seconds < 60:
        return f"{seconds:.1f} s"
    m, s = divmod(int(round(seconds)), 60)
    h, m = divmod(m, 60)
    return f"{h}h {m:02d}m {s:02d}s" if h else f"{m}m {s:02d}s"
