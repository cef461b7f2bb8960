"""Statistics of a training split that the model or loss needs before the first step.

Computed once when a dataset is prepared and stored in the manifest's `info`, so no trial ever
scans the data: regression target mean/std (target scaling), the fraction of edge pixels
(class-balanced BCE), class counts (balance).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pyarrow.parquet as pq

from raytrain.data.manifest import Split


def _column(root: Path, split: Split, name: str) -> list[Any]:
    out: list[Any] = []
    for shard in split.shards:
        out.extend(pq.read_table(root / shard.path, columns=[name])[name].to_pylist())
    return out


def split_stats(root: str | Path, split: Split, task: str) -> dict[str, Any]:
    root = Path(root)
    if task == "regression":
        y = np.asarray(_column(root, split, "target"), np.float64)
        return {"target_mean": float(y.mean()), "target_std": float(y.std() or 1.0)}
    if task == "edges":
        on = total = 0
        for buf in _column(root, split, "target"):
            edge = cv2.imdecode(np.frombuffer(buf, np.uint8), cv2.IMREAD_GRAYSCALE)
            if edge is not None:
                on += int((edge > 127).sum())
                total += edge.size
        return {"positive_fraction": on / total if total else None}
    if task in ("classification", "anomaly"):
        counts = np.bincount(np.asarray(_column(root, split, "target"), np.int64))
        out: dict[str, Any] = {"class_counts": counts.tolist()}
        if task == "anomaly" and counts.sum():
            out["positive_fraction"] = float(counts[1:].sum() / counts.sum())
        return out
    return {}
