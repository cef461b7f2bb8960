"""A prepared dataset in a bucket, against a real S3-compatible server (moto's server mode on
127.0.0.1): `raytrain data prepare --out s3://...` (manifest last, no silent overwrite),
`dataset.path: s3://...` checked before a run and read straight from the bucket (checks,
fingerprint, the test split), and a search that trains on it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from servers import make_bucket, moto_s3, s3_env

from raytrain.cli.app import main
from raytrain.config.schema import SampleDataSection
from raytrain.data import fs
from raytrain.data.sample import write_sample_folders
from raytrain.errors import RaytrainError


@pytest.fixture
def bucket(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Iterator[str]:
    """moto's S3 server with the bucket `data-bucket`, the environment pointing at it; yields
    a prefix of its own for the test (moto's objects outlive one server in a process)."""
    with moto_s3() as endpoint:
        for k, v in s3_env(endpoint).items():
            monkeypatch.setenv(k, v)
        make_bucket(endpoint, "data-bucket")
        yield f"s3://data-bucket/{request.node.name}"


def _raw(tmp: Path, n: int = 24, seed: int = 0) -> Path:
    s = SampleDataSection(num_train=n, num_val=8, num_test=8, seed=seed)
    return write_sample_folders("regression", s, tmp / f"raw-{n}-{seed}")


def _prepare(*args: str) -> Result:
    return CliRunner().invoke(main, ["data", "prepare", *args])


def _objects(prefix: str) -> list[str]:
    from pyarrow import fs as pafs

    f, root = fs.filesystem(prefix)
    infos = f.get_file_info(pafs.FileSelector(root, recursive=True, allow_not_found=True))
    return sorted(i.path[len(root) + 1 :] for i in infos if i.type == pafs.FileType.File)


def test_prepare_into_a_bucket_and_read_it_from_there(bucket: str, tmp_path: Path) -> None:
    uri = bucket
    from raytrain.data.checks import data_report, usable_shards
    from raytrain.data.local import iter_split, preprocess_for
    from raytrain.data.manifest import read_manifest
    from raytrain.data.provenance import data_fingerprint, data_provenance
    from raytrain.models import DataInfo

    raw = _raw(tmp_path)
    r = _prepare(str(raw), "--out", uri)
    assert r.exit_code == 0, r.output
    assert f"prepared regression dataset in {uri}: train 24, val 8, test 8" in r.output
    m = read_manifest(uri)
    shards = [s.path for split in m.splits.values() for s in split.shards]
    assert set(_objects(uri)) == {"manifest.json", "data_report.json", *shards}
    # the same raw data prepared locally: the same shards, byte for byte
    local = tmp_path / "local"
    assert _prepare(str(raw), "--out", str(local)).exit_code == 0
    assert data_fingerprint(uri) == data_fingerprint(local)
    prov = data_provenance(uri)
    assert prov["path"] == uri and prov["counts"] == {"train": 24, "val": 8, "test": 8}
    # every check a run makes before it streams, on the bucket's objects
    good, report = usable_shards(uri, ("train", "val"))
    assert good["train"] == [f"{uri}/{s.path}" for s in m.splits["train"].shards]
    assert data_report(uri, "skip")["skipped_rows"] == report["skipped_rows"] == 0

    # the test split, read in this process as the end-of-run scoring does
    class Io:
        inputs, target = "vector", "regression"

    p = preprocess_for(Io(), DataInfo(feature_dim=m.info["feature_dim"]))
    assert sum(len(b["x"]) for b in iter_split(uri, "test", p)) == 8
    # the same data again: nothing to upload
    again = _prepare(str(raw), "--out", uri)
    assert again.exit_code == 0 and "already there: nothing uploaded" in again.output


def test_a_dataset_in_the_bucket_is_replaced_only_with_overwrite(
    bucket: str, tmp_path: Path
) -> None:
    uri = bucket
    from raytrain.data.manifest import read_manifest

    assert _prepare(str(_raw(tmp_path)), "--out", uri).exit_code == 0
    other = _raw(tmp_path, n=16, seed=1)
    r = _prepare(str(other), "--out", uri)
    assert r.exit_code == 2, r.output
    assert f"--out {uri}: already holds a prepared dataset of other data" in r.output
    assert "--overwrite" in r.output
    assert read_manifest(uri).splits["train"].count == 24  # untouched
    r = _prepare(str(other), "--out", uri, "--overwrite")
    assert r.exit_code == 0, r.output
    m = read_manifest(uri)
    assert m.splits["train"].count == 16
    shards = {s.path for split in m.splits.values() for s in split.shards}
    assert set(_objects(uri)) == {"manifest.json", "data_report.json", *shards}  # no leftovers


def test_an_upload_that_dies_leaves_no_dataset(
    bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri = bucket
    """The manifest goes last: shards without it are no dataset, and are not silently reused."""
    import pyarrow.fs

    from raytrain.config import validate
    from raytrain.runtime.resources import check_places

    real, calls = pyarrow.fs.copy_files, []

    def dies_after_one(*args, **kwargs):  # noqa: ANN002, ANN003
        if calls:
            raise OSError("upload failed (simulated)")
        calls.append(args)
        return real(*args, **kwargs)

    raw = _raw(tmp_path)
    monkeypatch.setattr(pyarrow.fs, "copy_files", dies_after_one)
    r = _prepare(str(raw), "--out", uri)
    assert r.exit_code == 2 and "upload failed (simulated)" in r.output, r.output
    monkeypatch.setattr(pyarrow.fs, "copy_files", real)
    assert _objects(uri) and "manifest.json" not in _objects(uri)
    cfg = validate({"dataset": {"path": uri}, "model": {"architecture": "coefficient_optimizer"}})
    with pytest.raises(RaytrainError, match=r"dataset.path: .* not a prepared dataset"):
        check_places(cfg)
    r = _prepare(str(raw), "--out", uri)
    assert r.exit_code == 2 and "not empty and not a prepared dataset" in r.output, r.output
    assert _prepare(str(raw), "--out", uri, "--overwrite").exit_code == 0
    assert f"reads  dataset.path: {uri}" in check_places(cfg)


def test_a_bad_bucket_dataset_is_one_line_before_anything_runs(
    bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri = bucket
    from raytrain.config import validate
    from raytrain.runtime.resources import check_places

    def places(**dataset: str) -> list[str]:
        model = {"architecture": "coefficient_optimizer"}
        return check_places(validate({"dataset": dataset, "model": model}))

    with pytest.raises(RaytrainError) as e:
        places(path="s3://data-bucket/nothing-here")
    assert str(e.value) == (
        "dataset.path: s3://data-bucket/nothing-here is not a prepared dataset (no "
        "manifest.json there); run `raytrain data prepare SRC --out "
        "s3://data-bucket/nothing-here` first"
    )
    with pytest.raises(RaytrainError, match=r"^dataset.path: s3://no-such-bucket/x: bucket"):
        places(path="s3://no-such-bucket/x")
    f, root = fs.filesystem("s3://data-bucket/broken")  # a manifest that is no manifest
    with f.open_output_stream(f"{root}/manifest.json") as out:
        out.write(b"{not json")
    with pytest.raises(RaytrainError, match=r"^dataset.path: s3://data-bucket/broken/manifest"):
        places(path="s3://data-bucket/broken")
    with pytest.raises(RaytrainError, match=r"^dataset.train_path: s3://data-bucket/raw: only"):
        places(train_path="s3://data-bucket/raw", val_path="s3://data-bucket/raw")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    with pytest.raises(RaytrainError, match=r"cannot reach the endpoint http://127.0.0.1:9"):
        places(path=uri)


@pytest.mark.slow
def test_a_search_trains_on_a_dataset_in_a_bucket(bucket: str, tmp_path: Path) -> None:
    uri = bucket
    """prepare --out s3://..., then a 1-trial search with dataset.path on the bucket: the data
    reaches the trial from the bucket (no local copy exists), the best model is scored on the
    bucket's test split, and the registered version records the bucket's dataset."""
    import shutil

    from raytrain.data.provenance import data_fingerprint

    env = {**os.environ, "RAY_ADDRESS": "local", "PYTHONUNBUFFERED": "1"}
    raw = _raw(tmp_path, n=64)
    cmd = [sys.executable, "-m", "raytrain"]
    r = subprocess.run(
        [*cmd, "data", "prepare", str(raw), "--out", uri], env=env, capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr[-2000:]
    shutil.rmtree(raw)  # the bucket holds the only copy
    work = tmp_path / "work"
    cfg = tmp_path / "search.yaml"
    cfg.write_text(
        f"""
training: {{name: onbucket, seed: 3, output_dir: {work}}}
dataset: {{path: "{uri}", batch_size: 16, augmentation: none}}
model: {{architecture: coefficient_optimizer, hidden_dims: [8, 4], dropout: 0.0}}
training_params: {{num_epochs: 1}}
logging: {{visualizations: false, analysis: false, tensorboard: false}}
search: {{method: random, num_trials: 1}}
search_space:
  learning_rate: {{type: loguniform, low: 1e-3, high: 1e-1}}
resources: {{num_workers: 1, cpus_per_worker: 0.5}}
tune: {{scheduler: fifo}}
export: {{registry_dir: {work}/models, onnx: false}}
"""
    )
    r = subprocess.run([*cmd, "tune", str(cfg)], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:] + r.stdout[-3000:]
    assert f"dataset      {uri}" in r.stdout
    summary = json.loads((work / "onbucket" / "summary.json").read_text())
    assert summary["test_metrics"]["test_num_examples"] == 8  # the bucket's test split
    (trial,) = (work / "onbucket" / "trials").iterdir()
    steps = (trial / "steps_log.csv").read_text().splitlines()[1:]
    assert len(steps) == 64 // 16  # one epoch over the bucket's 64 training rows
    (entry,) = json.loads((work / "models" / "registry.json").read_text())["models"]["onbucket"]
    assert entry["data"]["path"] == uri
    assert entry["data"]["counts"] == {"train": 64, "val": 8, "test": 8}
    assert entry["data"]["fingerprint"] == data_fingerprint(uri)


def test_a_prepared_folder_is_replaced_only_with_overwrite(tmp_path: Path) -> None:
    from raytrain.data.manifest import read_manifest

    out = tmp_path / "prepared"
    assert _prepare(str(_raw(tmp_path)), "--out", str(out)).exit_code == 0
    other = str(_raw(tmp_path, n=16, seed=1))
    r = _prepare(other, "--out", str(out))
    assert r.exit_code == 2 and "already holds a prepared dataset of other data" in r.output
    r = _prepare(other, "--out", str(out), "--overwrite")
    assert r.exit_code == 0, r.output
    assert read_manifest(out).splits["train"].count == 16
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp left


@pytest.mark.parametrize("key", ["training.output_dir", "tune.storage_path"])
def test_train_into_a_bucket_is_one_line_before_ray_starts(key: str, tmp_path: Path) -> None:
    """`raytrain train` keeps its run in a folder; a bucket there is refused up front (in a
    process of its own: the suite's shared Ray session says nothing about this command's)."""
    bucket = "s3://results-bucket/runs"
    output_dir = bucket if key == "training.output_dir" else tmp_path
    tune = f"tune: {{storage_path: {bucket}}}\n" if key == "tune.storage_path" else ""
    cfg = tmp_path / "train.yaml"
    cfg.write_text(
        f"training: {{name: t, output_dir: {output_dir}}}\n"
        f"model: {{architecture: coefficient_optimizer}}\n{tune}"
    )
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    r = subprocess.run(
        [sys.executable, "-m", "raytrain", "train", str(cfg)],
        env=env,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr.startswith(
        f"error: {key}: s3://results-bucket/runs: `raytrain train` writes its run to a folder"
    )
    assert "raytrain tune" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert "Ray instance" not in r.stdout + r.stderr  # refused before Ray started
