"""Evaluation plots for one run's validation predictions (seed 002's `visualizations/` files).

Split the Optuna way: every number a plot shows comes from a pure function of numpy arrays
(`roc_curve`, `threshold_sweep`, `edge_threshold_info`, ...) that the tests check against hand
computed answers; `_get_*_plot(info)` only draws what it is given, and `write_evaluation_plots`
picks the files that make sense for the task:

=============== ==========================================================================
task            files
=============== ==========================================================================
classification  class_balance, confusion_matrix, roc_pr_curves, classification_report,
                per_class_analysis, error_analysis, analysis/calibration_analysis
anomaly         the classification files (two classes, the chosen threshold, not argmax)
                + threshold_sweep (with detection rate per tamper kind when kinds are given)
edges           edge_predictions, edge_pr_thresholds, analysis/calibration_analysis (pixels)
regression      parity_plot, residuals
every task      final_dashboard (the task's key panels and a metrics table)
=============== ==========================================================================

Conventions shared with `raytrain.tasks`, so a plot never disagrees with the logged metric:
a binary prediction is positive when its probability is *strictly greater* than the threshold;
precision, recall and F1 are 0 (not NaN) when their denominator is 0; macro averages run over
the classes present in the truth or the predictions. numpy only: sklearn is not a dependency.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from raytrain.viz._common import save_figure

TASKS = ("edges", "regression", "anomaly", "classification")
ECE_BINS = 10
#: Largest / smallest class count at or above which a split is flagged as imbalanced.
IMBALANCE_FLAG = 1.5
#: Fixed thresholds for edge ODS/OIS and the anomaly sweep. Rounded so that 0.3 is the double
#: nearest 0.3 (linspace alone gives 0.30000000000000004), which keeps `p > t` unsurprising.
SWEEP_THRESHOLDS = np.round(np.linspace(0.01, 0.99, 99), 2)
#: Seed 000's acceptance targets (§2.5 regression, §3.4 anomaly), shown in the dashboard table.
SEED_TARGETS: dict[str, dict[str, tuple[str, float]]] = {
    "regression": {"rmse": ("<", 10.0), "mae": ("<", 5.0), "r2": (">", 0.85)},
    "anomaly": {
        "accuracy": (">", 0.95),
        "precision": (">", 0.95),
        "recall": (">", 0.95),
        "f1_score": (">", 0.95),
        "false_positive_rate": ("<", 0.05),
    },
}
TAMPER_KINDS = (
    "normal",
    "amplitude_tamper",
    "phase_tamper",
    "frequency_gap",
    "distribution_violation",
)
MAX_EDGE_EXAMPLES = 6
MAX_HARDEST = 8
MAX_ANNOTATED_CLASSES = 20  # beyond this, confusion cells are unreadable: colour only
MAX_LEGEND_CLASSES = 10  # beyond this, per-class curves are drawn thin without legend entries


# -- inputs --------------------------------------------------------------------------------------


@dataclass
class EvalArrays:
    """One evaluation's predictions and truth; which fields matter depends on `task`.

    edges:          probs (N,H,W) in [0,1], targets (N,H,W) {0,1}, images (N,H,W) for display
    regression:     preds (N,), targets (N,)
    anomaly:        scores (N,) = P(tampered), targets (N,) {0,1}, kinds (N,) optional
    classification: probs (N,K) softmax, targets (N,) ints, images (M<=N, ...) optional

    Images are only displayed, so any range and layout (H,W | H,W,C | C,H,W) is accepted and
    rescaled per image. `threshold` is the decision threshold the run used (binary tasks).
    """

    task: str
    probs: np.ndarray | None = None
    targets: np.ndarray | None = None
    images: np.ndarray | None = None
    preds: np.ndarray | None = None
    scores: np.ndarray | None = None
    kinds: np.ndarray | None = None
    class_names: list[str] | None = None
    threshold: float = 0.5

    def __post_init__(self) -> None:
        """Coerce to numpy and fail here, with the field's name, rather than deep in a plot."""
        if self.task not in TASKS:
            raise ValueError(f"unknown task '{self.task}'; known: {', '.join(TASKS)}")
        need = {
            "edges": ("probs", "targets"),
            "regression": ("preds", "targets"),
            "anomaly": ("scores", "targets"),
            "classification": ("probs", "targets"),
        }[self.task]
        for name in need:
            if getattr(self, name) is None:
                raise ValueError(f"{self.task} evaluation needs `{name}`")
        t = np.asarray(self.targets)
        if self.task == "edges":
            self.probs = np.asarray(self.probs, np.float64)
            self.targets = (t > 0.5).astype(np.int64)
            if self.probs.ndim == 2:  # one image
                self.probs, self.targets = self.probs[None], self.targets[None]
            if self.probs.shape != self.targets.shape or self.probs.ndim != 3:
                raise ValueError(
                    f"edges: probs {self.probs.shape} and targets {self.targets.shape} must be "
                    "the same (N,H,W)"
                )
        elif self.task == "regression":
            self.preds = np.asarray(self.preds, np.float64).ravel()
            self.targets = t.astype(np.float64).ravel()
            _same_length(self.preds, self.targets, "preds")
        elif self.task == "anomaly":
            self.scores = np.asarray(self.scores, np.float64).ravel()
            self.targets = (t.ravel() > 0.5).astype(np.int64)
            _same_length(self.scores, self.targets, "scores")
            if self.kinds is not None:
                self.kinds = np.asarray(self.kinds).astype(str).ravel()
                _same_length(self.kinds, self.targets, "kinds")
        else:
            self.probs = np.asarray(self.probs, np.float64)
            if self.probs.ndim != 2:
                raise ValueError(f"classification: probs must be (N,K), got {self.probs.shape}")
            self.targets = t.astype(np.int64).ravel()
            _same_length(self.probs, self.targets, "probs")
            k = self.probs.shape[1]
            if self.targets.size and (self.targets.min() < 0 or self.targets.max() >= k):
                raise ValueError(f"classification: targets must lie in [0, {k})")
        if self.targets.size == 0:
            raise ValueError(f"{self.task}: nothing to evaluate (no rows)")
        if self.images is not None:
            self.images = np.asarray(self.images)
            n = len(self.targets)
            if len(self.images) > n:
                raise ValueError(f"{self.task}: {len(self.images)} images for {n} rows")
        names = self.class_names
        if names is not None and self.task in ("anomaly", "classification"):
            k = 2 if self.task == "anomaly" else self.probs.shape[1]  # type: ignore[union-attr]
            if len(names) != k:
                raise ValueError(f"{self.task}: {len(names)} class names for {k} classes")

    @property
    def names(self) -> list[str]:
        """Class names for the label tasks, defaulting like `raytrain.evaluation.evaluate` does."""
        if self.class_names:
            return list(self.class_names)
        if self.task == "anomaly":
            return ["normal", "tampered"]
        k = self.probs.shape[1] if self.task == "classification" else 0  # type: ignore[union-attr]
        return [str(i) for i in range(k)]


