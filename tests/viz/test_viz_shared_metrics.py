"""The evaluation plots and the tasks compute their metrics with the same functions, so a number
on a plot is the number the run logged. Small hand-made inputs, answers worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from raytrain.models.registry import DataInfo
from raytrain.tasks.anomaly import AnomalyTask
from raytrain.tasks.base import binary_counts, binary_metrics, binary_rates
from raytrain.tasks.classification import ClassificationTask, class_scores, confusion_matrix
from raytrain.tasks.regression import RegressionTask, regression_metrics
from raytrain.viz.evaluation import (
    EvalArrays,
    confusion,
    per_class_report,
    regression_info,
    summary_metrics,
    threshold_sweep,
)


def test_binary_rates_by_hand_with_zero_denominators_as_zero() -> None:
    # threshold A: tp 3, fp 1, fn 1, tn 5; threshold B: nothing predicted positive
    r = binary_rates([3.0, 0.0], [1.0, 0.0], [1.0, 4.0], [5.0, 6.0])
    np.testing.assert_allclose(r["precision"], [0.75, 0.0])
    np.testing.assert_allclose(r["recall"], [0.75, 0.0])
    np.testing.assert_allclose(r["f1_score"], [0.75, 0.0])
    np.testing.assert_allclose(r["iou"], [0.6, 0.0])
    np.testing.assert_allclose(r["accuracy"], [0.8, 0.6])
    np.testing.assert_allclose(r["false_positive_rate"], [1 / 6, 0.0])
    scalar = binary_metrics(3.0, 1.0, 1.0, 5.0)
    assert scalar == {k: float(v[0]) for k, v in r.items()}
    assert all(type(v) is float for v in scalar.values())


def test_threshold_sweep_rows_equal_the_anomaly_task_metrics() -> None:
    scores = np.array([0.1, 0.4, 0.35, 0.8, 0.7, 0.2, 0.9, 0.5])
    targets = np.array([0, 0, 1, 1, 0, 0, 1, 1])
    task = AnomalyTask(DataInfo(feature_dim=1), threshold=0.5, pos_weight=None)
    stats = task.new_stats()
    logits = torch.logit(torch.tensor(scores, dtype=torch.float64))
    task.update_stats(stats, logits, torch.tensor(targets))
    logged = task.compute_metrics(stats)
    # by hand at 0.5 (strictly greater): predicted 0.8, 0.7, 0.9 -> tp 2, fp 1, fn 2, tn 3
    assert stats.tolist() == [2.0, 1.0, 2.0, 3.0]
    sweep = threshold_sweep(scores, targets, [0.5])
    assert [sweep.tp[0], sweep.fp[0], sweep.fn[0], sweep.tn[0]] == [2.0, 1.0, 2.0, 3.0]
    assert sweep.precision[0] == logged["precision"] == pytest.approx(2 / 3)
    assert sweep.recall[0] == logged["recall"] == 0.5
    assert sweep.f1[0] == logged["f1_score"] == pytest.approx(4 / 7)
    assert sweep.fpr[0] == logged["false_positive_rate"] == 0.25
    arrays = EvalArrays("anomaly", scores=scores, targets=targets, threshold=0.5)
    summary = summary_metrics(arrays)
    for k, v in logged.items():
        assert summary[k] == v, k


def test_confusion_is_the_matrix_the_classification_task_accumulates() -> None:
    targets = np.array([0, 1, 2, 2, 1, 0, 2])
    preds = np.array([0, 2, 2, 1, 1, 0, 2])
    cm = confusion(targets, preds, 3)
    assert confusion is confusion_matrix
    assert cm.tolist() == [[2, 0, 0], [0, 1, 1], [0, 1, 2]]
    task = ClassificationTask(DataInfo(num_classes=3))
    stats = task.new_stats()
    task.update_stats(stats, torch.eye(3)[preds] * 5.0, torch.tensor(targets))
    assert stats.view(3, 3).tolist() == cm.tolist()
    logged = task.compute_metrics(stats)
    rep = per_class_report(cm)
    assert rep.accuracy == logged["accuracy"] == pytest.approx(5 / 7)
    # per-class F1: class 0: 1, class 1: P 1/2 R 1/2 -> 1/2, class 2: P 2/3 R 2/3 -> 2/3
    np.testing.assert_allclose(rep.f1, [1.0, 0.5, 2 / 3])
    assert rep.macro["f1"] == logged["macro_f1"] == pytest.approx((1 + 0.5 + 2 / 3) / 3)


def test_class_scores_by_hand_skips_absent_classes() -> None:
    s = class_scores([[3, 1, 0], [0, 0, 0], [1, 0, 1]])
    np.testing.assert_allclose(s["precision"], [0.75, 0.0, 1.0])
    np.testing.assert_allclose(s["recall"], [0.75, 0.0, 0.5])
    np.testing.assert_allclose(s["f1"], [0.75, 0.0, 2 / 3])
    assert s["present"].tolist() == [True, True, True]  # class 1 was predicted once
    assert s["accuracy"] == pytest.approx(4 / 6)
    absent = class_scores([[2, 0, 0], [0, 1, 0], [0, 0, 0]])
    assert absent["present"].tolist() == [True, True, False]
    assert absent["macro_f1"] == 1.0  # the absent class does not count as F1 = 0
    assert class_scores(np.zeros((2, 2)))["macro_f1"] == 0.0


def test_regression_metrics_by_hand_and_as_the_task_logs_them() -> None:
    # errors 1, -1, 0, 2: sse 6, sae 4; targets 1, 3, 5, 7: mean 4, sst 20
    m = regression_metrics(6.0, 4.0, 20.0, 4)
    assert m == {"rmse": pytest.approx(math.sqrt(1.5)), "mae": 1.0, "r2": pytest.approx(0.7)}
    assert regression_metrics(1.0, 1.0, 0.0, 2)["r2"] == 0.0  # constant target
    assert all(math.isnan(v) for v in regression_metrics(0.0, 0.0, 0.0, 0).values())

    preds, targets = np.array([2.0, 2.0, 5.0, 9.0]), np.array([1.0, 3.0, 5.0, 7.0])
    task = RegressionTask(DataInfo(feature_dim=1))
    stats = task.new_stats()
    task.update_stats(stats, torch.tensor(preds), torch.tensor(targets))
    logged = task.compute_metrics(stats)
    info = regression_info(preds, targets)
    for k in ("rmse", "mae", "r2"):
        assert getattr(info, k) == pytest.approx(logged[k], rel=1e-12), k
    assert (info.rmse, info.mae, info.r2) == pytest.approx((math.sqrt(1.5), 1.0, 0.7))
    assert info.bias == pytest.approx(0.5)


def test_binary_counts_agree_with_the_sweep_on_edge_pixels() -> None:
    probs = np.array([[[0.9, 0.2], [0.6, 0.4]], [[0.1, 0.7], [0.55, 0.3]]])
    targets = np.array([[[1, 0], [1, 1]], [[0, 1], [0, 0]]])
    counts = binary_counts(torch.tensor(probs > 0.5), torch.tensor(targets > 0.5))
    sweep = threshold_sweep(probs, targets, [0.5])
    assert counts.tolist() == [sweep.tp[0], sweep.fp[0], sweep.fn[0], sweep.tn[0]] == [3, 1, 1, 3]
    summary = summary_metrics(EvalArrays("edges", probs=probs, targets=targets))
    assert summary["f1_score"] == binary_metrics(*counts.tolist())["f1_score"] == 0.75
    assert summary["iou"] == pytest.approx(0.6)
