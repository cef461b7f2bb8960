"""The Ray Data pipeline: parquet shards -> decode (+ cache) -> augment -> each worker's shard.

One Ray Data task per shard reads, decodes and augments it, yielding MAP_BATCH_SIZE rows at a
time, in parallel with training (at most one task per cluster CPU: the work is CPU-bound). DDP
workers each get their own rows (`build_rank_datasets`: rank r of W reads global rows r, r+W,
r+2W, ... and decodes only those; every rank gets exactly N // W rows, known from the manifest),
so no split coordinator sits between the data and the workers; Ray Train's `streaming_split` is
the fallback where row counts are not known in advance. Images travel as uint8 (4x fewer bytes
than float32 through the object store); the train loop converts them to float on the worker.
Data tasks ask for a fraction of a CPU so that they always fit next to the training workers
(see `raytrain.runtime.resources`).

Caching (`dataset.cache_dataset`): when the decoded split fits in a fraction of the object
store, the first epoch streams as usual and keeps every decoded chunk in the object store
(`raytrain.data.cache`); later epochs and later trials only augment. The first batch waits for
one shard, never for the whole split. (A small split that is never augmented, validation say,
is just decoded up front: that takes well under a second.) When it does not fit, every epoch
streams: read, decode and augment in one task per shard, with Ray Data's backpressure keeping
the object store bounded (a dataset 4x the store streams through).

Bad data: shards are checked against the manifest before anything streams
(`checks.usable_shards`); a row that cannot be decoded names its shard file and row. With
`on_bad_data: skip` bad shards and rows are left out and counted in the data report.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from raytrain.data import fs
from raytrain.data.cache import cached_chunks, new_cache
from raytrain.data.checks import read_checked_manifest, usable_shards
from raytrain.data.manifest import Manifest
from raytrain.data.preprocess import Preprocess, augment_batch, augmenter, decode_batch

log = logging.getLogger(__name__)

#: CPUs each Ray Data read/map task asks for. Small, so data tasks fit beside the workers.
DATA_TASK_CPUS = 0.25
#: Rows decoded and augmented at a time within a shard's task (numpy batches of this size).
MAP_BATCH_SIZE = 128

#: The `DataContext` setting under which the consumer of shared Datasets (a Tune trial) names
#: itself, so that augmentation passes are counted per consumer (`scope_passes`).
PASS_SCOPE = "raytrain.pass_scope"
#: Decoded splits up to this fraction of the object store are cached there ("auto").
CACHE_FRACTION = 0.25
#: A cached split that is never augmented and decodes to at most this many bytes is decoded up
#: front (`materialize`: well under a second) instead of during the first epoch, so no epoch
#: runs a task for it. Bigger or augmented splits fill the cache while epoch 1 streams.
EAGER_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True)
class RowPick:
    """The rows of one split that one DDP rank reads.

    Rank r of `world` takes global rows r, r + world, r + 2 world, ... below
    `world * (total // world)`: every rank gets exactly `total // world` rows (DDP needs the
    same number of steps on every worker), disjoint, and the union is the split minus at most
    `world - 1` rows. Global row numbers come from the manifest's per-shard row counts.
    """

    rank: int
    world: int
    starts: tuple[tuple[str, int], ...]  # (shard path, global number of its first row)
    total: int

    @classmethod
    def of(cls, rank: int, world: int, shard_rows: list[tuple[str, int]]) -> RowPick:
        starts, at = [], 0
        for path, rows in shard_rows:
            starts.append((path, at))
            at += rows
        return cls(rank, world, tuple(starts), at)

    @property
    def rows(self) -> int:
        """Rows this rank reads."""
        return self.total // self.world

    def take(self, path: str, num_rows: int) -> np.ndarray:
        """Indices (within the shard at `path`) of this rank's rows."""
        idx = np.arange(num_rows) + dict(self.starts)[path]
        keep = (idx % self.world == self.rank) & (idx < self.world * self.rows)
        return np.nonzero(keep)[0]

    @property
    def key(self) -> str:
        return f"{self.rank}/{self.world}"


