"""What a model was trained on, in a few fields: the prepared dataset's fingerprint.

The fingerprint is a sha256 over the manifest's per-shard checksums (split, path, rows, sha256):
two prepared datasets with the same fingerprint hold the same bytes, wherever they live. When
`raytrain data prepare` made the folder from raw files, the fingerprint of those raw files and
options (`manifest.extra.fingerprint`) is kept beside it as `source_fingerprint`.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from raytrain.data import fs
from raytrain.data.manifest import read_manifest


def data_fingerprint(data_dir: str | Path) -> str:
    """sha256 over every shard's split, path, row count and checksum, in manifest order."""
    manifest = read_manifest(data_dir)
    h = hashlib.sha256(manifest.task.encode())
    for name in sorted(manifest.splits):
        for shard in manifest.splits[name].shards:
            h.update(f"\n{name}\t{shard.path}\t{shard.rows}\t{shard.sha256}".encode())
    return h.hexdigest()


def data_provenance(data_dir: str | Path) -> dict[str, Any]:
    """The `data` record of a registered version: fingerprint, where, what, how many."""
    manifest = read_manifest(data_dir)
    out: dict[str, Any] = {
        "fingerprint": data_fingerprint(data_dir),
        "path": str(data_dir) if fs.is_remote(data_dir) else str(Path(data_dir).absolute()),
        "source": manifest.source,
        "task": manifest.task,
        "counts": {k: s.count for k, s in manifest.splits.items()},
    }
    if manifest.extra.get("fingerprint"):
        out["source_fingerprint"] = manifest.extra["fingerprint"]
    return out
