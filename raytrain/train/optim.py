"""Optimizers and learning-rate schedules from the config (registries, not if-chains)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch

from raytrain.config.schema import OptimizerSection, SchedulerSection

OptimizerBuilder = Callable[[Iterable[torch.nn.Parameter], OptimizerSection], torch.optim.Optimizer]

OPTIMIZERS: dict[str, OptimizerBuilder] = {
    "Adam": lambda p, c: torch.optim.Adam(
        p, lr=c.learning_rate, betas=c.betas, eps=c.eps, weight_decay=c.weight_decay
    ),
    "AdamW": lambda p, c: torch.optim.AdamW(
        p, lr=c.learning_rate, betas=c.betas, eps=c.eps, weight_decay=c.weight_decay
    ),
    "SGD": lambda p, c: torch.optim.SGD(
        p,
        lr=c.learning_rate,
        momentum=c.momentum,
        nesterov=c.nesterov and c.momentum > 0,
        weight_decay=c.weight_decay,
    ),
    "RMSprop": lambda p, c: torch.optim.RMSprop(
        p, lr=c.learning_rate, momentum=c.momentum, eps=c.eps, weight_decay=c.weight_decay
    ),
    "Adadelta": lambda p, c: torch.optim.Adadelta(
        p, lr=c.learning_rate, eps=c.eps, weight_decay=c.weight_decay
    ),
}


def build_optimizer(
    params: Iterable[torch.nn.Parameter], cfg: OptimizerSection
) -> torch.optim.Optimizer:
    return OPTIMIZERS[cfg.type](params, cfg)


class EpochSchedule:
    """Per-epoch learning rate: linear warmup over `warmup_epochs`, then the configured schedule.

    Warmup is applied by this class (not by chaining torch schedulers) so that it composes with
    ReduceLROnPlateau, which torch's SequentialLR cannot chain.
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        cfg: SchedulerSection,
        num_epochs: int,
        warmup_epochs: int,
    ) -> None:
        self.optimizer = optimizer
        self.base_lrs = [g["lr"] for g in optimizer.param_groups]
        self.warmup = warmup_epochs
        self.cfg = cfg
        self.inner: Any = None
        if cfg.type == "ReduceLROnPlateau":
            self.inner = torch.optim.lr_scheduler.ReduceLROnPlateau(
                optimizer,
                mode=cfg.mode,
                factor=cfg.factor,
                patience=cfg.patience,
                min_lr=cfg.min_lr,
            )
        elif cfg.type == "CosineAnnealingLR":
            self.inner = torch.optim.lr_scheduler.CosineAnnealingLR(
                optimizer, T_max=max(1, num_epochs - warmup_epochs), eta_min=cfg.min_lr
            )
        self.epoch = 0
        self._set_warmup_lr()

    def _set_warmup_lr(self) -> None:
        if self.epoch < self.warmup:
            frac = (self.epoch + 1) / (self.warmup + 1)
            for g, base in zip(self.optimizer.param_groups, self.base_lrs, strict=True):
                g["lr"] = base * frac
        elif self.epoch == self.warmup and self.warmup:
            for g, base in zip(self.optimizer.param_groups, self.base_lrs, strict=True):
                g["lr"] = base

    def step(self, monitored: float) -> None:
        """Call once at the end of every epoch with the monitored validation value."""
        in_warmup = self.epoch < self.warmup
        self.epoch += 1
        if in_warmup:
            self._set_warmup_lr()
        elif isinstance(self.inner, torch.optim.lr_scheduler.ReduceLROnPlateau):
            self.inner.step(monitored)
        elif self.inner is not None:
            self.inner.step()

    @property
    def lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def state_dict(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "base_lrs": self.base_lrs,
            "inner": self.inner.state_dict() if self.inner is not None else None,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch = state["epoch"]
        self.base_lrs = state["base_lrs"]
        if self.inner is not None and state["inner"] is not None:
            self.inner.load_state_dict(state["inner"])
