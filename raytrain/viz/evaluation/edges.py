"""Edge detection (`edge_predictions.png`, `edge_pr_thresholds.png`): BSDS-style ODS and OIS
over a threshold sweep, and example predictions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from raytrain.viz.evaluation._draw import _draw_image
from raytrain.viz.evaluation.inputs import EvalArrays
from raytrain.viz.evaluation.thresholds import (
    SWEEP_THRESHOLDS,
    SweepInfo,
    _binary_scores,
    _draw_sweep,
    threshold_sweep,
)

MAX_EDGE_EXAMPLES = 6


@dataclass
class EdgeThresholdInfo:
    """Dataset-level sweep plus BSDS-style ODS and OIS.

    ODS: one fixed threshold for the whole dataset, the one with the best pooled F1.
    OIS: each image at its own best threshold; the mean of those per-image F1s. Pixels are
    matched exactly (no BSDS boundary tolerance), so these are stricter than published scores.
    """

    sweep: SweepInfo
    ods_threshold: float
    ods_f1: float
    ois_f1: float
    per_image_f1: np.ndarray
    per_image_threshold: np.ndarray

    @property
    def thresholds(self) -> np.ndarray:
        return self.sweep.thresholds


def edge_threshold_info(
    probs: Any, targets: Any, thresholds: Any = SWEEP_THRESHOLDS
) -> EdgeThresholdInfo:
    probs = np.asarray(probs, np.float64)
    targets = np.asarray(targets)
    if probs.ndim == 2:
        probs, targets = probs[None], targets[None]
    sweep = threshold_sweep(probs, targets, thresholds)
    per = [threshold_sweep(p, t, thresholds) for p, t in zip(probs, targets, strict=True)]
    best_f1 = np.array([s.best_f1 for s in per])
    return EdgeThresholdInfo(
        sweep=sweep,
        ods_threshold=sweep.best_threshold,
        ods_f1=sweep.best_f1,
        ois_f1=float(best_f1.mean()),
        per_image_f1=best_f1,
        per_image_threshold=np.array([s.best_threshold for s in per]),
    )


def _draw_edge_pr(ax: Axes, info: EdgeThresholdInfo, chosen: float) -> None:
    s = info.sweep
    for f in (0.2, 0.4, 0.6, 0.8):  # iso-F1 contours, as in BSDS plots
        r = np.linspace(f / (2 - f) + 1e-6, 1, 100)
        ax.plot(r, f * r / (2 * r - f), color="lightgrey", lw=0.8)
        ax.annotate(f"F1={f}", (0.9, f * 0.9 / (1.8 - f)), fontsize=6, color="grey")
    ax.plot(s.recall, s.precision, "-", color="tab:blue", lw=2, label="thresholds 0.01..0.99")
    i = info.sweep.best_index
    ax.plot(
        s.recall[i],
        s.precision[i],
        "o",
        ms=9,
        color="tab:red",
        label=f"ODS F1 {info.ods_f1:.3f} @ {info.ods_threshold:.2f}",
    )
    j = int(np.argmin(np.abs(s.thresholds - chosen)))
    ax.plot(s.recall[j], s.precision[j], "s", ms=7, color="black", label=f"chosen {chosen:.2f}")
    ax.plot([], [], " ", label=f"OIS F1 (mean per-image best) {info.ois_f1:.3f}")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("Recall")
    ax.set_ylabel("Precision")
    ax.set_title("Edge precision-recall over thresholds")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower left")


def image_f1(probs: np.ndarray, targets: np.ndarray, indices: Any, threshold: float) -> np.ndarray:
    """F1 of each listed image's pixels at the run's threshold (`p > threshold` is an edge)."""
    return np.array([_binary_scores(probs[i], targets[i], threshold)["f1_score"] for i in indices])


def _get_edge_predictions_plot(
    arrays: EvalArrays, info: EdgeThresholdInfo, indices: np.ndarray, f1: np.ndarray
) -> Figure:
    """One row per shown image; `f1[row]` is `image_f1` of `indices[row]`."""
    assert arrays.probs is not None and arrays.targets is not None
    has_img = arrays.images is not None
    cols = 4 if has_img else 3
    fig = Figure(figsize=(3.2 * cols, 3.2 * len(indices)), layout="constrained")
    axes = fig.subplots(len(indices), cols, squeeze=False)
    t = arrays.threshold
    for row, i in enumerate(indices):
        p, y = arrays.probs[i], arrays.targets[i]
        ax = list(axes[row])
        if has_img:
            assert arrays.images is not None
            if i < len(arrays.images):
                _draw_image(ax.pop(0), arrays.images[i], f"#{i} image")
            else:
                ax.pop(0).axis("off")
        _draw_image(ax[0], y, "ground truth", vmin=0, vmax=1)
        _draw_image(ax[1], p, "edge probability", cmap="magma", vmin=0, vmax=1)
        _draw_image(
            ax[2],
            (p > t).astype(float),
            f"> {t:.2f}: F1 {f1[row]:.3f} (best {info.per_image_f1[i]:.3f}"
            f" @ {info.per_image_threshold[i]:.2f})",
            vmin=0,
            vmax=1,
        )
    fig.suptitle(f"Edge predictions ({len(indices)} of {len(arrays.probs)} images)")
    return fig


def _get_edge_pr_plot(info: EdgeThresholdInfo, chosen: float) -> Figure:
    fig = Figure(figsize=(13, 5.5), layout="constrained")
    a, b = fig.subplots(1, 2)
    _draw_edge_pr(a, info, chosen)
    _draw_sweep(b, info.sweep, chosen, fpr=False)
    b.set_title(f"Dataset-level metrics vs threshold (OIS F1 {info.ois_f1:.3f})")
    return fig
