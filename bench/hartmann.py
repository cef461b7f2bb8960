"""mf-prior-bench's multi-fidelity Hartmann-6 with the "terrible" low-fidelity correlation, in
pure numpy, and the check that raytrain's default search does no harm on it.

    python bench/hartmann.py                 # 20 seeds: raytrain's default vs random search
    python bench/hartmann.py --seeds 3       # a quick look

The function is a reimplementation of `MFHartmann6` (mfpbench/synthetic/hartmann/generators.py)
and of the presets of `MFHartmann6Benchmark*` (mfpbench/synthetic/hartmann/benchmark.py) in
mf-prior-bench 1.10.0 (PyPI `mf-prior-bench`, Eddie Bergman and the AutoML groups of Freiburg
and Hannover; Apache-2.0). The package is not installed here because it pins numpy < 2. The
formula, constants, fidelity range, bias/noise presets and seeding are the same:

    s(z)  = log z / log 100                     z = 1..100 (100: the full fidelity)
    a'(z) = a - bias * (1 - s(z))               a = (1.0, 1.2, 3.0, 3.2)
    f(x, z) = -sum_i a'_i exp(-sum_j A_ij (x_j - P_ij / 10^4)^2) + |n| * noise * (1 - s(z))

with n the first standard normal of `numpy.random.default_rng(|seed * z * hash(x)|)`, x the tuple
of the 6 floats (Python's hash of a tuple of floats does not change between processes) and
`seed` the benchmark's (None or 0 mean 1337). One configuration at one fidelity always gives the
same value. At z = 100 this is the Hartmann-6 function: minimum -3.32237 at `OPTIMUM`. Presets
(bias, noise): terrible (4, 5), bad (3.5, 4), moderate (3, 3), good (2.5, 2); mf-prior-bench's
plain `mfh6` is (0.5, 0.1). With bias 4, a' is negative below z = 100^0.2 (about 2.5): cheap
fidelities rank configurations upside down (the optimum scores about 4.0 plus noise at z = 1,
worse than most points) and the noise there is 5|n|. Both bias and noise only add, so a value
at a low fidelity is never below the configuration's true (z = 100) value.
`tests/bench/test_hartmann.py` compares 20 points with mf-prior-bench 1.10.0's own output.

Licence: mf-prior-bench is Apache-2.0 (Copyright the mf-prior-bench authors); this file
re-expresses its formulas, constants and presets, with this notice of where they come from. A
and P are the standard Hartmann-6 constants (Dixon and Szegö, 1978).

The study: a search minimizes f on the simulated clock of `bench/hpo_sim.py` (its
`simulate_tune`, the same code as the LCBench study), one fidelity step being one epoch, every
step the same length (mf-prior-bench's cost, 0.05 + 0.95 (z/100)^2, is that of one query at z,
not of a step). Budget B = 30 full trials = 3,000 steps; K = 4 trials at once; raytrain's
default (`hpo_sim.RAYTRAIN_DEFAULT`: TPE, ASHA grace 3, reduction 3, max_t 100, the rung check
of `tune.rung_check`, early promotions revisited, stopped trials PRUNED) against random
search (`hpo_sim.RANDOM`: 30 full trials); the benchmark is the same for every search seed
(seed None). Regret at B = the best value any step reported within B minus
the optimum's value, also normalized as the LCBench study's (`hpo_sim.regret`: divided by the
optimum's distance to the median of 2,000 random configurations). Last line:
`hartmann6-terrible: raytrain default regret at B = X× random's (goal ≤ 1.10)`.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.hpo_sim import RANDOM, RAYTRAIN_DEFAULT, Problem, regret, tune_method  # noqa: E402

DIMS = 6
MAX_FIDELITY = 100
BUDGET = 30 * MAX_FIDELITY
#: (bias, noise) of mf-prior-bench's presets; "mfh6" is its plain MFHartmann6Benchmark
PRESETS: dict[str, tuple[float, float]] = {
    "terrible": (4.0, 5.0),
    "bad": (3.5, 4.0),
    "moderate": (3.0, 3.0),
    "good": (2.5, 2.0),
    "mfh6": (0.5, 0.1),
}
OPTIMUM = (0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573)
_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
_A = np.array(
    [
        [10, 3, 17, 3.5, 1.7, 8],
        [0.05, 10, 17, 0.1, 8, 14],
        [3, 3.5, 1.7, 10, 17, 8],
        [17, 8, 0.05, 10, 0.1, 14],
    ],
    dtype=float,
)
_P = np.array(
    [
        [1312, 1696, 5569, 124, 8283, 5886],
        [2329, 4135, 8307, 3736, 1004, 9991],
        [2348, 1451, 3522, 2883, 3047, 6650],
        [4047, 8828, 8732, 5743, 1091, 381],
    ],
    dtype=float,
)


class MFHartmann6:
    """f(z, x) of mf-prior-bench's MFHartmann6 generator with a preset's bias and noise
    (minimized; z in 1..n_fidelities)."""

    _default_seed = 1337

    def __init__(
        self, preset: str = "terrible", seed: int | None = None, n_fidelities: int = MAX_FIDELITY
    ) -> None:
        self.bias, self.noise = PRESETS[preset]
        self.z_min, self.z_max = 1, n_fidelities
        self.seed = seed if seed else self._default_seed

    def __call__(self, z: int, xs: tuple[float, ...]) -> float:
        assert len(xs) == DIMS
        log_z_scaled = (np.log(z) - np.log(self.z_min)) / (np.log(self.z_max) - np.log(self.z_min))
        x = np.array(xs).reshape(1, -1)
        alpha_prime = _ALPHA - self.bias * np.power(1 - log_z_scaled, 1)
        inner_sum = np.sum(_A * (x[:, np.newaxis, :] - 0.0001 * _P) ** 2, axis=-1)
        h = -(np.sum(alpha_prime * np.exp(-inner_sum), axis=-1))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rng = np.random.default_rng(seed=abs(self.seed * z * hash(xs)))
        noise = np.abs(rng.normal(size=h.size)) * self.noise * (1 - log_z_scaled)
        return float((h + noise)[0])

    def query(self, config: dict[str, float], at: int = MAX_FIDELITY) -> float:
        """mf-prior-bench's `Benchmark.query(config, at=z)` value: X_0..X_5 in index order."""
        keys = sorted(config, key=lambda k: int(k.split("_")[-1]))
        return self(at, tuple(config[k] for k in keys))

    def curve(self, config: dict[str, float]) -> np.ndarray:
        """The value at every fidelity 1..z_max."""
        return np.array([self.query(config, z) for z in range(self.z_min, self.z_max + 1)])


