#!/usr/bin/env python3
"""GPU check: what only a GPU can show about raytrain's training step, in one command.

    python bench/gpu_check.py                  # on a CUDA machine: the full check (<= 8 min)
    python bench/gpu_check.py --smoke          # tiny sizes, a few steps: the CPU path (~20 s)
    python bench/gpu_check.py --out PATH.json  # default bench/results/gpu_check.json

Needs torch, numpy and raytrain's torch-level code (models, tasks, `raytrain.train.step`, which
need pydantic), never Ray: the GPU machines this is meant for have PyTorch and no Ray. Run from
a checkout, raytrain need not be installed. Every training step is raytrain's own `TrainStep`
(autocast, GradScaler, clipping, per-step LR, the NaN stop), fed batches already on the device.

Without CUDA it says so and runs the same code paths on the CPU at tiny sizes (`--smoke`), then
exits 0. On CUDA, one run within `--budget-s` (default 450 s after start-up; a measurement that
no longer fits is skipped with a note; the JSON is rewritten after each part, so a run stopped
from outside leaves what it measured) covers, per model (U-Net at 256x256 and 512x512, the ViT
edge detector, the coefficient-count MLP and the tamper-detection MLP):

- training images (rows) per second and MFU in fp32, bf16 autocast and fp16 with a GradScaler,
  each with and without channels_last (conv-shaped inputs only) and torch.compile. MFU = model
  FLOPs of one step (forward + backward, counted by `torch.utils.flop_counter.FlopCounterMode`)
  / step time / the device's dense bf16 peak (by device name, `--peak-tflops` overrides;
  unknown devices: a measured bf16 matmul; the CPU smoke run: a measured fp32 matmul);
- bf16 and fp16 loss curves over 50 steps beside fp32's, from the same weights and batches;
  a non-finite curve, one that rises, or one that ends far from fp32's is a FAIL;
- peak memory (`torch.cuda.max_memory_allocated`) per batch size, doubling until out of memory,
  in the precision `mixed_precision: auto` picks, and the largest batch that fitted;
- ONNX export of the model on the GPU with `raytrain.artifacts.export.export_onnx` (TF32 off
  during the parity check) and its largest difference from PyTorch through onnxruntime's CPU
  provider.

Writes one JSON file and prints the tables; exit status 1 on any FAIL (a loss curve, an ONNX
parity check, or Ray having been imported), 0 otherwise.
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import math
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run from a checkout: raytrain need not be installed
    sys.path.insert(0, str(REPO))

try:
    from raytrain.config.schema import SchedulerSection, TrainingParamsSection
    from raytrain.models import DataInfo, create_model
    from raytrain.tasks import Task, create_task
    from raytrain.train.clipping import Clipping
    from raytrain.train.precision import resolve_precision
    from raytrain.train.schedules import LRSchedule
    from raytrain.train.step import NonFiniteLossError, TrainStep
except ImportError as e:  # the GPU image has torch and numpy, not pydantic
    sys.exit(
        f"gpu_check: cannot import raytrain's torch-level code ({e}); it needs torch, numpy and "
        f"pydantic (carry their wheels; see BENCHMARKS.md, GPU check)"
    )

LR = 1e-3
SCHEDULE = SchedulerSection(type="cosine_decay", warmup_steps=5, alpha=0.1)
CURVE_STEPS = 50
#: dense bf16 tensor-core peak, FLOP/s, by device-name fragment (first match wins)
PEAK_BF16 = (
    ("H100 PCIe", 756e12),
    ("H100 NVL", 835e12),
    ("H200", 989e12),
    ("H100", 989e12),
    ("A100", 312e12),
)
PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class Spec:
    """One model as the check trains it."""

    name: str
    architecture: str
    params: dict[str, Any]
    task: str
    batch: int
    image_size: int | None = None
    feature_dim: int | None = None

    @property
    def images(self) -> bool:
        return self.image_size is not None

    def data_info(self) -> DataInfo:
        if self.images:
            return DataInfo(in_channels=1, image_size=self.image_size)
        return DataInfo(feature_dim=self.feature_dim)

    def meta(self) -> dict[str, Any]:
        info = {k: v for k, v in asdict(self.data_info()).items() if v is not None}
        return {"data_info": info, "task": self.task}


#: The guide's models at GPU sizes: the U-Net with its default (guide) width and depth,
#: the ViT edge detector with its defaults, the MLPs with the search spaces' shapes.
FULL = (
    Spec("unet_256", "unet", {"base_filters": 64, "depth": 4}, "edges", 32, image_size=256),
    Spec("unet_512", "unet", {"base_filters": 64, "depth": 4}, "edges", 8, image_size=512),
    Spec(
        "vit_edge",
        "vit_edge",
        {"patch_size": 8, "embed_dim": 128, "num_layers": 4},
        "edges",
        32,
        image_size=256,
    ),
    Spec(
        "coefficient_optimizer",
        "coefficient_optimizer",
        {"hidden_dims": [128, 64, 32]},
        "regression",
        512,
        feature_dim=5,
    ),
    Spec(
        "anomaly_detector",
        "anomaly_detector",
        {"hidden_dims": [512, 256, 128]},
        "anomaly",
        512,
        feature_dim=64,
    ),
)
#: The same models, tiny: the CPU smoke run of the same code paths.
SMOKE = (
    Spec("unet_256", "unet", {"base_filters": 4, "depth": 2}, "edges", 4, image_size=32),
    Spec("unet_512", "unet", {"base_filters": 4, "depth": 2}, "edges", 2, image_size=64),
    Spec(
        "vit_edge",
        "vit_edge",
        {"patch_size": 8, "embed_dim": 16, "num_layers": 1, "num_heads": 2},
        "edges",
        4,
        image_size=32,
    ),
    Spec(
        "coefficient_optimizer",
        "coefficient_optimizer",
        {"hidden_dims": [16, 8]},
        "regression",
        16,
        feature_dim=5,
    ),
    Spec(
        "anomaly_detector",
        "anomaly_detector",
        {"hidden_dims": [32, 16]},
        "anomaly",
        16,
        feature_dim=64,
    ),
)


@dataclass
class Settings:
    device: torch.device
    smoke: bool
    deadline: float
    compile_backend: str = "inductor"
    warmup_steps: int = 3
    min_steps: int = 10
    min_time_s: float = 1.0
    max_time_s: float = 6.0
    curve_steps: int = CURVE_STEPS
    memory_cap_images: int = 4096
    memory_cap_rows: int = 1 << 20

    def left(self) -> float:
        return self.deadline - time.perf_counter()


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


# -- data and models ----------------------------------------------------------------------------


def make_batch(spec: Spec, batch: int, device: torch.device, seed: int) -> tuple[Any, Any]:
    """A learnable batch: edge targets from the local mean of the image, a linear regression
    target, a label from the coefficient energy split."""
    g = torch.Generator(device=device).manual_seed(seed)  # made where it is used
    if spec.images:
        s = spec.image_size
        x = torch.rand(batch, 1, s, s, generator=g, device=device)
        y = (torch.nn.functional.avg_pool2d(x, 3, 1, 1) > 0.58).float()
    elif spec.task == "regression":
        x = torch.randn(batch, spec.feature_dim, generator=g, device=device)
        w = torch.linspace(-1.0, 1.0, spec.feature_dim, device=device)
        y = x @ w + 0.1 * torch.randn(batch, generator=g, device=device)
    else:
        x = torch.randn(batch, spec.feature_dim, generator=g, device=device)
        half = spec.feature_dim // 2
        y = (x[:, :half].pow(2).sum(1) > x[:, half:].pow(2).sum(1)).float()
    return x, y


def make_batches(spec: Spec, batch: int, n: int, device: torch.device) -> list[tuple[Any, Any]]:
    return [make_batch(spec, batch, device, seed) for seed in range(n)]


def build(spec: Spec) -> tuple[torch.nn.Module, Task]:
    data = spec.data_info()
    task = create_task(spec.task, data, pos_weight=2.0)  # the regression task ignores it
    model = create_model(spec.architecture, spec.params, data)
    task.prepare_model(model)
    return model, task


def make_step(
    model: torch.nn.Module,
    task: Task,
    amp: torch.dtype | None,
    device: torch.device,
    memory_format: torch.memory_format | None = None,
    steps: int = 1000,
) -> TrainStep:
    """raytrain's TrainStep as the loop builds it: AdamW, cosine schedule with warmup, global
    gradient-norm clipping; GradScaler when amp is fp16."""
    opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=1e-4)
    return TrainStep(
        model,
        opt,
        task.loss,
        LRSchedule(SCHEDULE, LR, steps, 1),
        device=device,
        clipping=Clipping.from_config(TrainingParamsSection(gradient_clip=1.0)),
        amp_dtype=amp,
        memory_format=memory_format,
    )


def step_flops(spec: Spec, state: dict[str, Any], batch: int, device: torch.device) -> float:
    """FLOPs of one training step's forward + backward at `batch` (fp32 graph; autocast and
    compile change the speed, not the model's FLOPs)."""
    from torch.utils.flop_counter import FlopCounterMode

    model, task = build(spec)
    model.load_state_dict(state)
    model.to(device).train()
    x, y = make_batch(spec, batch, device, 0)
    counter = FlopCounterMode(display=False)
    with counter:
        task.loss(model(x), y).backward()
    return float(counter.get_total_flops())