def _read_table(path: str, pick: RowPick | None = None) -> Any:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:  # a shard in a bucket is read through the file system this task's node builds
        where, filesystem = fs.arrow_args(path)
        t = pq.read_table(where, filesystem=filesystem)
    except Exception as e:  # truncated or damaged after the pre-run check
        raise ValueError(f"{path}: not a readable parquet file ({e})") from None
    if pick is not None:  # this rank's rows only: nobody decodes a row another rank trains on
        t = t.take(pa.array(pick.take(path, t.num_rows)))
    # the file each row came from, so a bad row's error names it
    return t.append_column("shard", pa.array([path] * t.num_rows, pa.string()))


def _read_shard_batch(batch: Any, pick: RowPick | None = None) -> Any:
    import pyarrow as pa

    return pa.concat_tables([_read_table(path, pick) for path in batch["path"].to_pylist()])


def _decode_shard(
    path: str, p: Preprocess, keep_ids: bool, pick: RowPick | None = None, n_pass: int = 0
) -> Iterator[dict[str, np.ndarray]]:
    """One shard's rows (this rank's), decoded MAP_BATCH_SIZE rows at a time (each row tagged
    with the pass over the shard, `n_pass`, when its ids are kept for augmentation)."""
    table = _read_table(path, pick)
    for start in range(0, table.num_rows, MAP_BATCH_SIZE):
        rows = table.slice(start, MAP_BATCH_SIZE)
        batch = {c: rows.column(c).to_numpy(zero_copy_only=False) for c in rows.column_names}
        if keep_ids:
            batch["pass"] = np.full(rows.num_rows, n_pass, np.int64)
        out = decode_batch(batch, p, keep_ids)
        if len(out["x"]):
            yield out


def _stream_shards(
    batch: dict[str, np.ndarray], p: Preprocess, counter: Any = None, pick: RowPick | None = None
) -> Iterator[dict[str, np.ndarray]]:
    """Shard paths -> decoded, augmented chunks, every epoch (the uncached pipeline). With a
    `counter` (`raytrain.data.cache`), each pass over a shard gets its own augmentation."""
    import ray

    for path in (str(x) for x in batch["path"]):
        key = f"{path}|{pick.key if pick else ''}"
        n = ray.get(counter.next_pass.remote(_pass_key(key))) if counter is not None else 0
        for chunk in _decode_shard(path, p, counter is not None, pick, n):
            yield augment_batch(chunk, p)


def _read_decoded_cached(
    batch: dict[str, np.ndarray],
    p: Preprocess,
    keep_ids: bool,
    cache: Any,
    pick: RowPick | None = None,
) -> Iterator[dict[str, np.ndarray]]:
    """Shard paths -> decoded chunks, from the object-store cache after the first pass,
    augmented here when `keep_ids` (the augmentation is seeded by the chunk's row ids and
    the pass number, so it is the same whether the chunk came from the cache or the shard)."""
    import ray

    for path in (str(x) for x in batch["path"]):
        key = f"{path}|{p.inputs}|{p.target}|{p.image_size}|{p.on_bad_data}|{keep_ids}"
        key += f"|{pick.key}" if pick else ""
        n = ray.get(cache.next_pass.remote(_pass_key(key))) if keep_ids else 0
        read = functools.partial(_decode_shard, path, p, keep_ids, pick)
        for chunk in cached_chunks(cache, key, read):
            if keep_ids:
                yield augment_batch({**chunk, "pass": np.full(len(chunk["x"]), n, np.int64)}, p)
            else:
                yield chunk


def _pass_key(key: str) -> str:
    """The pass counter's key of a shard for the consumer running this task (`scope_passes`)."""
    from ray.data import DataContext

    return f"{DataContext.get_current().get_config(PASS_SCOPE, '')}|{key}"


def scope_passes(datasets: Any, scope: str) -> Any:
    """Count the augmentation passes of `datasets` (a dict of splits, or one per rank) under
    `scope`, and return them.

    Why: a search builds its Datasets once and every trial reads them, while each pass over a
    shard takes the next pass number from one counter. Unscoped, a trial's first epoch would
    get pass 3 when two trials read the shard before it: its augmentation would depend on
    what other trials did, and rerunning its config would not repeat it. Each trial gets its
    own copy of the Datasets (deserialized from the object store), so setting the scope in the
    copy's `DataContext` (which Ray Data hands to every task of that copy) counts passes per
    trial, while decoded rows stay shared.
    """
    for split in datasets if isinstance(datasets, list) else [datasets]:
        for ds in split.values():
            ds.context.set_config(PASS_SCOPE, scope)
    return datasets


