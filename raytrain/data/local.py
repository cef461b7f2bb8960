"""Reading a prepared split in this process, without Ray: for evaluation, the LR range test and
baselines, which want the whole split in file order rather than a stream."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from raytrain.data import fs
from raytrain.data.manifest import read_manifest
from raytrain.data.preprocess import Preprocess, preprocess_batch
from raytrain.errors import RaytrainError
from raytrain.models import DataInfo


class TaskIO(Protocol):
    """What reading needs to know of a task: what its inputs and targets are."""

    inputs: str  # "image" or "vector"
    target: str


def _column_to_numpy(col: Any) -> np.ndarray:
    """A pyarrow column as preprocess_batch expects it (what Ray's numpy batches look like).

    Bytes become an object array (a numpy 'S' array would strip trailing NUL bytes of a PNG),
    fixed-size lists a 2-D float array, everything else its plain numpy form.
    """
    import pyarrow as pa

    t = col.type
    if pa.types.is_list(t) or pa.types.is_fixed_size_list(t) or pa.types.is_large_list(t):
        values = col.to_pylist()
        return (
            np.stack([np.asarray(v, np.float32) for v in values])
            if values
            else np.zeros((0, 0), np.float32)
        )
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_string(t):
        out = np.empty(len(col), dtype=object)
        for i, v in enumerate(col.to_pylist()):
            out[i] = v
        return out
    return col.to_numpy(zero_copy_only=False)


def iter_split(
    data_dir: str | Path, split: str, p: Preprocess, batch_size: int = 64, limit: int | None = None
) -> Iterator[dict[str, np.ndarray]]:
    """Decoded batches ({"x", "y"} numpy) of one split of a prepared dataset, in file order."""
    import pyarrow.parquet as pq

    columns = ["id", "image" if p.inputs == "image" else "features", "target"]
    left = math.inf if limit is None else limit
    for path in read_manifest(data_dir).shard_paths(data_dir, split):
        where, filesystem = fs.arrow_args(path)
        source = filesystem.open_input_file(where) if filesystem else where
        for rb in pq.ParquetFile(source).iter_batches(batch_size=batch_size, columns=columns):
            if left <= 0:
                return
            if rb.num_rows > left:
                rb = rb.slice(0, int(left))
            left -= rb.num_rows
            yield preprocess_batch({c: _column_to_numpy(rb.column(c)) for c in columns}, p)


def read_split(
    data_dir: str | Path, split: str, p: Preprocess, limit: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """A whole split (or its first `limit` rows) as (x, y) arrays — for fitting baselines."""
    xs, ys = [], []
    for b in iter_split(data_dir, split, p, batch_size=256, limit=limit):
        xs.append(b["x"])
        ys.append(b["y"])
    if not xs:
        raise RaytrainError(f"{data_dir}: the '{split}' split is empty")
    return np.concatenate(xs), np.concatenate(ys)


def preprocess_for(task: TaskIO, data: DataInfo) -> Preprocess:
    """Validation-time decoding: no augmentation, images resized to the model's input size."""
    return Preprocess(
        inputs=task.inputs,
        target=task.target,
        augmentation=json.dumps("none"),
        seed=0,
        image_size=data.image_size if task.inputs == "image" else None,
    )
