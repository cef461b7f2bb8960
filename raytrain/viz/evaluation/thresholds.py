"""Binary metrics swept over decision thresholds (positive = score > threshold), shared by
the anomaly threshold sweep and the edge precision-recall plot.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib.axes import Axes

from raytrain.tasks.base import binary_metrics, binary_rates
from raytrain.viz.evaluation.inputs import _as_bool

#: Fixed thresholds for edge ODS/OIS and the anomaly sweep. Rounded so that 0.3 is the double
#: nearest 0.3 (linspace alone gives 0.30000000000000004), which keeps `p > t` unsurprising.
SWEEP_THRESHOLDS = np.round(np.linspace(0.01, 0.99, 99), 2)


@dataclass
class SweepInfo:
    """Binary metrics at each threshold (positive = score > threshold)."""

    thresholds: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    fpr: np.ndarray
    accuracy: np.ndarray
    tp: np.ndarray
    fp: np.ndarray
    fn: np.ndarray
    tn: np.ndarray

    @property
    def best_index(self) -> int:
        """The best-F1 threshold; ties go to the lowest threshold (the first one swept)."""
        return int(np.argmax(self.f1))

    @property
    def best_threshold(self) -> float:
        return float(self.thresholds[self.best_index])

    @property
    def best_f1(self) -> float:
        return float(self.f1[self.best_index])

    @property
    def iou(self) -> np.ndarray:
        return binary_rates(self.tp, self.fp, self.fn, self.tn)["iou"]


def threshold_sweep(scores: Any, targets: Any, thresholds: Any = SWEEP_THRESHOLDS) -> SweepInfo:
    """Precision, recall, F1, FPR and accuracy of `score > t` for every t, in one sort.

    Counting through searchsorted on the sorted positive and negative scores costs
    O((n + T) log n) instead of O(n T), which matters for millions of edge pixels.
    """
    s = np.asarray(scores, np.float64).ravel()
    y = _as_bool(targets)
    t = np.asarray(thresholds, np.float64).ravel()
    pos, neg = np.sort(s[y]), np.sort(s[~y])
    tp = (pos.size - np.searchsorted(pos, t, side="right")).astype(np.float64)
    fp = (neg.size - np.searchsorted(neg, t, side="right")).astype(np.float64)
    fn, tn = pos.size - tp, neg.size - fp
    rates = binary_rates(tp, fp, fn, tn)  # the tasks' own definitions, elementwise
    return SweepInfo(
        thresholds=t,
        precision=rates["precision"],
        recall=rates["recall"],
        f1=rates["f1_score"],
        fpr=rates["false_positive_rate"],
        accuracy=rates["accuracy"],
        tp=tp,
        fp=fp,
        fn=fn,
        tn=tn,
    )


def _binary_scores(probs: np.ndarray, targets: np.ndarray, threshold: float) -> dict[str, float]:
    """The run's metrics at its threshold, as the edges and anomaly tasks compute them."""
    s = threshold_sweep(probs, targets, [threshold])
    return binary_metrics(float(s.tp[0]), float(s.fp[0]), float(s.fn[0]), float(s.tn[0]))


def _draw_sweep(ax: Axes, sweep: SweepInfo, chosen: float, fpr: bool = True) -> None:
    t = sweep.thresholds
    ax.plot(t, sweep.precision, label="precision")
    ax.plot(t, sweep.recall, label="recall")
    ax.plot(t, sweep.f1, lw=2.5, label="F1")
    if fpr:
        ax.plot(t, sweep.fpr, label="false positive rate")
    ax.axvline(chosen, color="black", ls="--", lw=1, label=f"chosen {chosen:.2f}")
    ax.axvline(
        sweep.best_threshold,
        color="tab:red",
        ls=":",
        lw=1.5,
        label=f"best F1 {sweep.best_f1:.3f} @ {sweep.best_threshold:.2f}",
    )
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.02, 1.05)
    ax.set_xlabel("Threshold")
    ax.set_ylabel("Score")
    ax.set_title("Metrics vs threshold")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
