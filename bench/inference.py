#!/usr/bin/env python3
"""CPU inference speed: PyTorch eager vs ONNX Runtime, on the models raytrain exports.

    python bench/inference.py            # full run (under a minute on 2 idle cores)
    python bench/inference.py --quick    # a few seconds: checks the script, not the numbers

For each model (U-Net base_filters 16, depth 3 at 1x64x64 and 1x256x256; the coefficient
optimizer MLP on 5 features; the anomaly detector MLP on 64 features) it builds the model with
*random weights* (latency does not depend on the values of the weights), exports it with
`raytrain.artifacts.export.export_onnx` (which checks ONNX against PyTorch), and times the
model as users
call it (`with_activation`: sigmoid included) at batch 1 and batch 32:

* warm-up iterations first (allocator, kernel selection, ORT's first-run graph work);
* then a fixed number of timed iterations, each one forward pass on the same input;
* items/s = batch x iterations / total time; p50/p99 over the per-iteration latencies.

Both runtimes get the same thread count (default: all cores). The numbers come from one run of
this script on one machine: compare rows with each other, not with another machine's.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from raytrain.artifacts.export import export_onnx, with_activation
from raytrain.models import DataInfo, create_model, get_model_spec

BATCHES = (1, 32)


@dataclass(frozen=True)
class Case:
    """One model to time, and how many iterations each batch size gets (warm-up, timed)."""

    label: str
    architecture: str
    params: dict[str, Any]
    data: DataInfo
    iterations: dict[int, tuple[int, int]]


CASES = (
    Case(
        "unet16x3 1x64x64",
        "unet",
        {"base_filters": 16, "depth": 3},
        DataInfo(in_channels=1, image_size=64),
        {1: (10, 100), 32: (2, 15)},
    ),
    Case(
        "unet16x3 1x256x256",
        "unet",
        {"base_filters": 16, "depth": 3},
        DataInfo(in_channels=1, image_size=256),
        {1: (3, 20), 32: (1, 5)},
    ),
    Case(
        "coef_mlp 5 feats",
        "coefficient_optimizer",
        {},
        DataInfo(feature_dim=5),
        {1: (100, 2000), 32: (100, 2000)},
    ),
    Case(
        "anomaly_mlp 64 feats",
        "anomaly_detector",
        {},
        DataInfo(feature_dim=64),
        {1: (100, 2000), 32: (100, 2000)},
    ),
)


@dataclass
class Result:
    case: str
    backend: str
    batch: int
    iterations: int
    items_per_s: float
    p50_ms: float
    p99_ms: float


def build(case: Case, folder: Path) -> tuple[torch.nn.Module, Path, tuple[int, ...]]:
    """(eager model with its output activation, ONNX path, one example's shape)."""
    torch.manual_seed(0)
    model = create_model(case.architecture, case.params, case.data).eval()
    meta = {"task": get_model_spec(case.architecture).task, "data_info": case.data.__dict__}
    path = folder / f"{case.architecture}_{case.data.image_size or case.data.feature_dim}.onnx"
    export_onnx(model, meta, path)
    shape = (
        (case.data.feature_dim,)
        if case.data.feature_dim
        else (case.data.in_channels, case.data.image_size, case.data.image_size)
    )
    return with_activation(model, meta), path, shape


def time_it(fn: Callable[[], Any], warmup: int, iterations: int) -> np.ndarray:
    """Per-iteration wall time in ms, after `warmup` untimed calls."""
    for _ in range(warmup):
        fn()
    out = np.empty(iterations)
    for i in range(iterations):
        t0 = time.perf_counter()
        fn()
        out[i] = (time.perf_counter() - t0) * 1e3
    return out


def bench_case(case: Case, folder: Path, threads: int, scale: float) -> list[Result]:
    """Torch at every batch size first, then ONNX Runtime: never both thread pools at once.

    Both runtimes' worker threads spin-wait for a while after a call; timing them in blocks
    keeps one runtime's idle spinning from competing with the other's timed calls.
    """
    import onnxruntime as ort

    model, path, shape = build(case, folder)
    inputs = {b: torch.rand(b, *shape, generator=torch.Generator().manual_seed(b)) for b in BATCHES}

    def iterations(batch: int) -> tuple[int, int]:
        warmup, iters = case.iterations[batch]
        return max(2, int(warmup * scale)), max(3, int(iters * scale))

    def result(backend: str, batch: int, ms: np.ndarray) -> Result:
        p50, p99 = np.percentile(ms, [50, 99])
        return Result(
            case.label,
            backend,
            batch,
            len(ms),
            batch * len(ms) / (ms.sum() / 1e3),
            float(p50),
            float(p99),
        )

    results = []
    with torch.inference_mode():
        for b in BATCHES:
            results.append(
                result("torch", b, time_it(lambda x=inputs[b]: model(x), *iterations(b)))
            )
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    for b in BATCHES:
        feed = {"input": inputs[b].numpy()}
        results.append(
            result("onnx", b, time_it(lambda f=feed: session.run(None, f), *iterations(b)))
        )
    return sorted(results, key=lambda r: (r.batch, r.backend != "torch"))


def table(results: list[Result]) -> str:
    head = (
        f"{'model':<22} {'backend':<7} {'batch':>5} {'iters':>6} {'items/s':>11} "
        f"{'p50 ms':>9} {'p99 ms':>9}"
    )
    rows = [head, "-" * len(head)]
    for r in results:
        rows.append(
            f"{r.case:<22} {r.backend:<7} {r.batch:>5} {r.iterations:>6} "
            f"{r.items_per_s:>11.1f} {r.p50_ms:>9.3f} {r.p99_ms:>9.3f}"
        )
    return "\n".join(rows)


def ratios(results: list[Result]) -> str:
    """ONNX Runtime throughput / PyTorch eager throughput (> 1: ONNX Runtime is faster)."""
    by = {(r.case, r.batch, r.backend): r for r in results}
    head = f"{'model':<22} {'batch':>5} {'onnx/torch items/s':>19} {'torch/onnx p50':>15}"
    rows = [head, "-" * len(head)]
    for case, batch, backend in by:
        if backend != "torch":
            continue
        t, o = by[(case, batch, "torch")], by[(case, batch, "onnx")]
        rows.append(
            f"{case:<22} {batch:>5} {o.items_per_s / t.items_per_s:>18.2f}x "
            f"{t.p50_ms / o.p50_ms:>14.2f}x"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="~5%% of the iterations")
    parser.add_argument(
        "--threads",
        type=int,
        default=os.cpu_count() or 1,
        help="threads for both runtimes (default: all cores)",
    )
    args = parser.parse_args(argv)
    import onnxruntime as ort

    torch.set_num_threads(args.threads)
    scale = 0.05 if args.quick else 1.0
    print(
        f"CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
        f"threads per runtime: {args.threads}; torch {torch.__version__}, "
        f"onnxruntime {ort.__version__}{' (--quick)' if args.quick else ''}"
    )
    print(
        "random weights (latency does not depend on weight values); forward pass only, "
        "sigmoid included\n"
    )
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    results: list[Result] = []
    with tempfile.TemporaryDirectory() as tmp:
        for case in CASES:
            results += bench_case(case, Path(tmp), args.threads, scale)
    print(table(results))
    print()
    print(ratios(results))
    print(
        f"\ntotal {time.perf_counter() - t0:.1f} s; load average before/after: "
        f"{load0:.2f} / {os.getloadavg()[0]:.2f} (numbers are only comparable on an idle "
        f"machine); p99 of fewer than 100 iterations is close to the maximum"
    )


if __name__ == "__main__":
    main()
