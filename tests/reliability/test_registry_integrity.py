"""Registry integrity under concurrency: 8 processes × 50 registrations of the same name.

Every registration must land (400 entries), the index must stay valid JSON, no version may be
handed out twice, and every file's recorded sha256 must match what is on disk. Writes go
through a temp file + fsync + rename under an exclusive lock (see raytrain/artifacts/registry.py).
"""

from __future__ import annotations

import json
import multiprocessing as mp
from pathlib import Path

import pytest

from raytrain.artifacts.registry import INDEX, ModelRegistry, parse_version
from raytrain.data.manifest import sha256_file

PROCESSES, PER_PROCESS = 8, 50

pytestmark = pytest.mark.slow


def _register_many(root: str, checkpoint: str, worker: int) -> None:
    registry = ModelRegistry(root)
    for i in range(PER_PROCESS):
        registry.register("shared", checkpoint, onnx=False, source={"worker": worker, "i": i})


def test_concurrent_registrations_are_all_kept(tmp_path: Path) -> None:
    from unit_helpers import make_checkpoint

    _, checkpoint = make_checkpoint(tmp_path / "ckpt", "anomaly_detector")
    root = tmp_path / "models"
    ctx = mp.get_context("spawn")
    procs = [
        ctx.Process(target=_register_many, args=(str(root), str(checkpoint), w))
        for w in range(PROCESSES)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=600)
        assert p.exitcode == 0

    index = json.loads((root / INDEX).read_text())  # valid JSON after 400 concurrent writes
    entries = index["models"]["shared"]
    assert len(entries) == PROCESSES * PER_PROCESS
    versions = [e["version"] for e in entries]
    assert len(set(versions)) == len(versions), "a version was handed out twice"
    assert sorted(parse_version(v) for v in versions) == [
        (1, i, 0) for i in range(PROCESSES * PER_PROCESS)
    ]
    seen = {(e["source"]["worker"], e["source"]["i"]) for e in entries}
    assert len(seen) == PROCESSES * PER_PROCESS
    registry = ModelRegistry(root)
    for entry in entries:
        folder = registry.path_of(entry)
        for name, digest in entry["files"].items():
            assert sha256_file(folder / name) == digest, (entry["version"], name)
    assert not list(root.glob("shared/.*")), "temp folders left behind"
