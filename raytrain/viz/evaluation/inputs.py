"""What the evaluation plots are drawn from: `EvalArrays` (one run's predictions and truth,
checked on construction) and `LabelView` (anomaly and classification seen alike).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

TASKS = ("edges", "regression", "anomaly", "classification")


@dataclass
class EvalArrays:
    """One evaluation's predictions and truth; which fields matter depends on `task`.

    edges:          probs (N,H,W) in [0,1], targets (N,H,W) {0,1}, images (N,H,W) for display
    regression:     preds (N,), targets (N,)
    anomaly:        scores (N,) = P(tampered), targets (N,) {0,1}, kinds (N,) optional
    classification: probs (N,K) softmax, targets (N,) ints, images (M<=N, ...) optional

    Images are only displayed, so any range and layout (H,W | H,W,C | C,H,W) is accepted and
    rescaled per image. `threshold` is the decision threshold the run used (binary tasks).
    """

    task: str
    probs: np.ndarray | None = None
    targets: np.ndarray | None = None
    images: np.ndarray | None = None
    preds: np.ndarray | None = None
    scores: np.ndarray | None = None
    kinds: np.ndarray | None = None
    class_names: list[str] | None = None
    threshold: float = 0.5

    def __post_init__(self) -> None:
        """Coerce to numpy and fail here, with the field's name, rather than deep in a plot."""
        if self.task not in TASKS:
            raise ValueError(f"unknown task '{self.task}'; known: {', '.join(TASKS)}")
        need = {
            "edges": ("probs", "targets"),
            "regression": ("preds", "targets"),
            "anomaly": ("scores", "targets"),
            "classification": ("probs", "targets"),
        }[self.task]
        for name in need:
            if getattr(self, name) is None:
                raise ValueError(f"{self.task} evaluation needs `{name}`")
        t = np.asarray(self.targets)
        if self.task == "edges":
            self.probs = np.asarray(self.probs, np.float64)
            self.targets = (t > 0.5).astype(np.int64)
            if self.probs.ndim == 2:  # one image
                self.probs, self.targets = self.probs[None], self.targets[None]
            if self.probs.shape != self.targets.shape or self.probs.ndim != 3:
                raise ValueError(
                    f"edges: probs {self.probs.shape} and targets {self.targets.shape} must be "
                    "the same (N,H,W)"
                )
        elif self.task == "regression":
            self.preds = np.asarray(self.preds, np.float64).ravel()
            self.targets = t.astype(np.float64).ravel()
            _same_length(self.preds, self.targets, "preds")
        elif self.task == "anomaly":
            self.scores = np.asarray(self.scores, np.float64).ravel()
            self.targets = (t.ravel() > 0.5).astype(np.int64)
            _same_length(self.scores, self.targets, "scores")
            if self.kinds is not None:
                self.kinds = np.asarray(self.kinds).astype(str).ravel()
                _same_length(self.kinds, self.targets, "kinds")
        else:
            self.probs = np.asarray(self.probs, np.float64)
            if self.probs.ndim != 2:
                raise ValueError(f"classification: probs must be (N,K), got {self.probs.shape}")
            self.targets = t.astype(np.int64).ravel()
            _same_length(self.probs, self.targets, "probs")
            k = self.probs.shape[1]
            if self.targets.size and (self.targets.min() < 0 or self.targets.max() >= k):
                raise ValueError(f"classification: targets must lie in [0, {k})")
        if self.targets.size == 0:
            raise ValueError(f"{self.task}: nothing to evaluate (no rows)")
        if self.images is not None:
            self.images = np.asarray(self.images)
            n = len(self.targets)
            if len(self.images) > n:
                raise ValueError(f"{self.task}: {len(self.images)} images for {n} rows")
        names = self.class_names
        if names is not None and self.task in ("anomaly", "classification"):
            k = 2 if self.task == "anomaly" else self.probs.shape[1]  # type: ignore[union-attr]
            if len(names) != k:
                raise ValueError(f"{self.task}: {len(names)} class names for {k} classes")

    @property
    def names(self) -> list[str]:
        """Class names for the label tasks, defaulting like `raytrain.evaluation.evaluate` does."""
        if self.class_names:
            return list(self.class_names)
        if self.task == "anomaly":
            return ["normal", "tampered"]
        k = self.probs.shape[1] if self.task == "classification" else 0  # type: ignore[union-attr]
        return [str(i) for i in range(k)]


def _same_length(a: np.ndarray, b: np.ndarray, name: str) -> None:
    if len(a) != len(b):
        raise ValueError(f"`{name}` has {len(a)} rows, `targets` has {len(b)}")


@dataclass
class LabelView:
    """Anomaly and classification seen alike: (N,K) probabilities and the predicted label.

    Anomaly becomes K=2 with probs [1-s, s] and preds `s > threshold` (the run's rule, which is
    not argmax when the threshold is not 0.5).
    """

    probs: np.ndarray
    targets: np.ndarray
    preds: np.ndarray
    names: list[str]
    binary: bool
    images: np.ndarray | None = None

    @property
    def k(self) -> int:
        return self.probs.shape[1]

    @property
    def confidence(self) -> np.ndarray:
        """The probability given to the predicted label."""
        return self.probs[np.arange(len(self.preds)), self.preds]


def label_view(arrays: EvalArrays) -> LabelView:
    if arrays.task == "anomaly":
        s = arrays.scores
        assert s is not None and arrays.targets is not None
        return LabelView(
            np.stack([1.0 - s, s], axis=1),
            arrays.targets,
            (s > arrays.threshold).astype(np.int64),
            arrays.names,
            binary=True,
        )
    if arrays.task == "classification":
        p = arrays.probs
        assert p is not None and arrays.targets is not None
        return LabelView(
            p, arrays.targets, p.argmax(axis=1), arrays.names, binary=False, images=arrays.images
        )
    raise ValueError(f"{arrays.task} has no class labels")


def _as_bool(targets: Any) -> np.ndarray:
    return np.asarray(targets, np.float64).ravel() > 0.5
