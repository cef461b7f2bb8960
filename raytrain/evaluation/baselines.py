"""Classical baselines a trained model must beat.

A model is only worth deploying if it does better than the simple method it replaces, measured
the same way. So every baseline here:

* takes the arrays `raytrain.data.pipeline.preprocess_batch` makes (uint8 images (B, 1, H, W),
  float32 vectors (B, D); targets as the pipeline gives them), i.e. exactly what the model sees;
* `fit`s on the training split only (never on the split it is scored on);
* `predict`s in the *model's output space* (edge/anomaly logits, class scores, regression
  values), so the task's own `update_stats`/`compute_metrics` score it: precision, F1, RMSE …
  have one definition for the model and the baseline.

Baselines per task (`baselines_for(task)`; the first one listed is the "reference" baseline):

* edges: the classical ensemble (0.7·Canny(50, 150) + 0.3·Sobel, 3×3 close), binarized at
  > 127 — the classical detector the U-Net is meant to improve on. Nothing to fit.
* regression: `linear` — least squares on the hand-crafted image features with an intercept; and
  `mean` — predicts the training-target mean (R² = 0 on its own training split by definition).
* anomaly: `zscore` — per-dimension mean/std of the *normal* training vectors, score =
  mean z² over dimensions, threshold chosen on the training split to maximize F1.
* classification: `nearest_centroid` — mean training image per class; predict the class whose
  mean is closest in pixel space (squared Euclidean).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable

import numpy as np
import torch

from raytrain.data.features import generate_ground_truth_edges
from raytrain.errors import RaytrainError, did_you_mean
from raytrain.tasks import Task

#: Logit magnitude for hard yes/no decisions: sigmoid(±30) is 1/0 in float32, so the decision
#: survives any probability threshold a config may set (evaluation.threshold is in (0, 1)).
HARD_LOGIT = 30.0


class Baseline(ABC):
    """A classical predictor: fit on training arrays, predict in the model's output space."""

    name: str = ""
    description: str = ""

    def fit(self, x: np.ndarray, y: np.ndarray) -> Baseline:  # noqa: B027 (optional)
        """Learn from the training split; default: nothing to learn."""
        return self

    @property
    def needs_fit(self) -> bool:
        """Whether `fit` uses data: lets callers skip reading the training split."""
        return type(self).fit is not Baseline.fit

    @abstractmethod
    def predict(self, x: np.ndarray) -> np.ndarray:
        """Outputs shaped and scaled like the model's (logits, class scores or values)."""


_BASELINES: dict[str, list[type[Baseline]]] = {}


def register_baseline(task: str) -> Callable[[type[Baseline]], type[Baseline]]:
    """Add a baseline for `task`; the first one registered for a task is its reference."""

    def deco(cls: type[Baseline]) -> type[Baseline]:
        _BASELINES.setdefault(task, []).append(cls)
        return cls

    return deco


def baseline_tasks() -> list[str]:
    return sorted(_BASELINES)


def baselines_for(task: str) -> list[Baseline]:
    """Fresh (unfitted) baselines for `task`, reference first."""
    if task not in _BASELINES:
        raise RaytrainError(
            f"no baseline for task '{task}'{did_you_mean(task, _BASELINES)}; "
            f"baselines exist for: {', '.join(baseline_tasks())}"
        )
    return [cls() for cls in _BASELINES[task]]


def hard_logits(decision: np.ndarray) -> np.ndarray:
    """Boolean decisions as logits the binary tasks threshold back to the same decisions."""
    return np.where(decision, HARD_LOGIT, -HARD_LOGIT).astype(np.float32)


# -- edges ---------------------------------------------------------------------------------------


