"""Confusion matrix (`confusion_matrix.png`) and the per-class report built from it
(`classification_report.png`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from raytrain.viz.evaluation._draw import MAX_ANNOTATED_CLASSES, _draw_table
from raytrain.viz.evaluation.inputs import _safe_div


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


def _get_confusion_plot(cm: np.ndarray, names: list[str], subtitle: str) -> Figure:
    k = len(names)
    side = max(5.0, 0.45 * k + 2)
    fig = Figure(figsize=(2 * side + 1, side), layout="constrained")
    a, b = fig.subplots(1, 2)
    _draw_confusion(a, cm, names, normalized=False)
    _draw_confusion(b, cm, names, normalized=True)
    fig.suptitle(subtitle)
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
