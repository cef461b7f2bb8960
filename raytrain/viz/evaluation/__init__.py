"""Evaluation plots for one run's validation predictions (the run's `visualizations/` files),
and for the best checkpoint's test-split predictions (`test_visualizations/`, `viz.held_out`).

One module per subject; in each, every number a plot shows comes from a pure function of numpy
arrays (`roc_curve`, `threshold_sweep`, `edge_threshold_info`, ...) that the tests check against
hand computed answers, and the `_get_*_plot(info)` beside it only draws what it is given.
`write_evaluation_plots` (in `files`) picks the files that make sense for the task:

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

This package re-exports the public names of its modules, so callers import from
`raytrain.viz.evaluation` whichever module a function lives in.
"""

from raytrain.viz.evaluation.anomaly import TAMPER_KINDS, detection_by_kind
from raytrain.viz.evaluation.balance import IMBALANCE_FLAG, BalanceInfo, class_balance_info
from raytrain.viz.evaluation.calibration import (
    ECE_BINS,
    CalibrationInfo,
    calibration_info,
    expected_calibration_error,
)
from raytrain.viz.evaluation.confusion import ClassReport, confusion, per_class_report
from raytrain.viz.evaluation.curves import (
    Curve,
    CurvesInfo,
    auc,
    average_precision,
    binary_curves,
    class_curves,
    pr_curve,
    roc_curve,
)
from raytrain.viz.evaluation.dashboard import (
    ACCEPTANCE_TARGETS,
    DashboardInfo,
    dashboard_info,
    summary_metrics,
)
from raytrain.viz.evaluation.edges import EdgeThresholdInfo, edge_threshold_info, image_f1
from raytrain.viz.evaluation.errors import (
    ErrorInfo,
    HardestInfo,
    error_info,
    hardest_examples,
    hardest_info,
)
from raytrain.viz.evaluation.files import expected_plot_files, write_evaluation_plots
from raytrain.viz.evaluation.inputs import TASKS, EvalArrays, LabelView, label_view
from raytrain.viz.evaluation.regression import RegressionInfo, regression_info
from raytrain.viz.evaluation.thresholds import SWEEP_THRESHOLDS, SweepInfo, threshold_sweep

__all__ = [
    "ACCEPTANCE_TARGETS",
    "ECE_BINS",
    "IMBALANCE_FLAG",
    "SWEEP_THRESHOLDS",
    "TAMPER_KINDS",
    "TASKS",
    "BalanceInfo",
    "CalibrationInfo",
    "ClassReport",
    "Curve",
    "CurvesInfo",
    "DashboardInfo",
    "EdgeThresholdInfo",
    "ErrorInfo",
    "HardestInfo",
    "EvalArrays",
    "LabelView",
    "RegressionInfo",
    "SweepInfo",
    "auc",
    "average_precision",
    "binary_curves",
    "calibration_info",
    "class_balance_info",
    "class_curves",
    "confusion",
    "dashboard_info",
    "detection_by_kind",
    "edge_threshold_info",
    "error_info",
    "expected_calibration_error",
    "expected_plot_files",
    "hardest_examples",
    "hardest_info",
    "image_f1",
    "label_view",
    "per_class_report",
    "pr_curve",
    "regression_info",
    "roc_curve",
    "summary_metrics",
    "threshold_sweep",
    "write_evaluation_plots",
]