def read_shards(paths: list[str], pick: RowPick | None = None) -> Any:
    """A Ray Dataset of the raw rows of parquet shard files, one read task per shard (with a
    `pick`, only that rank's rows).

    Not `ray.data.read_parquet`: in Ray 2.60 its file-listing task always asks for a whole CPU,
    which never fits beside training workers on a small machine, and the search hangs. Reading
    a known list of shards needs no listing, and every task here asks for DATA_TASK_CPUS.
    """
    read = functools.partial(_read_shard_batch, pick=pick)
    return _paths(paths).map_batches(
        read, batch_size=1, batch_format="pyarrow", num_cpus=DATA_TASK_CPUS
    )


def _paths(paths: list[str]) -> Any:
    """A Dataset of shard paths, one block (so one read task) per shard."""
    import ray.data

    return ray.data.from_items([{"path": p} for p in paths], override_num_blocks=max(1, len(paths)))


def _cpus() -> int:
    """CPUs of the cluster (1 before Ray is up)."""
    import ray

    return max(1, int(ray.cluster_resources().get("CPU", 1))) if ray.is_initialized() else 1


def _object_store_bytes() -> float:
    import ray

    if not ray.is_initialized():  # no cluster yet: nothing to cache into
        return 0.0
    return float(ray.cluster_resources().get("object_store_memory", 0.0))


def decoded_bytes(manifest: Manifest, split: str, p: Preprocess) -> int | None:
    """Bytes of a split once decoded (uint8 images, plus edge maps), or None if unknown."""
    count = manifest.splits[split].count
    if p.inputs == "vector":
        return count * 4 * (int(manifest.info.get("feature_dim") or 1) + 1)
    size = p.image_size or manifest.info.get("image_size")
    if not size:
        return None
    return count * size * size * (2 if p.target == "image" else 1)


def _small(manifest: Manifest, split: str, p: Preprocess) -> bool:
    need = decoded_bytes(manifest, split, p)
    return need is not None and need <= EAGER_BYTES


def should_cache(cache: bool | str, manifest: Manifest, split: str, p: Preprocess) -> bool:
    if cache is True or cache is False:
        return cache
    need = decoded_bytes(manifest, split, p)
    return need is not None and need <= CACHE_FRACTION * _object_store_bytes()


def build_datasets(
    data_dir: str | Path,
    task_inputs: str,
    target: str,
    augmentation: Any,
    seed: int,
    image_size: int | None = None,
    splits: tuple[str, ...] = ("train", "val"),
    *,
    on_bad_data: str = "error",
    cache: bool | str = "auto",
    read_tasks: int = 0,
) -> dict[str, Any]:
    """Ray Datasets for the given splits (all their rows); only 'train' is augmented.

    Build once per experiment and hand the same datasets to every trial: with caching, the
    decoded rows live in the object store for as long as the caller holds the datasets.
    """
    args = (task_inputs, target, augmentation, seed, image_size, splits, on_bad_data, cache)
    return _build(data_dir, *args, world=1, read_tasks=read_tasks)[0]


def build_rank_datasets(
    data_dir: str | Path,
    task_inputs: str,
    target: str,
    augmentation: Any,
    seed: int,
    image_size: int | None = None,
    splits: tuple[str, ...] = ("train", "val"),
    *,
    world_size: int,
    on_bad_data: str = "error",
    cache: bool | str = "auto",
    read_tasks: int = 0,
) -> list[dict[str, Any]]:
    """One dict of Ray Datasets per DDP rank: rank r reads only its own rows (`RowPick`).

    What Ray Train's `get_dataset_shard` gives a worker, without its DatasetManager and one
    `streaming_split` coordinator actor per dataset (measured: 3-4 s of every 2-worker trial's
    start). Needs row counts known before the run, so not for `on_bad_data: skip` (a row that
    fails to decode mid-epoch would leave the ranks unequal): use `build_datasets` there.
    """
    if on_bad_data == "skip":
        raise ValueError("per-rank datasets need on_bad_data: error (row counts must be known)")
    args = (task_inputs, target, augmentation, seed, image_size, splits, on_bad_data, cache)
    return _build(data_dir, *args, world=world_size, read_tasks=read_tasks)


