#!/usr/bin/env python3
"""Fixed seconds per trial: raytrain (1-worker and 2-worker trials) beside plain Optuna
(in-process) and a plain Ray Tune function trainable, measured side by side in one run.

    python bench/trial_overhead.py              # the measurement (a few minutes on 2 cores)
    python bench/trial_overhead.py --quick      # checks the script, not the numbers
    python bench/trial_overhead.py --json out.json

"Fixed cost" is what a trial costs when the model does almost no work: every system trains the
same tiny MLP (5 features -> 8 -> 1) for one epoch on 64 samples, so what is left is the
machinery around the training: process and actor start-up, worker groups, data streaming,
checkpoints, reporting.

* plain Optuna: `study.optimize` calling a function that trains the MLP on in-memory tensors.
* plain Tune: a function trainable doing the same and `tune.report`-ing one result.
* raytrain: `raytrain.tune.run_search` on a config (coefficient_optimizer, hidden_dims [8],
  one epoch on the built-in sample data with 64 training rows) with
  `resources.num_workers: 1` or `2` — whatever the product does for such a config (1-worker
  trials run the loop inside the Tune trial; 2-worker trials start a TorchTrainer DDP group).
  Plots are off (`logging.visualizations/analysis: false`): they are work, not fixed cost.

Trials run one at a time (`max_concurrent_trials: 1`) so each figure is a trial's latency, not
throughput. Each system runs a search of 1 trial and one of 1+K trials; the *marginal* cost
per trial is (T(1+K) - T(1)) / K, which leaves out the once-per-search start-up (searcher,
experiment folder, summary) that T(1) includes. Ray is started and the sample data prepared
before any timing, and each system first runs one untimed 1-trial search (Ray's first task
workers, first imports). Plain Tune runs twice: with Tune's default (a new trial actor per
trial) and with `reuse_actors=True`, which raytrain's searches use. The figures come from one
run on one machine: compare rows with each other.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import signal
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

FEATURES, HIDDEN, ROWS, BATCH = 5, 8, 64, 32

RAYTRAIN_CONFIG = """
training: {{name: overhead_{workers}w, seed: 0, output_dir: {out}}}
dataset:
  batch_size: {batch}
  augmentation: none
  sample: {{num_train: {rows}, num_val: 32, num_test: 16, image_size: 32}}
model: {{architecture: coefficient_optimizer, hidden_dims: [{hidden}], dropout: 0.0}}
optimizer: {{type: Adam, learning_rate: 1e-3}}
training_params: {{num_epochs: 1}}
search: {{method: random, num_trials: {trials}}}
search_space:
  learning_rate: {{type: loguniform, low: 1e-4, high: 1e-2}}
