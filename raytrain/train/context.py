"""What the train loop needs from the system that runs it (`LoopContext`).

The loop asks its context for its rank and world size, its data shards, the checkpoint to
resume from, the device (and the model wrapped for it), how many nodes the run spans, and how
to report an epoch. The implementations live with the Ray plumbing
(`raytrain.runtime.contexts`: a Ray Train worker, a Tune trial, the `raytrain train` process);
tests run the loop with one of their own, without Ray.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import torch


@dataclass(frozen=True)
class EpochRecord:
    """One finished epoch, as rank 0 sees it: what monitoring shows of a run."""

    experiment: str
    run_name: str
    epoch: int
    samples: float  # training samples of all workers this epoch
    seconds: float
    metric: str  # the monitored metric
    value: float
    best: float  # the best value of `metric` so far


class LoopContext(Protocol):
    """What the train loop needs from the system that runs it."""

    world_rank: int
    world_size: int

    def dataset_shard(self, name: str) -> Any:
        """This worker's part of a dataset: anything with `iter_torch_batches`."""

    def checkpoint(self) -> Any:
        """The checkpoint to resume from (`as_directory()`), or None on a fresh start."""

    def device(self) -> torch.device: ...

    def prepare_model(self, model: torch.nn.Module) -> torch.nn.Module:
        """Move the model to the device; wrap it for data parallelism where there is any."""

    def num_nodes(self) -> int:
        """How many distinct nodes the run's workers are on (reported, for the record)."""

    def report(self, metrics: dict[str, Any], checkpoint_dir: str | None) -> None:
        """Report one epoch (a barrier across workers); `checkpoint_dir` is copied away."""

    def epoch_done(self, record: EpochRecord) -> None:
        """Rank 0's summary of an epoch, for monitoring (never fails the run)."""
