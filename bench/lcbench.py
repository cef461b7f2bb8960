"""YAHPO Gym's LCBench surrogate, read with onnxruntime and numpy only (no yahpo-gym).

The files in `bench/data/yahpo/lcbench/` are YAHPO Gym's, exactly as published (Apache-2.0,
`LICENSE-2.0.txt` beside them): `model.onnx` predicts, for one of 34 OpenML tasks and a
configuration of 7 hyper-parameters, per epoch (1-52): time, val_accuracy, val_cross_entropy,
val_balanced_accuracy, test_cross_entropy, test_balanced_accuracy. The model takes the raw
values (its input transforms are inside it): `x_cat` = the task's code from `encoding.json`,
`x_cont` = (epoch, batch_size, learning_rate, momentum, weight_decay, num_layers, max_units,
max_dropout), the order of YAHPO Gym's `lcbench` scenario.

    from bench.lcbench import LCBench
    bench = LCBench()
    curve = bench.curve("3945", {"batch_size": 64, "learning_rate": 1e-3, ...})
    curve["val_accuracy"]  # 52 values, epoch 1..52

`train_fn` is a raytrain objective (`objective: bench.lcbench:train_fn`): it "trains" the
configuration epoch by epoch, reporting the surrogate's numbers, and sleeps each epoch's
predicted time times `time_scale`.

References: Pfisterer et al., "YAHPO Gym - An Efficient Multi-Objective Multi-Fidelity Benchmark
for Hyperparameter Optimization" (AutoML-Conf 2022); Zimmer, Lindauer, Hutter, "Auto-PyTorch
Tabular" (TPAMI 2021) for the LCBench data.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

DATA_DIR = Path(__file__).resolve().parent / "data" / "yahpo" / "lcbench"
EPOCHS = 52
CONT_NAMES = (
    "epoch",
    "batch_size",
    "learning_rate",
    "momentum",
    "weight_decay",
    "num_layers",
    "max_units",
    "max_dropout",
)
Y_NAMES = (
    "time",
    "val_accuracy",
    "val_cross_entropy",
    "val_balanced_accuracy",
    "test_cross_entropy",
    "test_balanced_accuracy",
)
#: the 7 searched hyper-parameters: (low, high, log, int), YAHPO Gym's config space
SPACE: dict[str, tuple[float, float, bool, bool]] = {
    "batch_size": (16, 512, True, True),
    "learning_rate": (1e-4, 1e-1, True, False),
    "momentum": (0.1, 0.99, False, False),
    "weight_decay": (1e-5, 1e-1, False, False),
    "num_layers": (1, 5, False, True),
    "max_units": (64, 1024, True, True),
    "max_dropout": (0.0, 1.0, False, False),
}
#: the ten tasks the benchmark runs by default: the seven of the plain-Optuna anchor, then three
TASKS = (
    "3945",
    "7593",
    "34539",
    "126025",
    "126026",
    "168330",
    "189906",
    "146212",
    "167168",
    "189909",
)


class LCBench:
    """The surrogate: whole learning curves of configurations, one ONNX call per batch."""

    def __init__(self, data_dir: Path | str = DATA_DIR, threads: int = 1) -> None:
        import onnxruntime as ort

        data_dir = Path(data_dir)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = threads
        self.session = ort.InferenceSession(
            str(data_dir / "model.onnx"), sess_options=opts, providers=["CPUExecutionProvider"]
        )
        self.encoding: dict[str, int] = json.loads((data_dir / "encoding.json").read_text())[
            "OpenML_task_id"
        ]
        space = json.loads((data_dir / "config_space.json").read_text())
        self.tasks: list[str] = space["hyperparameters"][0]["choices"]
        self._lock = threading.Lock()

    def curves(self, task: str, configs: list[dict[str, Any]]) -> dict[str, np.ndarray]:
        """Per output name, an array (len(configs), 52): epochs 1..52 of each configuration."""
        if task not in self.tasks:
            raise ValueError(f"unknown LCBench task {task!r}; one of {', '.join(self.tasks)}")
        n = len(configs)
        x_cont = np.empty((n * EPOCHS, len(CONT_NAMES)), dtype=np.float32)
        for i, c in enumerate(configs):
            rows = x_cont[i * EPOCHS : (i + 1) * EPOCHS]
            rows[:, 0] = np.arange(1, EPOCHS + 1)
            for j, name in enumerate(CONT_NAMES[1:], start=1):
                rows[:, j] = float(c[name])
        x_cat = np.full((n * EPOCHS, 1), self.encoding[task], dtype=np.int32)
        with self._lock:  # one session, shared by threads
            out = self.session.run(None, {"x_cat": x_cat, "x_cont": x_cont})[0]
        out = out.reshape(n, EPOCHS, len(Y_NAMES))
        return {name: out[:, :, k] for k, name in enumerate(Y_NAMES)}

    def curve(self, task: str, config: dict[str, Any]) -> dict[str, np.ndarray]:
        """One configuration's curves: output name -> 52 values."""
        return {k: v[0] for k, v in self.curves(task, [config]).items()}


def epoch_times(time_curve: np.ndarray) -> np.ndarray:
    """Seconds each epoch took. LCBench's `time` is cumulative; the surrogate's prediction is
    not always increasing, so the per-epoch time is its difference floored at a small share of
    the mean epoch."""
    t = np.maximum(np.asarray(time_curve, dtype=float), 0.0)
    total = max(float(t[-1]), 1e-9)
    return np.maximum(np.diff(t, prepend=0.0), 0.05 * total / len(t))


def sample_config(rng: np.random.Generator) -> dict[str, Any]:
    """A configuration drawn uniformly (log-uniformly for log ranges) from the space."""
    out: dict[str, Any] = {}
    for name, (lo, hi, log, is_int) in SPACE.items():
        if log:
            v = math.exp(rng.uniform(math.log(lo), math.log(hi + (0.5 if is_int else 0))))
        else:
            v = rng.uniform(lo, hi + (1 if is_int else 0))
        out[name] = min(int(v), int(hi)) if is_int else v
    return out


_SHARED: dict[int, LCBench] = {}


def shared() -> LCBench:
    """One surrogate per process (Tune trials reuse their actor's)."""
    pid = os.getpid()
    if pid not in _SHARED:
        _SHARED[pid] = LCBench()
    return _SHARED[pid]


def train_fn(config: dict[str, Any]) -> None:
    """A raytrain objective over the surrogate: `task` (OpenML task id), the 7 searched values,
    `num_epochs` (at most 52) and `time_scale` (seconds slept per predicted second, 0: none)."""
    from raytrain.tune import last_state, report

    curve = shared().curve(str(config["task"]), config)
    epochs = min(int(config.get("num_epochs", EPOCHS)), EPOCHS)
    scale = float(config.get("time_scale", 0.0))
    seconds = epoch_times(curve["time"]) * scale
    # a trial paused at an ASHA rung (raytrain's default, the promotion kind) resumes here
    for e in range(last_state() or 0, epochs):
        if scale > 0:
            time.sleep(float(seconds[e]))
        report(
            epoch=e + 1,
            val_accuracy=float(curve["val_accuracy"][e]),
            val_cross_entropy=float(curve["val_cross_entropy"][e]),
            wall=time.time(),  # when the epoch ended: orders epochs across trials
            state=e + 1,
        )
