"""Overfitting analysis (`overfitting_analysis.png`): the train/validation gap, diverging
epochs, the onset of overfitting and where early stopping would fire.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from raytrain.viz.training._draw import (
    BEST_COLOR,
    TRAIN_COLOR,
    VAL_COLOR,
    WARN_COLOR,
    _marker,
    _style,
)
from raytrain.viz.training.log import _column, best_epoch, resolve_monitor

OVERFITTING_ANALYSIS = "overfitting_analysis.png"


@dataclass
class OverfittingInfo:
    """Where the model stops generalizing.

    `gap = val_loss - train_loss` per epoch. `run_length` is `patience` when given, else 3.
    `onset_epoch`: the first epoch `e` such that in each of the `run_length` epochs after it both
    the gap and the validation loss rise strictly over the previous epoch — i.e. the last good
    epoch before a sustained widening; None if no such run exists (yet).
    `diverging[t]`: train loss fell and val loss rose at epoch t compared with epoch t-1.
    `since_best[t]`: epochs since `monitor` last improved (what early stopping counts);
    `patience_epoch`: the first epoch where that count reaches `patience` (when early stopping
    fires); None without patience or if it never did.
    """

    epochs: np.ndarray
    train_loss: np.ndarray
    val_loss: np.ndarray
    gap: np.ndarray
    diverging: np.ndarray
    run_length: int
    onset_epoch: int | None
    best_val_epoch: int | None
    monitor: str
    since_best: np.ndarray
    patience: int | None
    patience_epoch: int | None

    @property
    def gap_growth_since_best(self) -> float:
        """How much the gap widened from the best-val-loss epoch to the last epoch."""
        if self.best_val_epoch is None or not len(self.gap):
            return float("nan")
        i = int(np.flatnonzero(self.epochs == self.best_val_epoch)[0])
        return float(self.gap[-1] - self.gap[i])


def overfitting_info(
    df: pd.DataFrame,
    patience: int | None = None,
    *,
    monitor: str = "val_loss",
    mode: str = "min",
) -> OverfittingInfo:
    """Overfitting numbers of a log (see `OverfittingInfo` for each definition).

    The onset uses raw values on purpose: the definition is exact and checkable, and a smoothed
    curve would move the onset by the smoothing lag. Using the early-stopping patience as the run
    length makes "onset" mean "what early stopping would have reacted to, on val loss".
    """
    if patience is not None and patience < 1:
        patience = None
    epochs = df["epoch"].to_numpy(dtype=int)
    train, val = _column(df, "train_loss"), _column(df, "val_loss")
    gap = val - train
    n = len(epochs)
    run = patience or 3

    d_gap = np.diff(gap) if n else gap
    d_val = np.diff(val) if n else val
    d_train = np.diff(train) if n else train
    widening = (d_gap > 0) & (d_val > 0)  # widening[j-1] compares epoch j with epoch j-1
    onset = None
    for i in range(n - run):
        if widening[i : i + run].all():
            onset = int(epochs[i])
            break
    diverging = np.r_[False, (d_train < 0) & (d_val > 0)] if n else np.zeros(0, bool)

    best_val = best_epoch(df, "val_loss", "min") if n and "val_loss" in df.columns else None

    # epochs since the monitor last improved, counted exactly like the training loop
    since = np.zeros(n, dtype=int)
    patience_epoch = None
    if n:
        try:
            values = _column(df, resolve_monitor(df, monitor))
        except ValueError:
            values = val
        sign = 1.0 if mode == "max" else -1.0
        best, count = -np.inf, 0
        for t, v in enumerate(values):
            if np.isfinite(v) and sign * v > best:
                best, count = sign * v, 0
            else:
                count += 1
            since[t] = count
            if patience and patience_epoch is None and count >= patience:
                patience_epoch = int(epochs[t])

    return OverfittingInfo(
        epochs=epochs,
        train_loss=train,
        val_loss=val,
        gap=gap,
        diverging=diverging,
        run_length=run,
        onset_epoch=onset,
        best_val_epoch=best_val.epoch if best_val else None,
        monitor=monitor,
        since_best=since,
        patience=patience,
        patience_epoch=patience_epoch,
    )


def _get_overfitting_plot(info: OverfittingInfo, note: str) -> Figure:
    fig = Figure(figsize=(12, 8.5), layout="constrained")
    (a, b), (c, d) = fig.subplots(2, 2)
    e, mk = info.epochs, _marker(len(info.epochs))

    # (a) generalization gap
    a.plot(e, info.gap, color="tab:purple", marker=mk, ms=3, label="val - train loss")
    a.fill_between(e, 0, info.gap, where=info.gap > 0, color=WARN_COLOR, alpha=0.15)
    a.fill_between(e, 0, info.gap, where=info.gap <= 0, color=BEST_COLOR, alpha=0.15)
    a.axhline(0, color="grey", lw=0.8)
    if info.onset_epoch is not None:
        a.axvline(info.onset_epoch, color=WARN_COLOR, ls="--", label=f"onset ep {info.onset_epoch}")
    if info.best_val_epoch is not None:
        a.axvline(info.best_val_epoch, color=BEST_COLOR, ls=":", label="best val loss")
    a.set_title("generalization gap")
    _style(a, ylabel="gap")
    a.legend(fontsize=8)

    # (b) train/val divergence: both losses relative to their first epoch
    t0 = info.train_loss[0] if len(e) else np.nan
    v0 = info.val_loss[0] if len(e) else np.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        b.plot(e, info.train_loss / t0, color=TRAIN_COLOR, marker=mk, ms=3, label="train / epoch 1")
        b.plot(e, info.val_loss / v0, color=VAL_COLOR, marker=mk, ms=3, label="val / epoch 1")
    for ep in e[info.diverging]:
        b.axvspan(ep - 0.5, ep + 0.5, color=WARN_COLOR, alpha=0.12, lw=0)
    b.set_title("train/val divergence (shaded: train ↓ while val ↑)")
    _style(b, ylabel="loss relative to epoch 1")
    b.legend(fontsize=8)

    # (c) what early stopping counts, against the patience threshold
    c.step(e, info.since_best, where="mid", color="tab:gray", label="epochs since best")
    if info.patience:
        c.axhline(info.patience, color=WARN_COLOR, ls="--", label=f"patience {info.patience}")
    if info.patience_epoch is not None:
        c.axvline(info.patience_epoch, color=WARN_COLOR, ls=":", label="early stop")
    c.set_title(f"epochs without improvement of {info.monitor}")
    _style(c, ylabel="epochs")
    c.legend(fontsize=8)

    # (d) the verdict in words
    d.axis("off")
    growth = info.gap_growth_since_best
    lines = [
        f"onset rule: gap and val loss both rise for {info.run_length} epochs in a row",
        "",
        "overfitting onset: "
        + (f"epoch {info.onset_epoch}" if info.onset_epoch is not None else "not detected"),
        f"best val loss at epoch: {info.best_val_epoch}",
        f"gap at last epoch: {info.gap[-1]:.4g}" if len(e) else "",
        f"gap growth since best: {growth:+.4g}" if np.isfinite(growth) else "",
        f"diverging epochs: {int(info.diverging.sum())} of {len(e)}",
        f"early stopping would fire at epoch: {info.patience_epoch}" if info.patience else "",
    ]
    d.text(0.02, 0.95, "\n".join(lines), va="top", family="monospace", fontsize=10)
    fig.suptitle(f"Overfitting analysis ({note})")
    return fig
