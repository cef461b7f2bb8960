#!/usr/bin/env python3
"""How much room LCBench leaves a search: per task, the oracle's speed-up bound and how well
early epochs rank configurations (BENCHMARKS.md, "HPO quality").

    python bench/lcbench_headroom.py                 # the 10 tasks, random search's 20 seeds
    python bench/lcbench_headroom.py --tasks 3945 --seeds 5

For each task: random search (`hpo_sim.RANDOM`, K trials at once) gives the target (the 25th
percentile of its final best over the seeds) and its median epochs to reach it, as in
`bench/hpo_sim.py`. Of 2,000 random configurations (`hpo_quality.reference`'s), how many ever
reach the target and at which epoch (quartiles); an oracle that trains first the one that
reaches it soonest (at epoch e*), with the other K-1 workers busy beside it, reaches it after
about K x e* epochs of the trace: its speed-up bound is random's median / (K x e*). And the
Spearman rank correlation of epochs 1, 3 and 9 with epoch 52 over the 2,000: how far a rung
at that epoch can be trusted.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.hpo_quality import sample_config  # noqa: E402
from bench.hpo_sim import (  # noqa: E402
    BUDGET,
    METRIC,
    RANDOM,
    epochs_to_reach,
    geomean,
    target_of,
    tune_method,
)
from bench.lcbench import TASKS, LCBench  # noqa: E402
from raytrain.tune.asha import rank_correlation  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tasks", default=",".join(TASKS))
    ap.add_argument("--seeds", type=int, default=20, help="random search's seeds per task")
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--configs", type=int, default=2000)
    a = ap.parse_args(argv)
    bench = LCBench()
    bounds = []
    for task in a.tasks.split(","):
        rnd = [tune_method(RANDOM, s)(bench, task, a.concurrency, BUDGET) for s in range(a.seeds)]
        target = target_of(rnd)
        reach = [epochs_to_reach(t, target) for t in rnd]
        median = float(np.median([np.inf if n is None else n for n in reach]))
        rng = np.random.default_rng(12345)
        curves = bench.curves(task, [sample_config(rng) for _ in range(a.configs)])[METRIC]
        hits = np.array([int(np.argmax(c >= target)) + 1 for c in curves if (c >= target).any()])
        bound = median / (a.concurrency * hits.min())
        bounds.append(bound)
        rho = {
            e: rank_correlation(list(zip(curves[:, e - 1], curves[:, -1], strict=True)))
            for e in (1, 3, 9)
        }
        q = np.percentile(hits, [25, 50, 75])
        print(
            f"task {task}: target {target:.2f}, random's median {median:.0f} epochs; "
            f"{len(hits)}/{a.configs} configurations reach it, at epoch {hits.min()} at the "
            f"soonest (quartiles {q[0]:.0f}/{q[1]:.0f}/{q[2]:.0f}); oracle bound {bound:.1f}x; "
            f"rank correlation with epoch {curves.shape[1]}: "
            + ", ".join(f"epoch {e} {r:.2f}" for e, r in rho.items()),
            flush=True,
        )
    print(f"oracle bound: geomean {geomean(bounds):.1f}x over {len(bounds)} tasks")


if __name__ == "__main__":
    main()