@register_baseline("edges")
class CannySobelEdges(Baseline):
    """The Canny + Sobel ensemble, thresholded at > 127.

    At > 127 a pixel is an edge when Canny marks it (0.7·255 ≈ 178 alone passes; Sobel's
    0.3·255 ≈ 76 alone never does), after the 3×3 closing — so this is Canny(50, 150) with
    small gaps closed, the detector a learned model is supposed to improve on.
    """

    name = "canny_sobel"
    description = "0.7·Canny(50,150) + 0.3·Sobel, 3×3 close, > 127"

    def predict(self, x: np.ndarray) -> np.ndarray:
        if x.ndim != 4 or x.shape[1] != 1:
            raise ValueError(f"expected uint8 images (B, 1, H, W), got {x.shape}")
        edges = np.stack([generate_ground_truth_edges(img[0]) > 127 for img in x])[:, None]
        return hard_logits(edges)


# -- regression ----------------------------------------------------------------------------------


def _design(x: np.ndarray) -> np.ndarray:
    """Features plus a column of ones (the intercept), float64 for a stable solve."""
    x = np.asarray(x, np.float64).reshape(len(x), -1)
    return np.hstack([x, np.ones((len(x), 1))])


@register_baseline("regression")
class LinearFit(Baseline):
    """Ordinary least squares on the features, with intercept (numpy `lstsq`).

    The reference for the coefficient optimizer: an MLP that cannot beat a linear model of the
    same five features has learned nothing a straight line does not know.
    """

    name = "linear"
    description = "least-squares linear fit on the features, with intercept"

    def __init__(self) -> None:
        self.coef: np.ndarray | None = None

    def fit(self, x: np.ndarray, y: np.ndarray) -> LinearFit:
        self.coef, *_ = np.linalg.lstsq(_design(x), np.asarray(y, np.float64).ravel(), rcond=None)
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        if self.coef is None:
            raise RuntimeError("LinearFit.predict before fit")
        return (_design(x) @ self.coef)[:, None]


@register_baseline("regression")
class MeanPredictor(Baseline):
    """Always the training-target mean: the floor every regressor must clear (R² ≈ 0)."""

    name = "mean"
    description = "predicts the training-split target mean"

    def __init__(self) -> None:
        self.mean: float | None = None

    def fit(self, x: np.ndarray, y: np.ndarray) -> MeanPredictor:
        self.mean = float(np.mean(y))
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        if self.mean is None:
            raise RuntimeError("MeanPredictor.predict before fit")
        return np.full((len(x), 1), self.mean)


# -- anomaly -------------------------------------------------------------------------------------


def best_f1_threshold(scores: np.ndarray, labels: np.ndarray) -> float:
    """The cut (score > t means positive) with the highest F1 on these scores and labels.

    Sorting once and sweeping the cut through every distinct score is exact and O(n log n);
    the returned threshold is the midpoint between the last positive and first negative score.
    """
    scores = np.asarray(scores, np.float64)
    labels = np.asarray(labels).astype(bool)
    if not labels.any():
        return float(np.max(scores))  # nothing to detect: flag nothing
    order = np.argsort(-scores, kind="stable")
    s, lab = scores[order], labels[order]
    tp = np.cumsum(lab)
    fp = np.cumsum(~lab)
    f1 = 2 * tp / (tp + fp + lab.sum())  # 2TP / (2TP + FP + FN), with FN = P - TP
    last = np.r_[s[1:] != s[:-1], True]  # cut only between distinct scores
    k = int(np.argmax(np.where(last, f1, -1.0)))
    return float((s[k] + s[k + 1]) / 2) if k + 1 < len(s) else float(s[k] - 1.0)


