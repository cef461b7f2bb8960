"""Training curves (`training_curves.png`): loss and every validation metric per epoch,
raw and smoothed, with the best epoch marked.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from raytrain.viz.training._draw import BEST_COLOR, TRAIN_COLOR, VAL_COLOR, _marker, _pretty, _style
from raytrain.viz.training.log import BestEpoch, _column, metric_columns, smooth

TRAINING_CURVES = "training_curves.png"


@dataclass
class Series:
    """One line of a panel: `column` of the log, raw and (when smoothing applies) smoothed."""

    column: str
    label: str  # "train" | "val"
    raw: np.ndarray
    smoothed: np.ndarray | None = None


@dataclass
class Panel:
    """One subplot: "loss" or a validation metric, its train and val series, and whether the
    best epoch's star belongs on it (the panel of the monitored column)."""

    name: str
    series: list[Series] = field(default_factory=list)
    has_best: bool = False


@dataclass
class TrainingCurvesInfo:
    epochs: np.ndarray
    panels: list[Panel]
    best: BestEpoch | None
    smoothing: float  # 0 when no smoothing is drawn (off, or 2 epochs or fewer)


def training_curves_info(
    df: pd.DataFrame, best: BestEpoch | None, smoothing: float
) -> TrainingCurvesInfo:
    """The panels: loss first, then each validation metric with its `train_` twin if logged;
    an exponential moving average (`smooth`) beside the raw values when there are more than
    two epochs and `smoothing` > 0."""
    smoothed = smoothing if smoothing > 0 and len(df) > 2 else 0.0
    panels = []
    for name in ["loss", *metric_columns(df)]:
        columns = ["train_loss", "val_loss"] if name == "loss" else [f"train_{name[4:]}", name]
        panel = Panel(
            name,
            has_best=best is not None
            and (best.monitor == name or (name == "loss" and best.monitor == "val_loss")),
        )
        for col, label in zip(columns, ("train", "val"), strict=True):
            if col in df.columns:
                y = _column(df, col)
                panel.series.append(
                    Series(col, label, y, smooth(y, smoothed) if smoothed else None)
                )
        panels.append(panel)
    return TrainingCurvesInfo(df["epoch"].to_numpy(), panels, best, smoothed)


def _get_training_curves_plot(info: TrainingCurvesInfo, note: str) -> Figure:
    panels, best, epochs = info.panels, info.best, info.epochs
    ncols = min(3, len(panels))
    nrows = -(-len(panels) // ncols)
    fig = Figure(figsize=(5.2 * ncols, 3.8 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    mk = _marker(len(epochs))

    for ax, panel in zip(axes, panels, strict=False):
        for s in panel.series:
            color = TRAIN_COLOR if s.label == "train" else VAL_COLOR
            if s.smoothed is not None:
                ax.plot(epochs, s.raw, color=color, alpha=0.3, lw=1, marker=mk, ms=3)
                ax.plot(epochs, s.smoothed, color=color, lw=2, label=f"{s.label} (EMA)")
            else:
                ax.plot(epochs, s.raw, color=color, lw=2, marker=mk, ms=4, label=s.label)
        if best is not None:
            ax.axvline(best.epoch, color=BEST_COLOR, ls="--", lw=1.2, label=f"best ep {best.epoch}")
            if panel.has_best:
                ax.plot([best.epoch], [best.value], marker="*", ms=15, color=BEST_COLOR, zorder=5)
        ax.set_title("loss" if panel.name == "loss" else _pretty(panel.name))
        _style(ax)
        ax.legend(fontsize=8)
    for ax in axes[len(panels) :]:
        ax.axis("off")

    title = f"Training curves ({note})"
    if best is not None:
        title += f" — best {best.monitor} = {best.value:.4g} at epoch {best.epoch} ({best.mode})"
    if info.smoothing:
        title += f"\nfaint: raw, solid: EMA smoothing {info.smoothing:g}"
    fig.suptitle(title)
    return fig
