"""`tune.storage_path: s3://...` against a real S3-compatible server (moto's server mode on
127.0.0.1): a search writes its experiment to the bucket, its driver is killed with SIGKILL,
`--resume` finishes it from the bucket, the best model is registered in a registry in the
bucket and `raytrain predict` loads it from there.
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from servers import make_bucket, moto_s3, s3_env

pytestmark = pytest.mark.slow

RAYTRAIN = [sys.executable, "-m", "raytrain"]
NUM_TRIALS = 3

CONFIG = """
training: {{name: ons3, seed: 3, output_dir: {work}}}
dataset:
  batch_size: 16
  augmentation: none
  sample: {{num_train: 64, num_val: 32, num_test: 16, image_size: 32}}
model: {{architecture: coefficient_optimizer, hidden_dims: [8, 4], dropout: 0.0}}
training_params: {{num_epochs: 2}}
logging: {{visualizations: false, analysis: false, tensorboard: false}}
search: {{method: tpe, num_trials: {n}, startup_trials: 2}}
search_space:
  learning_rate: {{type: loguniform, low: 1e-3, high: 1e-1}}
resources: {{num_workers: 1, cpus_per_worker: 0.5, max_concurrent_trials: 2}}
tune: {{scheduler: fifo, storage_path: "s3://results-bucket/searches"}}
export: {{registry_dir: "s3://results-bucket/models", onnx: false}}
"""


def _terminated(uri: str) -> set[str]:
    from raytrain.artifacts import storage

    try:
        names = [n for n in storage.listdir(f"{uri}/tune") if n.startswith("experiment_state")]
        if not names:
            return set()
        data = json.loads(storage.read_text(f"{uri}/tune/{sorted(names)[-1]}"))
    except (OSError, ValueError):
        return set()
    trials = [json.loads(t) for t, _ in data["trial_data"]]
    return {t["trial_id"] for t in trials if t.get("status") == "TERMINATED"}


def test_search_on_a_bucket_killed_and_resumed(tmp_path: Path, monkeypatch) -> None:
    from raytrain.artifacts import storage

    with moto_s3() as endpoint:
        for k, v in s3_env(endpoint).items():
            monkeypatch.setenv(k, v)
        make_bucket(endpoint, "results-bucket")
        env = {
            **os.environ,
            "RAY_ADDRESS": "local",
            "PYTHONUNBUFFERED": "1",
            "RAYTRAIN_REGISTRY_CACHE": str(tmp_path / "cache"),
        }
        cfg = tmp_path / "space.yaml"
        cfg.write_text(CONFIG.format(work=tmp_path / "work", n=NUM_TRIALS))
        uri = "s3://results-bucket/searches/ons3"
        log = (tmp_path / "first.log").open("w")
        driver = subprocess.Popen([*RAYTRAIN, "tune", str(cfg)], env=env, stdout=log, stderr=log)
        try:
            deadline = time.monotonic() + 300
            while not _terminated(uri):
                assert driver.poll() is None, (tmp_path / "first.log").read_text()[-3000:]
                assert time.monotonic() < deadline, "no trial finished"
                time.sleep(0.5)
            os.kill(driver.pid, signal.SIGKILL)
            driver.wait()
        finally:
            if driver.poll() is None:
                driver.kill()
            log.close()
        assert storage.exists(f"{uri}/config.yaml") and not storage.exists(f"{uri}/summary.json")
        # Tune wrote nothing of its own locally: its experiment is in the bucket
        assert not (tmp_path / "work" / "ons3" / "tune").exists()

        resumed = subprocess.run(
            [*RAYTRAIN, "tune", str(cfg), "--resume"], env=env, capture_output=True, text=True
        )
        assert resumed.returncode == 0, resumed.stderr[-3000:] + resumed.stdout[-3000:]
        assert "resuming s3://results-bucket/searches/ons3/tune" in resumed.stdout
        rows = list(csv.DictReader(io.StringIO(storage.read_text(f"{uri}/trials.csv"))))
        ids = [r["trial"] for r in rows]
        assert len(ids) == len(set(ids)) == NUM_TRIALS
        assert all(r["status"] == "OK" for r in rows)
        for t in ids:  # each trial's logs were copied to the bucket
            assert storage.exists(f"{uri}/trials/{t}/training_log.csv"), t
        summary = json.loads(storage.read_text(f"{uri}/summary.json"))
        assert summary["experiment_dir"] == uri and summary["resumed"] is True
        assert summary["best"]["checkpoint_path"].startswith("s3://results-bucket/")
        assert summary["registered"]["version"] == "1.0.0"
        index = json.loads(storage.read_text("s3://results-bucket/models/registry.json"))
        assert [e["version"] for e in index["models"]["ons3"]] == ["1.0.0"]

        vec = tmp_path / "features.npy"
        import numpy as np

        np.save(vec, np.random.default_rng(0).random((3, 5)).astype("float32"))
        predicted = subprocess.run(
            [*RAYTRAIN, "predict", "ons3", str(vec), "--out", str(tmp_path / "pred")]
            + ["--root", "s3://results-bucket/models"],
            env=env,
            capture_output=True,
            text=True,
        )
        assert predicted.returncode == 0, predicted.stderr[-2000:]
        assert (tmp_path / "pred" / "predictions.csv").exists()