@register_baseline("anomaly")
class ZScoreDetector(Baseline):
    """Statistical tamper detector: how far a vector is from the normal ones, per dimension.

    Fit: mean and standard deviation of each dimension over the *normal* training vectors
    (std floored at 1e-6 so a dimension that is constant in normal data — e.g. zero padding
    beyond the last harmonic — still gives a finite, very large z when tampered). Score: mean
    z² over dimensions. Threshold: the one that maximizes F1 on the training split (uses the
    training labels, like the model does); scoring happens on a held-out split.
    """

    name = "zscore"
    description = "mean z² vs normal training vectors; threshold maximizing train F1"

    def __init__(self) -> None:
        self.mu: np.ndarray | None = None
        self.sd: np.ndarray | None = None
        self.threshold: float | None = None

    def score(self, x: np.ndarray) -> np.ndarray:
        if self.mu is None or self.sd is None:
            raise RuntimeError("ZScoreDetector used before fit")
        z = (np.asarray(x, np.float64) - self.mu) / self.sd
        return (z * z).mean(axis=1)

    def fit(self, x: np.ndarray, y: np.ndarray) -> ZScoreDetector:
        x = np.asarray(x, np.float64)
        normal = x[np.asarray(y).ravel() == 0]
        if len(normal) < 2:
            raise RaytrainError("the z-score baseline needs at least 2 normal training rows")
        self.mu = normal.mean(axis=0)
        self.sd = np.maximum(normal.std(axis=0), 1e-6)
        self.threshold = best_f1_threshold(self.score(x), np.asarray(y).ravel() > 0)
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        if self.threshold is None:
            raise RuntimeError("ZScoreDetector.predict before fit")
        return hard_logits(self.score(x) > self.threshold)[:, None]


# -- classification ------------------------------------------------------------------------------


@register_baseline("classification")
class NearestCentroid(Baseline):
    """The class whose mean training image is nearest (squared Euclidean on pixels in [0, 1]).

    Classes absent from the training split get no centroid and are never predicted.
    """

    name = "nearest_centroid"
    description = "nearest class-mean image (pixels, squared Euclidean)"

    def __init__(self) -> None:
        self.centroids: np.ndarray | None = None

    @staticmethod
    def _flat(x: np.ndarray) -> np.ndarray:
        return np.asarray(x, np.float64).reshape(len(x), -1) / 255.0

    def fit(self, x: np.ndarray, y: np.ndarray) -> NearestCentroid:
        flat, y = self._flat(x), np.asarray(y, np.int64).ravel()
        k = int(y.max()) + 1
        self.centroids = np.full((k, flat.shape[1]), np.nan)
        for c in range(k):
            if (y == c).any():
                self.centroids[c] = flat[y == c].mean(axis=0)
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        if self.centroids is None:
            raise RuntimeError("NearestCentroid.predict before fit")
        flat = self._flat(x)
        d2 = ((flat[:, None, :] - self.centroids[None]) ** 2).sum(axis=2)
        return np.where(np.isnan(d2), -np.inf, -d2)  # argmax = nearest present class


# -- scoring -------------------------------------------------------------------------------------


def as_task_tensors(x: np.ndarray, y: np.ndarray, task: Task) -> tuple[torch.Tensor, torch.Tensor]:
    """Pipeline arrays as the model and task take them: images and edge maps in [0, 1].

    The same conversion as the training loop's (`raytrain.train.loop.to_inputs`), so metrics
    here and in training are computed on the same scale.
    """
    from raytrain.tasks.resolve import to_inputs

    return to_inputs(
        {"x": torch.from_numpy(np.asarray(x)), "y": torch.from_numpy(np.asarray(y))}, task
    )


def update_baseline_stats(
    stats: torch.Tensor, task: Task, baseline: Baseline, x: np.ndarray, y: np.ndarray
) -> None:
    """Add one batch's sufficient statistics of `baseline` to `stats` (the task's vector)."""
    _, target = as_task_tensors(x, y, task)
    task.update_stats(stats, torch.as_tensor(baseline.predict(x)), target)


def score_baseline(
    task: Task, baseline: Baseline, batches: Iterable[tuple[np.ndarray, np.ndarray]]
) -> dict[str, float]:
    """The task's metrics of an already fitted baseline over (x, y) batches."""
    stats = task.new_stats()
    for x, y in batches:
        update_baseline_stats(stats, task, baseline, x, y)
    return task.compute_metrics(stats)
