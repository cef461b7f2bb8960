"""The final dashboard (`final_dashboard.png`): the task's most telling panels and a table
of its headline metrics against the acceptance targets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from raytrain.viz.evaluation._draw import _draw_bars, _draw_image, _draw_table, _fmt
from raytrain.viz.evaluation.anomaly import _draw_kinds, _draw_score_hist, detection_by_kind
from raytrain.viz.evaluation.calibration import (
    CalibrationInfo,
    _draw_reliability,
    calibration_info,
)
from raytrain.viz.evaluation.confusion import (
    ClassReport,
    _draw_confusion,
    confusion,
    per_class_report,
)
from raytrain.viz.evaluation.curves import CurvesInfo, _draw_curves, binary_curves, class_curves
from raytrain.viz.evaluation.edges import EdgeThresholdInfo, _draw_edge_pr, edge_threshold_info
from raytrain.viz.evaluation.inputs import EvalArrays, LabelView, label_view
from raytrain.viz.evaluation.regression import (
    RegressionInfo,
    _draw_parity,
    _draw_residual_hist,
    _draw_residual_scatter,
    regression_info,
)
from raytrain.viz.evaluation.thresholds import (
    SweepInfo,
    _binary_scores,
    _draw_sweep,
    threshold_sweep,
)

#: The acceptance targets of the regression and anomaly tasks, shown in the dashboard table.
ACCEPTANCE_TARGETS: dict[str, dict[str, tuple[str, float]]] = {
    "regression": {"rmse": ("<", 10.0), "mae": ("<", 5.0), "r2": (">", 0.85)},
    "anomaly": {
        "accuracy": (">", 0.95),
        "precision": (">", 0.95),
        "recall": (">", 0.95),
        "f1_score": (">", 0.95),
        "false_positive_rate": ("<", 0.05),
    },
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


def _metrics_table(ax: Axes, task: str, metrics: dict[str, float]) -> None:
    """Metric | value | target, the target cell green when met, red when missed."""
    targets = ACCEPTANCE_TARGETS.get(task, {})
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
    _draw_table(ax, rows, ["metric", "value", "target"], "Metrics", colours)


@dataclass
class DashboardInfo:
    """Everything the final dashboard shows besides the raw images and score histograms: the
    headline metrics and the task's panel data (fields the task has no panel for stay None)."""

    task: str
    metrics: dict[str, float]
    regression: RegressionInfo | None = None
    edges: EdgeThresholdInfo | None = None
    typical_image: int | None = None  # edges: the image with the median per-image best F1
    calibration: CalibrationInfo | None = None
    view: LabelView | None = None
    confusion: np.ndarray | None = None
    curves: CurvesInfo | None = None
    sweep: SweepInfo | None = None
    kinds: list[tuple[str, int, float]] | None = None
    report: ClassReport | None = None


def dashboard_info(arrays: EvalArrays) -> DashboardInfo:
    """The numbers of `final_dashboard.png` for `arrays.task`."""
    task = arrays.task
    info = DashboardInfo(task, summary_metrics(arrays))
    if task == "regression":
        info.regression = regression_info(arrays.preds, arrays.targets)
    elif task == "edges":
        assert arrays.probs is not None and arrays.targets is not None
        info.edges = e = edge_threshold_info(arrays.probs, arrays.targets)
        info.typical_image = int(np.argsort(e.per_image_f1)[len(e.per_image_f1) // 2])
        info.calibration = calibration_info(arrays.probs, arrays.targets)
    else:
        info.view = v = label_view(arrays)
        info.confusion = confusion(v.targets, v.preds, v.k)
        if task == "anomaly":
            assert arrays.scores is not None
            info.curves = binary_curves(arrays.scores, v.targets, "tampered")
            info.sweep = threshold_sweep(arrays.scores, v.targets)
            info.calibration = calibration_info(arrays.scores, v.targets)
            if arrays.kinds is not None:
                info.kinds = detection_by_kind(arrays.scores, arrays.kinds, arrays.threshold)
        else:
            info.curves = class_curves(v.probs, v.targets, v.names)
            info.calibration = calibration_info(v.confidence, v.preds == v.targets)
            info.report = per_class_report(info.confusion, v.names)
    return info


def _get_dashboard_plot(arrays: EvalArrays, info: DashboardInfo) -> Figure:
    """The final dashboard: the task's most telling panels and the metrics table. `arrays`
    only supplies the images and scores drawn as they are."""
    task, metrics = info.task, info.metrics
    if task == "regression":
        r = info.regression
        assert r is not None
        fig = Figure(figsize=(14, 12), layout="constrained")
        (a, b), (c, d) = fig.subplots(2, 2)
        _draw_parity(a, r)
        _draw_residual_hist(b, r)
        _draw_residual_scatter(c, r.targets, r.residuals, "True value")
        _metrics_table(d, task, metrics)
    elif task == "edges":
        assert arrays.probs is not None and arrays.targets is not None
        e, i, cal = info.edges, info.typical_image, info.calibration
        assert e is not None and i is not None and cal is not None
        fig = Figure(figsize=(20, 10), layout="constrained")
        axes = fig.subplots(2, 4)
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
        _draw_reliability(axes[1, 2], cal, "Fraction of edge pixels", "Pixel calibration")
        _metrics_table(axes[1, 3], task, metrics)
    else:
        v, cm, curves, cal = info.view, info.confusion, info.curves, info.calibration
        assert v is not None and cm is not None and curves is not None and cal is not None
        fig = Figure(figsize=(20, 12), layout="constrained")
        axes = fig.subplots(2, 3)
        _draw_confusion(axes[0, 0], cm, v.names, normalized=True)
        if task == "anomaly":
            assert arrays.scores is not None and info.sweep is not None
            _draw_curves(axes[0, 1], curves, "roc")
            _draw_sweep(axes[0, 2], info.sweep, arrays.threshold)
            _draw_reliability(axes[1, 0], cal, "Fraction tampered", "Calibration of P(tampered)")
            if info.kinds is not None:
                _draw_kinds(axes[1, 1], info.kinds)
            else:
                _draw_score_hist(axes[1, 1], arrays.scores, v.targets, arrays.threshold)
        else:
            assert info.report is not None
            _draw_curves(axes[0, 1], curves, "roc")
            _draw_curves(axes[0, 2], curves, "pr")
            _draw_reliability(axes[1, 0], cal, "Accuracy", "Calibration (max-prob confidence)")
            rep = info.report
            _draw_bars(axes[1, 1], v.names, rep.f1, "F1 per class", "F1", "tab:purple", True)
        _metrics_table(axes[1, 2], task, metrics)
    fig.suptitle(f"Final dashboard: {task}", fontsize=16)
    return fig