def _same_length(a: np.ndarray, b: np.ndarray, name: str) -> None:
    if len(a) != len(b):
        raise ValueError(f"`{name}` has {len(a)} rows, `targets` has {len(b)}")


@dataclass
class LabelView:
    """Anomaly and classification seen alike: (N,K) probabilities and the predicted label.

    Anomaly becomes K=2 with probs [1-s, s] and preds `s > threshold` (the run's rule, which is
    not argmax when the threshold is not 0.5).
    """

    probs: np.ndarray
    targets: np.ndarray
    preds: np.ndarray
    names: list[str]
    binary: bool
    images: np.ndarray | None = None

    @property
    def k(self) -> int:
        return self.probs.shape[1]

    @property
    def confidence(self) -> np.ndarray:
        """The probability given to the predicted label."""
        return self.probs[np.arange(len(self.preds)), self.preds]


def label_view(arrays: EvalArrays) -> LabelView:
    if arrays.task == "anomaly":
        s = arrays.scores
        assert s is not None and arrays.targets is not None
        return LabelView(
            np.stack([1.0 - s, s], axis=1),
            arrays.targets,
            (s > arrays.threshold).astype(np.int64),
            arrays.names,
            binary=True,
        )
    if arrays.task == "classification":
        p = arrays.probs
        assert p is not None and arrays.targets is not None
        return LabelView(
            p, arrays.targets, p.argmax(axis=1), arrays.names, binary=False, images=arrays.images
        )
    raise ValueError(f"{arrays.task} has no class labels")


# -- pure information: curves --------------------------------------------------------------------


def _as_bool(targets: Any) -> np.ndarray:
    return np.asarray(targets, np.float64).ravel() > 0.5


def _safe_div(a: Any, b: Any) -> np.ndarray:
    """a / b, 0 where b == 0: the `binary_metrics` convention (an undefined F1 counts as 0)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.divide(a, b, out=np.zeros(np.broadcast(a, b).shape), where=b != 0)


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
    precision = np.r_[1.0, _safe_div(tps, tps + fps)]
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


# -- pure information: thresholds and calibration ------------------------------------------------


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
        return _safe_div(self.tp, self.tp + self.fp + self.fn)


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
    precision, recall = _safe_div(tp, tp + fp), _safe_div(tp, tp + fn)
    return SweepInfo(
        thresholds=t,
        precision=precision,
        recall=recall,
        f1=_safe_div(2 * precision * recall, precision + recall),
        fpr=_safe_div(fp, fp + tn),
        accuracy=_safe_div(tp + tn, tp + fp + fn + tn),
        tp=tp,
        fp=fp,
        fn=fn,
        tn=tn,
    )


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


# -- pure information: labels --------------------------------------------------------------------


def confusion(targets: Any, preds: Any, k: int) -> np.ndarray:
    """k x k counts, row = truth, column = prediction (as `ClassificationTask` keeps them)."""
    t = np.asarray(targets).astype(np.int64).ravel()
    p = np.asarray(preds).astype(np.int64).ravel()
    if t.size != p.size:
        raise ValueError(f"{t.size} targets for {p.size} predictions")
    if t.size and (min(t.min(), p.min()) < 0 or max(t.max(), p.max()) >= k):
        raise ValueError(f"labels must lie in [0, {k})")
    return np.bincount(t * k + p, minlength=k * k).reshape(k, k)


@dataclass
class ClassReport:
    """sklearn's classification_report, as arrays."""

    class_names: list[str]
    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    support: np.ndarray
    accuracy: float
    macro: dict[str, float]  # over classes present in truth or predictions
    weighted: dict[str, float]  # weighted by support


