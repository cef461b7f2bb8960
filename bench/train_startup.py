#!/usr/bin/env python3
"""`raytrain train` with one worker: trained in the raytrain process vs in a Ray Train worker group.

    python bench/train_startup.py              # 3 rounds (about 3 minutes on 2 cores)
    python bench/train_startup.py --rounds 1   # checks the script

The same one-epoch run of a small U-Net on 32 sample images, through the public API
(`raytrain.runtime.run.run_training`), two ways, alternating within each round so that both see
the same machine:

* **here**: what `raytrain train` does for one worker on one node — the loop runs in this
  process (`DriverContext`), checkpoints kept by `CheckpointKeeper`;
* **worker group**: the same config with `training_params.max_failures: 1`, which asks for
  restartable workers and so runs a 1-worker Ray Train `TorchTrainer` (a Train controller, a
  worker group, Ray Data's split coordinators), as every run did before.

Ray is started and the sample data prepared before any timing; each way first runs once
untimed (first imports, Ray's first task workers). Printed: each run's wall time, the median of
each way and their ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

CONFIG = """
training: {{name: startup, seed: 0, output_dir: {out}}}
dataset: {{batch_size: 8, augmentation: none,
          sample: {{num_train: 32, num_val: 16, num_test: 8, image_size: 32}}}}
model: {{architecture: unet, base_filters: 4, depth: 2}}
training_params: {{num_epochs: 1, max_failures: {max_failures}}}
logging: {{visualizations: false, analysis: false, tensorboard: false}}
"""

WAYS = {"here": 0, "worker group": 1}


def run_once(max_failures: int, out: Path) -> float:
    from raytrain.config import load_config_text
    from raytrain.runtime.run import run_training

    cfg = load_config_text(CONFIG.format(out=out, max_failures=max_failures))
    start = time.perf_counter()
    result = run_training(cfg, echo=lambda s: None)
    seconds = time.perf_counter() - start
    # a real run: one epoch trained, its checkpoint copied out
    assert result.metrics["epoch"] == 1 and (result.final_dir / "model.pt").exists(), result
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--rounds", type=int, default=3, help="timed runs of each way")
    args = ap.parse_args()

    import ray

    root = Path(tempfile.mkdtemp(prefix="train_startup_"))
    os.environ["RAYTRAIN_DATA_DIR"] = str(root / "datasets")
    from raytrain.runtime.local import prepare_local_ray

    prepare_local_ray()
    ray.init(address="local", log_to_driver=False, include_dashboard=False)
    import ray.data

    ray.data.DataContext.get_current().enable_progress_bars = False
    for way, max_failures in WAYS.items():  # untimed: first imports, first task workers
        run_once(max_failures, root / "warmup" / way.replace(" ", "_"))
    times: dict[str, list[float]] = {way: [] for way in WAYS}
    for i in range(args.rounds):
        for way, max_failures in WAYS.items():
            t = run_once(max_failures, root / f"r{i}" / way.replace(" ", "_"))
            times[way].append(t)
            load = os.getloadavg()[0]
            print(f"round {i + 1}: {way:<13} {t:6.2f} s  (load {load:.1f})", flush=True)
    ray.shutdown()
    here, group = (statistics.median(times[w]) for w in WAYS)
    print(
        f"median: here {here:.2f} s, worker group {group:.2f} s; "
        f"here / worker group = {here / group:.2f}x ({group - here:.1f} s less a run)"
    )


if __name__ == "__main__":
    main()
