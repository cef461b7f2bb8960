"""Checks of a prepared dataset before anything streams it.

`usable_shards` runs once per experiment before the pipeline is built: every shard of a split
must exist, match its sha256 in the manifest and be a readable parquet file with the row count
the manifest says, and no split may be empty. A problem stops the run with a message naming
the file; in skip mode the bad shard is left out and recorded. Checksums are remembered by
(path, size, mtime), so trials after the first only `stat` the shards. A dataset in a bucket
(`s3://...`) gets the same checks, its shards streamed once to check their sha256.

`check_rows` decodes every row too (`raytrain data validate` on a prepared folder).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from raytrain.data import fs
from raytrain.data.manifest import MANIFEST, SCHEMA_VERSION, Manifest, read_manifest
from raytrain.data.problems import Problems, merge_reports
from raytrain.errors import RaytrainError


def _verified_cache(root: str | Path) -> Path:
    from raytrain.data.io import default_data_root

    where = str(root) if fs.is_remote(root) else str(Path(root).resolve())
    key = hashlib.sha256(where.encode()).hexdigest()[:16]
    return default_data_root() / ".verified" / f"{key}.json"


def _load_verified(root: str | Path) -> dict[str, Any]:
    try:
        return json.loads(_verified_cache(root).read_text())
    except (OSError, ValueError):
        return {}


def _save_verified(root: str | Path, verified: dict[str, Any]) -> None:
    from raytrain.data.manifest import atomic_write_text

    with contextlib.suppress(OSError):  # a read-only cache only costs a re-check next time
        atomic_write_text(_verified_cache(root), json.dumps(verified))


def read_checked_manifest(root: str | Path) -> Manifest:
    m = read_manifest(root)
    if m.schema_version > SCHEMA_VERSION:
        raise RaytrainError(
            f"{fs.join(root, MANIFEST)}: schema version {m.schema_version} is newer than "
            f"this raytrain reads ({SCHEMA_VERSION}); upgrade raytrain"
        )
    return m


def _check_shard(root: str | Path, shard: Any, sink: Problems, verified: dict[str, Any]) -> bool:
    import pyarrow.parquet as pq

    path = fs.join(root, shard.path)
    st = fs.file_stamp(path)
    if st is None:
        sink.add(path, "missing shard", "shard listed in the manifest is missing", shard.rows)
        return False
    stamp = [*st, shard.sha256]
    if verified.get(shard.path) == stamp:
        return True
    try:
        where, filesystem = fs.arrow_args(path)
        rows = pq.read_metadata(where, filesystem=filesystem).num_rows
    except Exception as e:  # pyarrow raises several types for a truncated file
        sink.add(path, "unreadable parquet", f"not a readable parquet file ({e})", shard.rows)
        return False
    if rows != shard.rows:
        sink.add(
            path, "row count mismatch", f"{rows} rows, the manifest says {shard.rows}", shard.rows
        )
        return False
    digest = fs.sha256_of(path)
    if digest != shard.sha256:
        sink.add(
            path,
            "checksum mismatch",
            f"sha256 {digest[:12]}… does not match the manifest's {shard.sha256[:12]}… "
            f"(the file changed after it was prepared)",
            shard.rows,
        )
        return False
    verified[shard.path] = stamp
    return True


def usable_shards(
    root: str | Path, splits: tuple[str, ...], on_bad_data: str = "error"
) -> tuple[dict[str, list[str]], dict[str, Any]]:
    """({split: [shard path, ...]}, skip report) for the splits a run streams."""
    root = fs.as_root(root)
    m = read_checked_manifest(root)
    sink = Problems("skip" if on_bad_data == "skip" else "error")
    verified = _load_verified(root)
    out: dict[str, list[str]] = {}
    for split in splits:
        paths = m.shard_paths(root, split)  # an unknown split is an error naming the manifest
        sink.within(split)
        good = [
            str(fs.join(root, s.path))
            for s in m.splits[split].shards
            if _check_shard(root, s, sink, verified)
        ]
        if not good or m.splits[split].count == 0:
            raise RaytrainError(
                f"{fs.join(root, MANIFEST)}: the '{split}' split is empty"
                + (f" after skipping {len(paths) - len(good)} bad shard(s)" if paths else "")
            )
        out[split] = good
    _save_verified(root, verified)
    prepared = m.extra.get("skipped") or {}
    return out, merge_reports(prepared, sink.report()) if prepared else sink.report()


def data_report(
    root: str | Path,
    on_bad_data: str = "error",
    splits: tuple[str, ...] = ("train", "val"),
    image_size: int | None = None,
) -> dict[str, Any]:
    """What a run summary shows about bad data: rows skipped (when prepared and now) and why.

    In skip mode every row of the usable shards is also decoded once here, so rows that the
    pipeline will drop while it streams (an unreadable image, an image and edge map of
    different sizes, unless `image_size` resizes both) are counted with their reason before
    the run, not only logged by a data task during it. Error mode needs no such pass: the first
    bad row stops the run, naming it.
    """
    shards, report = usable_shards(root, splits, on_bad_data)
    if on_bad_data != "skip":
        return report
    root = fs.as_root(root)
    m = read_checked_manifest(root)
    sink = Problems("skip")
    for split in splits:
        sink.within(split)
        usable = set(shards[split])
        for shard in m.splits[split].shards:
            if str(fs.join(root, shard.path)) in usable:
                _check_rows_of(root, shard, sink, same_size=image_size is None)
    rows = sink.report()
    return merge_reports(report, rows) if rows.get("skipped_rows") else report


def check_rows(
    root: str | Path,
    sink: Problems,
    min_size: int | None = None,
    min_edge_density: float | None = None,
) -> dict[str, int]:
    """Every check of `usable_shards` plus decoding every image row; returns rows per split."""

    root = fs.as_root(root)
    m = read_checked_manifest(root)
    counts = {}
    for split, info in m.splits.items():
        sink.within(split)
        if info.count == 0:
            sink.add(fs.join(root, MANIFEST), "empty split", f"the '{split}' split is empty", 0)
        n = 0
        for shard in info.shards:
            if _check_shard(root, shard, sink, {}):
                n += _check_rows_of(root, shard, sink, min_size, min_edge_density)
        counts[split] = n
    return counts


def _check_rows_of(
    root: str | Path,
    shard: Any,
    sink: Problems,
    min_size: int | None = None,
    min_edge_density: float | None = None,
    same_size: bool = True,
) -> int:
    """Decode every row of one (readable) shard; add a problem per bad row; return good rows.
    `same_size`: image and edge map must match (not when the pipeline resizes both)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = fs.join(root, shard.path)
    where_, filesystem = fs.arrow_args(path)
    table = pq.read_table(where_, filesystem=filesystem)
    if "image" not in table.column_names:
        return table.num_rows
    n = 0
    ids = table["id"].to_pylist()
    images = table["image"].to_pylist()
    targets = table["target"].to_pylist()
    edge_maps = pa.types.is_binary(table.schema.field("target").type)
    for row_id, img_buf, tgt in zip(ids, images, targets, strict=True):
        where = f"{path} row '{row_id}'"
        img = _decode(img_buf)
        if img is None:
            sink.add(where, "unreadable image", "image is not a readable image")
            continue
        if min_size is not None and min(img.shape) < min_size:
            sink.add(where, "too small", f"image too small: {img.shape[1]}x{img.shape[0]}")
            continue
        if edge_maps:
            edge = _decode(tgt)  # None for a null or empty edge map too
            if edge is None:
                sink.add(where, "unreadable edge map", "edge map is not a readable image")
                continue
            if same_size and edge.shape != img.shape:
                sink.add(
                    where, "size mismatch", f"image {img.shape} and edge map {edge.shape} differ"
                )
                continue
            density = np.count_nonzero(edge) / edge.size
            if min_edge_density is not None and density < min_edge_density:
                sink.add(where, "edge map too sparse", f"edge map too sparse: {density:.4f}")
                continue
        n += 1
    return n


def _decode(buf: bytes | None) -> np.ndarray | None:
    if not buf:
        return None
    return cv2.imdecode(np.frombuffer(buf, np.uint8), cv2.IMREAD_GRAYSCALE)
