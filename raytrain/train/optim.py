"""Optimizers from the config (a registry, not an if-chain). Learning-rate schedules: see
`raytrain.train.schedules`."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch

from raytrain.config.schema import OptimizerSection

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