resources: {{num_workers: {workers}, max_concurrent_trials: 1}}
tune: {{scheduler: fifo}}
logging: {{visualizations: false, analysis: false}}
export: {{register_best: false}}
"""


# -- the ~0 work every baseline does ------------------------------------------------------------


def _tiny_epoch(lr: float, seed: int) -> float:
    """One epoch of the tiny MLP on random in-memory data; returns a validation loss."""
    gen = torch.Generator().manual_seed(seed)
    x, y = torch.randn(ROWS, FEATURES, generator=gen), torch.randn(ROWS, 1, generator=gen)
    model = nn.Sequential(nn.Linear(FEATURES, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, 1))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for i in range(0, ROWS, BATCH):
        opt.zero_grad()
        nn.functional.mse_loss(model(x[i : i + BATCH]), y[i : i + BATCH]).backward()
        opt.step()
    with torch.no_grad():
        return float(nn.functional.mse_loss(model(x), y))


# -- one search per system ------------------------------------------------------------------------


def optuna_search(trials: int, _: Path) -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
    study.optimize(
        lambda t: _tiny_epoch(t.suggest_float("lr", 1e-4, 1e-2, log=True), t.number), trials
    )


def tune_search(trials: int, out: Path, reuse_actors: bool = False) -> None:
    from ray import tune

    def trainable(config: dict[str, Any]) -> None:
        tune.report({"val_loss": _tiny_epoch(config["lr"], 0)})

    tune.Tuner(
        trainable,
        param_space={"lr": tune.loguniform(1e-4, 1e-2)},
        tune_config=tune.TuneConfig(
            metric="val_loss",
            mode="min",
            num_samples=trials,
            max_concurrent_trials=1,
            reuse_actors=reuse_actors,
        ),
        run_config=tune.RunConfig(name="plain", storage_path=str(out), verbose=0),
    ).fit()


def raytrain_config(workers: int, trials: int, out: Path) -> Any:
    from raytrain.config import load_config_text

    return load_config_text(
        RAYTRAIN_CONFIG.format(
            workers=workers, trials=trials, out=out, batch=BATCH, rows=ROWS, hidden=HIDDEN
        )
    )


def raytrain_search(workers: int) -> Callable[[int, Path], None]:
    def run(trials: int, out: Path) -> None:
        from raytrain.tune.runner import run_search

        result = run_search(
            raytrain_config(workers, trials, out), experiment_dir=out / "exp", echo=lambda s: None
        )
        done = [t for t in result.trials if t["status"] == "OK"]
        if len(done) != trials or result.errors:
            raise RuntimeError(f"{len(done)}/{trials} trials finished: {result.errors}")

    return run


def _timed_out(*_: Any) -> None:
    raise TimeoutError("a search ran past --limit seconds; see the Ray logs")


def measure(
    label: str, search: Callable[[int, Path], None], extra: int, root: Path, limit: int
) -> dict[str, Any]:
    """T(1), T(1+extra) and the marginal seconds per trial (after an untimed warm-up search:
    first-in-process costs, such as Ray starting its first task workers, are not a trial's)."""
    times = {}
    for n in ("warmup", 1, 1 + extra):
        out = root / f"{label.replace(' ', '_')}_{n}"
        out.mkdir(parents=True)
        t0 = time.perf_counter()
        signal.alarm(limit)  # a search that hangs ends the run with a message, not forever
        try:
            search(1 if n == "warmup" else n, out)
        finally:
            signal.alarm(0)
        times[n] = time.perf_counter() - t0
    t1, tn = times[1], times[1 + extra]
    row = {
        "system": label,
        "t_1_trial_s": t1,
        f"t_{1 + extra}_trials_s": tn,
        "per_trial_s": (tn - t1) / extra,
        "loadavg_1m_after": os.getloadavg()[0],
    }
    print(
        f"{label:<24} T(1)={t1:6.2f}s  T({1 + extra})={tn:6.2f}s  "
        f"per trial={row['per_trial_s']:6.2f}s  (load {row['loadavg_1m_after']:.1f})",
        flush=True,
    )
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--extra", type=int, default=4, help="K: the second search has 1+K trials")
    ap.add_argument("--quick", action="store_true", help="K=1: checks the script only")
    ap.add_argument("--json", type=Path, default=None, help="Also write the rows here")
    ap.add_argument("--cpus", type=int, default=os.cpu_count() or 2, help="Ray's CPUs")
    ap.add_argument("--limit", type=int, default=600, help="Seconds one search may take")
    ap.add_argument(
        "--only", default="", help="Comma-separated systems to run (default: all), e.g. '2 workers'"
    )
    args = ap.parse_args()
    extra = 1 if args.quick else args.extra

    import ray

    root = Path(tempfile.mkdtemp(prefix="trial_overhead_"))
    os.environ["RAYTRAIN_DATA_DIR"] = str(root / "datasets")
    os.environ.setdefault("WANDB_MODE", "offline")
    # Our own local Ray (never someone else's running cluster), started before any timing.
    # Started as raytrain starts a local Ray (`raytrain.runtime.local`);
    # RAYTRAIN_FAST_START=0: plain.
    from raytrain.runtime.local import prepare_local_ray

    prepare_local_ray()
    ray.init(address="local", num_cpus=args.cpus, log_to_driver=False, include_dashboard=False)
    import ray.data

    ray.data.DataContext.get_current().enable_progress_bars = False
    from raytrain.data.resolve import resolve_dataset

    resolve_dataset(raytrain_config(1, 1, root), "regression")  # prepared once, as in a search
    # Imports and torch's first-call work happen once per process in every system: not timed.
    import optuna  # noqa: F401
    from ray import tune  # noqa: F401

    import raytrain.tune.runner  # noqa: F401

    _tiny_epoch(1e-3, 0)
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Ray CPUs "
        f"{args.cpus}, torch threads {torch.get_num_threads()}, load before "
        f"{os.getloadavg()[0]:.1f}; marginal cost over {extra} extra trial(s)",
        flush=True,
    )
    systems: list[tuple[str, Callable[[int, Path], None]]] = [
        ("plain Optuna", optuna_search),
        ("plain Tune function", tune_search),
        ("plain Tune function, reuse_actors", functools.partial(tune_search, reuse_actors=True)),
        ("raytrain 1 worker", raytrain_search(1)),
        ("raytrain 2 workers", raytrain_search(2)),
    ]
    if args.only:
        systems = [s for s in systems if any(o.strip() in s[0] for o in args.only.split(","))]
    signal.signal(signal.SIGALRM, _timed_out)
    rows = [measure(label, fn, extra, root, args.limit) for label, fn in systems]
    ray.shutdown()
    by = {r["system"]: r["per_trial_s"] for r in rows}
    if len(by) < len(systems) or len(systems) < 5:
        return
    one, tune_default = by["raytrain 1 worker"], by["plain Tune function"]
    # A marginal cost at or below zero means T(1+K) and T(1) differ by less than their noise
    # (a few tenths of a second): the ratio is then only bounded by that noise.
    noise = 0.05
    ratio = max(one, noise) / tune_default
    print(
        f"\nraytrain 1 worker / plain Tune = {'<= ' if one < noise else ''}{ratio:.2f}x "
        f"(goal <= 1.5x; Tune with reuse_actors: {by['plain Tune function, reuse_actors']:.2f} s)"
        f"; raytrain 2 workers = {by['raytrain 2 workers']:.1f} s per trial (goal <= 12 s)"
    )
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "ratio_1w_to_tune": ratio}, indent=2))


if __name__ == "__main__":
    main()
