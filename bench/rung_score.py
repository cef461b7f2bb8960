#!/usr/bin/env python3
"""What should rank trials at an ASHA rung: the value at the rung's epoch, or the best so far?

    python bench/rung_score.py                       # the recorded U-Net curves + LCBench
    python bench/rung_score.py --skip-lcbench

A rung decides which trials train on, so its score should predict what the search will make of
a trial in the end: its best epoch (raytrain keeps each trial's best checkpoints and reports the
best epoch of any trial). For every fully trained curve this prints the rank correlation
(Spearman) between each candidate score at epoch m and the trial's final best, and how much of
the final top third each score's top third holds:

* the sample U-Net (`bench/hpo_efficiency.py`'s task): every 27-epoch curve in the recorded
  dumps `bench/recorded/hpo_*.json` (random search's trials and the default's full ones: real
  training, whose validation F1 dips for single epochs);
* the LCBench surrogate: 300 random configurations of each of the 10 tasks of issue 21
  (smooth surrogate curves), fidelity 1..52.

Used for `tune.rung_score` (raytrain/tune/promotion.py); BENCHMARKS.md has the figures.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

LCBENCH_TASKS = "3945,7593,34539,126025,126026,168330,189906,146212,167168,189909"


def unet_curves(pattern: str = "bench/recorded/hpo_*.json", epochs: int = 27) -> np.ndarray:
    """Every `epochs`-long validation-F1 curve in the recorded hpo_efficiency dumps."""
    curves = []
    for f in sorted(REPO.glob(pattern)):
        for methods in json.loads(f.read_text()).get("seeds", {}).values():
            for run in methods.values():
                curves += [c["f1"] for c in run.get("curves", []) if len(c["f1"]) == epochs]
    return np.asarray(curves, dtype=float)


def lcbench_curves(task: str, n: int = 300, seed: int = 0) -> np.ndarray:
    import optuna

    from bench.hpo_sim import METRIC, suggest
    from bench.lcbench import LCBench

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    bench = LCBench()
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    return np.asarray([bench.curve(task, suggest(study.ask()))[METRIC] for _ in range(n)])


def compare(
    curves: np.ndarray, rungs: list[int], ahead: bool = False
) -> list[tuple[int, float, float, float, float]]:
    """Per rung epoch m: (m, rho(value at m, target), rho(best up to m, target), top-third
    overlap of the first, of the second). Target: the trial's final best; `ahead`: the best of
    the epochs after m only (what training on would add; the final best contains the best so
    far, which favours that score)."""
    from scipy.stats import spearmanr

    third = max(1, len(curves) // 3)
    rows = []
    for m in rungs:
        final = curves[:, m:].max(axis=1) if ahead else curves.max(axis=1)
        top = set(np.argsort(-final)[:third])
        at, best = curves[:, m - 1], curves[:, :m].max(axis=1)
        rows.append(
            (
                m,
                float(spearmanr(at, final)[0]),
                float(spearmanr(best, final)[0]),
                len(top & set(np.argsort(-at)[:third])) / third,
                len(top & set(np.argsort(-best)[:third])) / third,
            )
        )
    return rows


def _print(title: str, rows: list[tuple[int, float, float, float, float]]) -> None:
    print(title)
    print("  epoch  rho(at rung)  rho(best so far)  top third: at rung  best so far")
    for m, ra, rb, oa, ob in rows:
        print(f"  {m:5d}  {ra:12.3f}  {rb:16.3f}  {oa:18.2f}  {ob:11.2f}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip-lcbench", action="store_true")
    ap.add_argument("--tasks", default=LCBENCH_TASKS)
    a = ap.parse_args(argv)
    unet = unet_curves()
    title = f"sample U-Net: {len(unet)} curves of 27 epochs"
    _print(f"{title}; the final best", compare(unet, [2, 3, 6, 9, 18]))
    _print(f"{title}; the best after the rung", compare(unet, [2, 3, 6, 9, 18], True))
    if a.skip_lcbench:
        return
    lc = [lcbench_curves(t) for t in a.tasks.split(",")]
    for ahead, target in ((False, "the final best"), (True, "the best after the rung")):
        per_task = [compare(c, [2, 6, 18], ahead) for c in lc]
        mean = [
            tuple([rows[0][0], *np.mean([r[1:] for r in rows], axis=0)])
            for rows in zip(*per_task, strict=True)
        ]
        _print(f"LCBench: 300 random configurations x {len(lc)} tasks, mean; {target}", mean)


if __name__ == "__main__":
    main()
