"""Where a label model is wrong (`per_class_analysis.png`, `error_analysis.png`): error rate
per class, top confusions, hardest examples, confidence of right and wrong predictions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from raytrain.viz.evaluation._draw import MAX_ANNOTATED_CLASSES, _draw_bars, _draw_image
from raytrain.viz.evaluation.confusion import ClassReport, confusion
from raytrain.viz.evaluation.inputs import LabelView

MAX_HARDEST = 8


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


@dataclass
class HardestInfo:
    """The rows the per-class figure lists: the lowest true-class probabilities, hardest first,
    and among the rows that have an image, the hardest six (empty without images)."""

    rows: np.ndarray
    true_prob: np.ndarray
    with_image: np.ndarray


def hardest_info(v: LabelView) -> HardestInfo:
    rows = hardest_examples(v.probs, v.targets)
    m = len(v.images) if v.images is not None else 0
    with_image = hardest_examples(v.probs[:m], v.targets[:m], n=6) if m else np.array([], int)
    return HardestInfo(rows, v.probs[rows, v.targets[rows]], with_image)


def _get_per_class_plot(
    v: LabelView, rep: ClassReport, err: ErrorInfo, hardest: HardestInfo
) -> Figure:
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

    hard, true_p = hardest.rows, hardest.true_prob
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
        sub = grid[1, 1:].subgridspec(2, 3)
        for j, i in enumerate(hardest.with_image):
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
