"""`tune.storage_path: s3://...` on two Ray nodes with no shared file system (each `ray start`
with its own --temp-dir, results only in a bucket of moto's S3 server on 127.0.0.1): a 2-worker
DDP search across both nodes writes its experiment to the bucket, the driver is killed with
SIGKILL and `--resume` finishes from the bucket, the best model is registered in a registry in
the bucket, and `raytrain predict` loads it from there.

(One test for all of it: a one-node search in a bucket runs the same code, and each end-to-end
search costs a minute of the suite.)"""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from ray_helpers import (
    BIN,
    free_port,
    kill_driver_when,
    ray_env,
    run_to_end,
    start_node,
    stop_node,
    terminated,
    wait_until_cpus_free,
)
from servers import make_bucket, moto_s3, s3_env

pytestmark = pytest.mark.slow

RAYTRAIN = [sys.executable, "-m", "raytrain"]

CONFIG = """
training: {{name: spread, seed: 3, output_dir: {work}}}
dataset:
  batch_size: 8
  augmentation: none
  sample: {{num_train: 32, num_val: 16, num_test: 16, image_size: 32}}
model: {{architecture: unet, base_filters: 4, depth: 2}}
training_params: {{num_epochs: 2}}
logging: {{visualizations: false, analysis: false, tensorboard: false}}
search: {{method: random, num_trials: 2}}
search_space:
  learning_rate: {{type: loguniform, low: 1e-3, high: 1e-2}}
resources: {{num_workers: 2, placement_strategy: STRICT_SPREAD, max_concurrent_trials: 1}}
tune: {{scheduler: fifo, storage_path: "s3://cluster-bucket/results"}}
export: {{registry_dir: "s3://cluster-bucket/models", onnx: false}}
"""


def test_two_nodes_no_shared_disk_bucket_only(tmp_path: Path, monkeypatch) -> None:
    from raytrain.artifacts import storage

    with moto_s3() as endpoint:
        for k, v in s3_env(endpoint).items():
            monkeypatch.setenv(k, v)
        make_bucket(endpoint, "cluster-bucket")
        env = {**ray_env(), "RAYTRAIN_REGISTRY_CACHE": str(tmp_path / "cache")}
        port = free_port()
        address = f"127.0.0.1:{port}"
        nodes = []
        # one temp dir per node, and short: Ray's socket paths must fit in 107 characters
        temp_dirs = [tempfile.mkdtemp(prefix=f"rt{i}-", dir="/tmp") for i in (0, 1)]
        try:
            nodes.append(
                start_node(
                    ["--head", f"--port={port}", "--num-cpus=2", "--disable-usage-stats"]
                    + [f"--temp-dir={temp_dirs[0]}", "--include-dashboard=false"]
                )
            )
            deadline = time.monotonic() + 150
            status = [str(BIN / "ray"), "status", f"--address={address}"]
            while subprocess.run(status, env=env, capture_output=True).returncode != 0:
                assert time.monotonic() < deadline, "the head node did not start"
                time.sleep(2)
            nodes.append(
                start_node(
                    [f"--address={address}", "--num-cpus=2"] + [f"--temp-dir={temp_dirs[1]}"]
                )
            )
            wait = (
                f"import ray,time;ray.init(address='{address}');"
                "[time.sleep(1) for _ in range(90) if sum(n['Alive'] for n in ray.nodes())<2];"
                "print(sum(n['Alive'] for n in ray.nodes()))"
            )
            out = subprocess.run(
                [sys.executable, "-c", wait], env=env, capture_output=True, text=True, timeout=150
            )
            assert out.stdout.strip().splitlines()[-1:] == ["2"], out.stderr[-2000:]

            cfg = tmp_path / "space.yaml"
            cfg.write_text(CONFIG.format(work=tmp_path / "work"))
            uri = "s3://cluster-bucket/results/spread"
            cmd = [*RAYTRAIN, "tune", str(cfg), "--address", address]
            kill_driver_when(
                cmd, env, tmp_path / "first.log", lambda: terminated(f"{uri}/tune"), 400
            )
            assert storage.exists(f"{uri}/config.yaml")
            assert not storage.exists(f"{uri}/summary.json")
            # Tune wrote nothing of its own on the driver's disk: its experiment is in the bucket
            assert not (tmp_path / "work" / "spread" / "tune").exists()
            wait_until_cpus_free(address, env)
            # on a hang, `ray status -v` says what the cluster waits for
            out = run_to_end([*cmd, "--resume"], env, 600, explain=[*status, "-v"])
            assert f"resuming {uri}/tune" in out
        finally:
            for n in reversed(nodes):
                stop_node(n)
            for d in temp_dirs:
                shutil.rmtree(d, ignore_errors=True)

        rows = list(csv.DictReader(io.StringIO(storage.read_text(f"{uri}/trials.csv"))))
        assert len(rows) == 2 and all(r["status"] == "OK" for r in rows)
        for r in rows:  # rank 0 copied its logs to the bucket; the DDP run spanned both nodes
            log_csv = storage.read_text(f"{uri}/trials/{r['trial']}/training_log.csv")
            first = next(csv.DictReader(io.StringIO(log_csv)))
            assert float(first["world_size"]) == 2 and float(first["num_nodes"]) == 2
        summary = json.loads(storage.read_text(f"{uri}/summary.json"))
        assert summary["experiment_dir"] == uri and summary["resumed"] is True
        assert summary["best"]["checkpoint_path"].startswith("s3://cluster-bucket/results/")
        assert summary["registered"]["version"] == "1.0.0"
        index = json.loads(storage.read_text("s3://cluster-bucket/models/registry.json"))
        assert [e["version"] for e in index["models"]["spread"]] == ["1.0.0"]
        # nothing of the search on either node's disk: only the driver's working copy
        assert not list((tmp_path / "work").rglob("*.pt"))

        import cv2
        import numpy as np

        img = tmp_path / "in.png"
        cv2.imwrite(str(img), np.random.default_rng(0).integers(0, 255, (32, 32), np.uint8))
        predicted = subprocess.run(
            [*RAYTRAIN, "predict", "spread", str(img), "--out", str(tmp_path / "edges")]
            + ["--root", "s3://cluster-bucket/models"],
            env=env,
            capture_output=True,
            text=True,
        )
        assert predicted.returncode == 0, predicted.stderr[-2000:]
        assert list((tmp_path / "edges").glob("*.png"))
