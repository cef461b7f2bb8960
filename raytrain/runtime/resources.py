"""Resource arithmetic: what one trial asks for, and how many trials fit at once.

Measured on a 2-CPU machine: two DDP workers at 0.5 CPU each left a second trial's worker group
waiting and failing, while 0.25 worked. Ray schedules on *logical* resources, so a search can
deadlock waiting for itself if trials + workers + data tasks do not fit. This module computes the
plan instead of hoping: the trial driver and the Train controller take no CPU, each worker takes
`cpus_per_worker`, and a slice of the cluster stays free for Ray Data's read/map tasks.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from raytrain.config.schema import ExperimentConfig, ResourcesSection
from raytrain.data.pipeline import DATA_TASK_CPUS
from raytrain.errors import RaytrainError

#: Logical CPU of the Tune trial actor that drives a TorchTrainer (it only waits).
TRIAL_DRIVER_CPUS = 0.01


@dataclass(frozen=True)
class ResourcePlan:
    cluster_cpus: float
    cluster_gpus: float
    num_workers: int
    use_gpu: bool
    cpus_per_worker: float
    gpus_per_worker: float
    data_cpus: float
    cpus_per_trial: float
    max_concurrent_trials: int

    def as_dict(self) -> dict[str, float | int | bool]:
        return asdict(self)

    def describe(self) -> str:
        """The search's line: per trial, and how many trials run at once."""
        return (
            f"{self._workers()} per trial, {self._rest()} -> "
            f"{self.max_concurrent_trials} trial(s) at once"
        )

    def describe_run(self, here: bool) -> str:
        """`raytrain train`'s line: one run, in this process (`here`) or a worker group."""
        where = "in this process" if here else "in a Ray Train worker group"
        return f"{self._workers()} {where}, {self._rest()}"

    def _workers(self) -> str:
        gpu = f", {self.gpus_per_worker:g} GPU" if self.use_gpu else ""
        return f"{self.num_workers} worker(s) x ({self.cpus_per_worker:g} CPU{gpu})"

    def _rest(self) -> str:
        return (
            f"{self.data_cpus:g} CPU kept for Ray Data, cluster {self.cluster_cpus:g} CPU / "
            f"{self.cluster_gpus:g} GPU"
        )