def suggest(trial: Any) -> dict[str, float]:
    return {f"X_{i}": trial.suggest_float(f"X_{i}", 0.0, 1.0) for i in range(DIMS)}


class _Steps:
    """-f at steps 0..n-1 (fidelity z_min + step) of one configuration, computed when a search
    reaches the step (most trials ASHA stops after a few steps)."""

    def __init__(self, fn: MFHartmann6, config: dict[str, float]) -> None:
        self.fn, self.config = fn, config

    def __getitem__(self, step: int) -> float:
        return -self.fn.query(self.config, self.fn.z_min + step)


def problem(fn: MFHartmann6) -> Problem:
    """The function as `bench/hpo_sim.py` searches it: maximize -f, one step per fidelity,
    every step one second."""
    steps = fn.z_max - fn.z_min + 1
    return Problem(suggest, lambda c: (_Steps(fn, c), np.ones(steps)), steps)  # type: ignore[arg-type]


def reference(fn: MFHartmann6, n: int = 2000) -> dict[str, float]:
    """The scale of regret: the optimum's value and the median of n random configurations'
    full-fidelity values (the LCBench study's definition)."""
    rng = np.random.default_rng(12345)
    final = [fn(fn.z_max, tuple(float(v) for v in rng.uniform(0, 1, DIMS))) for _ in range(n)]
    return {"best": fn(fn.z_max, OPTIMUM), "median": float(np.median(final))}


