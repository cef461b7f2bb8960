"""A bucket registry never deletes or overwrites files it did not just upload itself (moto's S3
server on 127.0.0.1): a version prefix left by a writer that died before its index write is
stepped over with a fresh version number, exactly as the folder registry steps over a
leftover folder; a registration whose upload fails removes only its own files.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from servers import make_bucket, moto_s3, s3_env

from raytrain.artifacts import storage
from raytrain.artifacts.registry import INDEX, ModelRegistry
from raytrain.errors import RaytrainError


@pytest.fixture
def s3(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[str]:
    """A registry root of its own in a bucket of moto's S3 server (moto's objects outlive one
    server in a process)."""
    with moto_s3() as endpoint:
        for k, v in s3_env(endpoint).items():
            monkeypatch.setenv(k, v)
        monkeypatch.setenv("RAYTRAIN_REGISTRY_CACHE", str(tmp_path / "cache"))
        make_bucket(endpoint, "models-bucket")
        yield f"s3://models-bucket/{request.node.name}"


def _checkpoint(tmp: Path) -> Path:
    from unit_helpers import make_checkpoint

    return make_checkpoint(tmp / "ckpt", "anomaly_detector")[1]


def _leave(root: str | Path, rel: str, data: bytes) -> None:
    """A file as a writer that died before its index write left it."""
    storage.write_bytes(storage.join(root, rel), data)


@pytest.mark.parametrize("where", ["bucket", "folder"])
def test_a_dead_writers_files_are_stepped_over_not_replaced(
    where: str, s3: str, tmp_path: Path
) -> None:
    root = s3 if where == "bucket" else tmp_path / "models"
    checkpoint = _checkpoint(tmp_path)
    registry = ModelRegistry(root)
    assert registry.register("m", checkpoint, onnx=False)["version"] == "1.0.0"
    _leave(root, "m/1.1.0/model.pt", b"half an upload")  # no meta.json: a partial version
    second = registry.register("m", checkpoint, onnx=False)
    assert second["version"] == "1.1.1"  # 1.1.0's place is taken: the next patch
    assert storage.read_bytes(storage.join(root, "m/1.1.0/model.pt")) == b"half an upload"
    meta = storage.read_bytes(storage.join(root, "m/1.0.0/meta.json"))
    _leave(root, "m/2.0.0/meta.json", meta)  # a whole version the index never got
    _leave(root, "m/2.0.0/model.pt", b"theirs")
    with pytest.raises(RaytrainError, match="2.0.0 was already issued"):
        registry.register("m", checkpoint, onnx=False, version="2.0.0")
    third = registry.register("m", checkpoint, onnx=False)
    assert third["version"] == "2.1.0"  # numbered past it, as if it were listed
    assert storage.read_bytes(storage.join(root, "m/2.0.0/model.pt")) == b"theirs"
    index = json.loads(storage.read_text(storage.join(root, INDEX)))
    assert [e["version"] for e in index["models"]["m"]] == ["1.0.0", "1.1.1", "2.1.0"]


def test_a_failed_upload_removes_only_its_own_files(
    s3: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import raytrain.artifacts.remote_registry as rr

    checkpoint = _checkpoint(tmp_path)
    registry = ModelRegistry(s3)
    registry.register("m", checkpoint, onnx=False)
    _leave(s3, "m/1.1.0/model.pt", b"someone else's")
    real = rr.storage.upload_dir

    def upload_then_fail(local: Path, uri: str) -> None:
        real(local, uri)
        raise OSError("the network went away (simulated)")

    monkeypatch.setattr(rr.storage, "upload_dir", upload_then_fail)
    with pytest.raises(OSError, match="simulated"):
        registry.register("m", checkpoint, onnx=False)
    assert not storage.is_dir(f"{s3}/m/1.1.1")  # its own upload: gone
    assert storage.read_bytes(f"{s3}/m/1.1.0/model.pt") == b"someone else's"
    assert [e["version"] for e in registry.list()["m"]] == ["1.0.0"]
    assert not storage.exists(f"{s3}/.registry.lock")
