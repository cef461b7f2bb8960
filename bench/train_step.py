#!/usr/bin/env python3
"""Training-step overhead: raytrain's per-worker epoch vs a plain hand-written PyTorch loop.

    python bench/train_step.py            # full run (about a minute on 2 idle cores)
    python bench/train_step.py --quick    # a few seconds: checks the script, not the numbers

Both loops train the same U-Net (same initial weights) on the same batches held in memory,
with the same loss (the edge task's BCE), optimizer (AdamW), cosine schedule with warmup and
global-norm clipping at 1.0. "raytrain" is `raytrain.train.step.train_epoch`, the code a Ray
Train worker runs for every batch (per-step LR from the schedule registry, clipping registry,
accumulation bookkeeping, NaN stop, per-step LR/loss history); the plain loop is what one
writes by hand (`LambdaLR`, `clip_grad_norm_`, `loss.item()` for a running mean). Ray Data
and DDP are not part of either: this isolates the loop's own cost.

Epochs alternate (plain, raytrain, plain, ...) after one untimed warm-up epoch each, so a
slow-down of the machine hits both. Printed: median and minimum wall time per epoch and median
CPU time (process time: what the loop itself consumed, the steadier figure on a shared
machine), and their raytrain / plain ratios. Goal: <= 1.10.

On a CUDA machine it also times raytrain's loop on a U-Net at 256x256 in bf16 with
channels_last, and prints images/s and the fraction of the GPU's peak bf16 FLOP/s reached
(model FLOPs counted by torch.utils.flop_counter for one forward + backward).
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch

from raytrain.config.schema import SchedulerSection, TrainingParamsSection
from raytrain.models import DataInfo, create_model
from raytrain.tasks import create_task
from raytrain.train.clipping import Clipping
from raytrain.train.schedules import LRSchedule
from raytrain.train.step import TrainStep, train_epoch

LR = 1e-3
SCHEDULE = SchedulerSection(type="cosine_decay", warmup_steps=5, alpha=0.01)

#: dense bf16 tensor-core peak (TFLOP/s) by device-name fragment, from the vendors' datasheets
PEAK_BF16_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L4": 121.0, "A10": 125.0}


def make_batches(
    n: int, batch: int, size: int, device: torch.device, seed: int = 0
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, size, size, generator=g)
    y = (torch.rand(n, 1, size, size, generator=g) > 0.85).float()
    return [(x[i : i + batch].to(device), y[i : i + batch].to(device)) for i in range(0, n, batch)]


def raytrain_loop(
    model: torch.nn.Module,
    loss_fn: Callable[..., torch.Tensor],
    steps_per_epoch: int,
    epochs: int,
    device: torch.device,
    amp: torch.dtype | None = None,
) -> Callable[[list[Any], int], None]:
    opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=1e-4)
    stepper = TrainStep(
        model,
        opt,
        loss_fn,
        LRSchedule(SCHEDULE, LR, steps_per_epoch, epochs),
        device=device,
        clipping=Clipping.from_config(TrainingParamsSection(gradient_clip=1.0)),
        amp_dtype=amp,
    )

    def epoch(batches: list[Any], e: int) -> None:
        train_epoch(stepper, batches, e)
        stepper.take_history()  # what the worker hands to the logger each epoch

    return epoch


def plain_loop(
    model: torch.nn.Module,
    loss_fn: Callable[..., torch.Tensor],
    steps_per_epoch: int,
    epochs: int,
    device: torch.device,
) -> Callable[[list[Any], int], None]:
    opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=1e-4)
    sched = LRSchedule(SCHEDULE, LR, steps_per_epoch, epochs)  # the same LR values
    lr_sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: sched.lr(s) / LR)

    def epoch(batches: list[Any], e: int) -> None:
        model.train()
        running = 0.0
        for x, y in batches:
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), y)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            lr_sched.step()
            running += loss.item()

    return epoch


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def compare(args: argparse.Namespace) -> None:
    device = torch.device("cpu")
    data = DataInfo(in_channels=1, image_size=args.size)
    task = create_task("edges", data, pos_weight=3.0)
    torch.manual_seed(0)
    base = create_model("unet", {"base_filters": args.filters, "depth": 3}, data)
    batches = make_batches(args.images, args.batch, args.size, device)
    spe, epochs = len(batches), args.epochs + 1
    loops = {
        "plain": plain_loop(copy.deepcopy(base), task.loss, spe, epochs, device),
        "raytrain": raytrain_loop(copy.deepcopy(base), task.loss, spe, epochs, device),
    }
    wall: dict[str, list[float]] = {k: [] for k in loops}
    cpu: dict[str, list[float]] = {k: [] for k in loops}
    for e in range(epochs):
        for name, run in loops.items():
            t0, c0 = time.perf_counter(), time.process_time()
            run(batches, e)
            if e > 0:  # epoch 0 warms up allocators and kernels for both
                wall[name].append(time.perf_counter() - t0)
                cpu[name].append(time.process_time() - c0)
    print(
        f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
        f"torch {torch.__version__}): U-Net base_filters {args.filters} depth 3, "
        f"{args.images} images {args.size}x{args.size}, batch {args.batch}, "
        f"{args.epochs} timed epochs each"
    )
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"  load average at the end: {load:.1f} on {os.cpu_count()} cores")
    stat = {
        "median wall": lambda k: statistics.median(wall[k]),
        "min wall": lambda k: min(wall[k]),
        "median CPU": lambda k: statistics.median(cpu[k]),
    }
    for k in loops:
        shown = "  ".join(f"{name} {f(k):.3f} s" for name, f in stat.items())
        print(f"  {k:<9} {shown}")
    ratios = "  ".join(f"{name} {f('raytrain') / f('plain'):.3f}" for name, f in stat.items())
    print(f"  epoch-time ratio raytrain / plain: {ratios}")


def flops_per_image(model: torch.nn.Module, size: int, device: torch.device) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.rand(2, 1, size, size, device=device).to(memory_format=torch.channels_last)
    counter = FlopCounterMode(display=False)
    with counter, torch.autocast(device.type, dtype=torch.bfloat16):
        model(x).float().mean().backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops() / 2


def peak_tflops() -> tuple[float, str]:
    name = torch.cuda.get_device_name()
    for key, tf in PEAK_BF16_TFLOPS.items():
        if key in name:
            return tf, f"{name}, datasheet dense bf16"
    # unknown GPU: the best of a large bf16 matmul stands in for the peak
    a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    for _ in range(3):
        a @ a
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(10):
        a @ a
    torch.cuda.synchronize()
    return 10 * 2 * 8192**3 / (time.perf_counter() - t0) / 1e12, f"{name}, measured matmul"


def cuda_throughput(args: argparse.Namespace) -> None:
    device = torch.device("cuda")
    size, batch = 256, args.gpu_batch
    data = DataInfo(in_channels=1, image_size=size)
    task = create_task("edges", data, pos_weight=3.0)
    torch.manual_seed(0)
    model = create_model("unet", {"base_filters": 32, "depth": 4}, data).to(device)
    model = model.to(memory_format=torch.channels_last)
    flops = flops_per_image(model, size, device)
    batches = [
        (x.to(memory_format=torch.channels_last), y)
        for x, y in make_batches(batch * args.gpu_steps, batch, size, device)
    ]
    run = raytrain_loop(model, task.loss, len(batches), 3, device, amp=torch.bfloat16)
    run(batches, 0)  # warm-up (cuDNN autotuning, allocator)
    sync(device)
    t0 = time.perf_counter()
    run(batches, 1)
    sync(device)
    dt = time.perf_counter() - t0
    ips = len(batches) * batch / dt
    peak, source = peak_tflops()
    achieved = ips * flops / 1e12
    print(
        f"CUDA: U-Net base_filters 32 depth 4, 256x256, bf16 autocast, channels_last, "
        f"batch {batch}: {ips:.0f} images/s; {flops / 1e9:.2f} GFLOP per image (fwd+bwd) -> "
        f"{achieved:.1f} TFLOP/s = {achieved / peak:.1%} of peak {peak:.0f} ({source})"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny sizes: checks the script only")
    p.add_argument("--images", type=int, default=128)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--filters", type=int, default=16)
    p.add_argument("--epochs", type=int, default=7, help="timed epochs per loop")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--gpu-batch", type=int, default=32)
    p.add_argument("--gpu-steps", type=int, default=50)
    args = p.parse_args()
    if args.quick:
        args.images, args.size, args.filters, args.epochs = 32, 32, 4, 2
        args.gpu_steps = 5
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    compare(args)
    if torch.cuda.is_available():
        cuda_throughput(args)
    else:
        print("CUDA: not run (no GPU on this machine)")


if __name__ == "__main__":
    main()