def peak_flops(device: torch.device, override_tflops: float | None) -> tuple[float, str]:
    if override_tflops:
        return override_tflops * 1e12, "--peak-tflops"
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        for key, peak in PEAK_BF16:
            if key in name:
                return peak, f"{name}: datasheet dense bf16"
        dtype, n, what = torch.bfloat16, 8192, "measured bf16 matmul (device not in the table)"
    else:
        dtype, n, what = torch.float32, 512, "measured fp32 matmul (CPU stand-in, not a peak)"
    a = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(2):
        a @ a
    sync(device)
    t0, reps = time.perf_counter(), 5
    for _ in range(reps):
        a @ a
    sync(device)
    return reps * 2 * n**3 / (time.perf_counter() - t0), what


# -- 1. throughput and MFU ----------------------------------------------------------------------


def throughput(
    spec: Spec,
    state: dict[str, Any],
    precision: str,
    channels_last: bool,
    compiled: bool,
    batches: list[tuple[Any, Any]],
    flops: float,
    peak: float,
    s: Settings,
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "model": spec.name,
        "precision": precision,
        "channels_last": channels_last,
        "compile": compiled,
        "batch": spec.batch,
    }
    model, task = build(spec)
    model.load_state_dict(state)
    model.to(s.device)
    fmt = torch.channels_last if channels_last else None
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    run = torch.compile(model, backend=s.compile_backend) if compiled else model
    stepper = make_step(run, task, PRECISIONS[precision], s.device, fmt)
    t0 = time.perf_counter()
    for i in range(s.warmup_steps):  # cuDNN autotuning, allocator, compilation
        x, y = batches[i % len(batches)]
        stepper.micro_batch(x, y, last=True)
    sync(s.device)
    row["warmup_s"] = round(time.perf_counter() - t0, 3)
    steps, t0 = 0, time.perf_counter()
    cap = min(s.max_time_s, max(0.0, s.left() - 5.0))
    while True:
        x, y = batches[steps % len(batches)]
        stepper.micro_batch(x, y, last=True)
        steps += 1
        if steps >= s.min_steps or steps % 5 == 0:
            sync(s.device)
            elapsed = time.perf_counter() - t0
            if (steps >= s.min_steps and elapsed >= s.min_time_s) or elapsed >= cap:
                break
    sync(s.device)
    elapsed = time.perf_counter() - t0
    stepper.take_history()
    step_s = elapsed / steps
    row.update(
        steps=steps,
        step_time_s=step_s,
        images_per_s=spec.batch / step_s,
        tflops=flops / step_s / 1e12,
        mfu=flops / step_s / peak,
        status="ok",
    )
    return row


