"""ROC and precision-recall curves (`roc_pr_curves.png`): `roc_curve`, `pr_curve`, `auc`,
`average_precision`, per-class and averaged curves (`class_curves`), and their drawing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from raytrain.tasks.base import safe_ratio
from raytrain.viz.evaluation._draw import _fmt
from raytrain.viz.evaluation.inputs import _as_bool

MAX_LEGEND_CLASSES = 10  # beyond this, per-class curves are drawn thin without legend entries


def _cumulative_counts(scores: Any, targets: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(tps, fps, thresholds) for `score >= threshold`, one point per distinct score + (0,0)."""
    s = np.asarray(scores, np.float64).ravel()
    y = _as_bool(targets)
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    if s.size == 0:
        return np.zeros(1), np.zeros(1), np.array([np.inf])
    last = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]  # last row of each run of ties
    tps = np.cumsum(y)[last].astype(np.float64)
    fps = (last + 1) - tps
    return np.r_[0.0, tps], np.r_[0.0, fps], np.r_[np.inf, s[last]]


def roc_curve(scores: Any, targets: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fpr, tpr, thresholds): one point per distinct score, from (0, 0) to (1, 1).

    A row is called positive at threshold t when score >= t; tied scores form one point, so a
    constant scorer gives the diagonal (AUC 0.5), not a staircase that depends on row order.
    With a single class present the undefined rate is NaN, so its AUC is NaN rather than a
    misleading 0 or 1.
    """
    tps, fps, thr = _cumulative_counts(scores, targets)
    p, n = tps[-1], fps[-1]
    tpr = tps / p if p else np.full(tps.shape, np.nan)
    fpr = fps / n if n else np.full(fps.shape, np.nan)
    return fpr, tpr, thr


def pr_curve(scores: Any, targets: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(precision, recall, thresholds) in order of increasing recall, starting at (P=1, R=0).

    The (1, 0) start is the usual convention (no prediction made: nothing wrong yet); recall is
    NaN when there are no positives.
    """
    tps, fps, thr = _cumulative_counts(scores, targets)
    p = tps[-1]
    tps, fps = tps[1:], fps[1:]
    precision = np.r_[1.0, safe_ratio(tps, tps + fps)]
    recall = np.r_[0.0, tps / p] if p else np.full(tps.size + 1, np.nan)
    return precision, recall, np.r_[np.inf, thr[1:]]


