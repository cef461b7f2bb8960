"""Where the train loop runs: a Ray Train worker, a Tune trial, or the `raytrain train` process.

Each implements `raytrain.train.context.LoopContext`. Ray Train answers for a `TorchTrainer`
worker (DDP across workers). A one-worker trial needs no worker group at all:
`InTrialContext` runs the same loop in the Tune trial's own process and reports straight to
Tune, which saves the ~10 s a worker group costs to start — most of a trial's life when ASHA
stops it after an epoch or two.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from raytrain.runtime.checkpoint_keeper import CheckpointKeeper
from raytrain.runtime.metrics import record_epoch
from raytrain.train.context import EpochRecord


class _Monitored:
    """Every context's `epoch_done`: rank 0's epoch to raytrain's Ray metrics (the dashboard
    and its Prometheus endpoint)."""

    def epoch_done(self, record: EpochRecord) -> None:
        record_epoch(
            record.experiment,
            record.run_name,
            epoch=record.epoch,
            samples=record.samples,
            seconds=record.seconds,
            metric=record.metric,
            value=record.value,
            best=record.best,
        )


class RayTrainContext(_Monitored):
    """A worker of a Ray Train `TorchTrainer`: DDP, sharded datasets, Train checkpoints.

    `rank_datasets` (`raytrain.data.pipeline.build_rank_datasets`): one dict of datasets per
    rank, each already holding only that rank's rows; without it, Ray Train's shard.
    """

    def __init__(
        self,
        rank_datasets: Sequence[Mapping[str, Any]] | None = None,
        resume_from: str | None = None,
    ) -> None:
        import ray.train

        ctx = ray.train.get_context()
        self.world_rank = ctx.get_world_rank()
        self.world_size = ctx.get_world_size()
        if rank_datasets is not None and len(rank_datasets) != self.world_size:
            raise RuntimeError(
                f"{len(rank_datasets)} per-rank datasets for {self.world_size} workers"
            )
        self.rank_datasets = rank_datasets
        self.resume_from = resume_from
        if rank_datasets is not None:  # Ray Train's dataset callback would have set this
            import ray.data

            ray.data.DataContext.get_current().enable_progress_bars = False

    def dataset_shard(self, name: str) -> Any:
        import ray.train

        if self.rank_datasets is not None:
            return self.rank_datasets[self.world_rank][name]
        return ray.train.get_dataset_shard(name)

    def checkpoint(self) -> Any:
        """Ray Train's own checkpoint after a restart; else the folder a `raytrain train
        --resume` of a run Ray Train did not write starts from."""
        import ray.train

        ckpt = ray.train.get_checkpoint()
        if ckpt is None and self.resume_from:
            ckpt = ray.train.Checkpoint.from_directory(self.resume_from)
        return ckpt

    def num_nodes(self) -> int:
        if self.world_size == 1 or not (dist.is_available() and dist.is_initialized()):
            return 1
        import ray

        node = ray.get_runtime_context().get_node_id()
        nodes: list[Any] = [None] * self.world_size
        dist.all_gather_object(nodes, node)
        return len(set(nodes))

    def device(self) -> torch.device:
        import ray.train.torch

        return ray.train.torch.get_device()

    def prepare_model(self, model: torch.nn.Module) -> torch.nn.Module:
        import ray.train.torch

        return ray.train.torch.prepare_model(model)  # device placement + DDP when world > 1

    def report(self, metrics: dict[str, Any], checkpoint_dir: str | None) -> None:
        import ray.train

        checkpoint = ray.train.Checkpoint.from_directory(checkpoint_dir) if checkpoint_dir else None
        ray.train.report(metrics, checkpoint=checkpoint)


class InTrialContext(_Monitored):
    """The Tune trial itself is the only worker: whole datasets, Tune checkpoints.

    The checkpoint's final path is only known once Tune has persisted it, so the loop's
    `checkpoint_path` metric is not set here; the search reads the trial's best checkpoints
    from its Tune result instead (`raytrain.tune.runner`).
    """

    world_rank = 0
    world_size = 1

    def __init__(self, datasets: Mapping[str, Any], use_gpu: bool = False) -> None:
        self.datasets = dict(datasets)
        self.use_gpu = use_gpu and torch.cuda.is_available()

    def dataset_shard(self, name: str) -> Any:
        return self.datasets[name]

    def checkpoint(self) -> Any:
        from ray import tune

        return tune.get_checkpoint()

    def device(self) -> torch.device:
        return (
            torch.device("cuda", torch.cuda.current_device())
            if self.use_gpu
            else torch.device("cpu")
        )

    def prepare_model(self, model: torch.nn.Module) -> torch.nn.Module:
        return model.to(self.device())

    def num_nodes(self) -> int:
        return 1

    def report(self, metrics: dict[str, Any], checkpoint_dir: str | None) -> None:
        from ray import tune

        checkpoint = tune.Checkpoint.from_directory(checkpoint_dir) if checkpoint_dir else None
        tune.report(metrics, checkpoint=checkpoint)


class DriverContext(InTrialContext):
    """The `raytrain train` process itself is the only worker (one-worker runs on one node):
    whole datasets, checkpoints kept in the run folder by a `CheckpointKeeper`.

    Saves what a one-worker `TorchTrainer` costs before its first step on 2 cores: a Train
    controller, a worker group (a synchronization actor and a worker process that imports
    torch) and Ray Data's split coordinators, about 15 s of a short run.
    """

    def __init__(
        self,
        datasets: Mapping[str, Any],
        keeper: CheckpointKeeper,
        resume_from: str | None = None,
        use_gpu: bool = False,
    ) -> None:
        super().__init__(datasets, use_gpu=use_gpu)
        self.keeper = keeper
        self.resume_from = resume_from
        self.last_metrics: dict[str, Any] = {}
        self.last_checkpoint: Path | None = None

    def checkpoint(self) -> Any:
        import ray.train

        return ray.train.Checkpoint.from_directory(self.resume_from) if self.resume_from else None

    def report(self, metrics: dict[str, Any], checkpoint_dir: str | None) -> None:
        self.last_metrics = dict(metrics)
        if checkpoint_dir:
            self.last_checkpoint = self.keeper.add(checkpoint_dir, int(metrics["epoch"]))