def variants(spec: Spec, compiled: bool) -> list[tuple[str, bool, bool]]:
    layouts = (False, True) if spec.images else (False,)
    return [(p, cl, compiled) for p in PRECISIONS for cl in layouts]


def skipped(spec: Spec, precision: str, cl: bool, compiled: bool, note: str) -> dict[str, Any]:
    return {
        "model": spec.name,
        "precision": precision,
        "channels_last": cl,
        "compile": compiled,
        "batch": spec.batch,
        "status": "skipped",
        "note": note,
    }


def measure(
    spec: Spec,
    state: dict[str, Any],
    v: tuple[str, bool, bool],
    batches: list[tuple[Any, Any]],
    flops: float,
    peak: float,
    s: Settings,
    need_s: float,
) -> dict[str, Any]:
    precision, cl, compiled = v
    if precision == "bf16" and s.device.type == "cuda" and not torch.cuda.is_bf16_supported():
        return skipped(spec, *v, "no bf16 on this GPU")
    if s.left() < need_s:
        return skipped(spec, *v, f"time budget: {s.left():.0f} s left, ~{need_s:.0f} s needed")
    try:
        return throughput(spec, state, precision, cl, compiled, batches, flops, peak, s)
    except torch.cuda.OutOfMemoryError:
        return skipped(spec, *v, "out of memory") | {"status": "error"}
    except Exception as e:  # a compile failure is a finding, not the end of the check
        return skipped(spec, *v, f"{type(e).__name__}: {str(e).splitlines()[0][:200]}") | {
            "status": "error"
        }
    finally:
        free(s.device)


