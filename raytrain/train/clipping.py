"""Gradient clipping: by value, by each parameter's norm, by the global norm (config keys
`gradient_clipping_value`, `_norm_local`, `_norm_global`, and `gradient_clip`).

Configured clippers run in that order, so the global-norm bound, the strongest guarantee,
holds on what the optimizer finally sees. They act on true (unscaled) gradients: the train
step unscales fp16 gradients first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch

from raytrain.config.schema import TrainingParamsSection

ClipFn = Callable[[list[torch.nn.Parameter], float], None]


def clip_by_value(params: list[torch.nn.Parameter], limit: float) -> None:
    torch.nn.utils.clip_grad_value_(params, limit, foreach=True)


def clip_by_parameter_norm(params: list[torch.nn.Parameter], max_norm: float) -> None:
    """Each parameter's gradient on its own to norm <= max_norm (Keras `clipnorm`)."""
    for p in params:
        torch.nn.utils.clip_grad_norm_([p], max_norm, foreach=True)


def clip_by_global_norm(params: list[torch.nn.Parameter], max_norm: float) -> None:
    """All gradients together to norm <= max_norm (Keras `global_clipnorm`)."""
    torch.nn.utils.clip_grad_norm_(params, max_norm, foreach=True)


#: config field -> clipper, in the order they run
CLIPPERS: dict[str, ClipFn] = {
    "gradient_clip_value": clip_by_value,
    "gradient_clip_norm": clip_by_parameter_norm,
    "gradient_clip": clip_by_global_norm,
}


@dataclass(frozen=True)
class Clipping:
    """The configured clippers, as (function, limit) pairs in CLIPPERS order."""

    steps: tuple[tuple[ClipFn, float], ...]

    @classmethod
    def from_config(cls, tp: TrainingParamsSection) -> Clipping:
        return cls(
            tuple((fn, getattr(tp, key)) for key, fn in CLIPPERS.items() if getattr(tp, key))
        )

    def __bool__(self) -> bool:
        return bool(self.steps)

    def __call__(self, params: Iterable[torch.nn.Parameter]) -> None:
        with_grad = [p for p in params if p.grad is not None]
        if not with_grad:
            return
        for fn, limit in self.steps:
            fn(with_grad, limit)


def global_norm(params: Iterable[torch.nn.Parameter]) -> float:
    """The global gradient norm (for tests and logs)."""
    grads = [p.grad.float() for p in params if p.grad is not None]
    return float(torch.nn.utils.get_total_norm(grads))
