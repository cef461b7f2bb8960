"""Rows -> parquet shards (pyarrow). Shards are the unit Ray Data reads in parallel."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from raytrain.data.manifest import Shard, Split, sha256_file


def write_split(
    rows: Iterable[dict[str, Any]],
    root: str | Path,
    split: str,
    schema: pa.Schema,
    rows_per_shard: int = 256,
    max_shard_bytes: int = 16 << 20,
) -> Split:
    """Write rows (dicts matching `schema`) as `<root>/<split>/part-NNNNN.parquet`.

    A shard ends at `rows_per_shard` rows or `max_shard_bytes` of image bytes, whichever comes
    first: a shard is one Ray Data block, and big blocks of big images would crowd a small
    object store.
    """
    out = Path(root) / split
    out.mkdir(parents=True, exist_ok=True)
    shards: list[Shard] = []
    buf: list[dict[str, Any]] = []
    size = 0

    def flush() -> None:
        if not buf:
            return
        rel = f"{split}/part-{len(shards):05d}.parquet"
        table = pa.Table.from_pylist(buf, schema=schema)
        pq.write_table(table, Path(root) / rel)
        shards.append(Shard(rel, len(buf), sha256_file(Path(root) / rel)))
        buf.clear()

    for row in rows:
        buf.append(row)
        size += sum(len(v) for v in row.values() if isinstance(v, bytes))
        if len(buf) >= rows_per_shard or size >= max_shard_bytes:
            flush()
            size = 0
    flush()
    return Split(sum(s.rows for s in shards), shards)


def image_schema(target: str) -> pa.Schema:
    """Images as PNG bytes; target is PNG bytes (edge maps) or an int64 class label."""
    target_type = pa.binary() if target == "image" else pa.int64()
    return pa.schema([("id", pa.string()), ("image", pa.binary()), ("target", target_type)])


def vector_schema(dim: int, target_type: pa.DataType) -> pa.Schema:
    return pa.schema(
        [
            ("id", pa.string()),
            ("features", pa.list_(pa.float32(), dim)),
            ("target", target_type),
            ("kind", pa.string()),
        ]
    )
