"""Tests that need CUDA. Two markers, so a GPU host with PyTorch but no Ray can run the first:

- `gpu`: torch-level (mixed precision, `mixed_precision: auto`, the train step, ONNX export from
  a CUDA model); imports nothing of Ray. `pytest -m gpu` on the GPU host.
- `gpu_ray`: a `use_gpu: true` trial and NCCL DDP through Ray Train; need Ray as well.

On a machine without CUDA they are skipped (the first two `gpu` tests run everywhere).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from raytrain.models import DataInfo, create_model
from raytrain.train.precision import Precision, resolve_precision
from raytrain.train.step import autocast_dtype

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.mark.gpu
def test_autocast_is_off_on_cpu() -> None:
    # Runs everywhere: mixed_precision on a CPU worker trains in float32.
    assert autocast_dtype(True, torch.device("cpu")) is None
    assert autocast_dtype(False, torch.device("cuda")) is None


@pytest.mark.gpu
@cuda
def test_bf16_autocast_training_step() -> None:
    device = torch.device("cuda")
    dtype = autocast_dtype(True, device)
    assert dtype in (torch.bfloat16, torch.float16)
    model = create_model("unet", {"base_filters": 8, "depth": 2}, DataInfo(image_size=64))
    model = model.to(device).to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    scaler = torch.amp.GradScaler("cuda", enabled=dtype == torch.float16)
    x = torch.rand(4, 1, 64, 64, device=device)
    y = (torch.rand(4, 1, 64, 64, device=device) > 0.9).float()
    before = [p.detach().clone() for p in model.parameters()]
    with torch.autocast("cuda", dtype=dtype):
        out = model(x)
        assert out.dtype == dtype
        loss = torch.nn.functional.binary_cross_entropy_with_logits(out.float(), y)
    scaler.scale(loss).backward()
    scaler.step(opt)
    scaler.update()
    assert torch.isfinite(loss)
    assert any(not torch.equal(b, p) for b, p in zip(before, model.parameters(), strict=True))


def _unet_step(mixed_precision: str, steps: int = 3) -> tuple[list[float], Precision]:
    """A few of raytrain's TrainSteps of a small U-Net on CUDA in what `mixed_precision` resolves
    to; returns the losses and the resolved precision."""
    from raytrain.config.schema import SchedulerSection
    from raytrain.tasks import create_task
    from raytrain.train.schedules import LRSchedule
    from raytrain.train.step import TrainStep

    device = torch.device("cuda")
    data = DataInfo(image_size=64)
    torch.manual_seed(0)
    model = create_model("unet", {"base_filters": 8, "depth": 2}, data)
    precision = resolve_precision(mixed_precision, device, model)
    model = precision.apply(model).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    stepper = TrainStep(
        model,
        opt,
        create_task("edges", data, pos_weight=2.0).loss,
        LRSchedule(SchedulerSection(), 1e-3, steps, 1),
        device=device,
        amp_dtype=precision.amp_dtype,
        memory_format=precision.memory_format,
    )
    before = [p.detach().clone() for p in model.parameters()]
    g = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(steps):
        x = torch.rand(4, 1, 64, 64, generator=g).to(device)
        y = (torch.nn.functional.avg_pool2d(x, 3, 1, 1) > 0.58).float()
        losses.append(float(stepper.micro_batch(x, y, last=True)))
    assert any(not torch.equal(b, p) for b, p in zip(before, model.parameters(), strict=True))
    return losses, precision


@pytest.mark.gpu
@cuda
def test_auto_precision_trains_the_unet_in_bf16_channels_last() -> None:
    losses, precision = _unet_step("auto")
    expected = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    assert precision.amp_dtype == expected
    assert precision.channels_last and not precision.compile
    assert all(torch.isfinite(torch.tensor(losses)))


@pytest.mark.gpu
@cuda
def test_fp16_with_grad_scaler_trains_on_cuda() -> None:
    losses, precision = _unet_step("fp16", steps=8)
    assert precision.amp_dtype == torch.float16
    assert all(torch.isfinite(torch.tensor(losses)))


@pytest.mark.gpu
@cuda
def test_onnx_export_of_a_cuda_model_matches_torch(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    from raytrain.artifacts.export import export_onnx

    torch.manual_seed(0)
    model = create_model("unet", {"base_filters": 8, "depth": 2}, DataInfo(image_size=64))
    model = model.cuda().eval()
    meta = {"data_info": {"in_channels": 1, "image_size": 64}, "task": "edges"}
    tf32 = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = False  # compare the export, not TF32's rounding
    try:
        worst = export_onnx(model, meta, tmp_path / "m.onnx")
    finally:
        torch.backends.cudnn.allow_tf32 = tf32
    assert worst <= 1e-4
    assert (tmp_path / "m.onnx").exists()


@pytest.mark.gpu_ray
@cuda
@pytest.mark.slow
def test_use_gpu_trial_trains_on_the_gpu(ray_start_2_cpus: None, tmp_path: Path) -> None:
    import ray

    from raytrain.config import load_config_text
    from raytrain.tune.runner import run_search

    if ray.cluster_resources().get("GPU", 0) < 1:
        pytest.skip("the Ray session sees no GPU")
    cfg = load_config_text(f"""
training: {{name: gpu_trial, output_dir: {tmp_path}/results}}
dataset: {{batch_size: 8, sample: {{num_train: 64, num_val: 32, num_test: 16, image_size: 32}}}}
model: {{architecture: unet, base_filters: 8, depth: 2}}
training_params: {{num_epochs: 2, mixed_precision: true}}
search: {{num_trials: 1}}
resources: {{num_workers: 1, use_gpu: true}}
tune: {{scheduler: fifo}}
export: {{registry_dir: {tmp_path}/models}}
""")
    result = run_search(cfg, echo=lambda s: None)
    assert result.trials[0]["status"] == "OK", result.errors
    assert result.registered is not None


@pytest.mark.gpu_ray
@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="NCCL DDP needs 2 GPUs")
@pytest.mark.slow
def test_nccl_ddp_two_gpu_workers(ray_start_2_cpus: None, tmp_path: Path) -> None:
    from raytrain.config import load_config_text
    from raytrain.tune.runner import run_search

    cfg = load_config_text(f"""
training: {{name: nccl, output_dir: {tmp_path}/results}}
dataset: {{batch_size: 8, sample: {{num_train: 64, num_val: 32, num_test: 16, image_size: 32}}}}
model: {{architecture: unet, base_filters: 8, depth: 2}}
training_params: {{num_epochs: 1}}
search: {{num_trials: 1}}
resources: {{num_workers: 2, use_gpu: true}}
tune: {{scheduler: fifo}}
export: {{registry_dir: {tmp_path}/models}}
""")
    result = run_search(cfg, echo=lambda s: None)
    assert result.trials[0]["status"] == "OK", result.errors
