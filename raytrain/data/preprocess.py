"""Decoding and augmenting a batch of rows: PNG bytes to uint8 arrays, albumentations seeded
per batch and epoch. Plain numpy and OpenCV, no Ray: the Ray Data pipeline maps it over shards;
evaluation and the LR range test call it in this process."""

from __future__ import annotations

import functools
import json
import logging
import zlib
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from raytrain.data.augment import build_augmentation

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Preprocess:
    """What to do to a batch of rows; hashable so the built augmentation can be cached."""

    inputs: str  # "image" or "vector"
    target: str  # "image" (edge maps), "label" or "value"
    augmentation: str  # JSON of the augmentation spec ('"none"' on validation data)
    seed: int
    image_size: int | None = None
    on_bad_data: str = "error"  # "skip": drop rows that cannot be decoded (logged)


@functools.lru_cache(maxsize=8)
def augmenter(spec_json: str, seed: int, target: str = "image") -> Any:
    return build_augmentation(json.loads(spec_json), seed=seed, target=target)


def decode_image(buf: bytes, row_id: str, what: str, size: int | None) -> np.ndarray:
    if not buf:
        raise ValueError(f"row '{row_id}': {what} is empty")
    img = cv2.imdecode(np.frombuffer(buf, np.uint8), cv2.IMREAD_GRAYSCALE)
    if img is None:
        raise ValueError(f"row '{row_id}': {what} is not a readable image")
    if size is not None and img.shape != (size, size):
        interp = cv2.INTER_NEAREST if what == "target" else cv2.INTER_AREA
        img = cv2.resize(img, (size, size), interpolation=interp)
    return img


def _where(batch: dict[str, np.ndarray], i: int, row_id: str) -> str:
    shard = batch.get("shard")
    return f"{shard[i]}: row '{row_id}'" if shard is not None else f"row '{row_id}'"


def decode_batch(
    batch: dict[str, np.ndarray], p: Preprocess, keep_ids: bool = True
) -> dict[str, np.ndarray]:
    """Rows -> model-ready uint8/float arrays, without augmentation (row ids kept for
    `augment_batch`'s seeding when `keep_ids`)."""
    ids = [str(i) for i in batch["id"]]
    if p.inputs == "vector":
        x = np.stack([np.asarray(v, np.float32) for v in batch["features"]])
        y = batch["target"].astype(np.float32 if p.target == "value" else np.int64)
        return {"x": x, "y": y}
    xs, ys, keep = [], [], []
    for i, (row_id, img_buf, target) in enumerate(
        zip(ids, batch["image"], batch["target"], strict=True)
    ):
        try:
            img = decode_image(img_buf, row_id, "image", p.image_size)
            tgt = (
                decode_image(target, row_id, "target", p.image_size)
                if p.target == "image"
                else None
            )
            if tgt is not None and tgt.shape != img.shape:
                raise ValueError(f"row '{row_id}': image {img.shape} and target {tgt.shape} differ")
        except ValueError as e:
            msg = f"{_where(batch, i, row_id)}: {str(e).split(': ', 1)[-1]}"
            if p.on_bad_data != "skip":
                raise ValueError(msg) from None
            log.warning("skipped %s", msg)
            continue
        xs.append(img)
        ys.append(tgt if tgt is not None else target)
        keep.append(i)
    if not xs:
        shape = (0, 1, p.image_size or 0, p.image_size or 0)
        y0 = np.zeros(shape, np.uint8) if p.target == "image" else np.zeros(0, np.int64)
        out = {"x": np.zeros(shape, np.uint8), "y": y0}
        if not keep_ids:
            return out
        return {**out, "id": np.array([], dtype=object), "pass": np.zeros(0, np.int64)}
    x = np.stack(xs)[:, None]
    y = np.stack(ys)[:, None] if p.target == "image" else np.asarray(ys, np.int64)
    if not keep_ids:
        return {"x": x, "y": y}
    out = {"x": x, "y": y, "id": np.array([ids[i] for i in keep], dtype=object)}
    if "pass" in batch:
        out["pass"] = np.asarray(batch["pass"])[keep]
    return out


def augment_batch(batch: dict[str, np.ndarray], p: Preprocess) -> dict[str, np.ndarray]:
    """Augment decoded uint8 images (and edge maps with them); reproducible per batch.

    The generator is seeded from the experiment seed, the pass over the data (the epoch, from
    `raytrain.data.cache`) and the batch's first and last row ids: the same rows in the same
    batch of the same epoch get the same augmentation on every run, and another epoch another.
    """
    aug = augmenter(p.augmentation, p.seed, p.target)
    ids = [str(i) for i in batch.get("id", [])]
    if aug is None or not ids or p.inputs == "vector":
        return {"x": batch["x"], "y": batch["y"]}
    passes = batch.get("pass")
    epoch = int(passes[0]) if passes is not None and len(passes) else 0
    aug.set_random_seed(
        (
            p.seed * 1_000_003
            + epoch * 7_919
            + zlib.crc32(ids[0].encode())
            + zlib.crc32(ids[-1].encode())
        )
        % 2**32
    )
    x, y = batch["x"], batch["y"]
    xs, ys = [], []
    for k in range(len(x)):
        if p.target == "image":
            out = aug(image=x[k, 0], mask=y[k, 0])
            xs.append(out["image"])
            ys.append(out["mask"])
        else:
            xs.append(aug(image=x[k, 0])["image"])
    return {"x": np.stack(xs)[:, None], "y": np.stack(ys)[:, None] if ys else y}


def preprocess_batch(batch: dict[str, np.ndarray], p: Preprocess) -> dict[str, np.ndarray]:
    """Decode (and augment) one batch of rows into model-ready numpy arrays."""
    return augment_batch(decode_batch(batch, p), p)
