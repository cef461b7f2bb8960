#!/usr/bin/env python3
"""Cost growth: what raytrain's bookkeeping costs a trial in a search of 10, 100 and 1,000
near-instant trials. Goal: the per-trial cost at 1,000 trials at most 1.2x that at 10.

    python bench/search_overhead.py                          # 10, 100, 1000 trials
    python bench/search_overhead.py --trials 10,100,300      # when 1,000 does not fit
    python bench/search_overhead.py --trials 100,300 --profile   # where the driver's time goes

Each search is a real `raytrain.search(...)` with raytrain's default search (Optuna TPE in its
SQLite study + ASHA, the promotion kind: trials pause at epoch 2 and are resumed from their
checkpoint; search.method and tune.* left out) over `objective:
bench.search_overhead:instant_fn`, a function that reports 3 epochs of a 2-parameter quadratic
through `raytrain.tune.report` and does nothing else: what is left is raytrain's and Tune's
bookkeeping. 4 trials at once (`cpus_per_worker: 0.5`). Ray is started and one 2-trial search
run before anything is timed, and a 1-trial search gives the fixed cost of a search (Tuner,
study, experiment folder, trials.csv, summary, report.html). Per search:

* wall s / trial: the whole `raytrain.search` call over N (the goal's figure; at 10 trials it
  is mostly the search's fixed cost and the first actors' start, so it alone cannot show growth);
* marginal s / trial: (wall(N) - wall(1)) / (N - 1), the 1-trial search's cost left out;
* the phases: Tune's run (`tuner.fit`), collecting the trials from Tune's results, and the rest
  (trials.csv, summary.json, report.html);
* first / late s / trial: seconds between trial ends (each trial reports `wall`, the clock at
  its end) over the first and the last tenth of the trials;
* for the largest search, per tenth of its trials: s per trial, and the seconds per trial the
  driver spent in each function of `TIMED` (Tune's wait on the actors, its experiment-state
  save, its callbacks, the searcher's suggest / report / tell, TPE, ASHA), each call timed from
  the outside (raytrain's code is not changed), with ms per call in the first and last tenth:
  what grows with the number of trials, and by how much.

`--profile` runs the driver under cProfile (Tune's loop, the searcher, the scheduler and the
experiment-state saving all run in the driver's main thread; the trials run in Ray actors) and
prints, per search, the cumulative seconds per trial of the functions that can grow with the
trial count. cProfile slows Python code down: compare its shares, not its seconds, with the
unprofiled run. Last line: `search overhead: per-trial at N = X× that at 10 (goal ≤ 1.2);
inside it, last tenth Y× first` (X: wall / N; Y: the steady-state cost of a trial late in the
largest search against early in it, what a 10-trial search's fixed cost hides).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

EPOCHS = 3


def instant_fn(config: dict[str, Any]) -> None:
    """The near-instant objective: 3 epochs of a quadratic, `wall` = when each epoch ended."""
    from raytrain.tune import last_state, report

    x, y = float(config["x"]), float(config["y"])
    # a trial paused at an ASHA rung (the default's promotion kind) resumes where it paused
    for epoch in range((last_state() or 0) + 1, int(config["num_epochs"]) + 1):
        score = 1.0 - (x - 0.3) ** 2 - (y - 0.6) ** 2 - 0.1 / epoch
        report(epoch=epoch, score=score, wall=time.time(), state=epoch)


def config(n: int, out: Path, name: str) -> dict[str, Any]:
    return {
        "training": {"name": name, "output_dir": str(out), "seed": 0},
        "objective": "bench.search_overhead:instant_fn",
        "training_params": {"num_epochs": EPOCHS},
        "search": {"num_trials": n, "metric": "score", "direction": "maximize"},
        "search_space": {
            "x": {"type": "uniform", "low": 0.0, "high": 1.0},
            "y": {"type": "uniform", "low": 0.0, "high": 1.0},
        },
        "resources": {"cpus_per_worker": 0.5, "max_concurrent_trials": 4},
    }


#: functions of Tune, Optuna and raytrain whose cost can grow with the number of trials: a
#: label -> (file name, function name) in cProfile's table (the largest cumulative time of the
#: matches counts)
WATCH: dict[str, tuple[str, str]] = {
    "Tune: the loop's step (TuneController.step)": ("tune_controller.py", "step"),
    "  waiting on the trials' actors (ray.wait)": ("worker.py", "wait"),
    "  experiment state saved (TuneController.checkpoint)": ("tune_controller.py", "checkpoint"),
    "  results processed (_process_trial_results)": (
        "tune_controller.py",
        "_process_trial_results",
    ),
    "  callbacks' on_trial_result (progress, loggers)": ("callback.py", "on_trial_result"),
    "searcher: suggest (TPE sampling, study.ask)": ("optuna_store.py", "suggest"),
    "  Optuna TPE sample_independent": ("sampler.py", "sample_independent"),
    "searcher: on_trial_result (trial.report)": ("optuna_search.py", "on_trial_result"),
    "searcher: on_trial_complete (study.tell)": ("optuna_store.py", "on_trial_complete"),
    "  Optuna storage get_all_trials": ("_cached_storage.py", "get_all_trials"),
    "  sqlite3 commit": ("~", "<method 'commit' of 'sqlite3.Connection' objects>"),
    "scheduler: ASHA on_trial_result": ("async_hyperband.py", "on_trial_result"),
    "scheduler: promotion ASHA on_trial_result": ("promotion.py", "on_trial_result"),
    "scheduler: promotion ASHA choose_trial_to_run": ("promotion.py", "choose_trial_to_run"),
    "raytrain: collect_trials": ("results.py", "collect_trials"),
    "raytrain: best_of": ("function_trainable.py", "best_of"),
    "raytrain: search metrics callback": ("metrics.py", "_set"),
}


def _timed(module: Any, name: str, phases: dict[str, float]) -> None:
    """Wrap `module.name` so that its seconds add up in `phases[name]` (instrumentation from
    the outside: raytrain's code is not changed)."""
    fn = getattr(module, name)
    if getattr(fn, "_timed", False):
        return

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            phases[name] = phases.get(name, 0.0) + time.perf_counter() - t0

    wrapper._timed = True  # type: ignore[attr-defined]
    setattr(module, name, wrapper)


PHASES: dict[str, float] = {}

#: (module, class or None, attribute, label): what the driver's time is split into. Each
#: call's end (time.time(), the trials' clock) and duration are recorded; the lines marked
#: "within" run inside the line above them.
TIMED = (
    ("ray", None, "wait", "Tune: waiting on the trials' actors (ray.wait)"),
    (
        "ray.tune.execution.tune_controller",
        "TuneController",
        "save_to_dir",
        "Tune: experiment state saved (TuneController.save_to_dir)",
    ),
    (
        "ray.tune.callback",
        "CallbackList",
        "on_trial_result",
        "Tune: callbacks on each result (json/csv/TensorBoard loggers, progress)",
    ),
    (
        "ray.tune.callback",
        "CallbackList",
        "on_trial_complete",
        "Tune: callbacks on each trial's end",
    ),
    (
        "raytrain.tune.optuna_store",
        "DurableOptunaSearch",
        "suggest",
        "searcher: suggest (study.ask, TPE)",
    ),
    (
        "optuna.samplers",
        "TPESampler",
        "sample_relative",
        "  within: TPE sample_relative",
    ),
    (
        "raytrain.tune.optuna_store",
        "DurableOptunaSearch",
        "on_trial_result",
        "searcher: on_trial_result (trial.report into SQLite)",
    ),
    (
        "raytrain.tune.optuna_store",
        "DurableOptunaSearch",
        "set_paused",
        "searcher: set_paused (paused trials' Optuna records closed)",
    ),
    (
        "raytrain.tune.optuna_store",
        "DurableOptunaSearch",
        "on_trial_complete",
        "searcher: on_trial_complete (study.tell)",
    ),
    (
        "ray.tune.schedulers",
        "AsyncHyperBandScheduler",
        "on_trial_result",
        "scheduler: ASHA on_trial_result",
    ),
    (
        "raytrain.tune.promotion",
        "PromotionASHA",
        "on_trial_result",
        "scheduler: promotion ASHA on_trial_result",
    ),
    (
        "raytrain.tune.promotion",
        "PromotionASHA",
        "choose_trial_to_run",
        "scheduler: promotion ASHA choose_trial_to_run",
    ),
)
EVENTS: list[tuple[float, str, float]] = []


def instrument() -> None:
    """Wrap the TIMED functions (once per process) so that every call lands in EVENTS."""
    import importlib

    for mod_name, cls_name, attr, label in TIMED:
        owner = importlib.import_module(mod_name)
        if cls_name:
            owner = getattr(owner, cls_name)
        fn = owner.__dict__.get(attr) if cls_name else getattr(owner, attr)
        if fn is None or getattr(fn, "_timed", False):
            continue

        def wrapper(*args: Any, _fn: Any = fn, _label: str = label, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return _fn(*args, **kwargs)
            finally:
                dt = time.perf_counter() - t0
                EVENTS.append((time.time(), _label, dt))

        wrapper._timed = True  # type: ignore[attr-defined]
        setattr(owner, attr, wrapper)


def split_time(ends: list[float], events: list[tuple[float, str, float]]) -> list[dict]:
    """Per tenth of a search's trials (by trial end): s per trial, and the TIMED functions'
    seconds per trial in that stretch of the search."""
    n = len(ends)
    out = []
    for j in range(10):
        lo, hi = j * n // 10, (j + 1) * n // 10 - 1
        if hi <= lo:
            continue
        t_lo, t_hi = ends[lo], ends[hi]
        parts: dict[str, float] = {}
        calls: dict[str, int] = {}
        for t, label, dt in events:
            if t_lo < t <= t_hi:
                parts[label] = parts.get(label, 0.0) + dt
                calls[label] = calls.get(label, 0) + 1
        out.append(
            {
                "k": (lo + hi) / 2 + 1,
                "s_per_trial": (t_hi - t_lo) / (hi - lo),
                "parts": {k: v / (hi - lo) for k, v in parts.items()},
                "ms_per_call": {k: 1000 * v / calls[k] for k, v in parts.items()},
            }
        )
    return out


def run_one(
    n: int, out: Path, name: str, profile: bool = False, profile_dir: Path | None = None
) -> dict[str, Any]:
    import raytrain
    from raytrain.tune import runner

    for fn in ("_fit", "collect_trials"):
        _timed(runner, fn, PHASES)
    instrument()
    PHASES.clear()
    EVENTS.clear()
    prof = cProfile.Profile() if profile else None
    t0 = time.perf_counter()
    if prof:
        prof.enable()
    outcome = raytrain.search(config(n, out, name))
    if prof:
        prof.disable()
    wall = time.perf_counter() - t0
    ends = []
    for result in (outcome.experiment_dir / "tune").glob("*/result.json"):
        lines = [ln for ln in result.read_text().splitlines() if ln.strip()]
        if lines:
            ends.append(float(json.loads(lines[-1])["wall"]))
    ends.sort()
    tenth = max(2, len(ends) // 10)
    first = (ends[tenth - 1] - ends[0]) / (tenth - 1) if len(ends) >= tenth else float("nan")
    late = (ends[-1] - ends[-tenth]) / (tenth - 1) if len(ends) >= tenth else float("nan")
    row = {
        "trials": n,
        "finished": len(outcome.trials),
        "wall_s": wall,
        "fit_s": PHASES.get("_fit", 0.0),
        "collect_s": PHASES.get("collect_trials", 0.0),
        "first_s_per_trial": first,
        "late_s_per_trial": late,
    }
    row["rest_s"] = wall - row["fit_s"] - row["collect_s"]
    row["ends"] = [e - ends[0] for e in ends]
    row["split"] = split_time(ends, EVENTS) if n >= 20 else []
    if prof:
        row["profile"] = _watched(prof)
        row["profile_top"] = _top(prof)
        if profile_dir:
            profile_dir.mkdir(parents=True, exist_ok=True)
            prof.dump_stats(profile_dir / f"search_{n}.pstats")
    return row


def _watched(prof: cProfile.Profile) -> dict[str, float]:
    """Cumulative seconds of the watched functions (the first match of each)."""
    stats = pstats.Stats(prof).stats  # type: ignore[attr-defined]
    out: dict[str, float] = {}
    for label, (file_part, fn_part) in WATCH.items():
        total = 0.0
        for (file, _line, fn), (_cc, _nc, _tt, ct, _callers) in stats.items():
            if file.endswith(file_part) and fn == fn_part:
                total = max(total, ct)
        out[label] = total
    return out


def _top(prof: cProfile.Profile, n: int = 25) -> str:
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(n)
    return buf.getvalue()


def fit_line(points: list[tuple[float, float]]) -> tuple[float, float]:
    """Least squares c = a + b k over (k, c)."""
    import numpy as np

    k, c = np.array(points).T
    b, a = np.polyfit(k, c, 1)
    return float(a), float(b)


def show_split(row: dict[str, Any]) -> None:
    """The tenths of the largest search: s per trial, each TIMED function's share, and lines
    fitted over the trial index, extrapolated to a search's mean per trial at 10 and 1,000."""
    split = row["split"]
    labels = [label for *_, label in TIMED]
    n = row["trials"]
    print(f"\ninside the {n}-trial search, by tenth of its trials (trial index at the middle):")
    print(f"{'s per trial':<74}" + "".join(f"{int(w['k']):>7}" for w in split))
    print(
        f"{'  all (between trial ends)':<74}" + "".join(f"{w['s_per_trial']:>7.3f}" for w in split)
    )
    fits = {"all": fit_line([(w["k"], w["s_per_trial"]) for w in split])}
    for label in labels:
        vals = [w["parts"].get(label, 0.0) for w in split]
        print(f"  {label:<72}" + "".join(f"{v:>7.3f}" for v in vals))
        fits[label] = fit_line([(w["k"], v) for w, v in zip(split, vals, strict=True)])
    first, last = split[0], split[-1]
    print(f"\nms per call, first tenth -> last tenth of the {n} trials:")
    for label in labels:
        f, la = first["ms_per_call"].get(label), last["ms_per_call"].get(label)
        if f is not None and la is not None:
            print(f"  {label:<72} {f:8.2f} -> {la:8.2f}")
    print("\nlinear fits (s per trial = a + b x trial index), a search's mean per trial at 10 and")
    print("1,000 trials extrapolated (a + 5 b, a + 500 b):")
    for label, (a0, b0) in fits.items():
        at10, at1000 = a0 + 5 * b0, a0 + 500 * b0
        print(f"  {label:<72} a {a0:7.4f}  b {b0 * 1000:7.4f} ms  {at10:7.4f} -> {at1000:7.4f} s")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", default="10,100,1000")
    ap.add_argument("--profile", action="store_true", help="cProfile the driver, per search")
    ap.add_argument("--profile-dir", type=Path, help="keep the profiles here (search_N.pstats)")
    ap.add_argument("--out", type=Path, help="keep the searches here (default: a temp folder)")
    ap.add_argument("--json", type=Path, help="write the rows here")
    a = ap.parse_args(argv)
    sizes = [int(s) for s in a.trials.split(",")]
    os.environ.setdefault("PYTHONPATH", str(REPO))  # the trials import bench.search_overhead
    with tempfile.TemporaryDirectory(prefix="search_overhead_") as tmp:
        out = a.out or Path(tmp)
        t0 = time.perf_counter()
        run_one(2, out, "warmup")  # Ray's start, first workers, first imports: not timed
        print(f"warm-up (Ray start + a 2-trial search): {time.perf_counter() - t0:.1f} s")
        fixed = run_one(1, out, "fixed")
        print(f"fixed cost (a 1-trial search): {fixed['wall_s']:.2f} s", flush=True)
        rows = []
        print(
            f"{'trials':>6} {'wall s':>8} {'s/trial':>8} {'marginal':>9} {'fit s':>8} "
            f"{'collect':>8} {'rest s':>7} {'first s/t':>9} {'late s/t':>9}"
        )
        for n in sizes:
            row = run_one(n, out, f"n{n}", a.profile, a.profile_dir)
            row["per_trial_s"] = row["wall_s"] / n
            row["marginal_s"] = (row["wall_s"] - fixed["wall_s"]) / (n - 1)
            rows.append(row)
            print(
                f"{n:>6} {row['wall_s']:>8.1f} {row['per_trial_s']:>8.3f} "
                f"{row['marginal_s']:>9.3f} {row['fit_s']:>8.1f} {row['collect_s']:>8.2f} "
                f"{row['rest_s']:>7.1f} {row['first_s_per_trial']:>9.3f} "
                f"{row['late_s_per_trial']:>9.3f}  ({row['finished']} trials in the results)",
                flush=True,
            )
        if a.profile:
            print("\ncProfile, cumulative driver seconds per trial:")
            labels = list(WATCH)
            print(f"{'':<58}" + "".join(f"{r['trials']:>10}" for r in rows))
            wall = {r["trials"]: r["wall_s"] / r["trials"] for r in rows}
            print(
                f"{'(wall s per trial, profiled)':<58}"
                + "".join(f"{v:>10.4f}" for v in wall.values())
            )
            for label in labels:
                print(
                    f"{label:<58}"
                    + "".join(f"{r['profile'][label] / r['trials']:>10.4f}" for r in rows)
                )
            for r in rows:
                print(
                    f"\n-- top functions by own time, {r['trials']} trials --\n{r['profile_top']}"
                )
        big = rows[-1]
        if big["split"]:
            show_split(big)
        if a.json:
            a.json.parent.mkdir(parents=True, exist_ok=True)
            keep = [{k: v for k, v in r.items() if k != "profile_top"} for r in rows]
            a.json.write_text(json.dumps({"fixed": fixed, "rows": keep}, indent=2, default=str))
    small, big = rows[0], rows[-1]
    wall_ratio = big["per_trial_s"] / small["per_trial_s"]
    print(
        f"per-trial wall/N: {small['per_trial_s']:.3f} s at {small['trials']}, "
        f"{big['per_trial_s']:.3f} s at {big['trials']} ({wall_ratio:.2f}x); marginal (the "
        f"1-trial search's cost left out): {small['marginal_s']:.3f} s, {big['marginal_s']:.3f} s "
        f"({big['marginal_s'] / small['marginal_s']:.2f}x)"
    )
    growth = ""
    if big["split"]:
        first, last = big["split"][0]["s_per_trial"], big["split"][-1]["s_per_trial"]
        print(
            f"steady state inside the {big['trials']}-trial search: {first:.3f} s per trial over "
            f"its first tenth, {last:.3f} s over its last ({last / first:.2f}x)"
        )
        growth = f"; inside it, last tenth {last / first:.2f}× first"
    print(
        f"search overhead: per-trial at {big['trials']} = {wall_ratio:.2f}× that at "
        f"{small['trials']} (goal ≤ 1.2){growth}"
    )


if __name__ == "__main__":
    main()
