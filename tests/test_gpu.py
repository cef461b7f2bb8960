"""Tests that need CUDA: mixed precision, GPU trials, NCCL DDP. Marked `gpu`; on a machine
without CUDA they are skipped (run them on a GPU host with `pytest -m gpu`)."""

from __future__ import annotations

import pytest
import torch

from raytrain.config import load_config_text
from raytrain.models import DataInfo, create_model
from raytrain.train.loop import autocast_dtype

pytestmark = pytest.mark.gpu
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def test_autocast_is_off_on_cpu() -> None:
    # Runs everywhere: mixed_precision on a CPU worker trains in float32.
    assert autocast_dtype(True, torch.device("cpu")) is None
    assert autocast_dtype(False, torch.device("cuda")) is None


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


@cuda
@pytest.mark.slow
def test_use_gpu_trial_trains_on_the_gpu(ray_start_2_cpus: None, tmp_path) -> None:
    import ray

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


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="NCCL DDP needs 2 GPUs")
@pytest.mark.slow
def test_nccl_ddp_two_gpu_workers(ray_start_2_cpus: None, tmp_path) -> None:
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
