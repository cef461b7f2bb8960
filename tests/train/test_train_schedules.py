"""Learning-rate schedules and optimizers: exact values, no Ray (raytrain.train.schedules)."""

from __future__ import annotations

import math
import typing

import pytest
import torch

from raytrain.config import load_config_text
from raytrain.config.schema import ScheduleName, SchedulerSection
from raytrain.train.optim import OPTIMIZERS, build_optimizer
from raytrain.train.schedules import SCHEDULES, LRSchedule, first_period

BASE = 0.1


def sched(spe: int = 10, epochs: int = 10, warmup_epochs: int = 0, **kw: typing.Any) -> LRSchedule:
    return LRSchedule(SchedulerSection(**kw), BASE, spe, epochs, warmup_epochs)


def test_every_configurable_schedule_is_registered() -> None:
    assert set(typing.get_args(ScheduleName)) == set(SCHEDULES)


@pytest.mark.parametrize("name", list(typing.get_args(ScheduleName)))
def test_linear_warmup_from_start_lr_to_the_schedule(name: str) -> None:
    s = sched(type=name, warmup_steps=10, warmup_start_lr=1e-4)
    assert s.lr(0) == pytest.approx(1e-4)
    assert s.lr(5) == pytest.approx(1e-4 + (BASE - 1e-4) * 0.5)
    assert s.lr(10) == pytest.approx(BASE)  # warmup ends at the schedule's start value
    assert all(s.lr(i) < s.lr(i + 1) for i in range(10))


def test_warmup_epochs_add_to_warmup_steps() -> None:
    s = sched(spe=10, warmup_epochs=2, warmup_steps=5, warmup_start_lr=0.0)
    assert s.horizon.warmup_steps == 25
    assert s.lr(24) < BASE and s.lr(25) == pytest.approx(BASE)


def test_cosine_decay_keras_formula_with_alpha_floor() -> None:
    # 10 epochs x 10 steps, 20 warmup: decay over the remaining 80 steps
    s = sched(type="cosine_decay", warmup_steps=20, alpha=0.1)
    assert s.lr(20) == pytest.approx(BASE)
    assert s.lr(60) == pytest.approx(BASE * (0.9 * 0.5 + 0.1))  # halfway
    assert s.lr(100) == pytest.approx(BASE * 0.1)
    assert s.lr(500) == pytest.approx(BASE * 0.1)  # never below the floor
    short = sched(type="cosine_decay", decay_steps=10, alpha=0.0)
    assert short.lr(5) == pytest.approx(BASE / 2) and short.lr(10) == pytest.approx(0.0)


def test_cosine_decay_restarts_period_and_peak_multipliers() -> None:
    s = sched(type="cosine_decay_restarts", decay_steps=10, t_mul=2.0, m_mul=0.5, alpha=0.0)
    assert s.lr(0) == pytest.approx(BASE)
    assert s.lr(5) == pytest.approx(BASE / 2)
    assert s.lr(10) == pytest.approx(BASE * 0.5)  # first restart, peak x m_mul
    assert s.lr(20) == pytest.approx(BASE * 0.5 / 2)  # the second period is 20 steps long
    assert s.lr(30) == pytest.approx(BASE * 0.25)  # second restart at 10 + 20
    assert s.lr(9) < s.lr(10)


def test_cosine_restarts_derived_first_period_fills_three_periods() -> None:
    s = sched(type="cosine_decay_restarts", t_mul=2.0)
    assert first_period(s.cfg, s.horizon) == pytest.approx(100 / 7)
    even = sched(type="cosine_decay_restarts", t_mul=1.0, m_mul=1.0)
    p = first_period(even.cfg, even.horizon)
    assert even.lr(math.ceil(p)) > even.lr(math.floor(p))  # it restarts


def test_exponential_decay_derives_decay_steps_from_the_epoch() -> None:
    s = sched(type="exponential_decay", decay_rate=0.5, spe=8, alpha=0.2)
    assert s.lr(8) == pytest.approx(BASE * 0.5)  # decay_steps not given: one epoch
    assert s.lr(4) == pytest.approx(BASE * 0.5**0.5)
    assert s.lr(16) == pytest.approx(BASE * 0.25)
    assert s.lr(80) == pytest.approx(BASE * 0.2)  # alpha floor
    given = sched(type="exponential_decay", decay_rate=0.5, decay_steps=2)
    assert given.lr(2) == pytest.approx(BASE * 0.5)


