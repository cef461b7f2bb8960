#!/usr/bin/env python3
"""HPO quality: does raytrain's default search beat random search, and its peers, on YAHPO
Gym's LCBench surrogate?

    python bench/hpo_quality.py --quick                      # 1 task, 2 seeds: checks the script
    python bench/hpo_quality.py --tasks 3945,7593 --seeds 5  # a real comparison
    python bench/hpo_quality.py --combine results/hpo_quality/*.json   # tables from dumps

Every method searches the same 7 hyper-parameters of the surrogate (bench/lcbench.py, vendored
with its licence) on the same tasks and seeds, with the same budget B = 30 full trials = 1,560
epochs, K trials at once (default 4), maximizing val_accuracy:

* **random**: `raytrain tune` with `search.method: random`, `tune.scheduler: fifo` (30 trials);
* **ray_stock**: Ray Tune's `OptunaSearch()` + `ASHAScheduler()` as Ray ships them (defaults:
  TPE, grace 1, reduction 4, max_t 100), a plain `Tuner` over the same function;
* **optuna**: plain Optuna, `TPESampler` + `HyperbandPruner(1, 52, 3)`, no Ray: K trials at
  once on a simulated clock (bench/hpo_sim.py), each epoch lasting the surrogate's time;
* **raytrain**: `raytrain tune` with the search settings a YAML gets by default (search.method
  and tune.* left out), over `objective: bench.lcbench:train_fn`.

The Ray methods run the surrogate for real through Tune: each epoch sleeps the surrogate's
predicted time x `--time-scale`, so trials finish in a realistic order, and stop at B epochs
(`tune.epoch_budget`). Every epoch any trial trained is put in the order it ended (the
function reports the wall clock); the n-th epoch of that trace is the n-th unit of compute.

Per task: target = the 25th percentile of random search's final best over the seeds;
speed-up = random's median epochs to reach it / the method's (a seed that never reaches it
counts as 1x), geometric mean over seeds with a bootstrap 95% CI; success = seeds that reach
it within B; normalized regret at B/8, B/4, B = (best known - best so far) / (best known -
median random configuration's final value). Last line:
`raytrain default vs random: geomean X (95% CI A-B) over N tasks`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.hpo_sim import (  # noqa: E402
    BUDGET,
    METRIC,
    bootstrap_ci,
    epochs_to_reach,
    geomean,
    optuna_method,
    regret,
    simulate,
    speedups,
    target_of,
)
from bench.lcbench import EPOCHS, SPACE, TASKS, LCBench, sample_config  # noqa: E402

METHODS = ("random", "ray_stock", "optuna", "raytrain")

SPACE_YAML = """
  batch_size: {type: int, low: 16, high: 512, log: true}
  learning_rate: {type: loguniform, low: 1e-4, high: 1e-1}
  momentum: {type: float, low: 0.1, high: 0.99}
  weight_decay: {type: float, low: 1e-5, high: 0.1}
  num_layers: {type: int, low: 1, high: 5}
  max_units: {type: int, low: 64, high: 1024, log: true}
  max_dropout: {type: float, low: 0.0, high: 1.0}