def auc(x: Any, y: Any) -> float:
    """Trapezoidal area under y(x); x monotonic (a decreasing x gives the same positive area)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if x.size < 2 or np.isnan(x).any() or np.isnan(y).any():
        return float("nan")
    dx = np.diff(x)
    area = float(np.sum(dx * (y[1:] + y[:-1]) / 2))
    return -area if np.all(dx <= 0) else area


def average_precision(scores: Any, targets: Any) -> float:
    """AP = sum over recall steps of (R_n - R_n-1) * P_n: the PR area without the optimistic
    linear interpolation a trapezoid would add between operating points."""
    precision, recall, _ = pr_curve(scores, targets)
    if np.isnan(recall).any():
        return float("nan")
    return float(np.sum(np.diff(recall) * precision[1:]))


@dataclass
class Curve:
    """One ROC (x=FPR, y=TPR) or PR (x=recall, y=precision) curve and its area."""

    label: str
    x: np.ndarray
    y: np.ndarray
    area: float
    average: bool = False  # micro/macro average rather than one class


@dataclass
class CurvesInfo:
    roc: list[Curve]
    pr: list[Curve]
    #: Positive fraction per PR curve: the precision of a random scorer, drawn as a baseline.
    prevalence: list[float] = field(default_factory=list)


def binary_curves(scores: Any, targets: Any, label: str = "positive") -> CurvesInfo:
    """ROC and PR of one score against binary truth (anomaly: P(tampered) vs tampered)."""
    fpr, tpr, _ = roc_curve(scores, targets)
    precision, recall, _ = pr_curve(scores, targets)
    return CurvesInfo(
        roc=[Curve(label, fpr, tpr, auc(fpr, tpr))],
        pr=[Curve(label, recall, precision, average_precision(scores, targets))],
        prevalence=[float(_as_bool(targets).mean())],
    )


def class_curves(probs: np.ndarray, targets: np.ndarray, names: list[str]) -> CurvesInfo:
    """One-vs-rest ROC and PR per class, then micro and macro averages.

    micro: every (row, class) cell pooled, so frequent classes weigh more. macro: the mean of
    the per-class areas over classes with both positives and negatives (a class absent from
    the split has no curve); its curve is the per-class TPR (ROC) or interpolated precision
    (PR, the max precision at recall >= r) averaged on a common grid.
    """
    probs = np.asarray(probs, np.float64)
    targets = np.asarray(targets).astype(np.int64).ravel()
    k = probs.shape[1]
    onehot = np.eye(k, dtype=np.int64)[targets]
    info = CurvesInfo(roc=[], pr=[], prevalence=[])
    for c in range(k):
        sub = binary_curves(probs[:, c], onehot[:, c], names[c])
        info.roc += sub.roc
        info.pr += sub.pr
        info.prevalence += sub.prevalence
    micro = binary_curves(probs.ravel(), onehot.ravel(), "micro-average")
    micro.roc[0].average = micro.pr[0].average = True

    valid_roc = [c for c in info.roc if not np.isnan(c.area)]
    valid_pr = [c for c in info.pr if not np.isnan(c.area)]
    grid = np.linspace(0.0, 1.0, 201)
    if valid_roc:
        mean_tpr = np.mean([np.interp(grid, c.x, c.y) for c in valid_roc], axis=0)
        macro_roc = Curve(
            "macro-average", grid, mean_tpr, float(np.mean([c.area for c in valid_roc])), True
        )
    else:
        macro_roc = Curve("macro-average", grid, np.full_like(grid, np.nan), float("nan"), True)
    if valid_pr:
        mean_p = np.mean([_interpolated_precision(c.x, c.y, grid) for c in valid_pr], axis=0)
        macro_pr = Curve(
            "macro-average", grid, mean_p, float(np.mean([c.area for c in valid_pr])), True
        )
    else:
        macro_pr = Curve("macro-average", grid, np.full_like(grid, np.nan), float("nan"), True)
    info.roc += [micro.roc[0], macro_roc]
    info.pr += [micro.pr[0], macro_pr]
    info.prevalence += [micro.prevalence[0], float("nan")]
    return info


def _interpolated_precision(recall: np.ndarray, precision: np.ndarray, grid: np.ndarray) -> Any:
    """max precision at recall >= r for each r in grid (PASCAL VOC's interpolation)."""
    running_max = np.maximum.accumulate(precision[::-1])[::-1]
    idx = np.searchsorted(recall, grid, side="left")
    out = np.zeros_like(grid)
    ok = idx < len(recall)
    out[ok] = running_max[idx[ok]]
    return out


def _draw_curves(ax: Axes, info: CurvesInfo, kind: str) -> None:
    curves = info.roc if kind == "roc" else info.pr
    many = sum(not c.average for c in curves) > MAX_LEGEND_CLASSES
    for i, c in enumerate(curves):
        name = "AUC" if kind == "roc" else "AP"
        label = f"{c.label} ({name} = {_fmt(c.area)})"
        if c.average:
            ls = ":" if c.label.startswith("micro") else "--"
            ax.plot(c.x, c.y, ls, lw=2.5, color="black" if ls == ":" else "tab:red", label=label)
        elif many:
            ax.plot(c.x, c.y, lw=0.6, alpha=0.4, color="tab:blue")
        else:
            ax.plot(c.x, c.y, lw=1.5, color=f"C{i % 10}", label=label)
    if kind == "roc":
        ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--", label="chance")
        ax.set_xlabel("False positive rate")
        ax.set_ylabel("True positive rate")
        ax.set_title("ROC curves" if len(curves) > 1 else "ROC curve")
    else:
        if len(curves) == 1 and info.prevalence:
            ax.axhline(info.prevalence[0], color="grey", lw=0.8, ls="--", label="chance")
        ax.set_xlabel("Recall")
        ax.set_ylabel("Precision")
        ax.set_title("Precision-recall curves" if len(curves) > 1 else "Precision-recall curve")
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.05)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right" if kind == "roc" else "lower left")


def _get_roc_pr_plot(info: CurvesInfo) -> Figure:
    fig = Figure(figsize=(13, 5.5), layout="constrained")
    a, b = fig.subplots(1, 2)
    _draw_curves(a, info, "roc")
    _draw_curves(b, info, "pr")
    return fig
