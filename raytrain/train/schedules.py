"""The learning rate of every optimizer step: one registry of schedule functions, with the
linear warmup and the alpha floor applied the same way to all of them.

A schedule function maps `t`, the steps since warmup ended, to a learning rate; `Horizon` tells
it how long the run is. `LRSchedule` wraps one: `lr(step)` is a pure function of the global
step (so a resumed run continues exactly where it stopped, and tests check values without
Ray), except ReduceLROnPlateau, whose multiplier moves at epoch ends on the monitored value.

The formulas are Keras's: cosine decay `(1 - alpha) * cos_part + alpha`, cosine
decay with restarts (period x `t_mul`, peak x `m_mul` each restart), exponential decay
`rate ** (t / decay_steps)`; and torch's CosineAnnealingLR (per epoch, down to `min_lr`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from raytrain.config.schema import SchedulerSection


@dataclass(frozen=True)
class Horizon:
    """How long the run is, in optimizer steps."""

    steps_per_epoch: int
    total_steps: int
    warmup_steps: int

    @property
    def decay_steps(self) -> int:
        """Steps after warmup (at least 1)."""
        return max(1, self.total_steps - self.warmup_steps)


ScheduleFn = Callable[[int, float, SchedulerSection, Horizon], float]


def _constant(t: int, base: float, cfg: SchedulerSection, h: Horizon) -> float:
    return base


def _cosine_decay(t: int, base: float, cfg: SchedulerSection, h: Horizon) -> float:
    steps = cfg.decay_steps or h.decay_steps
    cos = 0.5 * (1 + math.cos(math.pi * min(t, steps) / steps))
    return base * ((1 - cfg.alpha) * cos + cfg.alpha)


def first_period(cfg: SchedulerSection, h: Horizon) -> float:
    """cosine_decay_restarts' first period: `decay_steps`, or such that three periods (the
    later ones `t_mul` times longer each) fill the run after warmup."""
    if cfg.decay_steps:
        return float(cfg.decay_steps)
    return max(1.0, h.decay_steps / (1 + cfg.t_mul + cfg.t_mul**2))


def _cosine_decay_restarts(t: int, base: float, cfg: SchedulerSection, h: Horizon) -> float:
    frac = t / first_period(cfg, h)  # in first periods
    if cfg.t_mul == 1.0:
        i = math.floor(frac)
        frac -= i
    else:
        i = math.floor(math.log(1 - frac * (1 - cfg.t_mul)) / math.log(cfg.t_mul))
        done = (1 - cfg.t_mul**i) / (1 - cfg.t_mul)  # length of the i periods behind us
        frac = (frac - done) / cfg.t_mul**i
    cos = 0.5 * cfg.m_mul**i * (1 + math.cos(math.pi * frac))
    return base * ((1 - cfg.alpha) * cos + cfg.alpha)


def _exponential_decay(t: int, base: float, cfg: SchedulerSection, h: Horizon) -> float:
    steps = cfg.decay_steps or max(1, h.steps_per_epoch)
    return base * cfg.decay_rate ** (t / steps)


def _cosine_annealing(t: int, base: float, cfg: SchedulerSection, h: Horizon) -> float:
    """torch's CosineAnnealingLR: one value per epoch, down to `min_lr`."""
    spe = max(1, h.steps_per_epoch)
    epochs = max(1, h.decay_steps // spe)
    e = min(t // spe, epochs)
    low = min(cfg.min_lr, base)
    return low + (base - low) * 0.5 * (1 + math.cos(math.pi * e / epochs))


SCHEDULES: dict[str, ScheduleFn] = {
    "constant": _constant,
    "cosine_decay": _cosine_decay,
    "cosine_decay_restarts": _cosine_decay_restarts,
    "exponential_decay": _exponential_decay,
    "CosineAnnealingLR": _cosine_annealing,
    "ReduceLROnPlateau": _constant,  # times the plateau multiplier, see LRSchedule
}


class LRSchedule:
    """lr(step) = warmup, then the schedule, never below `alpha * learning_rate` (nor `min_lr`
    for ReduceLROnPlateau). Warmup: from `warmup_start_lr` at step 0 linearly to the
    schedule's start value at step `warmup_steps + warmup_epochs * steps_per_epoch`."""

    def __init__(
        self,
        cfg: SchedulerSection,
        base_lr: float,
        steps_per_epoch: int,
        num_epochs: int,
        warmup_epochs: int = 0,
    ) -> None:
        spe = max(1, steps_per_epoch)
        self.cfg = cfg
        self.base_lr = base_lr
        self.horizon = Horizon(
            steps_per_epoch=spe,
            total_steps=spe * num_epochs,
            warmup_steps=cfg.warmup_steps + warmup_epochs * spe,
        )
        self.fn = SCHEDULES[cfg.type]
        # ReduceLROnPlateau state: the multiplier and torch's bookkeeping (rel. threshold 1e-4)
        self.scale = 1.0
        self.best: float | None = None
        self.num_bad = 0

    @property
    def floor(self) -> float:
        low = self.cfg.alpha * self.base_lr
        if self.cfg.type == "ReduceLROnPlateau":
            low = max(low, self.cfg.min_lr)
        return low

    def lr(self, step: int) -> float:
        """The learning rate of optimizer step `step` (0-based, counted over the whole run)."""
        w = self.horizon.warmup_steps
        if step < w:
            start, end = self.cfg.warmup_start_lr, self._after_warmup(0)
            return start + (end - start) * step / w
        return self._after_warmup(step - w)

    def _after_warmup(self, t: int) -> float:
        return max(self.fn(t, self.base_lr * self.scale, self.cfg, self.horizon), self.floor)

    def in_warmup(self, step: int) -> bool:
        return step < self.horizon.warmup_steps

    def epoch_end(self, monitored: float, step: int) -> None:
        """ReduceLROnPlateau: after `patience` epochs without improvement (outside warmup),
        multiply the LR by `factor`. A no-op for the step schedules."""
        if self.cfg.type != "ReduceLROnPlateau" or self.in_warmup(step):
            return
        if not math.isfinite(monitored):
            return
        if self.best is None or self._better(monitored, self.best):
            self.best, self.num_bad = monitored, 0
            return
        self.num_bad += 1
        if self.num_bad > self.cfg.patience:
            self.scale *= self.cfg.factor
            self.num_bad = 0

    def _better(self, a: float, best: float) -> bool:
        if self.cfg.mode == "min":
            return a < best - abs(best) * 1e-4
        return a > best + abs(best) * 1e-4

    def state_dict(self) -> dict[str, Any]:
        return {"scale": self.scale, "best": self.best, "num_bad": self.num_bad}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.scale = float(state.get("scale", 1.0))
        self.best = state.get("best")
        self.num_bad = int(state.get("num_bad", 0))


def schedule_values(schedule: LRSchedule, steps: int) -> list[float]:
    """The LR of steps 0..steps-1 (for plots and lr checks; ReduceLROnPlateau at its current
    multiplier)."""
    return [schedule.lr(s) for s in range(steps)]
