"""Which evaluation files a task gets (`expected_plot_files`) and the driver that draws them
(`write_evaluation_plots`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from raytrain.viz._common import save_figure
from raytrain.viz.evaluation.anomaly import _get_threshold_sweep_plot, detection_by_kind
from raytrain.viz.evaluation.balance import _get_class_balance_plot, class_balance_info
from raytrain.viz.evaluation.calibration import _get_calibration_plot, calibration_info
from raytrain.viz.evaluation.confusion import (
    _get_classification_report_plot,
    _get_confusion_plot,
    confusion,
    per_class_report,
)
from raytrain.viz.evaluation.curves import _get_roc_pr_plot, binary_curves, class_curves
from raytrain.viz.evaluation.dashboard import _get_dashboard_plot, dashboard_info
from raytrain.viz.evaluation.edges import (
    MAX_EDGE_EXAMPLES,
    _get_edge_pr_plot,
    _get_edge_predictions_plot,
    edge_threshold_info,
    image_f1,
)
from raytrain.viz.evaluation.errors import (
    _get_error_plot,
    _get_per_class_plot,
    error_info,
    hardest_info,
)
from raytrain.viz.evaluation.inputs import EvalArrays, label_view
from raytrain.viz.evaluation.regression import (
    _get_parity_plot,
    _get_residuals_plot,
    regression_info,
)
from raytrain.viz.evaluation.thresholds import threshold_sweep


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
    eval_split: str = "eval",
) -> list[Path]:
    """Draw the evaluation files for `arrays.task`; returns the paths written.

    `train_targets` (training-split labels) adds the train distribution to class_balance.png;
    without it only the evaluated split is shown, named `eval_split` there.
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
        save(
            _get_class_balance_plot(
                class_balance_info(v.names, v.targets, train_targets, eval_split)
            )
        )
        save(_get_confusion_plot(cm, v.names, f"{len(v.targets)} rows; {rule}"))
        save(_get_roc_pr_plot(curves))
        save(_get_classification_report_plot(rep))
        err = error_info(v.probs, v.targets, v.preds)
        save(_get_per_class_plot(v, rep, err, hardest_info(v)))
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
        f1 = image_f1(arrays.probs, arrays.targets, shown, arrays.threshold)
        save(_get_edge_predictions_plot(arrays, info, shown, f1))
        save(_get_edge_pr_plot(info, arrays.threshold))
        cal = calibration_info(arrays.probs, arrays.targets)
        save(_get_calibration_plot(cal, "Fraction of edge pixels", "Pixel-level calibration"))
    else:
        info_r = regression_info(arrays.preds, arrays.targets)
        save(_get_parity_plot(info_r))
        save(_get_residuals_plot(info_r))
    save(_get_dashboard_plot(arrays, dashboard_info(arrays)))
    return written
