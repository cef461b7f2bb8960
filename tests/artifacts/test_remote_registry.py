"""The model registry on object storage, against a real S3-compatible server (moto's server
mode on 127.0.0.1): 8 concurrent writers lose and duplicate no version; list, show, promote,
remove, export, predict and `raytrain.load_model` read it from the bucket; a stale lock left by
a dead writer is broken; bad buckets and endpoints are one error line.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from servers import make_bucket, moto_s3, s3_env

from raytrain.artifacts import storage
from raytrain.artifacts.registry import INDEX, ModelRegistry, parse_version
from raytrain.data.manifest import sha256_file
from raytrain.errors import RaytrainError

PROCESSES, PER_PROCESS = 8, 2
RAYTRAIN = [sys.executable, "-m", "raytrain"]


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    with moto_s3() as endpoint:
        for k, v in s3_env(endpoint).items():
            monkeypatch.setenv(k, v)
        monkeypatch.setenv("RAYTRAIN_REGISTRY_CACHE", str(tmp_path / "cache"))
        make_bucket(endpoint, "models-bucket")
        yield endpoint


def _register_many(root: str, checkpoint: str, worker: int, env: dict[str, str]) -> None:
    os.environ.update(env)
    registry = ModelRegistry(root)
    for i in range(PER_PROCESS):
        registry.register("shared", checkpoint, onnx=False, source={"worker": worker, "i": i})


@pytest.mark.slow
def test_eight_writers_on_a_bucket_lose_nothing(s3: str, tmp_path: Path) -> None:
    from unit_helpers import make_checkpoint

    _, checkpoint = make_checkpoint(tmp_path / "ckpt", "anomaly_detector")
    root = "s3://models-bucket/team/models"
    env = {**s3_env(s3), "RAYTRAIN_REGISTRY_CACHE": str(tmp_path / "cache")}
    ctx = mp.get_context("spawn")
    procs = [
        ctx.Process(target=_register_many, args=(root, str(checkpoint), w, env))
        for w in range(PROCESSES)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
        assert p.exitcode == 0

    index = json.loads(storage.read_text(f"{root}/{INDEX}"))
    entries = index["models"]["shared"]
    assert len(entries) == PROCESSES * PER_PROCESS
    versions = sorted(parse_version(e["version"]) for e in entries)
    assert versions == [(1, i, 0) for i in range(PROCESSES * PER_PROCESS)]
    assert len({(e["source"]["worker"], e["source"]["i"]) for e in entries}) == len(entries)
    assert not storage.exists(f"{root}/.registry.lock")
    registry = ModelRegistry(root)
    assert type(registry).__name__ == "RemoteRegistry"
    for entry in entries[:4]:
        folder = registry.path_of(entry)  # downloaded into the cache
        for name, digest in entry["files"].items():
            assert sha256_file(folder / name) == digest, (entry["version"], name)


def test_commands_read_and_write_the_bucket(s3: str, tmp_path: Path) -> None:
    from unit_helpers import make_checkpoint

    import raytrain

    _, checkpoint = make_checkpoint(tmp_path / "ckpt", "anomaly_detector")
    root = "s3://models-bucket/models"
    registry = ModelRegistry(root)
    first = registry.register("tamper", checkpoint, onnx=False)
    second = registry.register("tamper", storage_copy(checkpoint, f"{root}-incoming/ckpt"))
    assert (first["version"], second["version"]) == ("1.0.0", "1.1.0")
    model = raytrain.load_model("tamper:1.0.0", root=root)
    assert not model.training

    from click.testing import CliRunner

    from raytrain.cli.app import main

    def cli(*args: str):  # in this process: the commands, not torch's import time, are tested
        res = CliRunner().invoke(main, list(args))
        return SimpleNamespace(stdout=res.output, stderr=res.output, returncode=res.exit_code)

    listed = cli("registry", "list", "--root", root, "--json")
    assert listed.returncode == 0, listed.stderr
    assert [e["version"] for e in json.loads(listed.stdout)["tamper"]] == ["1.0.0", "1.1.0"]
    assert cli("registry", "promote", "tamper:1.1.0", "production", "--root", root).returncode == 0
    shown = cli("registry", "show", "tamper@production", "--root", root, "--json")
    assert json.loads(shown.stdout)["version"] == "1.1.0", shown.stderr
    refused = cli("registry", "remove", "tamper:1.1.0", "--root", root)
    assert refused.returncode == 2 and "in production" in refused.stderr
    assert cli("registry", "remove", "tamper:1.0.0", "--root", root).returncode == 0
    assert not storage.is_dir(f"{root}/tamper/1.0.0")
    out = tmp_path / "dist"
    exported = cli("export", "tamper@production", "--out", str(out), "--root", root)
    assert exported.returncode == 0, exported.stderr
    assert (out / "tamper_v1.1.0.pth").exists() and (out / "tamper_v1.1.0.onnx").exists()
    vec = tmp_path / "coeffs.npy"
    import numpy as np

    np.save(vec, np.random.default_rng(0).random((4, model_features(registry))).astype("float32"))
    predicted = cli(
        "predict", "tamper@production", str(vec), "--out", str(tmp_path / "p"), "--root", root
    )
    assert predicted.returncode == 0, predicted.stderr
    assert (tmp_path / "p" / "predictions.csv").exists()


def model_features(registry: ModelRegistry) -> int:
    return int(registry.get("tamper")["input_shape"][-1])


def storage_copy(local: Path, uri: str) -> str:
    storage.upload_dir(local, uri)
    return uri


def test_a_dead_writers_lock_is_broken(s3: str, tmp_path: Path, monkeypatch) -> None:
    from unit_helpers import make_checkpoint

    import raytrain.artifacts.remote_registry as rr

    _, checkpoint = make_checkpoint(tmp_path / "ckpt", "anomaly_detector")
    root = "s3://models-bucket/locked"
    storage.write_text(f"{root}/.registry.lock", '{"pid": 1}')
    monkeypatch.setattr(rr, "LOCK_WAIT_S", 1.0)
    with pytest.raises(RaytrainError, match="registry lock"):
        ModelRegistry(root).register("m", checkpoint, onnx=False)
    monkeypatch.setattr(rr, "LOCK_LEASE_S", 0.0)  # now the lock counts as abandoned
    assert ModelRegistry(root).register("m", checkpoint, onnx=False)["version"] == "1.0.0"


def test_bad_buckets_are_one_line(s3: str, tmp_path: Path, monkeypatch) -> None:
    with pytest.raises(RaytrainError, match="does not exist"):
        storage.check_writable("s3://no-such-bucket/x", "export.registry_dir")
    with pytest.raises(RaytrainError) as e:
        ModelRegistry("s3://no-such-bucket/models").list()
    assert "\n" not in str(e.value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    with pytest.raises(RaytrainError, match="cannot reach the endpoint"):
        storage.check_writable("s3://models-bucket/x", "tune.storage_path")


def test_rejected_credentials_and_no_permission(monkeypatch) -> None:
    import boto3
    from servers import S3_KEYS, moto_s3_with_auth

    with moto_s3_with_auth(free_requests=3) as endpoint:
        admin = {
            "endpoint_url": endpoint,
            "aws_access_key_id": "admin",
            "aws_secret_access_key": "admin",
            "region_name": "us-east-1",
        }
        boto3.client("s3", **admin).create_bucket(Bucket="private")
        iam = boto3.client("iam", **admin)
        iam.create_user(UserName="nobody")  # a real key with no policy: may do nothing
        key = iam.create_access_key(UserName="nobody")["AccessKey"]
        for k, v in {**S3_KEYS, "AWS_ENDPOINT_URL": endpoint}.items():
            monkeypatch.setenv(k, v)
        for key_id, secret in (("wrong", "wrong"), (key["AccessKeyId"], key["SecretAccessKey"])):
            monkeypatch.setenv("AWS_ACCESS_KEY_ID", key_id)
            monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
            with pytest.raises(RaytrainError, match="access denied") as e:
                storage.check_writable("s3://private/results", "tune.storage_path")
            assert str(e.value).startswith("tune.storage_path: s3://private/results: ")
            with pytest.raises(RaytrainError, match="private/models"):
                ModelRegistry("s3://private/models").list()