def plan_resources(
    res: ResourcesSection, cluster_cpus: float, cluster_gpus: float, num_trials: int = 1
) -> ResourcePlan:
    """Per-worker CPUs and trial concurrency that fit the cluster, or a clear error."""
    data_cpus = max(DATA_TASK_CPUS, min(1.0, 0.25 * cluster_cpus))
    usable = cluster_cpus - data_cpus - TRIAL_DRIVER_CPUS
    if usable <= 0:
        raise RaytrainError(
            f"resources: the cluster has {cluster_cpus:g} CPU, not enough for "
            f"a worker plus {data_cpus:g} CPU for data loading"
        )
    cpw = res.cpus_per_worker
    if cpw is None:
        cpw = min(1.0, math.floor(usable / res.num_workers * 100) / 100)
        if cpw < 0.01:
            raise RaytrainError(
                f"resources.num_workers: {res.num_workers} workers do not fit "
                f"on {cluster_cpus:g} CPU"
            )
    # A one-worker trial runs the loop in the trial itself (no worker group, no driver).
    cpus_per_trial = res.num_workers * cpw + (0.0 if res.num_workers == 1 else TRIAL_DRIVER_CPUS)
    if cpus_per_trial + data_cpus > cluster_cpus + 1e-9:
        raise RaytrainError(
            f"resources: one trial needs {res.num_workers} x {cpw:g} CPU + {data_cpus:g} CPU "
            f"for data = {cpus_per_trial + data_cpus:g} CPU, the cluster has {cluster_cpus:g}; "
            f"lower resources.num_workers or resources.cpus_per_worker"
        )
    fit = int((cluster_cpus - data_cpus + 1e-9) // cpus_per_trial)
    gpw = res.gpus_per_worker if res.use_gpu else 0.0
    if res.use_gpu:
        need = res.num_workers * gpw
        if need > cluster_gpus + 1e-9:
            raise RaytrainError(
                f"resources: one trial needs {need:g} GPU, the cluster has "
                f"{cluster_gpus:g}; set resources.use_gpu: false or add GPUs"
            )
        fit = min(fit, int((cluster_gpus + 1e-9) // need))
    concurrency = max(1, min(fit, num_trials, res.max_concurrent_trials or fit))
    return ResourcePlan(
        cluster_cpus,
        cluster_gpus,
        res.num_workers,
        res.use_gpu,
        cpw,
        gpw,
        data_cpus,
        cpus_per_trial,
        concurrency,
    )


def check_train_folder(cfg: ExperimentConfig) -> None:
    """`raytrain train` keeps its run in a folder (checkpoints written as it trains, best and
    final model, `--resume RUN_DIR`): a bucket there is refused before Ray starts, saying what
    does work. (`raytrain tune` writes to a bucket: a search of one trial is a run there.)"""
    key = "tune.storage_path" if cfg.tune.storage_path else "training.output_dir"
    path = cfg.tune.storage_path or cfg.training.output_dir
    if "://" in path:
        raise RaytrainError(
            f"{key}: {path}: `raytrain train` writes its run to a folder, not a bucket; point "
            f"{key} at a folder (or a mount of the bucket on every node, with "
            f"tune.shared_storage: true), register the model in the bucket with --register "
            f"and export.registry_dir: s3://..., or use `raytrain tune` (search.num_trials: 1)"
        )


def check_storage(path: str, shared: bool, alive_nodes: int) -> None:
    """Refuse a node-local results folder on a multi-node cluster, before anything runs.

    Trials write checkpoints where their worker runs; with a path that only exists on one node,
    another node's checkpoints are lost and the best trial cannot be registered.
    """
    if "://" in path:  # `raytrain tune` checks a bucket itself (artifacts.storage)
        raise RaytrainError(
            f"tune.storage_path: {path}: `raytrain train` writes its run to a folder; a bucket "
            f"(s3://, gs://) is for `raytrain tune`, or mount it (EFS, NFS, gcsfuse) on every "
            f"node and set tune.shared_storage: true"
        )
    _check_writable(Path(path))
    if alive_nodes > 1 and not shared:
        raise RaytrainError(
            f"tune.storage_path: {path} is a local path and the cluster has {alive_nodes} "
            f"nodes; point it at a filesystem mounted on every node and set "
            f"tune.shared_storage: true"
        )


def check_places(cfg: ExperimentConfig, register: bool | None = None) -> list[str]:
    """Every place a run reads from or writes to, checked before the first trial: data paths
    exist; the results folder, `training.output_dir` and (when the best is registered)
    `export.registry_dir` are writable or can be created. Returns one line per place, for
    `validate` and `--dry-run` to show; raises a RaytrainError naming the key otherwise."""
    ds = cfg.dataset
    lines = []
    for key in ("path", "train_path", "val_path", "test_path"):
        value = getattr(ds, key)
        if value is None:
            continue
        if "://" in value:
            lines.append(_check_bucket_dataset(key, value))
            continue
        p = Path(value).expanduser()
        if not p.is_dir():
            what = "is not a folder" if p.exists() else "does not exist"
            raise RaytrainError(f"dataset.{key}: {p} {what}")
        lines.append(f"reads  dataset.{key}: {p.absolute()}")
    register = cfg.export.register_best if register is None else register
    writes = {
        "tune.storage_path" if cfg.tune.storage_path else "training.output_dir": (
            cfg.tune.storage_path or cfg.training.output_dir
        ),
        "training.output_dir": cfg.training.output_dir,
    }
    if register:
        writes["export.registry_dir"] = cfg.export.registry_dir
    for key, value in writes.items():
        if "://" in value:  # object storage: checked by a write when the search starts
            lines.append(f"writes {key}: {value}")
            continue
        _check_writable(Path(value).expanduser(), key)
        lines.append(f"writes {key}: {Path(value).expanduser().absolute()}")
    return list(dict.fromkeys(lines))


def _check_bucket_dataset(key: str, uri: str) -> str:
    """A prepared dataset in a bucket: endpoint, credentials, bucket and its manifest, read
    before anything runs. Raw folders (train_path, ...) are prepared from a local folder."""
    from raytrain.data.fs import is_remote
    from raytrain.data.resolve import prepared_manifest

    if key != "path" or not is_remote(uri):
        raise RaytrainError(
            f"dataset.{key}: {uri}: only a prepared dataset is read from a bucket (s3://, "
            f"gs://); prepare the raw folders into one with `raytrain data prepare SRC --out "
            f"s3://BUCKET/PREFIX` and set dataset.path to it"
        )
    prepared_manifest(uri, "dataset.path")
    return f"reads  dataset.path: {uri}"


def _check_writable(path: Path, key: str | None = None) -> None:
    """Prove that the results folder can be created, before Ray runs anything: a temp folder
    is made (and removed) in its nearest existing parent. Checking permission bits would not
    do: root passes them, and a read-only mount or a file in the way fails anyway."""
    import tempfile

    parent = path.absolute()
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    try:
        if not parent.is_dir():
            raise NotADirectoryError(f"{parent} is a file")
        os.rmdir(tempfile.mkdtemp(dir=parent, prefix=".raytrain-write-check-"))
    except OSError as e:
        if key is not None:
            raise RaytrainError(
                f"{key}: {path}: cannot write there ({e.strerror or e}); point {key} at a "
                f"writable folder"
            ) from None
        raise RaytrainError(
            f"{path}: cannot write results there ({e.strerror or e}); set tune.storage_path "
            f"(or training.output_dir) to a writable folder"
        ) from None
