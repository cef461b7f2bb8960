"""Calibration (`analysis/calibration_analysis.png`): reliability diagram, ECE and MCE."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from raytrain.viz.evaluation._draw import _fmt

ECE_BINS = 10


@dataclass
class CalibrationInfo:
    """Reliability diagram data: per confidence bin, mean confidence vs observed frequency."""

    bin_edges: np.ndarray
    confidence: np.ndarray  # mean confidence per bin (NaN when empty)
    accuracy: np.ndarray  # fraction correct (or positive) per bin (NaN when empty)
    counts: np.ndarray
    ece: float  # sum over bins of (count / n) * |accuracy - confidence|
    mce: float  # the largest gap over non-empty bins


def calibration_info(conf: Any, correct: Any, bins: int = ECE_BINS) -> CalibrationInfo:
    """Equal-width bins [0, 0.1), ..., [0.9, 1.0] (1.0 goes in the last bin).

    `correct` is 1 when the prediction was right (multiclass, with max-prob confidence) or, for
    a binary probability, when the row is positive: then the diagram asks "of the pixels given
    p = 0.7, are 70% edges?".
    """
    c = np.asarray(conf, np.float64).ravel()
    ok = np.asarray(correct, np.float64).ravel()
    if c.size != ok.size:
        raise ValueError(f"{c.size} confidences for {ok.size} outcomes")
    idx = np.clip((c * bins).astype(np.int64), 0, bins - 1)
    counts = np.bincount(idx, minlength=bins)
    nonempty = counts > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        confidence = np.bincount(idx, weights=c, minlength=bins) / counts
        accuracy = np.bincount(idx, weights=ok, minlength=bins) / counts
    gap = np.abs(accuracy - confidence)
    n = max(int(counts.sum()), 1)
    return CalibrationInfo(
        bin_edges=np.linspace(0.0, 1.0, bins + 1),
        confidence=np.where(nonempty, confidence, np.nan),
        accuracy=np.where(nonempty, accuracy, np.nan),
        counts=counts,
        ece=float(np.sum(counts[nonempty] / n * gap[nonempty])),
        mce=float(gap[nonempty].max()) if nonempty.any() else float("nan"),
    )


def expected_calibration_error(conf: Any, correct: Any, bins: int = ECE_BINS) -> float:
    """ECE: the count-weighted mean |accuracy - confidence| over equal-width bins."""
    return calibration_info(conf, correct, bins).ece


def _draw_reliability(ax: Axes, cal: CalibrationInfo, ylabel: str, title: str) -> None:
    lo, width = cal.bin_edges[:-1], np.diff(cal.bin_edges)
    acc = np.nan_to_num(cal.accuracy)
    mid = lo + width / 2
    conf = np.where(np.isnan(cal.confidence), mid, cal.confidence)
    ax.bar(lo, acc, width=width, align="edge", edgecolor="black", alpha=0.8, label="observed")
    gap_lo, gap_hi = np.minimum(acc, conf), np.maximum(acc, conf)
    nonempty = cal.counts > 0
    ax.bar(
        lo[nonempty],
        (gap_hi - gap_lo)[nonempty],
        bottom=gap_lo[nonempty],
        width=width[nonempty],
        align="edge",
        color="tab:red",
        alpha=0.3,
        hatch="//",
        label="gap",
    )
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="perfectly calibrated")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("Confidence")
    ax.set_ylabel(ylabel)
    ax.set_title(f"{title}\nECE = {_fmt(cal.ece)}, MCE = {_fmt(cal.mce)}")
    ax.legend(fontsize=7, loc="upper left")


def _draw_confidence_hist(ax: Axes, cal: CalibrationInfo) -> None:
    lo, width = cal.bin_edges[:-1], np.diff(cal.bin_edges)
    ax.bar(lo, cal.counts, width=width, align="edge", edgecolor="black", color="tab:gray")
    if cal.counts.max() > 0 and cal.counts.max() > 100 * max(cal.counts[cal.counts > 0].min(), 1):
        ax.set_yscale("log")  # edge maps: background pixels dwarf everything else
    ax.set_xlabel("Confidence")
    ax.set_ylabel("Count")
    ax.set_title("Confidence histogram")


def _get_calibration_plot(cal: CalibrationInfo, ylabel: str, title: str) -> Figure:
    fig = Figure(figsize=(12, 5), layout="constrained")
    a, b = fig.subplots(1, 2)
    _draw_reliability(a, cal, ylabel, title)
    _draw_confidence_hist(b, cal)
    return fig