"""


# ---------------------------------------------------------------- running one search


def _trace_from_rows(rows: list[tuple[float, float]], budget: int) -> list[float]:
    """(wall clock at the end of the epoch, metric) of every epoch -> the trace, cut at B."""
    return [v for _, v in sorted(rows)][:budget]


def _rows_of_tune_dir(tune_dir: Path) -> list[tuple[float, float]]:
    rows = []
    for result in tune_dir.glob("*/result.json"):
        for line in result.read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                if METRIC in r and "wall" in r:
                    rows.append((float(r["wall"]), float(r[METRIC])))
    return rows


def raytrain_config(
    method: str, task: str, seed: int, out: Path, a: argparse.Namespace, extra: str = ""
) -> Any:
    """The YAML a user would write for this search; `raytrain` leaves the search settings at
    their defaults, `random` asks for random search with FIFO."""
    from raytrain.config import load_config_text

    if method == "random":
        search = "method: random, num_trials: 30, "
        tune = "scheduler: fifo, "
    else:
        search = f"num_trials: {a.max_trials}, "
        tune = ""
    text = textwrap.dedent(
        f"""
        training: {{name: {method}_{task}_s{seed}, output_dir: {out}, seed: {seed}}}
        objective: bench.lcbench:train_fn
        objective_params: {{task: "{task}", time_scale: {a.time_scale}}}
        training_params: {{num_epochs: {EPOCHS}}}
        search: {{{search}metric: {METRIC}, direction: maximize}}
        tune: {{{tune}epoch_budget: {a.budget}}}
        resources: {{cpus_per_worker: {1.0 / a.concurrency:g},
                     max_concurrent_trials: {a.concurrency}}}
        logging: {{visualizations: false}}
        search_space:"""
    )
    overrides = dict(kv.split("=", 1) for kv in a.set) if method == "raytrain" else {}
    overrides = {k: yaml.safe_load(v) for k, v in overrides.items()}
    return load_config_text(text + SPACE_YAML + extra, overrides=overrides)


def run_raytrain(method: str, task: str, seed: int, out: Path, a: argparse.Namespace) -> dict:
    from raytrain.tune.runner import run_search

    t0 = time.perf_counter()
    result = run_search(raytrain_config(method, task, seed, out, a), echo=lambda s: None)
    wall = time.perf_counter() - t0
    rows = _rows_of_tune_dir(result.experiment_dir / "tune")
    return {"trace": _trace_from_rows(rows, a.budget), "trials": len(result.trials), "wall_s": wall}


def run_ray_stock(task: str, seed: int, out: Path, a: argparse.Namespace) -> dict:
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search.optuna import OptunaSearch

    from bench.lcbench import train_fn
    from raytrain.tune.function_trainable import epoch_budget

    domains: dict[str, Any] = {}
    for name, (lo, hi, log, is_int) in SPACE.items():
        if is_int:
            domains[name] = (tune.lograndint if log else tune.randint)(int(lo), int(hi) + 1)
        else:
            domains[name] = (tune.loguniform if log else tune.uniform)(lo, hi)
    param_space = {"task": task, "time_scale": a.time_scale, "num_epochs": EPOCHS, **domains}
    tuner = tune.Tuner(
        tune.with_resources(train_fn, {"CPU": 1.0 / a.concurrency}),
        param_space=param_space,
        tune_config=tune.TuneConfig(
            metric=METRIC,
            mode="max",
            search_alg=OptunaSearch(seed=seed),
            scheduler=ASHAScheduler(),
            num_samples=a.max_trials,
            max_concurrent_trials=a.concurrency,
            reuse_actors=True,
        ),
        run_config=tune.RunConfig(
            name=f"ray_stock_{task}_s{seed}",
            storage_path=str(out),
            verbose=0,
            stop=epoch_budget(a.budget),
        ),
    )
    t0 = time.perf_counter()
    grid = tuner.fit()
    wall = time.perf_counter() - t0
    rows = _rows_of_tune_dir(out / f"ray_stock_{task}_s{seed}")
    return {"trace": _trace_from_rows(rows, a.budget), "trials": len(grid), "wall_s": wall}


def run_optuna(bench: LCBench, task: str, seed: int, a: argparse.Namespace) -> dict:
    t0 = time.perf_counter()
    trace = simulate(
        bench, task, optuna_method("optuna_hb", seed), concurrency=a.concurrency, budget=a.budget
    )
    return {"trace": trace, "trials": None, "wall_s": time.perf_counter() - t0}


# ---------------------------------------------------------------- accounting over runs


def reference(bench: LCBench, task: str, n: int = 2000) -> dict[str, float]:
    """The task's scale for regret: best and median final val_accuracy of n random configs."""
    rng = np.random.default_rng(12345)
    final = bench.curves(task, [sample_config(rng) for _ in range(n)])[METRIC].max(axis=1)
    return {"best": float(final.max()), "median": float(np.median(final))}