def free(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


# -- 2. loss curves -----------------------------------------------------------------------------


def curve(spec: Spec, state: dict[str, Any], precision: str, batches: list, s: Settings) -> dict:
    model, task = build(spec)
    model.load_state_dict(state)
    model.to(s.device)
    stepper = make_step(model, task, PRECISIONS[precision], s.device, steps=s.curve_steps)
    torch.manual_seed(0)  # the same dropout masks for every precision
    losses: list[float] = []
    try:
        for i in range(s.curve_steps):
            x, y = batches[i % len(batches)]
            stepper.micro_batch(x, y, last=True)
        losses = [r["loss"] for r in stepper.take_history()]
    except NonFiniteLossError as e:
        losses = [r["loss"] for r in stepper.take_history()] + [math.nan]
        return {"losses": losses, "error": str(e)}
    return {"losses": losses}


def judge(curves: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Relative difference of each AMP curve's last 5 steps from fp32's, and a verdict: FAIL
    when a curve is not finite, rises (last 5 above first 5 while fp32's fell), or ends more
    than half of fp32's final loss plus 5 % of its first loss away from it."""
    ref = np.asarray(curves["fp32"]["losses"], dtype=float)
    ref_first, ref_last = float(ref[:5].mean()), float(ref[-5:].mean())
    out: dict[str, Any] = {"fp32_first": ref_first, "fp32_last": ref_last, "status": "ok"}
    problems = []
    if not np.isfinite(ref).all():
        problems.append("fp32 curve not finite")
    for name, c in curves.items():
        if name == "fp32" or "skipped" in c:
            continue
        loss = np.asarray(c["losses"], dtype=float)
        if len(loss) == 0 or not np.isfinite(loss).all():
            problems.append(f"{name}: not finite ({c.get('error', 'nan')})")
            out[f"{name}_rel_diff"] = None
            continue
        first, last = float(loss[:5].mean()), float(loss[-5:].mean())
        rel = abs(last - ref_last) / max(abs(ref_last), 1e-12)
        out[f"{name}_last"] = last
        out[f"{name}_rel_diff"] = rel
        out[f"{name}_max_step_rel_diff"] = float(
            np.max(np.abs(loss - ref[: len(loss)]) / np.maximum(np.abs(ref[: len(loss)]), 1e-12))
        )
        if last > first and ref_last < ref_first:
            problems.append(f"{name}: rises ({first:.4g} -> {last:.4g}) while fp32 falls")
        elif abs(last - ref_last) > 0.5 * abs(ref_last) + 0.05 * abs(ref_first):
            problems.append(f"{name}: ends at {last:.4g}, fp32 at {ref_last:.4g}")
    if problems:
        out["status"] = "FAIL"
        out["problems"] = problems
    return out


# -- 3. memory per batch size -------------------------------------------------------------------


def memory_sweep(spec: Spec, state: dict[str, Any], s: Settings, time_cap_s: float) -> dict:
    """Peak memory of two training steps per batch size, doubling from the spec's batch until
    out of memory (or a cap), in what `mixed_precision: auto` picks on this device."""
    model, task = build(spec)
    model.load_state_dict(state)
    model.to(s.device)
    prec = resolve_precision("auto", s.device, model)
    model = prec.apply(model)
    stepper = make_step(model, task, prec.amp_dtype, s.device, prec.memory_format)
    out: dict[str, Any] = {"precision": prec.describe(), "batches": [], "largest_batch": None}
    cap = s.memory_cap_images if spec.images else s.memory_cap_rows
    if s.smoke:
        cap = spec.batch * 4
    batch, t_end = spec.batch, time.perf_counter() + time_cap_s
    limit = "cap"
    while batch <= cap:
        if time.perf_counter() > t_end or s.left() < 10:
            limit = "time"
            break
        oom = False
        try:
            if s.device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(s.device)
            x, y = make_batch(spec, batch, s.device, 0)
            t0 = time.perf_counter()
            for _ in range(2):
                stepper.micro_batch(x, y, last=True)
            sync(s.device)
            step_s = (time.perf_counter() - t0) / 2
            peak = torch.cuda.max_memory_allocated(s.device) if s.device.type == "cuda" else None
            out["batches"].append({"batch": batch, "peak_bytes": peak, "step_time_s": step_s})
            out["largest_batch"] = batch
            del x, y
        except torch.cuda.OutOfMemoryError:
            oom = True
        if oom:
            limit = "out of memory"
            stepper.optimizer.zero_grad(set_to_none=True)
            stepper.pending = 0
            break
        if step_s > 5.0:
            limit = "step time"
            break
        batch *= 2
    stepper.take_history()
    out["stopped_by"] = limit
    del model, stepper
    free(s.device)
    return out


# -- 4. ONNX export from a model on the device --------------------------------------------------


def onnx_parity(spec: Spec, state: dict[str, Any], s: Settings, folder: Path) -> dict[str, Any]:
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401

        from raytrain.artifacts.export import ExportError, export_onnx
    except ImportError as e:
        return {"status": "skipped", "note": f"not installed: {e.name}"}
    model, _ = build(spec)
    model.load_state_dict(state)
    model.to(s.device).eval()
    tf32 = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    t0 = time.perf_counter()
    try:
        worst = export_onnx(model, spec.meta(), folder / f"{spec.name}.onnx", tolerance=1e-4)
        return {"status": "ok", "max_abs_diff": worst, "seconds": time.perf_counter() - t0}
    except ExportError as e:
        return {"status": "FAIL", "note": str(e)[:300], "seconds": time.perf_counter() - t0}
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = tf32
        free(s.device)


# -- the run ------------------------------------------------------------------------------------


def device_info(device: torch.device) -> dict[str, Any]:
    info: dict[str, Any] = {
        "type": device.type,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "host": platform.node(),
    }
    if device.type == "cuda":
        p = torch.cuda.get_device_properties(device)
        info.update(
            name=torch.cuda.get_device_name(device),
            capability=f"{p.major}.{p.minor}",
            memory_bytes=p.total_memory,
            multiprocessors=p.multi_processor_count,
            cuda=torch.version.cuda,
            cudnn=torch.backends.cudnn.version(),
            bf16=torch.cuda.is_bf16_supported(),
            cudnn_allow_tf32=torch.backends.cudnn.allow_tf32,
            matmul_allow_tf32=torch.backends.cuda.matmul.allow_tf32,
        )
    else:
        info.update(
            name=platform.processor() or platform.machine(), threads=torch.get_num_threads()
        )
    return info


def run_check(
    args: argparse.Namespace,
    s: Settings,
    echo: Callable[[str], None],
    save: Callable[[dict[str, Any]], None],
) -> dict:
    """All five parts; `save` gets the result so far after each part and each compiled
    variant, so a run stopped from outside still leaves its figures."""
    t0 = time.perf_counter()
    specs = SMOKE if s.smoke else FULL
    if args.models:
        specs = tuple(sp for sp in specs if sp.name in args.models.split(","))
    peak, peak_source = peak_flops(s.device, args.peak_tflops)
    result: dict[str, Any] = {
        "schema": 1,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "smoke": s.smoke,
        "device": device_info(s.device),
        "peak_flops": peak,
        "peak_source": peak_source,
        "budget_s": args.budget_s,
        "models": {},
        "throughput": [],
        "loss_curves": {},
        "memory": {},
        "onnx": {},
    }
    echo(
        f"device: {result['device']['name']} ({s.device}); peak {peak / 1e12:.3g} TFLOP/s "
        f"({peak_source}); budget {args.budget_s:.0f} s"
    )
    states, data, flops = {}, {}, {}
    for sp in specs:
        torch.manual_seed(0)
        model, _ = build(sp)
        states[sp.name] = copy.deepcopy(model.state_dict())
        data[sp.name] = make_batches(sp, sp.batch, 4 if s.smoke else 8, s.device)
        flops[sp.name] = step_flops(sp, states[sp.name], sp.batch, s.device)
        result["models"][sp.name] = {
            "architecture": sp.architecture,
            "params": sp.params,
            "task": sp.task,
            "input": [1, sp.image_size, sp.image_size] if sp.images else [sp.feature_dim],
            "batch": sp.batch,
            "parameters": sum(v.numel() for v in model.parameters()),
            "flops_per_step": flops[sp.name],
            "flops_per_image": flops[sp.name] / sp.batch,
            "auto": resolve_precision("auto", s.device, model).describe(),
        }
        del model
    free(s.device)

    phases = result["phase_s"] = {"set-up": round(time.perf_counter() - t0, 2)}

    def phase(name: str, t: float) -> float:
        phases[name] = round(time.perf_counter() - t, 2)
        save(result)
        return time.perf_counter()

    # 1. eager throughput: every precision x layout, the core of the check
    t = time.perf_counter()
    echo("1/5 throughput, eager")
    for sp in specs:
        for v in variants(sp, compiled=False):
            row = measure(sp, states[sp.name], v, data[sp.name], flops[sp.name], peak, s, 15)
            result["throughput"].append(row)
            echo("  " + fmt_row(row))
    t = phase("throughput", t)
    # 2. loss curves: fp32, bf16, fp16 from the same weights on the same batches
    echo(f"2/5 loss curves, {s.curve_steps} steps")
    for sp in specs:
        curves: dict[str, dict[str, Any]] = {}
        for p in PRECISIONS:
            if s.left() < 20:
                curves[p] = {"skipped": "time budget", "losses": []}
                continue
            if p == "bf16" and s.device.type == "cuda" and not torch.cuda.is_bf16_supported():
                curves[p] = {"skipped": "no bf16 on this GPU", "losses": []}
                continue
            curves[p] = curve(sp, states[sp.name], p, data[sp.name], s)
        free(s.device)
        if "skipped" in curves["fp32"]:
            result["loss_curves"][sp.name] = {"status": "skipped", "curves": curves}
            continue
        verdict = judge(curves)
        result["loss_curves"][sp.name] = {**verdict, "curves": curves}
        echo(f"  {sp.name}: {fmt_curve(verdict)}")
    t = phase("loss_curves", t)
    # 3. ONNX export from the device model, parity with torch through onnxruntime
    echo("3/5 ONNX export and parity")
    with tempfile.TemporaryDirectory() as tmp:
        for sp in specs:
            if s.left() < 20:
                result["onnx"][sp.name] = {"status": "skipped", "note": "time budget"}
                continue
            result["onnx"][sp.name] = onnx_parity(sp, states[sp.name], s, Path(tmp))
            echo(f"  {sp.name}: {fmt_onnx(result['onnx'][sp.name])}")
    t = phase("onnx", t)
    # 4. peak memory per batch size
    echo("4/5 memory per batch size")
    for sp in specs:
        if s.left() < 20:
            result["memory"][sp.name] = {"status": "skipped", "note": "time budget"}
            continue
        cap = 10.0 if s.smoke else min(40.0, s.left() / 4)
        result["memory"][sp.name] = memory_sweep(sp, states[sp.name], s, cap)
        echo(f"  {sp.name}: {fmt_memory(result['memory'][sp.name])}")
    t = phase("memory", t)
    # 5. torch.compile, most telling first, while time lasts
    echo(f"5/5 throughput, torch.compile (backend {s.compile_backend})")
    order = compile_order(specs, s.smoke)
    by_name = {sp.name: sp for sp in specs}
    for name, v in order:
        sp = by_name[name]
        need = 1 if s.smoke else 90  # an inductor compile can take a minute
        row = measure(sp, states[name], v, data[name], flops[name], peak, s, need)
        row["compile_backend"] = s.compile_backend
        result["throughput"].append(row)
        echo("  " + fmt_row(row))
        save(result)
    phase("compile", t)
    return result


def compile_order(specs: tuple[Spec, ...], smoke: bool) -> list[tuple[str, tuple[str, bool, bool]]]:
    """The compiled variants, the likely winners first (compiling costs tens of seconds each)."""
    names = [sp.name for sp in specs]
    if smoke:  # one model, one variant: checks the path, the eager backend compiles in seconds
        return [(names[0], ("fp32", False, True))] if names else []
    first = [
        ("unet_256", ("bf16", True, True)),
        ("unet_256", ("bf16", False, True)),
        ("unet_512", ("bf16", True, True)),
        ("vit_edge", ("bf16", False, True)),
        ("coefficient_optimizer", ("bf16", False, True)),
        ("anomaly_detector", ("bf16", False, True)),
        ("unet_256", ("fp32", True, True)),
        ("unet_256", ("fp16", True, True)),
    ]
    rest = [(sp.name, v) for sp in specs for v in variants(sp, compiled=True)]
    order = [x for x in first if x[0] in names]
    return order + [x for x in rest if x not in order]


# -- printing -----------------------------------------------------------------------------------


def fmt_row(r: dict[str, Any]) -> str:
    mode = f"{r['model']:<22} {r['precision']:<5} {'CL' if r['channels_last'] else '--'} " + (
        "compile" if r["compile"] else "eager  "
    )
    if r["status"] != "ok":
        return f"{mode}  {r['status']}: {r.get('note', '')}"
    return (
        f"{mode}  batch {r['batch']:>5}  {r['images_per_s']:>10.1f} img/s  "
        f"{r['tflops']:>8.3g} TFLOP/s  MFU {r['mfu']:>6.1%}"
    )


def fmt_curve(v: dict[str, Any]) -> str:
    parts = [f"fp32 {v['fp32_first']:.4g} -> {v['fp32_last']:.4g}"]
    for p in ("bf16", "fp16"):
        rel = v.get(f"{p}_rel_diff")
        if rel is not None:
            parts.append(f"{p} {v[f'{p}_last']:.4g} (rel diff {rel:.2%})")
    return "; ".join(parts) + f"  [{v['status']}]" + "".join(f" {p}" for p in v.get("problems", []))


def fmt_onnx(o: dict[str, Any]) -> str:
    if o["status"] == "ok":
        return f"max |onnx - torch| {o['max_abs_diff']:.2e}  [ok, {o['seconds']:.1f} s]"
    return f"[{o['status']}] {o.get('note', '')}"


def fmt_memory(m: dict[str, Any]) -> str:
    if "batches" not in m:
        return f"[{m['status']}] {m.get('note', '')}"
    sizes = ", ".join(
        f"{b['batch']}: {b['peak_bytes'] / 2**20:.0f} MiB"
        if b["peak_bytes"] is not None
        else f"{b['batch']}: n/a"
        for b in m["batches"]
    )
    return f"{m['precision']}; {sizes}; largest {m['largest_batch']} (stopped by {m['stopped_by']})"


def summary(result: dict[str, Any]) -> list[str]:
    """The best setting per model, by images/s, and how far what `auto` picks is from it."""
    lines = []
    for name, info in result["models"].items():
        rows = [r for r in result["throughput"] if r["model"] == name and r["status"] == "ok"]
        if not rows:
            continue
        best = max(rows, key=lambda r: r["images_per_s"])
        fp32 = [
            r
            for r in rows
            if r["precision"] == "fp32" and not r["compile"] and not r["channels_last"]
        ]
        speedup = (
            f", {best['images_per_s'] / fp32[0]['images_per_s']:.2f}x fp32 eager" if fp32 else ""
        )
        lines.append(f"  {name:<22} best: {fmt_row(best)[23:].strip()}{speedup}")
        auto = [r for r in rows if describe(r) == info["auto"]]
        if auto:
            share = auto[0]["images_per_s"] / best["images_per_s"]
            lines.append(f"  {'':<22} mixed_precision auto ({info['auto']}): {share:.0%} of it")
    return lines


def describe(r: dict[str, Any]) -> str:
    """A throughput row's setting in `Precision.describe()`'s words."""
    names = {"fp32": "float32", "bf16": "bf16 autocast", "fp16": "fp16 autocast + GradScaler"}
    parts = [names[r["precision"]]]
    if r["channels_last"]:
        parts.append("channels_last")
    if r["compile"]:
        parts.append("torch.compile")
    return ", ".join(parts)


def failures(result: dict[str, Any]) -> list[str]:
    out = [
        f"loss curve {name}: {'; '.join(v.get('problems', []))}"
        for name, v in result["loss_curves"].items()
        if v.get("status") == "FAIL"
    ]
    out += [
        f"onnx {name}: {v.get('note', '')}"
        for name, v in result["onnx"].items()
        if v.get("status") == "FAIL"
    ]
    if result.get("ray_imported"):
        out.append("ray was imported")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    p.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "gpu_check.json")
    p.add_argument("--smoke", action="store_true", help="tiny sizes, a few steps (the CPU path)")
    p.add_argument(
        "--budget-s", type=float, default=450.0, help="time budget after start-up (default 450)"
    )
    p.add_argument("--peak-tflops", type=float, default=None, help="dense bf16 peak, TFLOP/s")
    p.add_argument("--models", default=None, help="comma-separated subset of the model names")
    args = p.parse_args(argv)
    t_start = time.perf_counter()
    cuda = torch.cuda.is_available()
    if not cuda:
        print(
            "gpu_check: no CUDA device here: a CPU smoke run of the same code paths "
            "(tiny sizes, a few steps); no GPU figures",
            flush=True,
        )
    smoke = args.smoke or not cuda
    s = Settings(
        device=torch.device("cuda") if cuda else torch.device("cpu"),
        smoke=smoke,
        deadline=t_start + args.budget_s,
    )
    if smoke:
        if not cuda:  # tiny ops: one thread avoids OpenMP spinning on a busy machine
            torch.set_num_threads(1)
        s.warmup_steps, s.min_steps, s.min_time_s, s.max_time_s = 1, 2, 0.0, 1.0
        s.curve_steps = 10
        s.compile_backend = "eager"
    torch.backends.cudnn.benchmark = True  # what a training run on a GPU wants

    def echo(line: str) -> None:
        print(line, flush=True)

    def save(result: dict[str, Any], complete: bool = False) -> None:
        result["complete"] = complete
        args.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.out.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(result, indent=1, default=str) + "\n")
        os.replace(tmp, args.out)

    result = run_check(args, s, echo, save)
    result["elapsed_s"] = round(time.perf_counter() - t_start, 1)
    result["ray_imported"] = sys.modules.get("ray") is not None
    result["failures"] = failures(result)
    result["ok"] = not result["failures"]
    echo("best setting per model:")
    for line in summary(result):
        echo(line)
    save(result, complete=True)
    verdict = "FAIL: " + "; ".join(result["failures"]) if result["failures"] else "ok"
    echo(f"wrote {args.out} in {result['elapsed_s']:.0f} s: {verdict}")
    return 1 if result["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
