"""Pure evaluation functions the file-writing tests only exercise indirectly: label views, the
calibration bins, interpolated precision, the summary tables, image display scaling."""

from __future__ import annotations

import numpy as np
import pytest

from raytrain.viz.evaluation import (
    EvalArrays,
    binary_curves,
    calibration_info,
    label_view,
    summary_metrics,
    threshold_sweep,
)
from raytrain.viz.evaluation._draw import _display
from raytrain.viz.evaluation.curves import _interpolated_precision
from raytrain.viz.evaluation.dashboard import dashboard_info
from raytrain.viz.evaluation.edges import image_f1
from raytrain.viz.evaluation.errors import hardest_info


def test_anomaly_label_view_uses_the_run_threshold_not_argmax() -> None:
    arrays = EvalArrays("anomaly", scores=[0.2, 0.4, 0.8], targets=[0, 1, 1], threshold=0.3)
    v = label_view(arrays)
    np.testing.assert_allclose(v.probs, [[0.8, 0.2], [0.6, 0.4], [0.2, 0.8]])
    assert v.preds.tolist() == [0, 1, 1]  # 0.4 > 0.3 is tampered although argmax says normal
    np.testing.assert_allclose(v.confidence, [0.8, 0.4, 0.8])
    assert v.names == ["normal", "tampered"] and v.binary and v.k == 2


def test_classification_names_default_to_indices() -> None:
    arrays = EvalArrays("classification", probs=np.full((2, 3), 1 / 3), targets=[0, 2])
    assert arrays.names == ["0", "1", "2"]
    assert label_view(arrays).preds.tolist() == [0, 0]  # ties go to the first class


def test_calibration_bins_by_hand() -> None:
    conf = [0.05, 0.15, 0.18, 0.95, 1.0]
    correct = [0, 1, 0, 1, 1]
    cal = calibration_info(conf, correct, bins=10)
    assert cal.counts.tolist() == [1, 2, 0, 0, 0, 0, 0, 0, 0, 2]  # 1.0 goes in the last bin
    np.testing.assert_allclose(cal.bin_edges, np.linspace(0, 1, 11))
    assert cal.confidence[0] == pytest.approx(0.05)
    assert cal.confidence[1] == pytest.approx(0.165)
    assert cal.confidence[9] == pytest.approx(0.975)
    assert np.isnan(cal.confidence[2]) and np.isnan(cal.accuracy[2])
    np.testing.assert_allclose(cal.accuracy[[0, 1, 9]], [0.0, 0.5, 1.0])
    # gaps 0.05, 0.335, 0.025 weighted by 1/5, 2/5, 2/5
    assert cal.ece == pytest.approx(0.05 / 5 + 2 * 0.335 / 5 + 2 * 0.025 / 5)
    assert cal.mce == pytest.approx(0.335)
    with pytest.raises(ValueError):
        calibration_info([0.5], [1, 0])


def test_interpolated_precision_takes_the_best_precision_at_higher_recall() -> None:
    recall = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
    precision = np.array([1.0, 0.5, 0.8, 0.6, 0.4])
    grid = np.array([0.0, 0.2, 0.25, 0.6, 1.0])
    np.testing.assert_allclose(
        _interpolated_precision(recall, precision, grid), [1.0, 0.8, 0.8, 0.6, 0.4]
    )


def test_binary_curves_areas_and_prevalence() -> None:
    # one negative outranks one of the two positives: 3 of 4 pairs ordered right
    info = binary_curves([0.9, 0.6, 0.7, 0.1], [1, 1, 0, 0], "tampered")
    assert info.roc[0].label == info.pr[0].label == "tampered"
    assert info.roc[0].area == pytest.approx(0.75)
    # precision at each recall step: 1 (after 0.9), then 2/3 (after 0.7, 0.6)
    assert info.pr[0].area == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    assert info.prevalence == [0.5]


def test_sweep_iou_and_ties_go_to_the_lowest_threshold() -> None:
    sweep = threshold_sweep([0.2, 0.8], [0, 1], [0.1, 0.3, 0.5, 0.9])
    np.testing.assert_allclose(sweep.f1, [2 / 3, 1.0, 1.0, 0.0])
    np.testing.assert_allclose(sweep.iou, [0.5, 1.0, 1.0, 0.0])
    assert sweep.best_threshold == 0.3 and sweep.best_f1 == 1.0


def test_summary_metrics_of_regression_and_classification() -> None:
    reg = summary_metrics(EvalArrays("regression", preds=[2, 2, 3, 3], targets=[1, 2, 3, 4]))
    assert reg == pytest.approx(
        {"rmse": np.sqrt(0.5), "mae": 0.5, "r2": 0.6, "bias": 0.0, "n": 4.0}
    )
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    cls = summary_metrics(EvalArrays("classification", probs=probs, targets=[0, 1, 1, 1]))
    assert cls["accuracy"] == 0.75 and cls["n"] == 4.0
    # class 0: P 1/2 R 1 -> 2/3; class 1: P 1 R 2/3 -> 4/5
    assert cls["macro_f1"] == pytest.approx((2 / 3 + 4 / 5) / 2)
    # pooled (row, class) cells: 4 positives, 4 negatives; micro AUC 15/16 by counting pairs
    assert cls["micro_auc"] == pytest.approx(15 / 16)


def test_display_moves_channels_last_and_rescales() -> None:
    chw = np.stack([np.zeros((2, 2)), np.ones((2, 2)), np.full((2, 2), 2.0)])
    out = _display(chw)
    assert out.shape == (2, 2, 3)
    np.testing.assert_allclose(out[0, 0], [0.0, 0.5, 1.0])  # 0..2 rescaled to 0..1
    unit = np.array([[0.2, 0.4], [0.6, 0.8]])
    np.testing.assert_array_equal(_display(unit), unit)  # already in [0, 1]: untouched
    np.testing.assert_array_equal(_display(np.full((2, 2), 5.0)), np.zeros((2, 2)))


def test_image_f1_hardest_rows_and_dashboard_numbers() -> None:
    probs = np.array([[[0.9, 0.2], [0.6, 0.4]], [[0.1, 0.7], [0.55, 0.3]]])
    targets = np.array([[[1, 0], [1, 1]], [[0, 1], [0, 0]]])
    # image 0: tp 2, fn 1 -> F1 0.8; image 1: tp 1, fp 1 -> F1 2/3
    np.testing.assert_allclose(image_f1(probs, targets, [1, 0], 0.5), [2 / 3, 0.8])
    edges = dashboard_info(EvalArrays("edges", probs=probs, targets=targets))
    assert edges.edges is not None and edges.typical_image in (0, 1)
    assert edges.metrics["f1_score"] == 0.75 and edges.regression is None

    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    arrays = EvalArrays("classification", probs=probs, targets=[0, 1, 1, 0])
    hard = hardest_info(label_view(arrays))
    assert hard.rows.tolist() == [3, 2, 1, 0]  # true-class probabilities 0.3, 0.4, 0.8, 0.9
    np.testing.assert_allclose(hard.true_prob, [0.3, 0.4, 0.8, 0.9])
    assert hard.with_image.size == 0  # no images given
    info = dashboard_info(arrays)
    assert info.confusion is not None and info.confusion.tolist() == [[1, 1], [1, 1]]
    assert info.report is not None and info.report.accuracy == 0.5
