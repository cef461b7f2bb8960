#!/usr/bin/env python3
"""HPO efficiency: ASHA + TPE against random search with full training, on the sample edge task.

    python bench/hpo_efficiency.py            # 3 seeds (7-9 min a seed on 2 idle cores)
    python bench/hpo_efficiency.py --quick    # 1 seed, few short trials: checks the script

For each seed, two real `raytrain tune` searches over the same space, on the same built-in
sample edge data (512 training, 128 validation images of 32x32), with the same small U-Net
(in-process single-worker trials on a local Ray):

* **random**: `search.method: random`, FIFO: R trials, each trained the full max_t epochs;
* **ASHA + TPE**: `search.method: tpe` (8 random start-up trials, then TPE),
  `tune.scheduler: asha` with grace 1 and reduction 3: rungs at 1, 3, 9 and 27 epochs
  (max_t 27), so most trials stop after 1 or 3 epochs.

Why 512 training images (not 128, as before 2026-12-03): with 128 the U-Nets here keep
improving for 50-70 epochs (a few optimizer steps an epoch), so any method needs one trial
trained about as long as random's best to match it, and after one epoch most models still
predict all-background or all-edge, so the first rung had to be at epoch 3. With 512 an
epoch is 4x the steps: the good configurations are near their best by epoch 10-20 and
epoch-1 F1 already separates learning from non-learning configurations (grace 1).

Same space for both (learning rate 1e-5..0.1 log, weight decay 1e-6..0.1 log, batch size,
base filters, depth, dropout), at most 3 trials at once for both (what fits 2 cores; fixed so the
experiment is the same on a larger machine).

Compute is counted in *epochs trained* (one epoch of one trial = one unit, the same model family
and data for both). Random search spends B = R x max_t epochs; ASHA + TPE is given enough trials
to spend at least B and only its first B epochs count (what it did after that is cut off), so
both get exactly the same compute. Epochs are a count, not a time, so the figures do not depend
on what else the machine runs; wall time is printed beside them.

Every reported epoch of every trial is put in the order it happened (Tune's progress.csv:
trial start + time_total_s) and the best validation F1 so far is followed as epochs accumulate.
Figure of merit: the epochs each method needed to first reach random search's *final* best
F1 of that seed; goal: ASHA + TPE needs at most 1/4 of random search's (geometric mean over
seeds). A seed where ASHA + TPE never reaches it within B counts as B (a lower bound, marked
">="). Also printed: the equal-quality view, each method's best F1 after B/4 and after B.
And an oracle: of all configurations either search trained in the seed, the fewest epochs one
took to reach random's best, times the 3 trials at once — what a search that started with the
right configuration would need, so what no search method can beat on this seed.
"""

from __future__ import annotations

import argparse
import csv
import json
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
#: a second, noise-tolerant target: 98% of random's final best (one F1 point on a small
#: validation set is within the epoch-to-epoch noise of one trial)
NEAR = 0.98
#: trials at once, for both methods (what 2 cores hold; fixed, so the experiment is the same
#: on a larger machine)
CONCURRENT = 3

BASE = """
training: {{name: {name}, seed: {seed}, output_dir: {out}}}
dataset:
  batch_size: 16
  augmentation: none
  sample: {{num_train: {num_train}, num_val: {num_val}, num_test: 16, image_size: 32}}
model: {{architecture: unet, base_filters: 8, depth: 2, dropout: 0.0}}
optimizer: {{type: AdamW, learning_rate: 1e-3}}
training_params: {{num_epochs: {epochs}}}
logging: {{visualizations: false, analysis: false, tensorboard: false, csv: true}}
search: {{method: {method}, num_trials: {trials}, seed: {seed}, metric: {metric},
          direction: maximize{startup}}}
search_space:
  learning_rate: {{type: loguniform, low: 1e-5, high: 1e-1}}
  weight_decay: {{type: loguniform, low: 1e-6, high: 1e-1}}
  batch_size: {{type: categorical, choices: [8, 16, 32]}}
  model.base_filters: {{type: categorical, choices: [4, 8, 16]}}
  model.depth: {{type: categorical, choices: [1, 2, 3]}}
  model.dropout: {{type: uniform, low: 0.0, high: 0.5}}
resources: {{num_workers: 1, cpus_per_worker: 0.5, max_concurrent_trials: {concurrent}}}
tune: {tune}
export: {{register_best: false}}
"""


