"""One epoch of training on one worker: everything between a batch and the optimizer.

`TrainStep` owns autocast (bf16, or fp16 with a GradScaler), gradient accumulation (DDP
gradients are synchronised on the last micro-batch of each group only), frozen layers, gradient
clipping, the per-step learning rate, and the NaN stop. `train_epoch` feeds it batches. The
Ray Train worker (`raytrain.train.loop`) and `bench/train_step.py` run this same code.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch

from raytrain.train.clipping import Clipping
from raytrain.train.schedules import LRSchedule
from raytrain.train.transfer import Freeze


class NonFiniteLossError(RuntimeError):
    """Training produced a NaN or infinite loss: the run stops with this reason."""


LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def autocast_dtype(mixed_precision: bool | str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype, or None for float32.

    `true` (and `"auto"`, whose other choices `raytrain.train.precision` makes): bf16 on a CUDA
    GPU that has it, else fp16 (with loss scaling); float32 on CPU, where autocast is slower than
    float32 for these models. `"bf16"`/`"fp16"`: that dtype on any
    device whose autocast supports it (CPU autocast does both in torch 2.x).
    """
    if not mixed_precision:
        return None
    if mixed_precision is True or mixed_precision == "auto":
        if device.type != "cuda":
            return None
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}[str(mixed_precision)]
    if not torch.amp.is_autocast_available(device.type):
        return None
    if device.type == "cuda" and dtype == torch.bfloat16 and not torch.cuda.is_bf16_supported():
        return torch.float16
    return dtype


class TrainStep:
    """Turns micro-batches into optimizer steps. `step` counts optimizer steps over the run
    (resume restores it), and is what the learning-rate schedule is a function of."""

    def __init__(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        loss_fn: LossFn,
        schedule: LRSchedule,
        *,
        device: torch.device,
        accumulation: int = 1,
        clipping: Clipping | None = None,
        amp_dtype: torch.dtype | None = None,
        freeze: Freeze | None = None,
        record: bool = True,
        memory_format: torch.memory_format | None = None,
    ) -> None:
        self.model = model
        self.optimizer = optimizer
        self.loss_fn = loss_fn
        self.schedule = schedule
        self.device = device
        self.accumulation = accumulation
        self.clipping = clipping or Clipping(())
        self.amp_dtype = amp_dtype
        self.scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)
        self.freeze = freeze
        self.record = record
        #: inputs of 4 dimensions are converted to it (channels_last with a channels_last model)
        self.memory_format = memory_format
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.step = 0
        self.epoch = 0
        self.pending = 0
        self._group_loss: torch.Tensor | None = None
        #: (step, lr, loss tensor) of the optimizer steps since the last `take_history`
        self.history: list[tuple[int, float, torch.Tensor]] = []
        self._set_lr(schedule.lr(0))

    def _set_lr(self, lr: float) -> None:
        for g in self.optimizer.param_groups:
            g["lr"] = lr

    @property
    def lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def micro_batch(self, x: torch.Tensor, y: torch.Tensor, last: bool) -> torch.Tensor:
        """Forward and backward one batch; an optimizer step when its group is complete or
        `last` (the epoch's final batch). Returns the batch's loss (detached)."""
        sync = last or self.pending + 1 == self.accumulation
        no_sync = getattr(self.model, "no_sync", None)
        ctx = no_sync() if (no_sync is not None and not sync) else contextlib.nullcontext()
        if self.memory_format is not None and x.dim() == 4:
            x = x.contiguous(memory_format=self.memory_format)
        with ctx:
            with torch.autocast(
                self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None
            ):
                loss = self.loss_fn(self.model(x), y)
            if not torch.isfinite(loss):
                raise NonFiniteLossError(
                    f"epoch {self.epoch + 1}, step {self.step + 1}: loss is {loss.item()} — "
                    f"lower optimizer.learning_rate or set training_params.gradient_clip"
                )
            self.scaler.scale(loss / self.accumulation).backward()
        self.pending += 1
        loss = loss.detach()
        if self.record:
            self._group_loss = loss if self._group_loss is None else self._group_loss + loss
        if sync:
            self._optimizer_step()
        return loss

    def _optimizer_step(self) -> None:
        lr = self.schedule.lr(self.step)
        self._set_lr(lr)
        if self.pending < self.accumulation:  # a short last group: average over what it had
            for p in self.params:
                if p.grad is not None:
                    p.grad.mul_(self.accumulation / self.pending)
        if self.freeze is not None and self.freeze.active(self.epoch):
            self.freeze.drop_grads()
        if self.clipping:
            self.scaler.unscale_(self.optimizer)  # clip the true gradients, not the scaled
            self.clipping(self.params)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        if self.record and self._group_loss is not None:
            self.history.append((self.step, lr, self._group_loss / self.pending))
        self._group_loss = None
        self.pending = 0
        self.step += 1

    def take_history(self) -> list[dict[str, Any]]:
        """The per-step log rows (step, epoch, lr, loss) recorded since the last call."""
        rows = self.history
        self.history = []
        if not rows:
            return []
        losses = torch.stack([r[2].float() for r in rows]).tolist()  # one device sync
        return [
            {"step": s + 1, "epoch": self.epoch + 1, "lr": lr, "loss": loss}
            for (s, lr, _), loss in zip(rows, losses, strict=True)
        ]

    def state_dict(self) -> dict[str, Any]:
        return {"step": self.step, "scaler": self.scaler.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step = int(state["step"])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self._set_lr(self.schedule.lr(self.step))


def with_last(items: Iterable[Any]) -> Iterator[tuple[Any, bool]]:
    """(item, is_last) pairs, looking one item ahead."""
    it = iter(items)
    try:
        prev = next(it)
    except StopIteration:
        return
    for item in it:
        yield prev, False
        prev = item
    yield prev, True


def train_epoch(
    stepper: TrainStep, batches: Iterable[tuple[torch.Tensor, torch.Tensor]], epoch: int
) -> torch.Tensor:
    """Train on `batches` for one epoch; returns [sum of loss x rows, rows] (float64)."""
    stepper.epoch = epoch
    stepper.model.train()
    if stepper.freeze is not None and stepper.freeze.active(epoch):
        stepper.freeze.hold_statistics()
    total = torch.zeros(2, dtype=torch.float64, device=stepper.device)
    for (x, y), last in with_last(batches):
        loss = stepper.micro_batch(x, y, last)
        total += torch.stack([loss.double() * len(x), loss.new_tensor(len(x), dtype=torch.float64)])
    return total