def test_cosine_annealing_is_per_epoch_down_to_min_lr() -> None:
    s = sched(type="CosineAnnealingLR", spe=10, epochs=4, min_lr=0.01)
    assert s.lr(0) == s.lr(9) == pytest.approx(BASE)
    assert s.lr(20) == pytest.approx(0.01 + (BASE - 0.01) * 0.5)
    assert s.lr(39) == pytest.approx(0.01 + (BASE - 0.01) * 0.5 * (1 + math.cos(math.pi * 3 / 4)))


def test_constant_with_alpha_is_constant() -> None:
    s = sched(type="constant", alpha=0.5)
    assert {s.lr(i) for i in range(100)} == {BASE}


def test_reduce_on_plateau_after_patience_with_min_lr_floor() -> None:
    s = sched(type="ReduceLROnPlateau", patience=1, factor=0.5, min_lr=0.03)
    s.epoch_end(1.0, step=10)
    s.epoch_end(1.0, step=20)  # 1 bad epoch: patience not exceeded
    assert s.lr(20) == pytest.approx(BASE)
    s.epoch_end(1.0, step=30)  # 2 bad epochs > patience 1: halve
    assert s.lr(30) == pytest.approx(BASE / 2)
    s.epoch_end(0.5, step=40)  # improvement resets the count
    s.epoch_end(0.5, step=50)
    assert s.lr(50) == pytest.approx(BASE / 2)
    s.epoch_end(0.5, step=60)
    assert s.lr(60) == pytest.approx(0.03)  # 0.025 is below min_lr
    restored = sched(type="ReduceLROnPlateau", patience=1, factor=0.5, min_lr=0.03)
    restored.load_state_dict(s.state_dict())
    assert restored.lr(60) == s.lr(60)


def test_reduce_on_plateau_waits_for_warmup_and_respects_mode() -> None:
    s = sched(type="ReduceLROnPlateau", patience=0, factor=0.5, warmup_steps=15, mode="max")
    for step in (5, 10):
        s.epoch_end(1.0, step=step)  # in warmup: ignored
    assert s.best is None
    s.epoch_end(1.0, step=20)
    s.epoch_end(2.0, step=30)  # higher is better in max mode
    assert s.lr(30) == pytest.approx(BASE)
    s.epoch_end(1.5, step=40)
    assert s.lr(40) == pytest.approx(BASE / 2)


def test_seed_002_spellings_load() -> None:
    cfg = load_config_text(
        "model: {architecture: unet}\n"
        "scheduler: {lr_schedule: Cosine_Decay_Restarts, warmup_steps: 100, t_mul: 1.5,"
        " m_mul: 0.9, alpha: 0.001, warmup_start_lr: 1e-9}\n"
        "optimizer: {type: adamw, epsilon: 1e-7, betas: [0.9, 0.98]}\n"
        "training_params: {gradient_clipping_norm_global: 1.0, gradient_clipping_value: 0.1,"
        " gradient_clipping_norm_local: 2.0}\n"
    )
    assert cfg.scheduler.type == "cosine_decay_restarts"
    assert cfg.scheduler.warmup_start_lr == pytest.approx(1e-9)
    assert cfg.optimizer.type == "AdamW" and cfg.optimizer.eps == pytest.approx(1e-7)
    tp = cfg.training_params
    assert (tp.gradient_clip, tp.gradient_clip_value, tp.gradient_clip_norm) == (1.0, 0.1, 2.0)
    seed000 = load_config_text(
        "model: {architecture: unet}\n"
        "scheduler: {type: ReduceLROnPlateau, mode: min, factor: 0.5, patience: 10,"
        " min_lr: 1e-7}\n"
    )
    assert seed000.scheduler.type == "ReduceLROnPlateau"


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("Adam", {"betas": (0.8, 0.9), "eps": 1e-6, "weight_decay": 0.01}),
        ("AdamW", {"betas": (0.8, 0.9), "eps": 1e-6, "weight_decay": 0.05}),
        ("SGD", {"momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
        ("RMSprop", {"momentum": 0.5, "eps": 1e-5, "weight_decay": 0.01}),
        ("Adadelta", {"eps": 1e-5, "weight_decay": 0.01}),
    ],
)
def test_optimizer_options_reach_torch(name: str, options: dict[str, typing.Any]) -> None:
    cfg = load_config_text("model: {architecture: unet}").optimizer.model_copy(
        update={"type": name, "learning_rate": 0.02, **options}
    )
    opt = build_optimizer([torch.nn.Parameter(torch.zeros(2))], cfg)
    assert type(opt).__name__ == name and set(OPTIMIZERS) >= {name}
    group = opt.param_groups[0]
    assert group["lr"] == pytest.approx(0.02)
    for key, value in options.items():
        assert group[key] == (pytest.approx(value) if isinstance(value, float) else value), key
