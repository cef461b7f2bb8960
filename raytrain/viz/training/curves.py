"""Training curves (`training_curves.png`): loss and every validation metric per epoch,
raw and smoothed, with the best epoch marked.
"""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from raytrain.viz.training._draw import BEST_COLOR, TRAIN_COLOR, VAL_COLOR, _marker, _pretty, _style
from raytrain.viz.training.log import BestEpoch, _column, metric_columns, smooth

TRAINING_CURVES = "training_curves.png"


def _get_training_curves_plot(
    df: pd.DataFrame, best: BestEpoch | None, smoothing: float, note: str
) -> Figure:
    metrics = metric_columns(df)
    panels = ["loss", *metrics]
    ncols = min(3, len(panels))
    nrows = -(-len(panels) // ncols)
    fig = Figure(figsize=(5.2 * ncols, 3.8 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    epochs = df["epoch"].to_numpy()
    mk = _marker(len(df))

    for ax, panel in zip(axes, panels, strict=False):
        series = (
            [("train_loss", "train", TRAIN_COLOR), ("val_loss", "val", VAL_COLOR)]
            if panel == "loss"
            else [(f"train_{panel[4:]}", "train", TRAIN_COLOR), (panel, "val", VAL_COLOR)]
        )
        for col, label, color in series:
            if col not in df.columns:
                continue
            y = _column(df, col)
            if smoothing > 0 and len(df) > 2:
                ax.plot(epochs, y, color=color, alpha=0.3, lw=1, marker=mk, ms=3)
                ax.plot(epochs, smooth(y, smoothing), color=color, lw=2, label=f"{label} (EMA)")
            else:
                ax.plot(epochs, y, color=color, lw=2, marker=mk, ms=4, label=label)
        if best is not None:
            ax.axvline(best.epoch, color=BEST_COLOR, ls="--", lw=1.2, label=f"best ep {best.epoch}")
            if best.monitor == panel or (panel == "loss" and best.monitor == "val_loss"):
                ax.plot([best.epoch], [best.value], marker="*", ms=15, color=BEST_COLOR, zorder=5)
        ax.set_title("loss" if panel == "loss" else _pretty(panel))
        _style(ax)
        ax.legend(fontsize=8)
    for ax in axes[len(panels) :]:
        ax.axis("off")

    title = f"Training curves ({note})"
    if best is not None:
        title += f" — best {best.monitor} = {best.value:.4g} at epoch {best.epoch} ({best.mode})"
    if smoothing > 0 and len(df) > 2:
        title += f"\nfaint: raw, solid: EMA smoothing {smoothing:g}"
    fig.suptitle(title)
    return fig
