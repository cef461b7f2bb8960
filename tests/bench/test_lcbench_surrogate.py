"""The vendored LCBench surrogate (bench/lcbench.py): onnxruntime + numpy, no yahpo-gym."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from bench.lcbench import DATA_DIR, EPOCHS, TASKS, LCBench, epoch_times, sample_config  # noqa: E402

DEFAULT = {
    "batch_size": 91,
    "learning_rate": 0.0031622777,
    "momentum": 0.545,
    "weight_decay": 0.050005,
    "num_layers": 3,
    "max_units": 256,
    "max_dropout": 0.5,
}


def test_vendored_files_and_licence() -> None:
    for name in ("model.onnx", "encoding.json", "config_space.json", "LICENSE-2.0.txt"):
        assert (DATA_DIR / name).is_file(), name
    assert "Apache License" in (DATA_DIR / "LICENSE-2.0.txt").read_text()


def test_curves_are_whole_learning_curves() -> None:
    bench = LCBench()
    assert len(bench.tasks) == 34 and set(TASKS) <= set(bench.tasks)
    rng = np.random.default_rng(0)
    configs = [DEFAULT, *(sample_config(rng) for _ in range(9))]
    curves = bench.curves("3945", configs)
    acc = curves["val_accuracy"]
    assert acc.shape == (10, EPOCHS)
    assert acc.min() > 0 and acc.max() <= 100.5  # percent
    # batched and one-by-one agree; the same input gives the same curve
    one = bench.curve("3945", DEFAULT)["val_accuracy"]
    np.testing.assert_allclose(one, acc[0], rtol=1e-5)
    # cumulative time -> positive per-epoch seconds summing to about the total
    t = epoch_times(curves["time"][0])
    assert (t > 0).all() and abs(t.sum() - curves["time"][0][-1]) < 0.2 * t.sum()
    # different tasks, different curves
    other = bench.curve("7593", DEFAULT)["val_accuracy"]
    assert not np.allclose(other, one)