def summarize(
    runs: dict[str, Any],
    budget: int = BUDGET,
    echo: Any = print,
    rename: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Tables per task and the overall line, from {task: {"ref":..., method: [run, ...]}};
    `rename` maps dumped method names to these (e.g. a simulated random_fifo -> random)."""
    rename = rename or {}
    runs = {
        t: {rename.get(m, m): rs for m, rs in by_method.items()} for t, by_method in runs.items()
    }
    per_method: dict[str, dict[str, list[float]]] = {}
    for task, by_method in runs.items():
        ref = by_method["ref"]
        traces = {m: [r["trace"] for r in rs] for m, rs in by_method.items() if m != "ref"}
        if "random" not in traces:
            continue
        target = target_of(traces["random"], budget)
        best = max([ref["best"], *(max(t) for ts in traces.values() for t in ts if t)])
        echo(f"\ntask {task}: target {target:.3f} (random's 25th-percentile final best)")
        echo(
            f"  {'method':<10} {'seeds':>5} {'speed-up (95% CI)':>21} {'success':>8} "
            f"{'regret B/8':>10} {'B/4':>6} {'B':>6} {'trials':>7} {'wall s':>7}"
        )
        for m, ts in traces.items():
            sp = speedups(traces["random"], ts, target, budget)
            lo, hi = bootstrap_ci([sp])
            hits = sum(epochs_to_reach(t, target, budget) is not None for t in ts)
            reg = [
                float(np.mean([regret(t, best, ref["median"], at) for t in ts]))
                for at in (budget // 8, budget // 4, budget)
            ]
            trials = [r.get("trials") for r in by_method[m] if r.get("trials")]
            wall = float(np.mean([r["wall_s"] for r in by_method[m]]))
            echo(
                f"  {m:<10} {len(ts):>5} {geomean(sp):>6.2f} ({lo:>5.2f}-{hi:>5.2f}) "
                f"{hits:>4}/{len(ts):<3} {reg[0]:>10.3f} {reg[1]:>6.3f} {reg[2]:>6.3f} "
                f"{(f'{np.mean(trials):.0f}' if trials else '-'):>7} {wall:>7.1f}"
            )
            if m != "random":
                per_method.setdefault(m, {})[task] = sp
    out = {}
    echo("")
    for m, by_task in per_method.items():
        sps = list(by_task.values())
        lo, hi = bootstrap_ci(sps)
        g = geomean([geomean(s) for s in sps])
        out[m] = (g, lo, hi, len(sps))
        wins = ""
        if m == "raytrain":
            for o, other in per_method.items():
                common = [t for t in by_task if t in other and o != m]
                n = sum(geomean(by_task[t]) > geomean(other[t]) for t in common)
                if common:
                    wins += f"; ahead of {o} on {n}/{len(common)} tasks"
        echo(
            f"{m} vs random: geomean {g:.2f} (95% CI {lo:.2f}-{hi:.2f}) over {len(sps)} tasks{wins}"
        )
    if "raytrain" in out:
        g, lo, hi, n = out["raytrain"]
        echo(
            f"raytrain default vs random: geomean {g:.2f} (95% CI {lo:.2f}-{hi:.2f}) over {n} tasks"
        )
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tasks", default=",".join(TASKS), help="OpenML task ids, comma-separated")
    p.add_argument("--seeds", type=int, default=20, help="seeds 0..N-1 per task and method")
    p.add_argument("--concurrency", type=int, default=4, help="trials at once (K)")
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--quick", action="store_true", help="1 task, 2 seeds, budget B/4")
    p.add_argument("--budget", type=int, default=BUDGET, help="epochs per search (B)")
    p.add_argument(
        "--time-scale",
        type=float,
        default=2e-4,
        help="seconds slept per second of the surrogate's predicted epoch time",
    )
    p.add_argument(
        "--max-trials", type=int, default=2000, help="num_trials of the early-stopping searches"
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a config override for the raytrain method only (a candidate default), repeatable",
    )
    p.add_argument("--dump", type=Path, help="write every trace here (JSON)")
    p.add_argument("--combine", type=Path, nargs="+", help="only summarize earlier --dump files")
    p.add_argument(
        "--rename",
        default="",
        help="with --combine: OLD=NEW,... method names (e.g. random_fifo=random,rt_x=raytrain)",
    )
    a = p.parse_args(argv)
    if a.combine:
        runs: dict[str, Any] = {}
        for f in a.combine:
            if f.suffix == ".gz":
                import gzip

                data = json.loads(gzip.decompress(f.read_bytes()))
            else:
                data = json.loads(f.read_text())
            budget = data["budget"]
            for task, by_method in data["runs"].items():
                slot = runs.setdefault(task, {"ref": by_method["ref"]})
                for m, rs in by_method.items():
                    if m != "ref" and m not in slot:  # the same method twice: first file wins
                        slot[m] = rs
        rename = dict(kv.split("=", 1) for kv in a.rename.split(",") if kv)
        summarize(runs, budget, rename=rename)
        return
    if a.quick:
        a.tasks, a.seeds, a.budget = TASKS[0], 2, BUDGET // 4
    import optuna
    import ray

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    methods = a.methods.split(",")
    bench = LCBench()
    path = os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    if any(m != "optuna" for m in methods):
        ray.init(
            num_cpus=max(2, os.cpu_count() or 2),
            log_to_driver=False,
            runtime_env={"env_vars": {"PYTHONPATH": path}},
        )
        import ray.data

        ray.data.DataContext.get_current().enable_progress_bars = False
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    runs = {}
    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="hpo_quality_") as tmp:
        for task in a.tasks.split(","):
            runs[task] = {"ref": reference(bench, task)}
            for seed in range(a.seeds):
                for m in methods:
                    out = Path(tmp) / m
                    if m in ("random", "raytrain"):
                        r = run_raytrain(m, task, seed, out, a)
                    elif m == "ray_stock":
                        r = run_ray_stock(task, seed, out, a)
                    else:
                        r = run_optuna(bench, task, seed, a)
                    runs[task].setdefault(m, []).append(r)
                    best = max(r["trace"]) if r["trace"] else float("nan")
                    print(
                        f"task {task} seed {seed} {m:<10} epochs {len(r['trace']):>5} "
                        f"best {best:.3f} trials {r['trials']} wall {r['wall_s']:.1f}s",
                        flush=True,
                    )
            if a.dump:
                a.dump.parent.mkdir(parents=True, exist_ok=True)
                a.dump.write_text(
                    json.dumps({"budget": a.budget, "runs": runs, "args": vars(a)}, default=str)
                )
    print(f"\nall searches: {time.perf_counter() - t_all:.0f} s")
    summarize(runs, a.budget)


if __name__ == "__main__":
    main()
