"""Confusion matrix (`confusion_matrix.png`) and the per-class report built from it
(`classification_report.png`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from raytrain.tasks.base import safe_ratio
from raytrain.tasks.classification import class_scores, confusion_matrix
from raytrain.viz.evaluation._draw import MAX_ANNOTATED_CLASSES, _draw_table

#: k x k counts, row = truth, column = prediction: the task's own function, so the plot and
#: `ClassificationTask`'s logged accuracy and macro F1 come from one matrix definition.
confusion = confusion_matrix


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
    """Precision, recall, F1 and support per class, accuracy, and the macro (over classes
    present in truth or predictions) and support-weighted averages; the per-class numbers,
    accuracy and macro F1 are `ClassificationTask`'s (`class_scores`)."""
    cm = np.asarray(cm, np.float64)
    k = cm.shape[0]
    names = list(class_names) if class_names else [str(i) for i in range(k)]
    s = class_scores(cm)
    precision, recall, f1, present = s["precision"], s["recall"], s["f1"], s["present"]
    actual = cm.sum(axis=1)
    total = cm.sum()
    weights = actual / total if total else np.zeros(k)

    def mean_over_present(v: np.ndarray) -> float:
        return float(v[present].mean()) if present.any() else 0.0

    return ClassReport(
        class_names=names,
        precision=precision,
        recall=recall,
        f1=f1,
        support=actual.astype(np.int64),
        accuracy=s["accuracy"],
        macro={
            "precision": mean_over_present(precision),
            "recall": mean_over_present(recall),
            "f1": s["macro_f1"],
        },
        weighted={
            "precision": float(precision @ weights),
            "recall": float(recall @ weights),
            "f1": float(f1 @ weights),
        },
    )


def _draw_confusion(ax: Axes, cm: np.ndarray, names: list[str], normalized: bool) -> None:
    """Counts, or row-normalized % (recall per class on the diagonal)."""
    cm = np.asarray(cm, np.float64)
    k = len(names)
    rows = cm.sum(axis=1, keepdims=True)
    shown = 100 * safe_ratio(cm, rows) if normalized else cm
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
