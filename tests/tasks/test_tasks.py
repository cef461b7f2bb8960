"""Metrics from sufficient statistics equal a direct computation, and add up across workers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from raytrain.errors import RaytrainError
from raytrain.models import DataInfo
from raytrain.tasks import Task, create_task, list_tasks


def _stats(task: Task, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    stats = task.new_stats()
    task.update_stats(stats, output, target)
    assert stats.dtype == torch.float64 and stats.shape == (task.num_stats(),)
    return stats


def _split_stats(task: Task, output: torch.Tensor, target: torch.Tensor, at: int) -> torch.Tensor:
    """Two workers' statistics summed, which is what DDP's all_reduce(SUM) does."""
    return _stats(task, output[:at], target[:at]) + _stats(task, output[at:], target[at:])


def _assert_metrics_equal(got: dict[str, float], want: dict[str, float]) -> None:
    assert set(got) == set(want)
    for k, v in want.items():
        assert got[k] == pytest.approx(v, rel=1e-9, abs=1e-12), k


def _confusion(pred: np.ndarray, truth: np.ndarray) -> tuple[int, int, int, int]:
    tp = int(np.sum(pred & truth))
    fp = int(np.sum(pred & ~truth))
    fn = int(np.sum(~pred & truth))
    tn = int(np.sum(~pred & ~truth))
    return tp, fp, fn, tn


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def test_all_tasks_registered() -> None:
    assert {"edges", "anomaly", "regression", "classification"} <= set(list_tasks())


def test_unknown_task() -> None:
    with pytest.raises(RaytrainError, match="unknown task 'edge'.*did you mean 'edges'"):
        create_task("edge", DataInfo())


# -- edges ---------------------------------------------------------------------------------------


def _edge_batch(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, 2.0, size=(6, 1, 16, 16)).astype(np.float32)
    target = (rng.random((6, 1, 16, 16)) > 0.7).astype(np.float32)
    return torch.from_numpy(logits), torch.from_numpy(target)


@pytest.mark.parametrize("threshold", [0.5, 0.3])
def test_edge_metrics_match_numpy(threshold: float) -> None:
    out, tgt = _edge_batch(0)
    task = create_task("edges", DataInfo(image_size=16), threshold=threshold)
    got = task.compute_metrics(_stats(task, out, tgt))
    tp, fp, fn, tn = _confusion(
        _sigmoid(out.numpy().astype(np.float64)) > threshold, tgt.numpy() > 0.5
    )
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    want = {
        "precision": precision,
        "recall": recall,
        "f1_score": 2 * precision * recall / (precision + recall),
        "iou": tp / (tp + fp + fn),
        "accuracy": (tp + tn) / out.numel(),
    }
    assert min(tp, fp, fn, tn) > 0  # a non-degenerate case
    _assert_metrics_equal(got, want)


def test_edge_metrics_with_no_positives_are_zero_not_nan() -> None:
    task = create_task("edges", DataInfo(image_size=4))
    out = torch.full((1, 1, 4, 4), -5.0)
    m = task.compute_metrics(_stats(task, out, torch.zeros(1, 1, 4, 4)))
    assert m == {"precision": 0.0, "recall": 0.0, "f1_score": 0.0, "iou": 0.0, "accuracy": 1.0}


def test_edge_stats_add_across_workers() -> None:
    out, tgt = _edge_batch(1)
    task = create_task("edges", DataInfo(image_size=16))
    whole = _stats(task, out, tgt)
    assert torch.equal(_split_stats(task, out, tgt, 2), whole)
    _assert_metrics_equal(
        task.compute_metrics(_split_stats(task, out, tgt, 5)), task.compute_metrics(whole)
    )


def test_edge_loss_is_bce_with_logits_and_pos_weight() -> None:
    out, tgt = _edge_batch(2)
    x, y = out.numpy().astype(np.float64), tgt.numpy().astype(np.float64)
    p = _sigmoid(x)
    for pw in (None, 3.0):
        task = create_task("edges", DataInfo(image_size=16), pos_weight=pw)
        w = 1.0 if pw is None else pw
        want = -(w * y * np.log(p) + (1 - y) * np.log(1 - p)).mean()
        assert task.loss(out, tgt).item() == pytest.approx(want, rel=1e-5)


# -- anomaly -------------------------------------------------------------------------------------


def test_anomaly_metrics_match_numpy() -> None:
    rng = np.random.default_rng(3)
    logits = rng.normal(0.0, 1.5, size=(200, 1)).astype(np.float32)
    labels = rng.integers(0, 2, size=200)
    task = create_task("anomaly", DataInfo(feature_dim=8))
    out, tgt = torch.from_numpy(logits), torch.from_numpy(labels)
    got = task.compute_metrics(_stats(task, out, tgt))
    tp, fp, fn, tn = _confusion(_sigmoid(logits[:, 0].astype(np.float64)) > 0.5, labels > 0)
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    want = {
        "accuracy": (tp + tn) / 200,
        "precision": precision,
        "recall": recall,
        "f1_score": 2 * precision * recall / (precision + recall),
        "false_positive_rate": fp / (fp + tn),
    }
    _assert_metrics_equal(got, want)
    _assert_metrics_equal(task.compute_metrics(_split_stats(task, out, tgt, 77)), want)


# -- regression ----------------------------------------------------------------------------------


def test_regression_metrics_match_numpy() -> None:
    rng = np.random.default_rng(4)
    y = rng.normal(30.0, 8.0, size=300)
    pred = y + rng.normal(0.0, 3.0, size=300)
    task = create_task("regression", DataInfo(feature_dim=5))
    out = torch.from_numpy(pred.astype(np.float32)).view(-1, 1)
    tgt = torch.from_numpy(y.astype(np.float32))
    got = task.compute_metrics(_stats(task, out, tgt))
    p64, y64 = out.numpy()[:, 0].astype(np.float64), tgt.numpy().astype(np.float64)
    err = p64 - y64
    want = {
        "rmse": float(np.sqrt(np.mean(err**2))),
        "mae": float(np.mean(np.abs(err))),
        "r2": float(1 - np.sum(err**2) / np.sum((y64 - y64.mean()) ** 2)),
    }
    for k, v in want.items():
        assert got[k] == pytest.approx(v, rel=1e-9), k
    split = task.compute_metrics(_split_stats(task, out, tgt, 123))
    for k, v in want.items():
        assert split[k] == pytest.approx(v, rel=1e-9), k


def test_regression_loss_is_in_standard_units() -> None:
    task = create_task(
        "regression", DataInfo(feature_dim=5, extra={"target_mean": 10.0, "target_std": 2.0})
    )
    out, tgt = torch.tensor([[12.0], [10.0]]), torch.tensor([10.0, 10.0])
    assert task.loss(out, tgt).item() == pytest.approx(((2.0 / 2.0) ** 2 + 0.0) / 2)


def test_regression_empty_stats_are_nan() -> None:
    task = create_task("regression", DataInfo(feature_dim=5))
    m = task.compute_metrics(task.new_stats())
    assert all(np.isnan(v) for v in m.values())


# -- classification ------------------------------------------------------------------------------


def _macro_f1(pred: np.ndarray, truth: np.ndarray, k: int) -> float:
    f1s = []
    for c in range(k):
        tp = np.sum((pred == c) & (truth == c))
        fp = np.sum((pred == c) & (truth != c))
        fn = np.sum((pred != c) & (truth == c))
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    return float(np.mean(f1s))


def test_classification_metrics_match_numpy() -> None:
    rng = np.random.default_rng(5)
    k = 4
    logits = rng.normal(size=(250, k)).astype(np.float32)
    labels = rng.integers(0, k, size=250)
    logits[np.arange(250) % 3 == 0, labels[np.arange(250) % 3 == 0]] += 3.0  # some skill
    task = create_task("classification", DataInfo(num_classes=k))
    out, tgt = torch.from_numpy(logits), torch.from_numpy(labels)
    got = task.compute_metrics(_stats(task, out, tgt))
    pred = logits.argmax(axis=1)
    want = {"accuracy": float(np.mean(pred == labels)), "macro_f1": _macro_f1(pred, labels, k)}
    assert 0.3 < want["accuracy"] < 0.9
    for key, v in want.items():
        assert got[key] == pytest.approx(v, rel=1e-6), key
    split = task.compute_metrics(_split_stats(task, out, tgt, 101))
    for key, v in want.items():
        assert split[key] == pytest.approx(v, rel=1e-6), key


def test_classification_macro_f1_averages_classes_present() -> None:
    task = create_task("classification", DataInfo(num_classes=3))
    out = torch.tensor([[5.0, 0.0, 0.0], [0.0, 5.0, 0.0]])
    # class 2 is neither in the truth nor predicted: it does not count (sklearn's convention)
    m = task.compute_metrics(_stats(task, out, torch.tensor([0, 1])))
    assert m["accuracy"] == 1.0
    assert m["macro_f1"] == pytest.approx(1.0)
    # class 2 in the truth but never predicted: it counts, with F1 = 0
    m = task.compute_metrics(_stats(task, out, torch.tensor([0, 2])))
    assert m["macro_f1"] == pytest.approx((1.0 + 0.0 + 0.0) / 3)


def test_classification_needs_num_classes() -> None:
    with pytest.raises(RaytrainError, match="number of classes"):
        create_task("classification", DataInfo())
