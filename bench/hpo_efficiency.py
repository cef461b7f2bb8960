#!/usr/bin/env python3
"""HPO efficiency: ASHA + TPE against random search with full training, on the sample edge task.

    python bench/hpo_efficiency.py            # 3 seeds (minutes on 2 idle cores)
    python bench/hpo_efficiency.py --quick    # 1 seed, fewer trials: checks the script

For each seed, two real `raytrain tune` searches on the built-in sample edge data (a small
U-Net, in-process single-worker trials on a local Ray):

* **random**: `search.method: random`, FIFO: every trial trains all epochs;
* **ASHA + TPE**: `search.method: tpe`, `tune.scheduler: asha`: more trials, most stopped early.

Both get the same compute budget, counted in *epochs trained* (one epoch of one trial = one
unit, the same model and data for both): random gets `R x E` epochs as R full trials; ASHA +
TPE gets as many trials as it needs to spend about the same. Epochs are a count, not a time, so
the figure does not depend on what else the machine runs; wall time is printed beside it.

Every reported epoch of every trial is put in the order it happened (Tune's progress.csv:
trial start + time_total_s) and the best validation F1 so far is followed as epochs accumulate.
The figure of merit: the epochs each method needed to first reach random search's *final* best
F1 of that seed. Goal: ASHA + TPE needs at most 1/4 of random search's.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

METRIC = "val_f1_score"

BASE = """
training: {{name: {name}, seed: {seed}, output_dir: {out}}}
dataset:
  batch_size: 16
  augmentation: none
  sample: {{num_train: {num_train}, num_val: 64, num_test: 16, image_size: 32}}
model: {{architecture: unet, base_filters: 8, depth: 2, dropout: 0.0}}
optimizer: {{type: AdamW, learning_rate: 1e-3}}
training_params: {{num_epochs: {epochs}}}
logging: {{visualizations: false, analysis: false, tensorboard: false, csv: true}}
search: {{method: {method}, num_trials: {trials}, seed: {seed}, metric: {metric},
          direction: maximize{startup}}}
search_space:
  learning_rate: {{type: loguniform, low: 1e-5, high: 3e-1}}
  weight_decay: {{type: loguniform, low: 1e-6, high: 1e-1}}
  batch_size: {{type: categorical, choices: [8, 16, 32]}}
  model.base_filters: {{type: categorical, choices: [4, 8, 16]}}
resources: {{num_workers: 1, cpus_per_worker: 0.5}}
tune: {tune}
export: {{register_best: false}}
"""


def _config(method: str, seed: int, out: Path, a: argparse.Namespace) -> Any:
    from raytrain.config import load_config_text

    if method == "random":
        trials, tune, startup = a.random_trials, "{scheduler: fifo}", ""
    else:
        trials = a.asha_trials
        tune = f"{{scheduler: asha, grace_period: 1, reduction_factor: {a.reduction_factor}}}"
        startup = f", startup_trials: {a.startup_trials}"
    text = BASE.format(
        name=f"{method}_s{seed}",
        seed=seed,
        out=out,
        num_train=a.num_train,
        epochs=a.epochs,
        method=method,
        trials=trials,
        metric=METRIC,
        startup=startup,
        tune=tune,
    )
    return load_config_text(text)


def _epochs_in_order(exp: Path) -> list[tuple[float, float]]:
    """(time, F1) of every reported epoch of every trial, in the order they happened."""
    rows = []
    for progress in (exp / "tune").glob("*/progress.csv"):
        with progress.open() as f:
            data = [r for r in csv.DictReader(f) if r.get(METRIC)]
        if not data:
            continue
        first = data[0]
        start = float(first["timestamp"]) - float(first["time_total_s"])
        for r in data:
            rows.append((start + float(r["time_total_s"]), float(r[METRIC])))
    return sorted(rows)


def _epochs_to_reach(order: list[tuple[float, float]], target: float) -> int | None:
    """Epochs spent when the best F1 so far first reaches `target` (None: never)."""
    for n, (_, f1) in enumerate(order, start=1):
        if f1 >= target - 1e-12:
            return n
    return None


def _run(method: str, seed: int, out: Path, a: argparse.Namespace) -> dict[str, Any]:
    from raytrain.tune.runner import run_search

    t0 = time.perf_counter()
    result = run_search(_config(method, seed, out, a), echo=lambda s: None)
    wall = time.perf_counter() - t0
    order = _epochs_in_order(result.experiment_dir)
    return {
        "order": order,
        "wall_s": wall,
        "trials": len(result.trials),
        "epochs": len(order),
        "best": max(f for _, f in order),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="1 seed, few trials: checks the script")
    p.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2])
    p.add_argument("--epochs", type=int, default=8, help="epochs of a full trial (E)")
    p.add_argument("--random-trials", type=int, default=6, help="random search trials (R)")
    p.add_argument("--asha-trials", type=int, default=18, help="ASHA + TPE trials")
    p.add_argument("--startup-trials", type=int, default=5, help="TPE random start-up trials")
    p.add_argument("--reduction-factor", type=int, default=3)
    p.add_argument("--num-train", type=int, default=128, help="sample training images")
    a = p.parse_args()
    if a.quick:
        a.seeds, a.epochs, a.random_trials, a.asha_trials, a.startup_trials = [0], 3, 2, 4, 2
        a.num_train = 32
    os.environ.setdefault("RAY_DEDUP_LOGS", "1")
    from raytrain.tune.runner import ensure_ray

    ensure_ray(os.environ.get("RAY_ADDRESS", "local"))  # never join a stray cluster
    budget = a.random_trials * a.epochs
    print(
        f"sample edge task, U-Net, {a.num_train} training images of 32x32; full trial = "
        f"{a.epochs} epochs; random: {a.random_trials} trials ({budget} epochs); ASHA+TPE: "
        f"{a.asha_trials} trials (grace 1, reduction {a.reduction_factor})\n"
    )
    header = (
        f"{'seed':>4}  {'method':<9} {'trials':>6} {'epochs':>6} {'wall s':>7} "
        f"{'best F1':>8} {'epochs to random best':>22}"
    )
    print(header)
    print("-" * len(header))
    ratios = []
    with tempfile.TemporaryDirectory(prefix="hpo_bench_") as tmp:
        for seed in a.seeds:
            random = _run("random", seed, Path(tmp), a)
            asha = _run("tpe", seed, Path(tmp), a)
            target = random["best"]
            for name, r in (("random", random), ("ASHA+TPE", asha)):
                need = _epochs_to_reach(r["order"], target)
                r["need"] = need
                print(
                    f"{seed:>4}  {name:<9} {r['trials']:>6} {r['epochs']:>6} {r['wall_s']:>7.1f} "
                    f"{r['best']:>8.4f} {'never' if need is None else need:>22}"
                )
            if asha["need"] is not None:
                ratios.append(asha["need"] / random["need"])
                print(f"      ASHA+TPE / random = {ratios[-1]:.2f} of the compute\n")
            else:
                print("      ASHA+TPE did not reach random search's best within its budget\n")
    if ratios:
        gm = math.exp(statistics.fmean(math.log(r) for r in ratios))
        print(
            f"seeds reaching it: {len(ratios)}/{len(a.seeds)}; compute ratio per seed "
            f"{', '.join(f'{r:.2f}' for r in ratios)}; geometric mean {gm:.2f} "
            f"(goal <= 0.25: {'met' if gm <= 0.25 and len(ratios) == len(a.seeds) else 'not met'})"
        )


if __name__ == "__main__":
    main()
