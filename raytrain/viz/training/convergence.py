"""Convergence analysis (`convergence_analysis.png`): when the loss stopped improving."""

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
from raytrain.viz.training.log import _column

CONVERGENCE_ANALYSIS = "convergence_analysis.png"


@dataclass
class ConvergenceInfo:
    """How the validation loss settles.

    `rel_improvement[t] = (val[t-1] - val[t]) / |val[t-1]|` (NaN for the first epoch).
    `stability`: rolling standard deviation of val loss over `std_window` epochs.
    `gap`: `val_loss - train_loss`.
    `rate`: slope of a least-squares line through `log(val_loss)` over the last `fit_epochs`
    epochs, i.e. the loss changes by a factor `exp(rate)` per epoch (negative = still falling);
    NaN with fewer than 2 epochs or a non-positive loss.
    `converged_epoch`: the first epoch `e` after which each of the next `window` epochs lowers the
    best-so-far val loss by less than `tol` (relative); None if that has not happened yet.
    """

    epochs: np.ndarray
    train_loss: np.ndarray
    val_loss: np.ndarray
    rel_improvement: np.ndarray
    stability: np.ndarray
    gap: np.ndarray
    rate: float
    fit_epochs: tuple[int, int] | None
    fit_intercept: float
    converged_epoch: int | None
    tol: float
    window: int
    std_window: int

    @property
    def rate_percent(self) -> float:
        """`rate` as percent change of the loss per epoch (-3.0 means 3 % lower each epoch)."""
        return float(np.expm1(self.rate) * 100.0)


def convergence_info(
    df: pd.DataFrame,
    *,
    tol: float = 0.01,
    window: int = 3,
    fit_epochs: int = 5,
    std_window: int = 3,
) -> ConvergenceInfo:
    """Convergence numbers of a log (see `ConvergenceInfo` for each definition).

    Convergence is judged on the best-so-far validation loss rather than the raw one so that a
    noisy epoch neither declares convergence early nor undoes it; the raw per-epoch improvement
    is kept for the plot, where noise is worth seeing.
    """
    epochs = df["epoch"].to_numpy(dtype=int)
    train, val = _column(df, "train_loss"), _column(df, "val_loss")
    n = len(epochs)
    prev = np.r_[np.nan, val[:-1]] if n else val
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = (prev - val) / np.abs(prev)
    stability = pd.Series(val).rolling(std_window, min_periods=2).std(ddof=0).to_numpy(dtype=float)

    # rate: log-linear fit over the last `fit_epochs` finite, positive losses
    rate, intercept, fit_span = np.nan, np.nan, None
    ok = np.isfinite(val) & (val > 0)
    idx = np.flatnonzero(ok)[-fit_epochs:]
    if len(idx) >= 2:
        rate, intercept = (float(v) for v in np.polyfit(epochs[idx], np.log(val[idx]), 1))
        fit_span = (int(epochs[idx[0]]), int(epochs[idx[-1]]))

    # converged: every one of the next `window` epochs improves the best-so-far by < tol
    converged = None
    best = np.fmin.accumulate(np.where(np.isfinite(val), val, np.inf)) if n else val
    with np.errstate(divide="ignore", invalid="ignore"):
        best_gain = np.r_[np.nan, (best[:-1] - best[1:]) / np.abs(best[:-1])] if n else best
    small = np.nan_to_num(best_gain, nan=np.inf) < tol
    for i in range(n - window):
        if np.isfinite(best[i]) and small[i + 1 : i + 1 + window].all():
            converged = int(epochs[i])
            break

    return ConvergenceInfo(
        epochs=epochs,
        train_loss=train,
        val_loss=val,
        rel_improvement=rel,
        stability=stability,
        gap=val - train,
        rate=rate,
        fit_epochs=fit_span,
        fit_intercept=intercept,
        converged_epoch=converged,
        tol=tol,
        window=window,
        std_window=std_window,
    )


def _get_convergence_plot(info: ConvergenceInfo, note: str) -> Figure:
    fig = Figure(figsize=(12, 8.5), layout="constrained")
    (a, b), (c, d) = fig.subplots(2, 2)
    e, mk = info.epochs, _marker(len(info.epochs))

    # (a) loss on a log axis, with the fitted convergence rate
    a.plot(e, info.train_loss, color=TRAIN_COLOR, marker=mk, ms=3, label="train loss")
    a.plot(e, info.val_loss, color=VAL_COLOR, marker=mk, ms=3, label="val loss")
    if info.fit_epochs is not None:
        fx = np.arange(info.fit_epochs[0], info.fit_epochs[1] + 1)
        a.plot(
            fx,
            np.exp(info.fit_intercept + info.rate * fx),
            color="black",
            ls="--",
            lw=1.5,
            label=f"fit: {info.rate_percent:+.2f} %/epoch",
        )
    if info.converged_epoch is not None:
        a.axvline(info.converged_epoch, color=BEST_COLOR, ls="--", label="converged")
    if np.nanmin(np.r_[info.train_loss, info.val_loss, 1.0]) > 0:
        a.set_yscale("log")
    a.set_title("loss convergence")
    _style(a, ylabel="loss")
    a.legend(fontsize=8)

    # (b) relative improvement per epoch, against the tolerance
    rel = info.rel_improvement * 100
    colors = [BEST_COLOR if r >= 0 else WARN_COLOR for r in np.nan_to_num(rel)]
    b.bar(e, np.nan_to_num(rel), color=colors, alpha=0.8)
    b.axhline(info.tol * 100, color="black", ls=":", lw=1, label=f"tol {info.tol * 100:g} %")
    b.axhline(0, color="grey", lw=0.8)
    b.set_title("relative val-loss improvement per epoch")
    _style(b, ylabel="% improvement")
    b.legend(fontsize=8)

    # (c) stability: rolling std of the val loss
    c.plot(e, info.stability, color="tab:brown", marker=mk, ms=3)
    c.set_title(f"stability: rolling std of val loss ({info.std_window} epochs)")
    _style(c, ylabel="std")

    # (d) validation gap
    d.plot(e, info.gap, color="tab:purple", marker=mk, ms=3, label="val - train loss")
    d.axhline(0, color="grey", lw=0.8)
    d.set_title("validation gap")
    _style(d, ylabel="gap")
    d.legend(fontsize=8)

    verdict = (
        f"converged at epoch {info.converged_epoch}"
        if info.converged_epoch is not None
        else "not converged yet"
    )
    fig.suptitle(
        f"Convergence analysis ({note}) — {verdict} (best val loss improves < "
        f"{info.tol * 100:g} % for {info.window} epochs)"
    )
    return fig