def _build(
    data_dir: str | Path,
    task_inputs: str,
    target: str,
    augmentation: Any,
    seed: int,
    image_size: int | None,
    splits: tuple[str, ...],
    on_bad_data: str,
    cache: bool | str,
    *,
    world: int,
    read_tasks: int = 0,
) -> list[dict[str, Any]]:
    manifest: Manifest = read_checked_manifest(data_dir)
    shards, _ = usable_shards(data_dir, splits, on_bad_data)
    aug = augmentation.model_dump() if hasattr(augmentation, "model_dump") else augmentation
    if isinstance(aug, list):
        aug = [a.model_dump() if hasattr(a, "model_dump") else a for a in aug]
    out: list[dict[str, Any]] = [{} for _ in range(world)]
    builder = _SplitBuilder(read_tasks)
    for split in splits:
        p = Preprocess(
            inputs=task_inputs,
            target=target,
            augmentation=json.dumps(aug if split == "train" else "none"),
            seed=seed,
            image_size=image_size,
            on_bad_data=on_bad_data,
        )
        cached = should_cache(cache, manifest, split, p)
        small = _small(manifest, split, p)
        rows = {str(fs.join(data_dir, s.path)): s.rows for s in manifest.splits[split].shards}
        shard_rows = [(path, rows[path]) for path in shards[split]]
        for rank in range(world):
            pick = RowPick.of(rank, world, shard_rows) if world > 1 else None
            out[rank][split] = builder.dataset(shards[split], p, cached, small, pick)
    return out


class _SplitBuilder:
    """Builds one split's dataset; holds the one cache actor of a build (it lives as long as
    the datasets that use it)."""

    def __init__(self, read_tasks: int = 0) -> None:
        self.cache_actor: Any = None
        #: `dataset.num_workers`: most read/decode tasks at once per split (0: one per CPU)
        self.read_tasks = read_tasks

    def _cache(self) -> Any:
        self.cache_actor = self.cache_actor or new_cache()
        return self.cache_actor

    def dataset(
        self, paths: list[str], p: Preprocess, cached: bool, small: bool, pick: RowPick | None
    ) -> Any:
        import ray.data

        # Every operator here asks for DATA_TASK_CPUS: a Ray Data operator with the default
        # 1 CPU (drop_columns, say) never runs beside training on 2 CPUs.
        map_args: dict[str, Any] = {
            "batch_size": MAP_BATCH_SIZE,
            "batch_format": "numpy",
            "num_cpus": DATA_TASK_CPUS,
        }
        augmented = augmenter(p.augmentation, p.seed, p.target) is not None
        if cached and not augmented and small:
            # Small and never augmented (validation, or no augmentation at all): decoded up
            # front in well under a second, then served from memory with no task per epoch.
            decode = functools.partial(decode_batch, p=p, keep_ids=False)
            return read_shards(paths, pick=pick).map_batches(decode, **map_args).materialize()
        # One task per shard reads, decodes and augments it: one operator, so Ray Data cannot
        # fuse a second one into it and bundle several shards per task to fill that one's
        # batches (measured: 4 shards, 1,024 rows, decoded before the first batch came out).
        # At most one task per cluster CPU (`_cpus`, when the datasets are built; each of W
        # ranks gets 1/W of them): the work is CPU-bound, and Ray Data's default (one per
        # DATA_TASK_CPUS, 8 on 2 cores) only starts more worker processes, whose start-up
        # delayed the first batch by 4 s and slowed every epoch (idle workers past one per
        # CPU are stopped and restarted the next epoch).
        cap = -(-_cpus() // (pick.world if pick else 1))
        if self.read_tasks:
            cap = min(cap, self.read_tasks)
        if cached:
            fn = functools.partial(
                _read_decoded_cached, p=p, keep_ids=augmented, cache=self._cache(), pick=pick
            )
        else:  # streamed every epoch; the actor only counts passes (seeds each epoch's aug.)
            fn = functools.partial(
                _stream_shards, p=p, counter=self._cache() if augmented else None, pick=pick
            )
        return _paths(paths).map_batches(
            fn,
            batch_size=1,
            batch_format="numpy",
            num_cpus=DATA_TASK_CPUS,
            compute=ray.data.TaskPoolStrategy(size=max(1, min(cap, len(paths)))),
        )