def per_class_report(cm: Any, class_names: list[str] | None = None) -> ClassReport:
    cm = np.asarray(cm, np.float64)
    k = cm.shape[0]
    names = list(class_names) if class_names else [str(i) for i in range(k)]
    tp, predicted, actual = np.diag(cm), cm.sum(axis=0), cm.sum(axis=1)
    precision, recall = _safe_div(tp, predicted), _safe_div(tp, actual)
    f1 = _safe_div(2 * precision * recall, precision + recall)
    present = (predicted + actual) > 0
    total = cm.sum()
    weights = actual / total if total else np.zeros(k)

    def avg(w: np.ndarray | None) -> dict[str, float]:
        if w is None:
            if not present.any():
                return {"precision": 0.0, "recall": 0.0, "f1": 0.0}
            return {
                "precision": float(precision[present].mean()),
                "recall": float(recall[present].mean()),
                "f1": float(f1[present].mean()),
            }
        return {"precision": float(precision @ w), "recall": float(recall @ w), "f1": float(f1 @ w)}

    return ClassReport(
        class_names=names,
        precision=precision,
        recall=recall,
        f1=f1,
        support=actual.astype(np.int64),
        accuracy=float(tp.sum() / total) if total else 0.0,
        macro=avg(None),
        weighted=avg(weights),
    )


@dataclass
class BalanceInfo:
    names: list[str]
    counts: dict[str, np.ndarray]  # split name -> count per class

    def ratio(self, split: str) -> float:
        """Largest / smallest class count; inf when a class is missing from the split."""
        c = self.counts[split]
        return float(c.max() / c.min()) if c.min() > 0 else float("inf")

    def flagged(self, split: str) -> bool:
        return self.ratio(split) >= IMBALANCE_FLAG


def class_balance_info(
    names: list[str], eval_targets: Any, train_targets: Any | None = None
) -> BalanceInfo:
    k = len(names)
    counts: dict[str, np.ndarray] = {}
    if train_targets is not None:
        counts["train"] = np.bincount(np.asarray(train_targets).astype(np.int64).ravel(), None, k)
    counts["eval"] = np.bincount(np.asarray(eval_targets).astype(np.int64).ravel(), None, k)
    return BalanceInfo(names=list(names), counts=counts)


def hardest_examples(probs: Any, targets: Any, n: int = MAX_HARDEST) -> np.ndarray:
    """Row indices of the n lowest probabilities given to the true class, hardest first."""
    p = np.asarray(probs, np.float64)
    t = np.asarray(targets).astype(np.int64).ravel()
    true_p = p[np.arange(len(t)), t]
    return np.argsort(true_p, kind="mergesort")[:n]


@dataclass
class ErrorInfo:
    error_rate: np.ndarray  # per class, NaN without support
    conf_correct: np.ndarray  # probability of the predicted class, right predictions
    conf_wrong: np.ndarray  # ... wrong predictions
    error_matrix: np.ndarray  # confusion with the diagonal zeroed
    top_confusions: list[tuple[int, int, int]]  # (true, predicted, count), most frequent first
    coverage: np.ndarray  # fraction kept when rejecting the least confident rows
    selective_accuracy: np.ndarray  # accuracy on the kept rows


