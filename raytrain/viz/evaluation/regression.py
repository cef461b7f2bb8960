"""Regression (`parity_plot.png`, `residuals.png`): predictions against truth and residuals."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from raytrain.tasks.regression import regression_metrics


@dataclass
class RegressionInfo:
    preds: np.ndarray
    targets: np.ndarray
    residuals: np.ndarray  # pred - true
    rmse: float
    mae: float
    r2: float
    bias: float  # mean residual: > 0 means the model over-counts
    n: int


def regression_info(preds: Any, targets: Any) -> RegressionInfo:
    """RMSE, MAE and R² by `RegressionTask`'s own `regression_metrics` (R² 0 for a constant
    target rather than a division by zero), plus the residuals and their mean."""
    p = np.asarray(preds, np.float64).ravel()
    y = np.asarray(targets, np.float64).ravel()
    r = p - y
    sst = float(np.sum((y - y.mean()) ** 2)) if y.size else 0.0
    m = regression_metrics(float(np.sum(r * r)), float(np.sum(np.abs(r))), sst, r.size)
    return RegressionInfo(
        preds=p,
        targets=y,
        residuals=r,
        rmse=m["rmse"],
        mae=m["mae"],
        r2=m["r2"],
        bias=float(r.mean()) if r.size else float("nan"),
        n=int(r.size),
    )


def _draw_parity(ax: Axes, info: RegressionInfo) -> None:
    lo = float(min(info.targets.min(), info.preds.min()))
    hi = float(max(info.targets.max(), info.preds.max()))
    ax.scatter(info.targets, info.preds, s=8, alpha=0.5, edgecolors="none", rasterized=True)
    label = f"y = x\nR² = {info.r2:.4f}\nRMSE = {info.rmse:.4g}\nMAE = {info.mae:.4g}\nn = {info.n}"
    ax.plot([lo, hi], [lo, hi], "r--", lw=1.5, label=label)
    ax.set_xlabel("True value")
    ax.set_ylabel("Predicted value")
    ax.set_title("Parity plot")
    ax.set_aspect("equal", adjustable="datalim")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)


def _draw_residual_scatter(ax: Axes, x: np.ndarray, res: np.ndarray, xlabel: str) -> None:
    ax.scatter(x, res, s=8, alpha=0.5, edgecolors="none", rasterized=True)
    ax.axhline(0, color="red", ls="--", lw=1)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("Residual (pred - true)")
    ax.set_title(f"Residual vs {xlabel.lower()}")
    ax.grid(alpha=0.3)


def _draw_residual_hist(ax: Axes, info: RegressionInfo) -> None:
    ax.hist(info.residuals, bins=min(50, max(10, info.n // 10)), color="tab:blue", alpha=0.8)
    ax.axvline(0, color="red", ls="--", lw=1)
    ax.axvline(info.bias, color="black", lw=1, label=f"mean {info.bias:.3g}")
    ax.set_xlabel("Residual (pred - true)")
    ax.set_ylabel("Count")
    ax.set_title(f"Residual distribution (std {np.std(info.residuals):.3g})")
    ax.legend(fontsize=8)


def _get_parity_plot(info: RegressionInfo) -> Figure:
    fig = Figure(figsize=(7, 7), layout="constrained")
    _draw_parity(fig.add_subplot(), info)
    return fig


def _get_residuals_plot(info: RegressionInfo) -> Figure:
    fig = Figure(figsize=(18, 5), layout="constrained")
    a, b, c = fig.subplots(1, 3)
    _draw_residual_scatter(a, info.targets, info.residuals, "True value")
    _draw_residual_hist(b, info)
    _draw_residual_scatter(c, info.preds, info.residuals, "Predicted value")
    return fig