def search(method: str, seed: int, fn: MFHartmann6, concurrency: int, budget: int) -> list[float]:
    """One simulated search; returns its trace of -f (hpo_sim's traces are maximized)."""
    steps = fn.z_max - fn.z_min + 1
    return tune_method(method, seed, max_t=steps)(problem(fn), None, concurrency, budget)


def ratio_ci(a: list[float], b: list[float], n: int = 2000, seed: int = 0) -> tuple[float, float]:
    """Bootstrap 95% CI of mean(a) / mean(b), each resampled over its seeds."""
    rng = np.random.default_rng(seed)
    x, y = np.asarray(a), np.asarray(b)
    r = [
        x[rng.integers(0, len(x), len(x))].mean()
        / max(y[rng.integers(0, len(y), len(y))].mean(), 1e-12)
        for _ in range(n)
    ]
    lo, hi = np.percentile(r, [2.5, 97.5])
    return float(lo), float(hi)


def main(argv: list[str] | None = None) -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.getLogger("raytrain.tune.asha").setLevel(logging.ERROR)  # one line per search
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="terrible", choices=sorted(PRESETS))
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--budget", type=int, default=BUDGET, help="fidelity steps (default 30 x 100)")
    ap.add_argument("--skip-default", action="store_true", help="only random and --also")
    ap.add_argument(
        "--also", default="", help="more hpo_sim.tune_method policies, e.g. rt_tpe_fifo,rt_tpe_g9"
    )
    a = ap.parse_args(argv)
    fn = MFHartmann6(a.preset)
    ref = reference(fn)
    f_star, scale = ref["best"], ref["median"] - ref["best"]
    print(
        f"MFHartmann6 {a.preset} (bias {fn.bias:g}, noise {fn.noise:g}): optimum {f_star:.5f}, "
        f"median random configuration {ref['median']:.4f}; B = {a.budget} steps, "
        f"K = {a.concurrency}, {a.seeds} seeds",
        flush=True,
    )
    methods = {"random": RANDOM, "raytrain default": RAYTRAIN_DEFAULT}
    if a.skip_default:
        del methods["raytrain default"]
    methods.update({m: m for m in a.also.split(",") if m})
    raw: dict[str, list[float]] = {}
    for label, method in methods.items():
        t0 = time.perf_counter()
        raw[label] = []
        for seed in range(a.seeds):
            trace = search(method, seed, fn, a.concurrency, a.budget)
            # the trace is -f: regret = -f* - max(trace) = (best f found) - f*
            raw[label].append(regret(trace, -f_star, -f_star - 1.0, a.budget))
        r = np.asarray(raw[label])
        print(
            f"  {label:<17} ({method}): regret at B mean {r.mean():.4f}, median "
            f"{np.median(r):.4f}, normalized mean {r.mean() / scale:.4f}; per seed "
            f"{' '.join(f'{v:.3f}' for v in r)} ({time.perf_counter() - t0:.0f} s)",
            flush=True,
        )
    rnd = raw["random"]
    for label in methods:
        if label not in ("random", "raytrain default"):
            m = float(np.mean(raw[label])) / max(float(np.mean(rnd)), 1e-12)
            lo, hi = ratio_ci(raw[label], rnd)
            print(f"{label}: regret at B = {m:.2f}x random's (95% CI {lo:.2f}-{hi:.2f})")
    if a.skip_default:
        return
    rt = raw["raytrain default"]
    lo, hi = ratio_ci(rt, rnd)
    ratio = float(np.mean(rt)) / max(float(np.mean(rnd)), 1e-12)
    med = float(np.median(rt)) / max(float(np.median(rnd)), 1e-12)
    wins = sum(x < y for x, y in zip(rt, rnd, strict=True))
    print(
        f"ratio of means {ratio:.2f} (bootstrap 95% CI {lo:.2f}-{hi:.2f}), ratio of medians "
        f"{med:.2f}; raytrain default lower on {wins}/{a.seeds} seeds"
    )
    label = f"hartmann6-{a.preset}"
    print(f"{label}: raytrain default regret at B = {ratio:.2f}× random's (goal ≤ 1.10)")
    if not math.isfinite(ratio):
        sys.exit(1)


if __name__ == "__main__":
    main()
