"""Decoded rows cached in the Ray object store, filled while the first epoch streams; and the
pass counter that gives every epoch its own (reproducible) augmentation.

Why not `Dataset.materialize()`: it decodes the whole split before the first batch comes out
(10 s for 4,096 images of 256x256 on 2 cores), so a trial's first step waited for all of it.
Here the first epoch streams shard by shard exactly like an uncached pipeline, and every decoded
chunk is also handed to a small actor that keeps it in the object store. Later epochs (and later
trials of the same search) find the shard there and skip the parquet read and the PNG decode;
only the augmentation runs again.

The actor owns the cached objects (it `ray.put`s them itself), so they live exactly as long as
the actor, and the actor lives as long as a Dataset that uses it: the handle is captured in the
Dataset's read function. Two tasks that decode the same shard at once both store it; the later
store wins and the earlier copy is freed.

Pass counting: a Ray Data pipeline cannot know which epoch it is serving, yet augmentation must
differ from epoch to epoch (else it is one fixed augmented copy of the data) and still be
reproducible. Every pass over a shard asks the actor for its pass number, which the augmentation
seeds from: pass 0 of a fresh pipeline always gets the same augmentation, pass 1 another.
Passes are counted per consumer: the trials of a search share one set of Datasets (and this
actor), and each counts its own passes (`raytrain.data.pipeline.scope_passes`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

Batch = dict[str, np.ndarray]


class DecodedCache:
    """A shard key -> the object refs of its decoded chunks, and its pass count (a Ray actor,
    no CPU)."""

    def __init__(self) -> None:
        self._chunks: dict[str, list[Any]] = {}
        self._passes: dict[str, int] = {}

    def next_pass(self, key: str) -> int:
        """How many times `key` was read before (0 on the first epoch)."""
        n = self._passes.get(key, 0)
        self._passes[key] = n + 1
        return n

    def lookup(self, key: str) -> list[list[Any]] | None:
        """The chunks' refs, wrapped in a list so that Ray hands back refs, not values."""
        refs = self._chunks.get(key)
        return [refs] if refs is not None else None

    def store(self, key: str, chunks: list[Batch]) -> None:
        import ray

        self._chunks[key] = [ray.put(c) for c in chunks]  # a replaced copy is freed


def new_cache() -> Any:
    """A fresh cache actor, owned by the caller (it goes away with the last Dataset using it)."""
    import ray

    return ray.remote(num_cpus=0)(DecodedCache).remote()


def cached_chunks(
    cache: Any,
    key: str,
    read: Callable[[], Iterator[Batch]],
) -> Iterator[Batch]:
    """The decoded chunks of one shard: from `cache` when there, else from `read()` — yielded
    one by one as they are decoded, then stored for the next epoch."""
    import ray

    hit = ray.get(cache.lookup.remote(key))
    if hit is not None:
        for ref in hit[0]:
            yield ray.get(ref)
        return
    chunks = []
    for chunk in read():
        chunks.append(chunk)
        yield chunk
    # Wait for the store: the chunks are this task's arguments to the actor, and the task's
    # worker must not drop them before the actor has its own copy.
    ray.get(cache.store.remote(key, chunks))
