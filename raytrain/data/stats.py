"""Statistics of a training split that the model or loss needs before the first step.

Computed once when a dataset is prepared and stored in the manifest's `info`, so no trial ever
scans the data: regression target mean/std (target scaling), the fraction of edge pixels
(class-balanced BCE), class counts (balance).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pyarrow.parquet as pq

from raytrain.data import layouts
from raytrain.data.manifest import MANIFEST, Split, read_manifest
from raytrain.data.problems import Problems
from raytrain.errors import RaytrainError


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


# -- `raytrain data stats` ----------------------------------------------------------------------


def _rows_stats(rows: Iterable[dict[str, Any]], class_names: list[str] | None) -> dict[str, Any]:
    """Counts, image sizes, class balance, edge density and target range of some rows."""
    n = 0
    sizes: Counter[str] = Counter()
    labels: Counter[Any] = Counter()
    kinds: Counter[str] = Counter()
    edge_on = edge_total = 0
    values: list[float] = []
    for row in rows:
        n += 1
        if row.get("image") is not None:
            img = cv2.imdecode(np.frombuffer(row["image"], np.uint8), cv2.IMREAD_GRAYSCALE)
            if img is not None:
                sizes[f"{img.shape[1]}x{img.shape[0]}"] += 1
        target = row.get("target")
        if isinstance(target, bytes):
            edge = cv2.imdecode(np.frombuffer(target, np.uint8), cv2.IMREAD_GRAYSCALE)
            if edge is not None:
                edge_on += int(np.count_nonzero(edge))
                edge_total += edge.size
        elif isinstance(target, float):
            values.append(target)
        elif target is not None:
            labels[int(target)] += 1
        if row.get("kind"):
            kinds[row["kind"]] += 1
    out: dict[str, Any] = {"count": n}
    if sizes:
        out["image_sizes"] = dict(sizes.most_common())
    if edge_total:
        out["edge_density"] = edge_on / edge_total
    if labels:
        names = class_names or []
        out["class_balance"] = {
            (names[k] if k < len(names) else str(k)): v for k, v in sorted(labels.items())
        }
    if values:
        y = np.asarray(values)
        out["target"] = {
            "mean": float(y.mean()),
            "std": float(y.std()),
            "min": float(y.min()),
            "max": float(y.max()),
        }
    if len(kinds) > 1:
        out["kinds"] = dict(sorted(kinds.items()))
    return out


def _parquet_rows(root: Path, split: Split) -> Iterator[dict[str, Any]]:
    for shard in split.shards:
        table = pq.read_table(root / shard.path)
        cols = [c for c in ("image", "target", "kind") if c in table.column_names]
        yield from table.select(cols).to_pylist()


def dataset_stats(path: str | Path) -> dict[str, Any]:
    """Per-split statistics of a prepared dataset or a raw folder in a supported layout."""
    root = Path(path).expanduser()
    if (root / MANIFEST).exists():
        m = read_manifest(root)
        names = m.info.get("class_names")
        return {
            "path": str(root),
            "task": m.task,
            "splits": {k: _rows_stats(_parquet_rows(root, s), names) for k, s in m.splits.items()},
        }
    return _raw_stats(root)


def _raw_stats(root: Path) -> dict[str, Any]:
    if not root.exists():
        raise RaytrainError(f"{root}: does not exist")
    splits = layouts.split_folders(root)
    train = splits.get("train", next(iter(splits.values())))
    layout = layouts.detect_layout(train)
    task = layouts.layout_task(train)
    classes = layouts.class_names(train) if layout == "classes" else None
    sink = Problems("collect")
    out: dict[str, Any] = {"path": str(root), "task": task, "splits": {}}
    for name, split in splits.items():
        if layout == "edges":
            rows: Iterable[dict[str, Any]] = layouts.edge_rows(split, sink)
        elif layout == "classes":
            rows = layouts.class_rows(split, classes or [], sink)
        elif layout == "metadata":
            rows = layouts.metadata_rows(split, sink)
        elif layout == "anomaly":
            rows = layouts.anomaly_rows(split, sink)
        else:
            npz = layouts.npz_of(split)
            rows = layouts.npz_rows(npz, task, sink) if npz else []
        names = (
            classes
            if layout == "classes"
            else (["normal", "anomalous"] if task == "anomaly" else None)
        )
        out["splits"][name] = _rows_stats(rows, names)
    if sink:
        out["problems"] = len(sink)  # `raytrain data validate` lists them
    return out
