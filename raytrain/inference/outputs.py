"""What a prediction returns, per task, and a plugin's metadata: plain dataclasses with a `rows()`
view for tables."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np


@dataclass(frozen=True)
class PluginMetadata:
    """A plugin's metadata, filled in from the registry entry."""

    name: str
    version: str
    author: str
    description: str
    plugin_type: str = "ai_model"
    model_type: str = ""
    dependencies: dict[str, str] = field(default_factory=dict)
    #: The registered model behind the plugin, as "name:version".
    model: str = ""


@dataclass
class EdgePrediction:
    """Edge maps, one per input, each at its input's size."""

    probabilities: list[np.ndarray]  # float32 (H, W) in [0, 1]
    edges: list[np.ndarray]  # uint8 (H, W), 0 or 255
    threshold: float
    notes: list[str] = field(default_factory=list)
    task: ClassVar[str] = "edges"

    def __len__(self) -> int:
        return len(self.edges)

    def rows(self) -> list[dict[str, Any]]:
        return [
            {
                "height": int(e.shape[0]),
                "width": int(e.shape[1]),
                "edge_fraction": float(np.count_nonzero(e) / e.size),
                "mean_probability": float(p.mean()),
            }
            for p, e in zip(self.probabilities, self.edges, strict=True)
        ]


@dataclass
class CountPrediction:
    """Coefficient counts: the model's real-valued output and the count to use."""

    counts: np.ndarray  # float32 (N,)
    rounded: np.ndarray  # int64 (N,), at least 1: a contour needs one coefficient
    notes: list[str] = field(default_factory=list)
    task: ClassVar[str] = "regression"

    def __len__(self) -> int:
        return len(self.counts)

    def rows(self) -> list[dict[str, Any]]:
        return [
            {"count": float(c), "count_rounded": int(r)}
            for c, r in zip(self.counts, self.rounded, strict=True)
        ]


@dataclass
class AnomalyPrediction:
    """Tamper scores (probability of "tampered") and labels (1 = tampered)."""

    scores: np.ndarray  # float32 (N,)
    labels: np.ndarray  # int64 (N,)
    threshold: float
    label_names: tuple[str, str] = ("normal", "tampered")
    notes: list[str] = field(default_factory=list)
    task: ClassVar[str] = "anomaly"

    def __len__(self) -> int:
        return len(self.scores)

    def rows(self) -> list[dict[str, Any]]:
        return [
            {"score": float(s), "label": int(k), "label_name": self.label_names[int(k)]}
            for s, k in zip(self.scores, self.labels, strict=True)
        ]


@dataclass
class ClassPrediction:
    """Class labels, their names and every class's probability."""

    probabilities: np.ndarray  # float32 (N, K)
    labels: np.ndarray  # int64 (N,)
    class_names: list[str]
    #: max probability >= the plugin's confidence_threshold (all True without one).
    confident: np.ndarray
    notes: list[str] = field(default_factory=list)
    task: ClassVar[str] = "classification"

    def __len__(self) -> int:
        return len(self.labels)

    def rows(self) -> list[dict[str, Any]]:
        out = []
        for p, k, ok in zip(self.probabilities, self.labels, self.confident, strict=True):
            row: dict[str, Any] = {
                "label": int(k),
                "class_name": self.class_names[int(k)],
                "probability": float(p[int(k)]),
                "confident": bool(ok),
            }
            row.update({f"p_{name}": float(v) for name, v in zip(self.class_names, p, strict=True)})
            out.append(row)
        return out


Prediction = EdgePrediction | CountPrediction | AnomalyPrediction | ClassPrediction
