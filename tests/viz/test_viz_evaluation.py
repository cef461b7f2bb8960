"""Evaluation plots: the numbers against hand-computed answers, then every file per task.

The info functions are checked on cases small enough to work out on paper (sklearn's documented
ROC example, a confusion matrix, two edge images whose ODS and OIS differ); the plot writer is
checked for the files it promises, each a real PNG larger than a thumbnail.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.image
import numpy as np
import pytest

from raytrain.viz.evaluation import (
    EvalArrays,
    auc,
    average_precision,
    calibration_info,
    class_balance_info,
    class_curves,
    confusion,
    detection_by_kind,
    edge_threshold_info,
    error_info,
    expected_calibration_error,
    expected_plot_files,
    hardest_examples,
    per_class_report,
    pr_curve,
    regression_info,
    roc_curve,
    summary_metrics,
    threshold_sweep,
    write_evaluation_plots,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# -- curves --------------------------------------------------------------------------------------


def test_perfect_scorer_has_auc_and_ap_one() -> None:
    scores, targets = [0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1]
    fpr, tpr, _ = roc_curve(scores, targets)
    assert auc(fpr, tpr) == pytest.approx(1.0)
    assert average_precision(scores, targets) == pytest.approx(1.0)
    fpr, tpr, _ = roc_curve([-s for s in scores], targets)
    assert auc(fpr, tpr) == pytest.approx(0.0)


def test_roc_and_ap_match_the_sklearn_documented_example() -> None:
    # sklearn's docs: roc_auc_score -> 0.75, average_precision_score -> 0.8333...
    scores, targets = np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1])
    fpr, tpr, thr = roc_curve(scores, targets)
    np.testing.assert_allclose(fpr, [0, 0, 0.5, 0.5, 1])
    np.testing.assert_allclose(tpr, [0, 0.5, 0.5, 1, 1])
    assert thr[0] == np.inf and thr[1] == 0.8
    assert auc(fpr, tpr) == pytest.approx(0.75)
    assert average_precision(scores, targets) == pytest.approx(5 / 6)
    precision, recall, _ = pr_curve(scores, targets)
    np.testing.assert_allclose(recall, [0, 0.5, 0.5, 1, 1])
    np.testing.assert_allclose(precision, [1, 1, 0.5, 2 / 3, 0.5])


def test_tied_scores_give_the_diagonal_and_one_class_gives_nan() -> None:
    fpr, tpr, _ = roc_curve([0.5] * 6, [0, 1, 0, 1, 1, 0])
    np.testing.assert_allclose(fpr, [0, 1])
    assert auc(fpr, tpr) == pytest.approx(0.5)
    fpr, tpr, _ = roc_curve([0.2, 0.7], [1, 1])
    assert np.isnan(auc(fpr, tpr))
    assert np.isnan(average_precision([0.2, 0.7], [0, 0]))


def test_auc_is_direction_free() -> None:
    assert auc([0, 1], [1, 1]) == pytest.approx(1.0)
    assert auc([1, 0.5, 0], [1, 1, 1]) == pytest.approx(1.0)


def test_class_curves_micro_macro_for_a_perfect_classifier() -> None:
    probs = np.eye(3)[[0, 1, 2, 0, 1, 2]] * 0.8 + 0.2 / 3
    info = class_curves(probs, np.array([0, 1, 2, 0, 1, 2]), ["a", "b", "c"])
    assert [c.label for c in info.roc] == ["a", "b", "c", "micro-average", "macro-average"]
    for c in info.roc + info.pr:
        assert c.area == pytest.approx(1.0)


def test_macro_average_skips_a_class_absent_from_the_split() -> None:
    probs = np.array([[0.9, 0.05, 0.05], [0.1, 0.8, 0.1], [0.6, 0.3, 0.1]])
    info = class_curves(probs, np.array([0, 1, 0]), ["a", "b", "c"])
    assert np.isnan(info.roc[2].area)  # class c has no positives
    assert info.roc[-1].area == pytest.approx(np.mean([info.roc[0].area, info.roc[1].area]))


# -- thresholds and calibration ------------------------------------------------------------------


def test_threshold_sweep_counts_strictly_greater_than() -> None:
    s = threshold_sweep([0.2, 0.5, 0.7, 0.9], [0, 1, 0, 1], [0.1, 0.5, 0.8, 0.95])
    np.testing.assert_array_equal(s.tp, [2, 1, 1, 0])  # 0.5 is not > 0.5
    np.testing.assert_array_equal(s.fp, [2, 1, 0, 0])
    np.testing.assert_allclose(s.precision, [0.5, 0.5, 1.0, 0.0])  # 0/0 -> 0, as in training
    np.testing.assert_allclose(s.recall, [1.0, 0.5, 0.5, 0.0])
    np.testing.assert_allclose(s.fpr, [1.0, 0.5, 0.0, 0.0])
    np.testing.assert_allclose(s.f1, [2 / 3, 0.5, 2 / 3, 0.0])
    assert s.best_threshold == 0.1  # ties go to the lowest threshold


def test_edge_ods_and_ois_on_a_constructed_pair() -> None:
    """Image A separates at 0.6, image B at 0.2: each alone is perfect (OIS 1), but one shared
    threshold cannot be. Per image: 4 edge pixels and 12 background pixels.

    t in [0.21, 0.40]: A all + B edges -> tp 8, fp 12: F1 = 0.571
    t in [0.61, 0.80]: A edges only    -> tp 4, fp 0:  F1 = 0.667  <- ODS
    """
    target = np.zeros((4, 4), int)
    target[0] = 1
    a = np.where(target == 1, 0.805, 0.605)
    b = np.where(target == 1, 0.405, 0.205)
    info = edge_threshold_info(np.stack([a, b]), np.stack([target, target]))
    assert info.ods_f1 == pytest.approx(2 / 3)
    assert info.ods_threshold == pytest.approx(0.61)
    assert info.ois_f1 == pytest.approx(1.0)
    np.testing.assert_allclose(info.per_image_threshold, [0.61, 0.21])
    i = int(np.argmin(np.abs(info.thresholds - 0.3)))
    assert info.sweep.f1[i] == pytest.approx(2 * 0.4 / 1.4)


def test_ece_is_zero_when_bins_are_calibrated_and_the_gap_otherwise() -> None:
    conf = [0.25] * 4 + [0.75] * 4
    correct = [1, 0, 0, 0] + [1, 1, 1, 0]
    assert expected_calibration_error(conf, correct) == pytest.approx(0.0, abs=1e-12)
    assert expected_calibration_error([0.9] * 5, [1] * 5) == pytest.approx(0.1)
    # two bins, each 0.05 off: ECE 0.05
    cal = calibration_info([0.95, 0.95, 0.55, 0.55], [1, 1, 1, 0])
    assert cal.ece == pytest.approx(0.5 * 0.05 + 0.5 * 0.05)
    cal = calibration_info([0.8, 0.8, 0.3, 0.3], [0, 1, 0, 1])
    assert cal.ece == pytest.approx(0.5 * 0.3 + 0.5 * 0.2)
    assert cal.mce == pytest.approx(0.3)
    assert cal.counts.tolist() == [0, 0, 0, 2, 0, 0, 0, 0, 2, 0]
    assert np.isnan(cal.accuracy[0])
    assert calibration_info([1.0], [1]).counts[-1] == 1  # 1.0 lands in the last bin


# -- labels --------------------------------------------------------------------------------------


def test_confusion_counts_rows_are_truth() -> None:
    cm = confusion([0, 1, 2, 2, 1], [0, 2, 2, 1, 1], 3)
    assert cm.tolist() == [[1, 0, 0], [0, 1, 1], [0, 1, 1]]
    with pytest.raises(ValueError):
        confusion([0, 3], [0, 1], 3)


def test_per_class_report_by_hand() -> None:
    rep = per_class_report([[2, 1], [0, 3]], ["cat", "dog"])
    np.testing.assert_allclose(rep.precision, [1.0, 0.75])
    np.testing.assert_allclose(rep.recall, [2 / 3, 1.0])
    np.testing.assert_allclose(rep.f1, [0.8, 6 / 7])
    assert rep.support.tolist() == [3, 3]
    assert rep.accuracy == pytest.approx(5 / 6)
    assert rep.macro["f1"] == pytest.approx((0.8 + 6 / 7) / 2)
    # a class in neither truth nor predictions does not drag the macro average down
    rep = per_class_report([[2, 0, 0], [0, 2, 0], [0, 0, 0]])
    assert rep.macro["f1"] == pytest.approx(1.0)
    assert rep.class_names == ["0", "1", "2"]


def test_errors_hardest_and_balance() -> None:
    probs = np.array([[0.9, 0.1], [0.4, 0.6], [0.2, 0.8], [0.7, 0.3]])
    targets, preds = np.array([0, 0, 1, 1]), np.array([0, 1, 1, 0])
    err = error_info(probs, targets, preds)
    np.testing.assert_allclose(err.error_rate, [0.5, 0.5])
    assert err.top_confusions == [(0, 1, 1), (1, 0, 1)]
    np.testing.assert_allclose(sorted(err.conf_wrong), [0.6, 0.7])
    np.testing.assert_allclose(err.selective_accuracy, [1.0, 1.0, 2 / 3, 0.5])
    assert hardest_examples(probs, targets, n=2).tolist() == [3, 1]
    bal = class_balance_info(["a", "b"], [0, 0, 0, 1], train_targets=[0, 1, 1, 0])
    assert bal.ratio("eval") == 3.0 and bal.flagged("eval")
    assert bal.ratio("train") == 1.0 and not bal.flagged("train")
    assert class_balance_info(["a", "b"], [0, 0]).ratio("eval") == float("inf")


def test_detection_by_kind_orders_known_kinds_first() -> None:
    out = detection_by_kind(
        [0.1, 0.9, 0.8, 0.2, 0.6], ["normal", "phase_tamper", "x", "normal", "phase_tamper"], 0.5
    )
    assert out == [("normal", 2, 0.0), ("phase_tamper", 2, 1.0), ("x", 1, 1.0)]


def test_regression_info_by_hand() -> None:
    r = regression_info([2, 2, 3, 3], [1, 2, 3, 4])
    assert r.rmse == pytest.approx(np.sqrt(0.5))
    assert r.mae == pytest.approx(0.5)
    assert r.r2 == pytest.approx(1 - 2 / 5)
    assert r.bias == pytest.approx(0.0)
    assert regression_info([3, 3], [3, 3]).r2 == 0.0  # constant target: as RegressionTask


def test_summary_anomaly_uses_the_run_threshold() -> None:
    arrays = EvalArrays(
        "anomaly", scores=[0.2, 0.45, 0.6, 0.9], targets=[0, 1, 0, 1], threshold=0.4
    )
    m = summary_metrics(arrays)
    assert m["recall"] == 1.0 and m["precision"] == pytest.approx(2 / 3)
    assert m["false_positive_rate"] == 0.5


def test_eval_arrays_reject_mismatched_inputs() -> None:
    with pytest.raises(ValueError, match="unknown task"):
        EvalArrays("segmentation", probs=np.zeros((1, 2)), targets=[0])
    with pytest.raises(ValueError, match="needs `scores`"):
        EvalArrays("anomaly", targets=[0, 1])
    with pytest.raises(ValueError, match="class names"):
        EvalArrays(
            "classification", probs=np.full((2, 3), 1 / 3), targets=[0, 1], class_names=["a"]
        )
    with pytest.raises(ValueError, match="rows"):
        EvalArrays("regression", preds=[1.0, 2.0], targets=[1.0])


# -- files ---------------------------------------------------------------------------------------


def _classification(rng: np.random.Generator, k: int = 4, n: int = 120) -> EvalArrays:
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k))
    logits[np.arange(n), y] += 2.0
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    names = [f"class_{i}" for i in range(k)]
    return EvalArrays("classification", probs=p, targets=y, images=rng.random((10, 3, 16, 16)),
                      class_names=names)  # fmt: skip


def _anomaly(rng: np.random.Generator, kinds: bool = True, n: int = 120) -> EvalArrays:
    y = rng.integers(0, 2, n)
    s = np.clip(0.3 + 0.4 * y + rng.normal(0, 0.2, n), 0, 1)
    tampers = ["amplitude_tamper", "phase_tamper", "frequency_gap", "distribution_violation"]
    k = np.where(y == 0, "normal", rng.choice(tampers, n)) if kinds else None
    return EvalArrays("anomaly", scores=s, targets=y, kinds=k, threshold=0.5)


def _edges(rng: np.random.Generator, n: int = 4) -> EvalArrays:
    t = (rng.random((n, 32, 32)) < 0.1).astype(int)
    p = np.clip(0.2 + 0.5 * t + rng.normal(0, 0.15, t.shape), 0, 1)
    return EvalArrays("edges", probs=p, targets=t, images=rng.random((n, 32, 32)), threshold=0.5)


def _regression(rng: np.random.Generator, n: int = 120) -> EvalArrays:
    y = rng.uniform(10, 200, n)
    return EvalArrays("regression", preds=y + rng.normal(0, 8, n), targets=y)


CASES = {
    "classification": _classification,
    "anomaly": _anomaly,
    "edges": _edges,
    "regression": _regression,
}


def _assert_pngs(paths: list[Path]) -> None:
    for path in paths:
        assert path.exists() and path.stat().st_size > 0, path
        assert path.read_bytes()[:8] == PNG_SIGNATURE, path
        img = matplotlib.image.imread(path)
        assert img.shape[0] > 100 and img.shape[1] > 100, (path, img.shape)


@pytest.mark.parametrize("task", sorted(CASES))
def test_every_expected_png_is_written(task: str, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    arrays = CASES[task](rng)
    vis, ana = tmp_path / "visualizations", tmp_path / "analysis"
    train = rng.integers(0, 4 if task == "classification" else 2, 500)
    written = write_evaluation_plots(
        arrays, vis, ana, train_targets=train if task in ("classification", "anomaly") else None
    )
    assert written == expected_plot_files(task, vis, ana)
    assert vis / "final_dashboard.png" in written
    if task in ("classification", "anomaly", "edges"):
        assert ana / "calibration_analysis.png" in written
    if task == "anomaly":
        assert vis / "threshold_sweep.png" in written
    _assert_pngs(written)


def test_degenerate_inputs_still_draw(tmp_path: Path) -> None:
    """One class only, no kinds, no images, many classes: plots degrade, never raise."""
    rng = np.random.default_rng(1)
    one_class = EvalArrays("anomaly", scores=rng.random(20), targets=np.zeros(20))
    many = _classification(rng, k=25, n=200)
    many.images = None
    no_images = EvalArrays("edges", probs=rng.random((2, 24, 24)), targets=np.zeros((2, 24, 24)))
    for i, arrays in enumerate([one_class, many, no_images]):
        _assert_pngs(write_evaluation_plots(arrays, tmp_path / f"{i}/vis", tmp_path / f"{i}/an"))