def _config(method: str, seed: int, out: Path, a: argparse.Namespace) -> Any:
    from raytrain.config import load_config_text

    if method == "random":
        trials, tune, startup = a.random_trials, "{scheduler: fifo}", ""
    else:
        trials = a.asha_trials
        tune = (
            f"{{scheduler: asha, asha_mode: {a.asha_mode}, grace_period: {a.grace_period}, "
            f"reduction_factor: {a.reduction_factor}, max_t: {a.max_t}, "
            f"revisit_early_promotions: {str(a.revisit).lower()}"
            # the promotion kind runs its trials in any order: stop it where its compute ends
            f"{f', epoch_budget: {a.random_trials * a.max_t}' if a.asha_mode != 'stop' else ''}}}"
        )
        startup = f", startup_trials: {a.startup_trials}"
    text = BASE.format(
        name=f"{method}_s{seed}",
        seed=seed,
        out=out,
        num_train=a.num_train,
        num_val=a.num_val,
        epochs=a.max_t,
        method=method,
        trials=trials,
        metric=METRIC,
        startup=startup,
        tune=tune,
        concurrent=CONCURRENT,
    )
    return load_config_text(text)


def _trial_curves(exp: Path) -> list[dict[str, Any]]:
    """Each trial's start time, epoch end times and F1 per epoch (Tune's progress.csv).

    An epoch ends at its run's start + `time_since_restore`; a run starts again when a trial
    paused at an ASHA rung (the promotion kind) is resumed, where `time_since_restore` drops
    back (`time_total_s` does not: it would put the resumed epochs before the pause)."""
    trials = []
    for progress in sorted((exp / "tune").glob("*/progress.csv")):
        with progress.open() as f:
            data = [r for r in csv.DictReader(f) if r.get(METRIC)]
        if not data:
            continue
        ends, run_start, last = [], 0.0, math.inf
        for r in data:
            since = float(r.get("time_since_restore") or r["time_total_s"])
            if since < last or not ends:  # the first epoch of a run (the trial's, a resume's)
                run_start = float(r["timestamp"]) - since
            ends.append(run_start + since)
            last = since
        start = ends[0] - float(data[0].get("time_since_restore") or data[0]["time_total_s"])
        trials.append(
            {
                "trial": progress.parent.name,
                "start": start,
                "ends": ends,
                "f1": [float(r[METRIC]) for r in data],
            }
        )
    return trials


def _epochs_in_order(trials: list[dict[str, Any]]) -> list[float]:
    """The F1 of every reported epoch of every trial, in the order the epochs ended."""
    rows = [(t, f1) for tr in trials for t, f1 in zip(tr["ends"], tr["f1"], strict=True)]
    return [f1 for _, f1 in sorted(rows)]


def _best_within(order: list[float], epochs: int) -> float:
    return max(order[:epochs])


def _epochs_to_reach(order: list[float], target: float) -> int | None:
    """Epochs spent when the best F1 so far first reaches `target` (None: never)."""
    for n, f1 in enumerate(order, start=1):
        if f1 >= target - 1e-12:
            return n
    return None


def _oracle_epochs(curves: list[dict[str, Any]], target: float) -> int | None:
    """The compute a search that knew the answer would need: of every configuration trained in
    the seed (by either method), the fewest epochs any took to reach `target`, times the trials
    running at once (the other slots' epochs count too). None: no configuration reached it."""
    firsts = [_epochs_to_reach(c["f1"], target) for c in curves]
    reached = [n for n in firsts if n is not None]
    return CONCURRENT * min(reached) if reached else None


def _measure(curves: list[dict[str, Any]], trials: int, wall: float, budget: int) -> dict:
    order = _epochs_in_order(curves)
    return {
        "curves": curves,
        "order": order[:budget],  # equal compute: what ASHA + TPE trained past B does not count
        "wall_s": wall,
        "trials": trials,
        "spent": len(order),
        "epochs": min(len(order), budget),
        "best": max(order[:budget]),
    }


def _run(method: str, seed: int, out: Path, a: argparse.Namespace, budget: int) -> dict[str, Any]:
    from raytrain.tune.runner import run_search

    t0 = time.perf_counter()
    result = run_search(_config(method, seed, out, a), echo=lambda s: None)
    wall = time.perf_counter() - t0
    return _measure(_trial_curves(result.experiment_dir), len(result.trials), wall, budget)


def _recorded_random(files: list[Path]) -> dict[str, tuple[list, int, float]]:
    """seed -> (curves, trials, wall s) of random search in earlier --dump files (a later file
    wins). Random search is FIFO over the seed's configurations, so a new run trains the same
    configurations again (their F1 varies a little: training is not bit-reproducible)."""
    out: dict[str, tuple[list, int, float]] = {}
    for f in files:
        for seed, runs in json.loads(f.read_text())["seeds"].items():
            r = runs["random"]
            out[seed] = (r["curves"], r["trials"], r["wall_s"])
    return out


