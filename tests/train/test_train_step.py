"""The train step (raytrain.train.step): clipping, accumulation, frozen layers, mixed precision,
the per-step LR and the NaN stop, checked on plain tensors without Ray.

Most checks use plain SGD (no momentum, no weight decay): a step moves each parameter by
exactly -lr x gradient, so what the optimizer saw is (before - after) / lr.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
import torch.nn as nn
from unit_helpers import tiny_model

from raytrain.config import load_config_text
from raytrain.config.schema import SchedulerSection, TrainingParamsSection
from raytrain.errors import RaytrainError
from raytrain.train.clipping import Clipping
from raytrain.train.schedules import LRSchedule
from raytrain.train.step import NonFiniteLossError, TrainStep, autocast_dtype, train_epoch
from raytrain.train.transfer import Freeze

CPU = torch.device("cpu")


def mse(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return ((out - y) ** 2).mean()


def stepper_for(
    model: nn.Module,
    lr: float = 1.0,
    schedule: SchedulerSection | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    loss_fn: Any = mse,
    **kw: Any,
) -> TrainStep:
    opt = optimizer or torch.optim.SGD(model.parameters(), lr=lr)
    sched = LRSchedule(schedule or SchedulerSection(), lr, steps_per_epoch=10, num_epochs=10)
    return TrainStep(model, opt, loss_fn, sched, device=CPU, **kw)


def snapshot(model: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


def applied_grads(before: list[torch.Tensor], model: nn.Module, lr: float) -> list[torch.Tensor]:
    return [(b - p.detach()) / lr for b, p in zip(before, model.parameters(), strict=True)]


def big_grad_model() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 5), nn.Tanh(), nn.Linear(5, 1))
    x, y = torch.randn(16, 6) * 5, torch.randn(16, 1) * 50  # large loss, large gradients
    return model, x, y


def grad_norms(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> list[float]:
    model.zero_grad()
    mse(model(x), y).backward()
    out = [float(p.grad.norm()) for p in model.parameters()]
    model.zero_grad()
    return out


def test_global_norm_clipping_bounds_the_applied_gradient() -> None:
    model, x, y = big_grad_model()
    raw = grad_norms(model, x, y)
    assert math.hypot(*raw) > 5  # so clipping to 1 has something to do
    tp = TrainingParamsSection(gradient_clip=1.0)
    s = stepper_for(model, lr=1e-3, clipping=Clipping.from_config(tp))
    before = snapshot(model)
    s.micro_batch(x, y, last=True)
    g = applied_grads(before, model, 1e-3)
    total = math.sqrt(sum(float(t.norm()) ** 2 for t in g))
    assert total == pytest.approx(1.0, rel=1e-3)
    # direction kept: each parameter scaled by the same factor
    ratios = [float(t.norm()) / r for t, r in zip(g, raw, strict=True)]
    assert max(ratios) == pytest.approx(min(ratios), rel=1e-3)


def test_per_parameter_norm_clipping_bounds_each_parameter() -> None:
    model, x, y = big_grad_model()
    raw = grad_norms(model, x, y)
    tp = TrainingParamsSection(gradient_clip_norm=0.5)
    s = stepper_for(model, lr=1e-3, clipping=Clipping.from_config(tp))
    before = snapshot(model)
    s.micro_batch(x, y, last=True)
    for t, r in zip(applied_grads(before, model, 1e-3), raw, strict=True):
        assert float(t.norm()) == pytest.approx(min(r, 0.5), rel=2e-3)
    assert sum(r > 0.5 for r in raw) >= 2


def test_value_clipping_bounds_each_element() -> None:
    model, x, y = big_grad_model()
    tp = TrainingParamsSection(gradient_clip_value=0.05)
    s = stepper_for(model, lr=1e-3, clipping=Clipping.from_config(tp))
    before = snapshot(model)
    s.micro_batch(x, y, last=True)
    g = torch.cat([t.flatten() for t in applied_grads(before, model, 1e-3)])
    assert float(g.abs().max()) == pytest.approx(0.05, rel=1e-3)


def test_gradient_accumulation_equals_one_big_batch() -> None:
    model, x, y = big_grad_model()
    ref = nn.Sequential(nn.Linear(6, 5), nn.Tanh(), nn.Linear(5, 1))
    ref.load_state_dict(model.state_dict())
    s = stepper_for(model, lr=1e-3, accumulation=4)
    batches = [(x[i : i + 4], y[i : i + 4]) for i in range(0, 16, 4)]
    train_epoch(s, batches, epoch=0)
    assert s.step == 1
    opt = torch.optim.SGD(ref.parameters(), lr=1e-3)
    mse(ref(x), y).backward()
    opt.step()
    for a, b in zip(model.parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_accumulation_short_last_group_is_averaged_over_what_it_had() -> None:
    model, x, y = big_grad_model()
    ref = nn.Sequential(nn.Linear(6, 5), nn.Tanh(), nn.Linear(5, 1))
    ref.load_state_dict(model.state_dict())
    s = stepper_for(model, lr=1e-3, accumulation=2)
    batches = [(x[i : i + 4], y[i : i + 4]) for i in range(0, 12, 4)]  # 3 batches: 2 + 1
    train_epoch(s, batches, epoch=0)
    assert s.step == 2
    opt = torch.optim.SGD(ref.parameters(), lr=1e-3)
    for xs, ys in ((x[:8], y[:8]), (x[8:12], y[8:12])):
        opt.zero_grad()
        mse(ref(xs), ys).backward()
        opt.step()
    for a, b in zip(model.parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_the_lr_each_step_uses_is_the_schedule_and_is_recorded() -> None:
    """d(sum w)/dw = 1, so a plain SGD step moves w by exactly -lr."""
    model = nn.Linear(1, 1, bias=False)
    cfg = SchedulerSection(type="cosine_decay", warmup_steps=3, warmup_start_lr=0.0, alpha=0.1)
    s = stepper_for(model, lr=0.5, schedule=cfg, loss_fn=lambda out, y: out.sum())
    one = torch.ones(1, 1)
    moved = []
    for _ in range(12):
        w = model.weight.detach().double().clone()
        s.micro_batch(one, one, last=True)
        moved.append(float(w - model.weight.detach().double()))
    expected = [s.schedule.lr(i) for i in range(12)]
    assert moved == pytest.approx(expected, abs=1e-6)  # float32 weights
    assert expected[0] == 0.0 and expected[3] == pytest.approx(0.5)
    rows = s.take_history()
    assert [r["step"] for r in rows] == list(range(1, 13))
    assert [r["lr"] for r in rows] == pytest.approx(expected)
    assert s.take_history() == []


def test_resume_continues_the_schedule_from_the_saved_step() -> None:
    model = nn.Linear(1, 1, bias=False)
    cfg = SchedulerSection(type="exponential_decay", decay_rate=0.5, decay_steps=1)
    s = stepper_for(model, lr=0.5, schedule=cfg, loss_fn=lambda out, y: out.sum())
    for _ in range(3):
        s.micro_batch(torch.ones(1, 1), torch.ones(1, 1), last=True)
    again = stepper_for(model, lr=0.5, schedule=cfg, loss_fn=lambda out, y: out.sum())
    again.load_state_dict(s.state_dict())
    assert again.step == 3 and again.lr == pytest.approx(0.5 * 0.5**3)


def test_frozen_layers_stay_put_until_the_freeze_ends() -> None:
    model, _ = tiny_model("unet")
    cfg = load_config_text(
        "model: {architecture: unet, fine_tune_layers: [decoder, output]}\n"
        "pretrained: {freeze_epochs: 1}\n"
    )
    freeze = Freeze.from_config(model, cfg)
    frozen = {id(p) for p in freeze.params}
    assert frozen and len(frozen) < len(list(model.parameters()))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)  # decay would move
    s = stepper_for(model, lr=1e-2, optimizer=opt, freeze=freeze)
    x = torch.rand(2, 1, 32, 32)
    y = (torch.rand(2, 1, 32, 32) > 0.5).float()
    before = snapshot(model)
    train_epoch(s, [(x, y), (x, y)], epoch=0)
    for b, p in zip(before, model.parameters(), strict=True):
        assert torch.equal(b, p.detach()) == (id(p) in frozen)
    assert freeze.norms  # the frozen encoder's BatchNorms keep their running statistics
    assert all(float(m.running_mean.abs().sum()) == 0.0 for m in freeze.norms)
    train_epoch(s, [(x, y)], epoch=1)  # the freeze is over: everything trains
    assert all(
        not torch.equal(b, p.detach()) for b, p in zip(before, model.parameters(), strict=True)
    )


def test_bf16_autocast_on_request_and_fp16_with_a_grad_scaler() -> None:
    assert autocast_dtype(False, CPU) is None
    assert autocast_dtype(True, CPU) is None  # auto: float32 on CPU
    assert autocast_dtype("bf16", CPU) == torch.bfloat16
    assert autocast_dtype("fp16", CPU) == torch.float16
    model, x, y = big_grad_model()
    seen: list[torch.dtype] = []
    model[0].register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    s = stepper_for(model, lr=1e-3, amp_dtype=torch.bfloat16)
    s.micro_batch(x, y, last=True)
    assert seen == [torch.bfloat16] and not s.scaler.is_enabled()
    assert all(p.dtype == torch.float32 for p in model.parameters())  # master weights stay fp32
    tp = TrainingParamsSection(gradient_clip=1.0)
    fp16 = stepper_for(model, lr=1e-3, amp_dtype=torch.float16, clipping=Clipping.from_config(tp))
    assert fp16.scaler.is_enabled()
    for _ in range(20):  # the scaler skips steps whose scaled fp16 gradients overflow
        before = snapshot(model)
        fp16.micro_batch(x, y, last=True)
        if not all(torch.equal(b, p) for b, p in zip(before, model.parameters(), strict=True)):
            break
    assert seen[-1] == torch.float16 and fp16.scaler.get_scale() < 2.0**16
    g = applied_grads(before, model, 1e-3)
    # clipping saw unscaled gradients: the applied norm is the clip, not clip / scale
    assert math.sqrt(sum(float(t.norm()) ** 2 for t in g)) == pytest.approx(1.0, rel=2e-2)


def test_nan_loss_stops_with_the_reason_and_no_update() -> None:
    model, x, y = big_grad_model()
    s = stepper_for(model, lr=1e-3)
    before = snapshot(model)
    y = y.clone()
    y[0] = float("nan")
    with pytest.raises(NonFiniteLossError, match=r"epoch 1, step 1: loss is nan"):
        train_epoch(s, [(x, y)], epoch=0)
    assert all(torch.equal(b, p) for b, p in zip(before, model.parameters(), strict=True))
    inf = stepper_for(model, lr=1e-3, loss_fn=lambda o, t: o.sum() * float("inf"))
    with pytest.raises(NonFiniteLossError, match="inf"):
        inf.micro_batch(x, y, last=True)


def test_fine_tune_layer_names_are_checked() -> None:
    model, _ = tiny_model("unet")
    cfg = load_config_text("model: {architecture: unet, fine_tune_layers: [decodr]}\n")
    with pytest.raises(RaytrainError, match=r"fine_tune_layers: 'decodr'.*decoder"):
        Freeze.from_config(model, cfg)
