"""The Ray Data pipeline: parquet shards -> decode + augment -> each worker's shard.

Shards are read by Ray Data read tasks, decoded and augmented by `map_batches` tasks that run in
parallel with training, and split across DDP workers by Ray Train (`get_dataset_shard`). Images
travel as uint8 (4x fewer bytes than float32 through the object store); the train loop converts
them to float on the worker. Data tasks ask for a fraction of a CPU so that they always fit next
to the training workers (see `raytrain.tune.resources`).
"""

from __future__ import annotations

import functools
import json
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from raytrain.data.augment import build_augmentation
from raytrain.data.manifest import Manifest, read_manifest

#: CPUs each Ray Data read/map task asks for. Small, so data tasks fit beside the workers.
DATA_TASK_CPUS = 0.25
MAP_BATCH_SIZE = 64


@dataclass(frozen=True)
class Preprocess:
    """What to do to a batch of rows; hashable so the built augmentation can be cached."""

    inputs: str  # "image" or "vector"
    target: str  # "image" (edge maps), "label" or "value"
    augmentation: str  # JSON of the augmentation spec ('"none"' on validation data)
    seed: int
    image_size: int | None = None


@functools.lru_cache(maxsize=8)
def _augmenter(spec_json: str, seed: int) -> Any:
    return build_augmentation(json.loads(spec_json), seed=seed)


def _decode(buf: bytes, row_id: str, what: str, size: int | None) -> np.ndarray:
    if not buf:
        raise ValueError(f"row '{row_id}': {what} is empty")
    img = cv2.imdecode(np.frombuffer(buf, np.uint8), cv2.IMREAD_GRAYSCALE)
    if img is None:
        raise ValueError(f"row '{row_id}': {what} is not a readable image")
    if size is not None and img.shape != (size, size):
        interp = cv2.INTER_NEAREST if what == "target" else cv2.INTER_AREA
        img = cv2.resize(img, (size, size), interpolation=interp)
    return img


def preprocess_batch(batch: dict[str, np.ndarray], p: Preprocess) -> dict[str, np.ndarray]:
    """Decode (and augment) one batch of rows into model-ready numpy arrays."""
    ids = [str(i) for i in batch["id"]]
    if p.inputs == "vector":
        x = np.stack([np.asarray(v, np.float32) for v in batch["features"]])
        y = batch["target"].astype(np.float32 if p.target == "value" else np.int64)
        return {"x": x, "y": y}
    aug = _augmenter(p.augmentation, p.seed)
    if aug is not None and ids:
        # Reproducible: the same rows in the same batch get the same augmentation.
        aug.set_random_seed(
            (p.seed * 1_000_003 + zlib.crc32(ids[0].encode()) + zlib.crc32(ids[-1].encode()))
            % 2**32
        )
    xs, ys = [], []
    for row_id, img_buf, target in zip(ids, batch["image"], batch["target"], strict=True):
        img = _decode(img_buf, row_id, "image", p.image_size)
        tgt = _decode(target, row_id, "target", p.image_size) if p.target == "image" else None
        if tgt is not None and tgt.shape != img.shape:
            raise ValueError(f"row '{row_id}': image {img.shape} and target {tgt.shape} differ")
        if aug is not None:
            out = aug(image=img, mask=tgt) if tgt is not None else aug(image=img)
            img, tgt = out["image"], out.get("mask", tgt)
        xs.append(img)
        ys.append(tgt if tgt is not None else target)
    x = np.stack(xs)[:, None]
    y = np.stack(ys)[:, None] if p.target == "image" else np.asarray(ys, np.int64)
    return {"x": x, "y": y}


def _read_shard_batch(batch: Any) -> Any:
    import pyarrow as pa
    import pyarrow.parquet as pq

    return pa.concat_tables([pq.read_table(p) for p in batch["path"].to_pylist()])


def read_shards(paths: list[str]) -> Any:
    """A Ray Dataset over parquet shard files, one read task per shard.

    Not `ray.data.read_parquet`: in Ray 2.60 its file-listing task always asks for a whole CPU,
    which never fits beside training workers on a small machine, and the search hangs. Reading
    a known list of shards needs no listing, and every task here asks for DATA_TASK_CPUS.
    """
    import ray.data

    return ray.data.from_items(
        [{"path": p} for p in paths], override_num_blocks=max(1, len(paths))
    ).map_batches(_read_shard_batch, batch_size=1, batch_format="pyarrow", num_cpus=DATA_TASK_CPUS)


def build_datasets(
    data_dir: str | Path,
    task_inputs: str,
    target: str,
    augmentation: Any,
    seed: int,
    image_size: int | None = None,
    splits: tuple[str, ...] = ("train", "val"),
) -> dict[str, Any]:
    """Lazy Ray Datasets for the given splits; only 'train' is augmented."""
    manifest: Manifest = read_manifest(data_dir)
    aug = augmentation.model_dump() if hasattr(augmentation, "model_dump") else augmentation
    if isinstance(aug, list):
        aug = [a.model_dump() if hasattr(a, "model_dump") else a for a in aug]
    out = {}
    for split in splits:
        p = Preprocess(
            inputs=task_inputs,
            target=target,
            augmentation=json.dumps(aug if split == "train" else "none"),
            seed=seed,
            image_size=image_size,
        )
        shards = read_shards(manifest.shard_paths(data_dir, split))
        out[split] = shards.map_batches(
            functools.partial(preprocess_batch, p=p),
            batch_size=MAP_BATCH_SIZE,
            batch_format="numpy",
            num_cpus=DATA_TASK_CPUS,
        )
    return out