def _geomean(xs: list[float]) -> float:
    return math.exp(statistics.fmean(math.log(x) for x in xs))


HEADER = (
    f"{'seed':>4}  {'method':<9} {'trials':>6} {'epochs':>9} {'wall s':>7} "
    f"{'best@B/4':>8} {'best@B':>8} {'epochs to random best':>22} {'to 98% of it':>12}"
)


def _report_seed(
    seed: Any, random: dict, asha: dict, budget: int
) -> tuple[float, bool, float | None]:
    """Print one seed's rows; return ASHA+TPE's compute over random's, whether it is a lower
    bound (ASHA+TPE never reached random's best within B: counted as B), and the oracle's
    compute over random's (`_oracle_epochs`: what no search method can beat here)."""
    target = random["best"]
    for name, r in (("random", random), ("ASHA+TPE", asha)):
        r["need"] = _epochs_to_reach(r["order"], target)
        spent = f"{r['epochs']}" + (f"/{r['spent']}" if r["spent"] != r["epochs"] else "")
        r["near"] = _epochs_to_reach(r["order"], NEAR * target)
        need = "never" if r["need"] is None else r["need"]
        near = "never" if r["near"] is None else r["near"]
        print(
            f"{seed:>4}  {name:<9} {r['trials']:>6} {spent:>9} {r['wall_s']:>7.0f} "
            f"{_best_within(r['order'], budget // 4):>8.4f} {r['best']:>8.4f} {need:>22} "
            f"{near:>12}"
        )
    if asha["spent"] < budget:
        print(
            f"      warning: ASHA+TPE ran out of trials after {asha['spent']} of B = {budget} "
            f"epochs (it had less compute than random): raise --asha-trials"
        )
    never = asha["need"] is None
    near_ratio = "never" if asha["near"] is None else f"{asha['near'] / random['near']:.2f}"
    ratio = (asha["epochs"] if never else asha["need"]) / random["need"]
    oracle = _oracle_epochs(random["curves"] + asha["curves"], target)
    oracle_ratio = None if oracle is None else oracle / random["need"]
    print(
        f"      ASHA+TPE / random = {'>= ' if never else ''}{ratio:.2f} of the compute"
        f"{' (never reached within B)' if never else ''}; to 98% of it: "
        f"{near_ratio}; oracle (fastest configuration seen, run first): "
        f"{'-' if oracle_ratio is None else f'{oracle} epochs = {oracle_ratio:.2f}'}\n",
        flush=True,
    )
    return ratio, never, oracle_ratio


def _report_total(seeds: list[tuple[float, bool, float | None]], wall: float) -> None:
    """The summary line of `_report_seed`'s results: per-seed ratios and their geometric mean,
    ASHA + TPE's and the oracle's."""
    ratios = [r for r, _, _ in seeds]
    gm = _geomean(ratios)
    bound = ">= " if any(b for _, b, _ in seeds) else ""
    per_seed = ", ".join((">=" if b else "") + f"{r:.2f}" for r, b, _ in seeds)
    met = "met" if gm <= 0.25 and not bound else "not met"
    oracles = [o for _, _, o in seeds if o is not None]
    oracle = f"{_geomean(oracles):.2f}" if len(oracles) == len(seeds) else "-"
    print(
        f"compute ratio per seed: {per_seed}; geometric mean {bound}{gm:.2f} "
        f"(goal <= 0.25: {met}; the oracle's: {oracle}); searches' wall {wall / 60:.1f} min"
    )


