"""The losses a task can train with (`training_params.loss`), by task; the first is the default.

| task | losses |
| --- | --- |
| edges | `bce` (with `pos_weight`), `dice`, `bce_dice` (their sum), `focal` (γ = 2) |
| anomaly | `bce` (with `pos_weight`), `focal` |
| classification | `cross_entropy` (with `training_params.label_smoothing`) |
| regression | `mse`, `huber` (δ = 1), `l1` — in standard-deviation units of the target |

Every loss takes the model's raw output (logits for the binary and class tasks).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from raytrain.errors import RaytrainError, did_you_mean

FOCAL_GAMMA = 2.0

LOSSES: dict[str, tuple[str, ...]] = {
    "edges": ("bce", "dice", "bce_dice", "focal"),
    "anomaly": ("bce", "focal"),
    "classification": ("cross_entropy",),
    "regression": ("mse", "huber", "l1"),
}


def check_loss(task: str, name: str | None) -> str:
    """The loss `name` for `task` (its default for None), or a RaytrainError naming the key."""
    known = LOSSES.get(task)
    if known is None:  # a task registered by a plugin: its own loss
        if name is not None:
            raise RaytrainError(f"training_params.loss: task '{task}' chooses its own loss")
        return ""
    if name is None:
        return known[0]
    if name not in known:
        other = [t for t, names in LOSSES.items() if name in names]
        where = (
            f" ('{name}' is a loss for {' / '.join(other)})" if other else did_you_mean(name, known)
        )
        raise RaytrainError(
            f"training_params.loss: '{name}' is not a loss for {task}{where}; "
            f"choose {', '.join(known)}"
        )
    return name


def _dice(logits: torch.Tensor, target: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """1 − Dice coefficient of the sigmoid probabilities, per example, averaged (smoothed)."""
    p = torch.sigmoid(logits).flatten(1)
    t = target.flatten(1)
    inter = (p * t).sum(1)
    return (1 - (2 * inter + eps) / (p.sum(1) + t.sum(1) + eps)).mean()


def _focal(logits: torch.Tensor, target: torch.Tensor, pos_weight: float | None) -> torch.Tensor:
    """Binary focal loss (Lin et al.): BCE scaled by (1 − p_t)^γ, so easy pixels weigh little."""
    pw = None if pos_weight is None else logits.new_tensor(pos_weight)
    bce = F.binary_cross_entropy_with_logits(logits, target, pos_weight=pw, reduction="none")
    p = torch.sigmoid(logits)
    p_t = p * target + (1 - p) * (1 - target)
    return ((1 - p_t) ** FOCAL_GAMMA * bce).mean()


def binary_loss(
    name: str, pos_weight: float | None
) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """A loss on logits and {0, 1} targets of the same shape."""

    def bce(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        pw = None if pos_weight is None else logits.new_tensor(pos_weight)
        return F.binary_cross_entropy_with_logits(logits, target, pos_weight=pw)

    if name == "bce":
        return bce
    if name == "dice":
        return _dice
    if name == "bce_dice":
        return lambda o, t: bce(o, t) + _dice(o, t)
    if name == "focal":
        return lambda o, t: _focal(o, t, pos_weight)
    raise RaytrainError(f"training_params.loss: '{name}' is not a binary loss")


def regression_loss(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """A loss on the error in standard-deviation units."""
    if name == "mse":
        return lambda d: (d * d).mean()
    if name == "huber":
        return lambda d: F.huber_loss(d, torch.zeros_like(d), delta=1.0)
    if name == "l1":
        return lambda d: d.abs().mean()
    raise RaytrainError(f"training_params.loss: '{name}' is not a regression loss")