def error_info(
    probs: Any, targets: Any, preds: Any, top: int = 10, confidence: Any | None = None
) -> ErrorInfo:
    """Where the model is wrong and how sure it was; `confidence` defaults to P(predicted)."""
    p = np.asarray(probs, np.float64)
    t = np.asarray(targets).astype(np.int64).ravel()
    y = np.asarray(preds).astype(np.int64).ravel()
    k = p.shape[1]
    cm = confusion(t, y, k)
    support = cm.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        error_rate = np.where(support > 0, 1.0 - np.diag(cm) / support, np.nan)
    errors = cm.copy()
    np.fill_diagonal(errors, 0)
    flat = np.argsort(-errors.ravel(), kind="mergesort")
    pairs = [(int(i // k), int(i % k), int(errors.ravel()[i])) for i in flat[:top]]
    conf = p[np.arange(len(y)), y] if confidence is None else np.asarray(confidence, np.float64)
    right = t == y
    order = np.argsort(-conf, kind="mergesort")
    kept = np.arange(1, len(t) + 1)
    return ErrorInfo(
        error_rate=error_rate,
        conf_correct=conf[right],
        conf_wrong=conf[~right],
        error_matrix=errors,
        top_confusions=[c for c in pairs if c[2] > 0],
        coverage=kept / len(t),
        selective_accuracy=np.cumsum(right[order]) / kept,
    )


def detection_by_kind(scores: Any, kinds: Any, threshold: float) -> list[tuple[str, int, float]]:
    """(kind, rows, fraction flagged as tampered) per kind; for 'normal' that is the FPR.

    Known kinds come in seed 000 §3.2's order, unknown ones after them alphabetically.
    """
    s = np.asarray(scores, np.float64).ravel()
    kd = np.asarray(kinds).astype(str).ravel()
    present = set(kd.tolist())
    order = [k for k in TAMPER_KINDS if k in present] + sorted(present - set(TAMPER_KINDS))
    return [(k, int((kd == k).sum()), float((s[kd == k] > threshold).mean())) for k in order]


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
    """RMSE, MAE and R² as `RegressionTask.compute_metrics` defines them (R² 0 for a constant
    target rather than a division by zero)."""
    p = np.asarray(preds, np.float64).ravel()
    y = np.asarray(targets, np.float64).ravel()
    r = p - y
    sst = float(np.sum((y - y.mean()) ** 2)) if y.size else 0.0
    sse = float(np.sum(r * r))
    return RegressionInfo(
        preds=p,
        targets=y,
        residuals=r,
        rmse=float(np.sqrt(np.mean(r * r))) if r.size else float("nan"),
        mae=float(np.mean(np.abs(r))) if r.size else float("nan"),
        r2=1.0 - sse / sst if sst > 0 else 0.0,
        bias=float(r.mean()) if r.size else float("nan"),
        n=int(r.size),
    )


def _binary_scores(probs: np.ndarray, targets: np.ndarray, threshold: float) -> dict[str, float]:
    s = threshold_sweep(probs, targets, [threshold])
    return {
        "accuracy": float(s.accuracy[0]),
        "precision": float(s.precision[0]),
        "recall": float(s.recall[0]),
        "f1_score": float(s.f1[0]),
        "iou": float(s.iou[0]),
        "false_positive_rate": float(s.fpr[0]),
    }


def summary_metrics(arrays: EvalArrays) -> dict[str, float]:
    """The headline numbers for the dashboard table, named like the run's logged metrics."""
    if arrays.task == "regression":
        r = regression_info(arrays.preds, arrays.targets)
        return {"rmse": r.rmse, "mae": r.mae, "r2": r.r2, "bias": r.bias, "n": float(r.n)}
    if arrays.task == "edges":
        assert arrays.probs is not None and arrays.targets is not None
        b = _binary_scores(arrays.probs, arrays.targets, arrays.threshold)
        e = edge_threshold_info(arrays.probs, arrays.targets)
        cal = calibration_info(arrays.probs, arrays.targets)
        keep = ("f1_score", "precision", "recall", "iou", "accuracy")
        return {
            **{k: b[k] for k in keep},
            "ods_f1": e.ods_f1,
            "ods_threshold": e.ods_threshold,
            "ois_f1": e.ois_f1,
            "pixel_ece": cal.ece,
            "images": float(len(arrays.probs)),
        }
    v = label_view(arrays)
    if arrays.task == "anomaly":
        assert arrays.scores is not None
        b = _binary_scores(arrays.scores, v.targets, arrays.threshold)
        sweep = threshold_sweep(arrays.scores, v.targets)
        cur = binary_curves(arrays.scores, v.targets)
        keep = ("accuracy", "precision", "recall", "f1_score", "false_positive_rate")
        return {
            **{k: b[k] for k in keep},
            "roc_auc": cur.roc[0].area,
            "average_precision": cur.pr[0].area,
            "ece": calibration_info(arrays.scores, v.targets).ece,
            "best_f1": sweep.best_f1,
            "best_f1_threshold": sweep.best_threshold,
            "n": float(len(v.targets)),
        }
    rep = per_class_report(confusion(v.targets, v.preds, v.k), v.names)
    cur = class_curves(v.probs, v.targets, v.names)
    return {
        "accuracy": rep.accuracy,
        "macro_f1": rep.macro["f1"],
        "micro_auc": cur.roc[-2].area,
        "macro_auc": cur.roc[-1].area,
        "ece": calibration_info(v.confidence, v.preds == v.targets).ece,
        "n": float(len(v.targets)),
    }


# -- drawing: panels on a given Axes -------------------------------------------------------------


def _fmt(v: float) -> str:
    if np.isnan(v):
        return "n/a"
    if np.isinf(v):
        return "inf"
    if float(v).is_integer() and abs(v) >= 1:
        return f"{int(v)}"
    return f"{v:.4f}" if abs(v) < 1000 else f"{v:.4g}"


def _draw_confusion(ax: Axes, cm: np.ndarray, names: list[str], normalized: bool) -> None:
    """Counts, or row-normalized % (recall per class on the diagonal)."""
    cm = np.asarray(cm, np.float64)
    k = len(names)
    rows = cm.sum(axis=1, keepdims=True)
    shown = 100 * _safe_div(cm, rows) if normalized else cm
    im = ax.imshow(shown, cmap="Blues", vmin=0, vmax=100 if normalized else max(cm.max(), 1))
    ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    if k <= MAX_ANNOTATED_CLASSES:
        top = shown.max() if shown.size else 0
        for (r, c), v in np.ndenumerate(shown):
            ax.text(
                c,
                r,
                f"{v:.1f}%" if normalized else f"{int(v)}",
                ha="center",
                va="center",
                fontsize=8 if k > 8 else 10,
                color="white" if v > top / 2 else "black",
            )
    if k <= 30:
        ax.set_xticks(range(k), names, rotation=45, ha="right")
        ax.set_yticks(range(k), names)
    ax.set_xlabel("Predicted label")
    ax.set_ylabel("True label")
    ax.set_title("Confusion matrix (row-normalized %)" if normalized else "Confusion matrix")


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


def _draw_table(
    ax: Axes,
    rows: list[list[str]],
    columns: list[str],
    title: str,
    colours: list[list[str]] | None = None,
) -> None:
    ax.axis("off")
    table = ax.table(
        cellText=rows, colLabels=columns, cellColours=colours, loc="center", cellLoc="center"
    )
    table.auto_set_font_size(False)
    table.set_fontsize(9)
    table.scale(1, 1.3)
    for (r, _), cell in table.get_celld().items():
        if r == 0:
            cell.set_text_props(weight="bold")
            cell.set_facecolor("#dddddd")
    ax.set_title(title)


def _metrics_table(ax: Axes, task: str, metrics: dict[str, float]) -> None:
    """Metric | value | seed target, the target cell green when met, red when missed."""
    targets = SEED_TARGETS.get(task, {})
    rows, colours = [], []
    for name, value in metrics.items():
        goal, colour = "", "white"
        if name in targets:
            op, bound = targets[name]
            goal = f"{op} {bound:g}"
            met = value > bound if op == ">" else value < bound
            colour = "#c8e6c9" if met else "#ffcdd2"
        rows.append([name, _fmt(value), goal])
        colours.append(["white", "white", colour])
    _draw_table(ax, rows, ["metric", "value", "seed target"], "Metrics", colours)


def _draw_bars(
    ax: Axes,
    names: list[str],
    values: np.ndarray,
    title: str,
    ylabel: str,
    color: str = "tab:blue",
    percent: bool = False,
) -> None:
    x = np.arange(len(names))
    vals = np.nan_to_num(np.asarray(values, np.float64))
    bars = ax.bar(x, vals, color=color, edgecolor="black")
    if len(names) <= MAX_ANNOTATED_CLASSES:
        labels = [f"{v:.0%}" if percent else _fmt(v) for v in vals]
        ax.bar_label(bars, labels, fontsize=7)
    if len(names) <= 30:
        ax.set_xticks(x, names, rotation=45 if len(names) > 4 else 0, ha="right")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if percent:
        ax.set_ylim(0, 1.1)


def _display(img: np.ndarray) -> np.ndarray:
    """Any image layout and range -> (H,W) or (H,W,3) in [0,1] for imshow."""
    a = np.asarray(img, np.float64).squeeze()
    if a.ndim == 3 and a.shape[0] in (1, 3) and a.shape[-1] not in (1, 3):
        a = np.moveaxis(a, 0, -1)
    if a.ndim == 3 and a.shape[-1] not in (3, 4):
        a = a[..., 0]
    lo, hi = float(np.nanmin(a)), float(np.nanmax(a))
    if lo < 0 or hi > 1:
        a = (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)
    return a


def _draw_image(ax: Axes, img: np.ndarray, title: str, cmap: str = "gray", **kw: Any) -> None:
    a = _display(img) if cmap == "gray" else img
    ax.imshow(a, cmap=cmap if a.ndim == 2 else None, **kw)
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


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


def _draw_score_hist(ax: Axes, scores: np.ndarray, targets: np.ndarray, threshold: float) -> None:
    bins = np.linspace(0, 1, 41)
    ax.hist(scores[targets == 0], bins=bins, alpha=0.6, label="normal", color="tab:green")
    ax.hist(scores[targets == 1], bins=bins, alpha=0.6, label="tampered", color="tab:red")
    ax.axvline(threshold, color="black", ls="--", lw=1, label=f"threshold {threshold:.2f}")
    ax.set_xlabel("P(tampered)")
    ax.set_ylabel("Rows")
    ax.set_title("Score distribution by class")
    ax.legend(fontsize=7)


def _draw_kinds(ax: Axes, kinds: list[tuple[str, int, float]]) -> None:
    names = [f"{k}\n(n={n})" for k, n, _ in kinds]
    rates = np.array([r for _, _, r in kinds])
    colours = ["tab:green" if k == "normal" else "tab:red" for k, _, _ in kinds]
    bars = ax.bar(np.arange(len(kinds)), rates, color=colours, edgecolor="black")
    ax.bar_label(bars, [f"{r:.1%}" for r in rates], fontsize=8)
    ax.set_xticks(np.arange(len(kinds)), names, rotation=30, ha="right", fontsize=8)
    ax.set_ylim(0, 1.1)
    ax.set_ylabel("Flagged as tampered")
    ax.set_title("Detection rate per kind ('normal' = false positives)")


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


# -- drawing: figures ----------------------------------------------------------------------------


def _get_class_balance_plot(info: BalanceInfo) -> Figure:
    splits = list(info.counts)
    k = len(info.names)
    fig = Figure(figsize=(12, 4.5 * len(splits)), layout="constrained")
    axes = fig.subplots(len(splits), 2, squeeze=False)
    for row, split in enumerate(splits):
        counts = info.counts[split]
        ratio, flagged = info.ratio(split), info.flagged(split)
        pie, bar = axes[row]
        nz = counts > 0
        pie.pie(
            counts[nz],
            labels=[n for n, z in zip(info.names, nz, strict=True) if z] if k <= 12 else None,
            autopct="%1.1f%%" if k <= 12 else None,
            startangle=90,
            colors=[f"C{i % 10}" for i in np.flatnonzero(nz)],
        )
        pie.set_title(f"{split}: {int(counts.sum())} rows")
        _draw_bars(bar, info.names, counts, f"{split}: count per class", "Rows")
        if counts.sum():
            bar.axhline(counts.sum() / k, color="grey", ls="--", lw=1, label="balanced")
            bar.legend(fontsize=8)
        verdict = "IMBALANCED" if flagged else "balanced"
        bar.set_title(
            f"{split}: imbalance ratio {ratio:.2f} (max/min) — {verdict}",
            color="tab:red" if flagged else "black",
        )
    fig.suptitle(f"Class balance (flagged at ratio >= {IMBALANCE_FLAG:g})")
    return fig


def _get_confusion_plot(cm: np.ndarray, names: list[str], subtitle: str) -> Figure:
    k = len(names)
    side = max(5.0, 0.45 * k + 2)
    fig = Figure(figsize=(2 * side + 1, side), layout="constrained")
    a, b = fig.subplots(1, 2)
    _draw_confusion(a, cm, names, normalized=False)
    _draw_confusion(b, cm, names, normalized=True)
    fig.suptitle(subtitle)
    return fig


def _get_roc_pr_plot(info: CurvesInfo) -> Figure:
    fig = Figure(figsize=(13, 5.5), layout="constrained")
    a, b = fig.subplots(1, 2)
    _draw_curves(a, info, "roc")
    _draw_curves(b, info, "pr")
    return fig


def _get_classification_report_plot(rep: ClassReport) -> Figure:
    """The report as a table; P/R/F1 cells coloured red -> green so weak classes stand out."""
    from matplotlib import colormaps

    cmap = colormaps["RdYlGn"]
    rows, colours = [], []
    for i, name in enumerate(rep.class_names):
        vals = [rep.precision[i], rep.recall[i], rep.f1[i]]
        rows.append([name, *(f"{v:.3f}" for v in vals), str(int(rep.support[i]))])
        colours.append(["white", *(_hex(cmap(0.15 + 0.7 * v)) for v in vals), "white"])
    total = int(rep.support.sum())
    blank = ["white"] * 5
    rows.append(["accuracy", "", "", f"{rep.accuracy:.3f}", str(total)])
    colours.append(blank)
    for label, avg in (("macro avg", rep.macro), ("weighted avg", rep.weighted)):
        rows.append([label, *(f"{avg[m]:.3f}" for m in ("precision", "recall", "f1")), str(total)])
        colours.append(blank)
    fig = Figure(figsize=(8, 1.2 + 0.32 * (len(rows) + 1)), layout="constrained")
    ax = fig.add_subplot()
    _draw_table(
        ax,
        rows,
        ["class", "precision", "recall", "F1", "support"],
        "Classification report (macro over classes present)",
        colours,
    )
    return fig


def _hex(rgba: tuple[float, ...]) -> str:
    return "#" + "".join(f"{int(255 * c):02x}" for c in rgba[:3])


def _get_per_class_plot(v: LabelView, rep: ClassReport, err: ErrorInfo) -> Figure:
    fig = Figure(figsize=(18, 10), layout="constrained")
    grid = fig.add_gridspec(2, 3)
    _draw_bars(fig.add_subplot(grid[0, 0]), v.names, rep.support, "Class distribution", "Rows")
    _draw_bars(
        fig.add_subplot(grid[0, 1]),
        v.names,
        rep.recall,
        f"Per-class accuracy (recall); overall {rep.accuracy:.1%}",
        "Accuracy",
        color="tab:green",
        percent=True,
    )
    ax = fig.add_subplot(grid[0, 2])
    if err.top_confusions:
        labels = [f"{v.names[t]} → {v.names[p]}" for t, p, _ in err.top_confusions]
        counts = [c for _, _, c in err.top_confusions]
        ax.barh(np.arange(len(counts)), counts, color="tab:orange", edgecolor="black")
        ax.set_yticks(np.arange(len(counts)), labels, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel("Rows")
    else:
        ax.text(0.5, 0.5, "no confusions", ha="center", va="center", transform=ax.transAxes)
    ax.set_title("Most common confusions (true → predicted)")

    hard = hardest_examples(v.probs, v.targets)
    true_p = v.probs[hard, v.targets[hard]]
    with_images = v.images is not None and len(v.images) > 0
    ax = fig.add_subplot(grid[1, 0] if with_images else grid[1, :])
    labels = [f"#{i}: {v.names[v.targets[i]]} → {v.names[v.preds[i]]}" for i in hard]
    ax.barh(np.arange(len(hard)), true_p, color="tab:red", edgecolor="black")
    ax.set_yticks(np.arange(len(hard)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("Probability given to the true class")
    ax.set_title("Hardest examples (lowest true-class probability)")
    if with_images:
        assert v.images is not None
        m = len(v.images)
        hard_img = hardest_examples(v.probs[:m], v.targets[:m], n=6)
        sub = grid[1, 1:].subgridspec(2, 3)
        for j, i in enumerate(hard_img):
            _draw_image(
                fig.add_subplot(sub[j // 3, j % 3]),
                v.images[i],
                f"#{i} true {v.names[v.targets[i]]}, pred {v.names[v.preds[i]]}\n"
                f"p(true) = {v.probs[i, v.targets[i]]:.2f}",
            )
    fig.suptitle("Per-class analysis")
    return fig


def _get_error_plot(v: LabelView, err: ErrorInfo) -> Figure:
    fig = Figure(figsize=(14, 10), layout="constrained")
    (a, b), (c, d) = fig.subplots(2, 2)
    _draw_bars(a, v.names, err.error_rate, "Error rate per class", "Error rate", "tab:red", True)
    bins = np.linspace(0, 1, 21)
    b.hist(err.conf_correct, bins=bins, alpha=0.6, color="tab:green", label="correct")
    b.hist(err.conf_wrong, bins=bins, alpha=0.6, color="tab:red", label="wrong")
    b.set_xlabel("Probability of the predicted class")
    b.set_ylabel("Rows")
    b.set_title(
        f"Confidence: {len(err.conf_correct)} correct, {len(err.conf_wrong)} wrong "
        f"(median {_median(err.conf_correct)} vs {_median(err.conf_wrong)})"
    )
    b.legend(fontsize=8)
    total = max(int(err.error_matrix.sum()), 1)
    share = err.error_matrix / total
    im = c.imshow(share, cmap="Reds", vmin=0)
    fig.colorbar(im, ax=c, fraction=0.046, pad=0.04)
    if v.k <= MAX_ANNOTATED_CLASSES:
        hot = {(t, p) for t, p, _ in err.top_confusions[:3]}
        for (r, col), val in np.ndenumerate(share):
            if val > 0:
                c.text(
                    col,
                    r,
                    f"{val:.0%}",
                    ha="center",
                    va="center",
                    fontsize=8,
                    weight="bold" if (r, col) in hot else "normal",
                )
    if v.k <= 30:
        c.set_xticks(range(v.k), v.names, rotation=45, ha="right")
        c.set_yticks(range(v.k), v.names)
    c.set_xlabel("Predicted label")
    c.set_ylabel("True label")
    c.set_title(f"Misclassification hotspots (share of {int(err.error_matrix.sum())} errors)")
    d.plot(err.coverage, err.selective_accuracy, lw=2)
    d.axhline(err.selective_accuracy[-1], color="grey", ls="--", lw=1, label="all rows")
    d.set_xlabel("Coverage (most confident fraction kept)")
    d.set_ylabel("Accuracy on kept rows")
    d.set_title("Accuracy when rejecting low-confidence predictions")
    d.set_xlim(0, 1)
    d.grid(alpha=0.3)
    d.legend(fontsize=8)
    fig.suptitle("Error analysis")
    return fig


def _median(a: np.ndarray) -> str:
    return f"{np.median(a):.2f}" if len(a) else "n/a"


def _get_calibration_plot(cal: CalibrationInfo, ylabel: str, title: str) -> Figure:
    fig = Figure(figsize=(12, 5), layout="constrained")
    a, b = fig.subplots(1, 2)
    _draw_reliability(a, cal, ylabel, title)
    _draw_confidence_hist(b, cal)
    return fig


def _get_threshold_sweep_plot(
    sweep: SweepInfo,
    chosen: float,
    scores: np.ndarray,
    targets: np.ndarray,
    kinds: list[tuple[str, int, float]] | None,
) -> Figure:
    n = 3 if kinds else 2
    fig = Figure(figsize=(6.5 * n, 5), layout="constrained")
    axes = fig.subplots(1, n)
    _draw_sweep(axes[0], sweep, chosen)
    _draw_score_hist(axes[1], scores, targets, chosen)
    if kinds:
        _draw_kinds(axes[2], kinds)
    return fig


def _get_edge_predictions_plot(
    arrays: EvalArrays, info: EdgeThresholdInfo, indices: np.ndarray
) -> Figure:
    assert arrays.probs is not None and arrays.targets is not None
    has_img = arrays.images is not None
    cols = 4 if has_img else 3
    fig = Figure(figsize=(3.2 * cols, 3.2 * len(indices)), layout="constrained")
    axes = fig.subplots(len(indices), cols, squeeze=False)
    t = arrays.threshold
    for row, i in enumerate(indices):
        p, y = arrays.probs[i], arrays.targets[i]
        f1 = _binary_scores(p, y, t)["f1_score"]
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
            f"> {t:.2f}: F1 {f1:.3f} (best {info.per_image_f1[i]:.3f}"
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


def _get_dashboard_plot(arrays: EvalArrays, metrics: dict[str, float]) -> Figure:
    """Seed 002's final dashboard: the task's most telling panels and the metrics table."""
    task = arrays.task
    if task == "regression":
        info = regression_info(arrays.preds, arrays.targets)
        fig = Figure(figsize=(14, 12), layout="constrained")
        (a, b), (c, d) = fig.subplots(2, 2)
        _draw_parity(a, info)
        _draw_residual_hist(b, info)
        _draw_residual_scatter(c, info.targets, info.residuals, "True value")
        _metrics_table(d, task, metrics)
    elif task == "edges":
        assert arrays.probs is not None and arrays.targets is not None
        e = edge_threshold_info(arrays.probs, arrays.targets)
        fig = Figure(figsize=(20, 10), layout="constrained")
        axes = fig.subplots(2, 4)
        i = int(np.argsort(e.per_image_f1)[len(e.per_image_f1) // 2])  # a typical image
        if arrays.images is not None and i < len(arrays.images):
            _draw_image(axes[0, 0], arrays.images[i], f"#{i} image (median OIS F1)")
        else:
            axes[0, 0].axis("off")
        _draw_image(axes[0, 1], arrays.targets[i], "ground truth", vmin=0, vmax=1)
        _draw_image(axes[0, 2], arrays.probs[i], "edge probability", "magma", vmin=0, vmax=1)
        _draw_image(
            axes[0, 3],
            (arrays.probs[i] > arrays.threshold).astype(float),
            f"prediction (> {arrays.threshold:.2f})",
            vmin=0,
            vmax=1,
        )
        _draw_edge_pr(axes[1, 0], e, arrays.threshold)
        _draw_sweep(axes[1, 1], e.sweep, arrays.threshold, fpr=False)
        cal = calibration_info(arrays.probs, arrays.targets)
        _draw_reliability(axes[1, 2], cal, "Fraction of edge pixels", "Pixel calibration")
        _metrics_table(axes[1, 3], task, metrics)
    else:
        v = label_view(arrays)
        cm = confusion(v.targets, v.preds, v.k)
        fig = Figure(figsize=(20, 12), layout="constrained")
        axes = fig.subplots(2, 3)
        _draw_confusion(axes[0, 0], cm, v.names, normalized=True)
        if task == "anomaly":
            assert arrays.scores is not None
            curves = binary_curves(arrays.scores, v.targets, "tampered")
            _draw_curves(axes[0, 1], curves, "roc")
            _draw_sweep(axes[0, 2], threshold_sweep(arrays.scores, v.targets), arrays.threshold)
            cal = calibration_info(arrays.scores, v.targets)
            _draw_reliability(axes[1, 0], cal, "Fraction tampered", "Calibration of P(tampered)")
            if arrays.kinds is not None:
                kinds = detection_by_kind(arrays.scores, arrays.kinds, arrays.threshold)
                _draw_kinds(axes[1, 1], kinds)
            else:
                _draw_score_hist(axes[1, 1], arrays.scores, v.targets, arrays.threshold)
        else:
            curves = class_curves(v.probs, v.targets, v.names)
            _draw_curves(axes[0, 1], curves, "roc")
            _draw_curves(axes[0, 2], curves, "pr")
            cal = calibration_info(v.confidence, v.preds == v.targets)
            _draw_reliability(axes[1, 0], cal, "Accuracy", "Calibration (max-prob confidence)")
            rep = per_class_report(cm, v.names)
            _draw_bars(axes[1, 1], v.names, rep.f1, "F1 per class", "F1", "tab:purple", True)
        _metrics_table(axes[1, 2], task, metrics)
    fig.suptitle(f"Final dashboard: {task}", fontsize=16)
    return fig


# -- entry point ---------------------------------------------------------------------------------


def expected_plot_files(task: str, vis_dir: Path, analysis_dir: Path) -> list[Path]:
    """The files `write_evaluation_plots` writes for `task`, in the order it writes them."""
    vis_dir, analysis_dir = Path(vis_dir), Path(analysis_dir)
    labels = [
        "class_balance.png",
        "confusion_matrix.png",
        "roc_pr_curves.png",
        "classification_report.png",
        "per_class_analysis.png",
        "error_analysis.png",
    ]
    names = {
        "classification": labels,
        "anomaly": [*labels, "threshold_sweep.png"],
        "edges": ["edge_predictions.png", "edge_pr_thresholds.png"],
        "regression": ["parity_plot.png", "residuals.png"],
    }[task]
    out = [vis_dir / n for n in names]
    if task != "regression":
        out.append(analysis_dir / "calibration_analysis.png")
    return [*out, vis_dir / "final_dashboard.png"]


def write_evaluation_plots(
    arrays: EvalArrays,
    vis_dir: Path,
    analysis_dir: Path,
    *,
    train_targets: np.ndarray | None = None,
) -> list[Path]:
    """Draw seed 002's evaluation files for `arrays.task`; returns the paths written.

    `train_targets` (training-split labels) adds the train distribution to class_balance.png;
    without it only the evaluated split is shown.
    """
    vis_dir, analysis_dir = Path(vis_dir), Path(analysis_dir)
    files = iter(expected_plot_files(arrays.task, vis_dir, analysis_dir))
    written: list[Path] = []

    def save(fig: Figure) -> None:
        written.append(save_figure(fig, next(files)))

    task = arrays.task
    if task in ("classification", "anomaly"):
        v = label_view(arrays)
        cm = confusion(v.targets, v.preds, v.k)
        rep = per_class_report(cm, v.names)
        rule = f"tampered when P > {arrays.threshold:.2f}" if v.binary else "prediction = argmax"
        if v.binary:
            assert arrays.scores is not None
            curves = binary_curves(arrays.scores, v.targets, v.names[1])
            cal = calibration_info(arrays.scores, v.targets)
            cal_args = (f"Fraction {v.names[1]}", f"Calibration of P({v.names[1]})")
        else:
            curves = class_curves(v.probs, v.targets, v.names)
            cal = calibration_info(v.confidence, v.preds == v.targets)
            cal_args = ("Accuracy", "Calibration (max-prob confidence)")
        save(_get_class_balance_plot(class_balance_info(v.names, v.targets, train_targets)))
        save(_get_confusion_plot(cm, v.names, f"{len(v.targets)} rows; {rule}"))
        save(_get_roc_pr_plot(curves))
        save(_get_classification_report_plot(rep))
        err = error_info(v.probs, v.targets, v.preds)
        save(_get_per_class_plot(v, rep, err))
        save(_get_error_plot(v, err))
        if task == "anomaly":
            assert arrays.scores is not None
            kinds = (
                detection_by_kind(arrays.scores, arrays.kinds, arrays.threshold)
                if arrays.kinds is not None
                else None
            )
            sweep = threshold_sweep(arrays.scores, v.targets)
            save(
                _get_threshold_sweep_plot(sweep, arrays.threshold, arrays.scores, v.targets, kinds)
            )
        save(_get_calibration_plot(cal, *cal_args))
    elif task == "edges":
        assert arrays.probs is not None and arrays.targets is not None
        info = edge_threshold_info(arrays.probs, arrays.targets)
        shown = np.arange(min(MAX_EDGE_EXAMPLES, len(arrays.probs)))
        save(_get_edge_predictions_plot(arrays, info, shown))
        save(_get_edge_pr_plot(info, arrays.threshold))
        cal = calibration_info(arrays.probs, arrays.targets)
        save(_get_calibration_plot(cal, "Fraction of edge pixels", "Pixel-level calibration"))
    else:
        info_r = regression_info(arrays.preds, arrays.targets)
        save(_get_parity_plot(info_r))
        save(_get_residuals_plot(info_r))
    save(_get_dashboard_plot(arrays, summary_metrics(arrays)))
    return written