def _combine(files: list[Path]) -> None:
    """The summary of seeds measured in separate runs (their --dump files, same settings)."""
    dumps = [json.loads(f.read_text()) for f in files]
    # Not `asha_trials`: it only sets how far past B the ASHA + TPE search runs (what it trains
    # after B is cut off anyway); a search that ran out before B is flagged per seed.
    keys = (
        "max_t",
        "random_trials",
        "startup_trials",
        "grace_period",
        "reduction_factor",
        "num_train",
        "num_val",
        "revisit",
        "asha_mode",
    )
    defaults = {"revisit": "False", "asha_mode": "stop"}  # dumps older than the key
    settings = {tuple(d["args"].get(k, defaults.get(k, "False")) for k in keys) for d in dumps}
    if len(settings) != 1:
        sys.exit(f"error: the dumps were run with different settings: {sorted(settings)}")
    args = dumps[0]["args"]
    budget = int(args["random_trials"]) * int(args["max_t"])
    settings_line = ", ".join(f"{k}={args.get(k, False)}" for k in keys)
    print(f"settings: {settings_line}; B = {budget} epochs\n")
    print(HEADER)
    print("-" * len(HEADER))
    seeds, wall = [], 0.0
    for d in dumps:
        for seed, runs in d["seeds"].items():
            r, a = (
                _measure(runs[m]["curves"], runs[m]["trials"], runs[m]["wall_s"], budget)
                for m in ("random", "asha_tpe")
            )
            seeds.append(_report_seed(seed, r, a, budget))
            wall += r["wall_s"] + a["wall_s"]
    _report_total(seeds, wall)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="1 seed, few short trials: checks it")
    p.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2])
    p.add_argument("--max-t", type=int, default=27, help="epochs of a full trial")
    p.add_argument("--random-trials", type=int, default=8, help="random search trials (R)")
    p.add_argument(
        "--asha-trials", type=int, default=40, help="ASHA + TPE trials (enough to spend B)"
    )
    p.add_argument("--startup-trials", type=int, default=8, help="TPE random start-up trials")
    p.add_argument("--grace-period", type=int, default=1)
    p.add_argument("--reduction-factor", type=int, default=3)
    p.add_argument(
        "--revisit",
        action="store_true",
        help="ASHA with tune.revisit_early_promotions (raytrain.tune.asha)",
    )
    p.add_argument(
        "--asha-mode",
        default="stop",
        choices=("auto", "promote", "stop"),
        help="tune.asha_mode (auto: raytrain's default, the promotion kind here)",
    )
    p.add_argument(
        "--random-from",
        type=Path,
        nargs="+",
        help="take random search's curves of each seed from these --dump files (the last one "
        "holding the seed) instead of running it again",
    )
    p.add_argument("--num-train", type=int, default=512, help="sample training images")
    p.add_argument("--num-val", type=int, default=128, help="sample validation images")
    p.add_argument("--dump", type=Path, help="write every trial's F1 curve here (JSON)")
    p.add_argument("--combine", type=Path, nargs="+", help="only summarize earlier --dump files")
    a = p.parse_args()
    if a.combine:
        _combine(a.combine)
        return
    if a.quick:
        a.seeds, a.max_t, a.random_trials, a.asha_trials, a.startup_trials = [0], 4, 2, 5, 2
        a.grace_period, a.reduction_factor = 1, 2
        a.num_train = 64
    os.environ.setdefault("RAY_DEDUP_LOGS", "1")
    from raytrain.runtime.session import ensure_ray

    ensure_ray(os.environ.get("RAY_ADDRESS", "local"))  # never join a stray cluster
    budget = a.random_trials * a.max_t
    print(
        f"sample edge task, U-Net, {a.num_train} training / {a.num_val} validation images of "
        f"32x32; full trial = {a.max_t} epochs; budget B = {budget} epochs each:\n"
        f"  random: {a.random_trials} full trials, FIFO\n"
        f"  ASHA+TPE: up to {a.asha_trials} trials ({a.startup_trials} random start-up), grace "
        f"{a.grace_period}, reduction {a.reduction_factor}, max_t {a.max_t}"
        f"{', revisiting early promotions' if a.revisit else ''}, asha_mode {a.asha_mode}"
        f"{'' if not a.random_from else '; random search: recorded curves'}; first B epochs "
        f"count\n"
    )
    print(HEADER)
    print("-" * len(HEADER))
    seeds: list[tuple[float, bool, float | None]] = []  # `_report_seed`'s, one per seed
    dump: dict[str, Any] = {"args": {k: str(v) for k, v in vars(a).items()}, "seeds": {}}
    wall = 0.0
    with tempfile.TemporaryDirectory(prefix="hpo_bench_") as tmp:
        recorded = _recorded_random(a.random_from or [])
        for seed in a.seeds:
            if a.random_from and str(seed) not in recorded:
                sys.exit(f"error: no random search of seed {seed} in {a.random_from}")
            random = (
                _measure(*recorded[str(seed)], budget)
                if a.random_from
                else _run("random", seed, Path(tmp), a, budget)
            )
            asha = _run("tpe", seed, Path(tmp), a, budget)
            wall += random["wall_s"] + asha["wall_s"]
            seeds.append(_report_seed(seed, random, asha, budget))
            dump["seeds"][seed] = {
                m: {k: r[k] for k in ("curves", "wall_s", "trials")}
                for m, r in (("random", random), ("asha_tpe", asha))
            }
            if a.dump:  # after every seed: a run cut short keeps what it measured
                a.dump.write_text(json.dumps(dump))
    _report_total(seeds, wall)


if __name__ == "__main__":
    main()
