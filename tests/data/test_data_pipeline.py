"""The Ray Data pipeline on a real local Ray: augmentation reproducibility, validation never
augmented, the object-store cache, bad rows that name their shard, and a dataset 4x the
object store streaming through a Ray Train epoch."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from raytrain.config.schema import SampleDataSection
from raytrain.data.checks import data_report
from raytrain.data.manifest import Manifest, read_manifest, sha256_file, write_manifest
from raytrain.data.pipeline import (
    RowPick,
    build_datasets,
    build_rank_datasets,
    decoded_bytes,
    scope_passes,
    should_cache,
)
from raytrain.data.preprocess import Preprocess
from raytrain.data.sample import ensure_sample_dataset
from raytrain.data.shards import image_schema, write_split
from raytrain.errors import RaytrainError

pytestmark = pytest.mark.usefixtures("ray_start_2_cpus")

TINY = SampleDataSection(num_train=40, num_val=12, num_test=4, image_size=24)


def _arrays(ds: Any) -> tuple[np.ndarray, np.ndarray]:
    batches = list(ds.iter_batches(batch_size=None, batch_format="numpy"))
    return np.concatenate([b["x"] for b in batches]), np.concatenate([b["y"] for b in batches])


def _decoded(folder: Path, split: str, column: str) -> np.ndarray:
    m = read_manifest(folder)
    out = []
    for sh in m.splits[split].shards:
        for buf in pq.read_table(folder / sh.path, columns=[column])[column].to_pylist():
            out.append(cv2.imdecode(np.frombuffer(buf, np.uint8), cv2.IMREAD_GRAYSCALE))
    return np.stack(out)[:, None]


def _build(folder: Path, seed: int = 3, cache: bool | str = "auto", **kw: Any) -> dict[str, Any]:
    return build_datasets(folder, "image", "image", "advanced", seed, cache=cache, **kw)


def test_same_seed_same_augmented_batch_and_validation_untouched(tmp_path: Path) -> None:
    folder = ensure_sample_dataset("edges", TINY, root=tmp_path)
    a, b, c = _build(folder), _build(folder), _build(folder, seed=4)
    xa, ya = _arrays(a["train"])
    xb, yb = _arrays(b["train"])
    xc, _ = _arrays(c["train"])
    np.testing.assert_array_equal(xa, xb)
    np.testing.assert_array_equal(ya, yb)
    assert not np.array_equal(xa, xc)  # another seed, another augmentation
    raw = _decoded(folder, "train", "image")
    assert xa.shape == raw.shape == (40, 1, 24, 24) and xa.dtype == np.uint8
    assert not np.array_equal(xa, raw)  # train is augmented
    # Validation data is never augmented: exactly the stored images and edge maps.
    xv, yv = _arrays(a["val"])
    np.testing.assert_array_equal(xv, _decoded(folder, "val", "image"))
    np.testing.assert_array_equal(yv, _decoded(folder, "val", "target"))


def test_cache_changes_nothing_but_where_the_bytes_live(tmp_path: Path) -> None:
    folder = ensure_sample_dataset("edges", TINY, root=tmp_path)
    p = Preprocess("image", "image", '"none"', 0)
    manifest = read_manifest(folder)
    assert decoded_bytes(manifest, "train", p) == 40 * 24 * 24 * 2
    assert should_cache("auto", manifest, "train", p)  # 46 KB fits in any store
    cached, streamed = _build(folder, cache=True), _build(folder, cache=False)
    for split in ("train", "val"):
        for got, want in zip(_arrays(cached[split]), _arrays(streamed[split]), strict=True):
            np.testing.assert_array_equal(got, want)


def test_row_pick_gives_every_rank_the_same_number_of_disjoint_rows() -> None:
    shards = [("a", 5), ("b", 3), ("c", 6)]  # 14 rows, global numbers 0-4, 5-7, 8-13
    picks = [RowPick.of(rank, 3, shards) for rank in range(3)]
    taken = [
        [
            start + int(i)
            for (path, start) in pick.starts
            for i in pick.take(path, dict(shards)[path])
        ]
        for pick in picks
    ]
    assert [len(t) for t in taken] == [4, 4, 4] == [p.rows for p in picks]
    assert taken[1] == [1, 4, 7, 10]  # rank 1: global rows 1, 1+3, ...; row 12 would be a 5th
    assert sorted(sum(taken, [])) == list(range(12))  # disjoint; rows 12 and 13 left out


@pytest.mark.parametrize("cache", [True, False])
def test_rank_datasets_split_the_rows_without_a_coordinator(tmp_path: Path, cache: bool) -> None:
    folder = ensure_sample_dataset("edges", TINY, root=tmp_path)
    ranks = build_rank_datasets(folder, "image", "image", "none", 0, world_size=3, cache=cache)
    for split, n in (("train", 40), ("val", 12)):
        parts = [_arrays(r[split])[0] for r in ranks]
        assert [len(p) for p in parts] == [n // 3] * 3
        raw = _decoded(folder, split, "image")
        got = sorted(x.tobytes() for p in parts for x in p)
        want = sorted(raw[i].tobytes() for i in range(n - n % 3))  # every rank's rows, once
        assert got == want
    with pytest.raises(ValueError, match="on_bad_data"):
        build_rank_datasets(folder, "image", "image", "none", 0, world_size=2, on_bad_data="skip")


def test_cached_epochs_after_the_first_never_read_the_shards_again(tmp_path: Path) -> None:
    folder = ensure_sample_dataset("edges", TINY, root=tmp_path)
    cached, streamed = _build(folder, cache=True), _build(folder, cache=False)
    first = {s: _arrays(cached[s]) for s in ("train", "val")}  # epoch 1 fills the cache
    for shard in folder.rglob("*.parquet"):
        shard.write_bytes(b"gone")  # nothing on disk to read from now
    second = {s: _arrays(cached[s]) for s in ("train", "val")}
    for got, want in zip(second["val"], first["val"], strict=True):
        np.testing.assert_array_equal(got, want)  # the same rows, from the object store
    assert second["train"][0].shape == first["train"][0].shape
    with pytest.raises(Exception, match="not a readable parquet file"):
        _arrays(streamed["train"])  # the streaming pipeline reads the shards every epoch


@pytest.mark.parametrize("cache", [True, False])
def test_each_epoch_has_its_own_augmentation_and_reruns_repeat_it(
    tmp_path: Path, cache: bool
) -> None:
    folder = ensure_sample_dataset("edges", TINY, root=tmp_path)
    a, b = _build(folder, cache=cache), _build(folder, cache=cache)
    a1, a2 = _arrays(a["train"])[0], _arrays(a["train"])[0]
    b1, b2 = _arrays(b["train"])[0], _arrays(b["train"])[0]
    assert not np.array_equal(a1, a2)  # epoch 2 is augmented afresh
    np.testing.assert_array_equal(a1, b1)  # ... and a rerun sees the same epochs
    np.testing.assert_array_equal(a2, b2)
    np.testing.assert_array_equal(_arrays(a["val"])[0], _arrays(a["val"])[0])  # val: never


@pytest.mark.parametrize("cache", [True, False])
def test_trials_sharing_a_searchs_datasets_each_get_the_epochs_of_a_lone_run(
    tmp_path: Path, cache: bool
) -> None:
    """A search builds its Datasets once; every trial gets its own copy (from the object store),
    and its augmentation must not depend on how many passes other trials made before it."""
    import ray

    folder = ensure_sample_dataset("edges", TINY, root=tmp_path)
    shared = _build(folder, cache=cache)
    alone = _build(folder, cache=cache)
    a = scope_passes(ray.get(ray.put(shared)), "trial_a")
    b = scope_passes(ray.get(ray.put(shared)), "trial_b")
    a1 = _arrays(a["train"])[0]
    b1, b2 = _arrays(b["train"])[0], _arrays(b["train"])[0]  # b starts after a's epoch 1
    a2 = _arrays(a["train"])[0]
    lone1, lone2 = _arrays(alone["train"])[0], _arrays(alone["train"])[0]
    for first, second in ((a1, a2), (b1, b2)):
        np.testing.assert_array_equal(first, lone1)
        np.testing.assert_array_equal(second, lone2)
    assert not np.array_equal(b1, b2)


def _forge_bad_row(folder: Path, row: int, image: bytes) -> tuple[Path, str]:
    """Replace one row's image and re-sign the shard, as a third-party tool might have."""
    m = read_manifest(folder)
    shard = m.splits["train"].shards[0]
    path = folder / shard.path
    table = pq.read_table(path)
    images = table["image"].to_pylist()
    images[row] = image
    table = table.set_column(table.schema.get_field_index("image"), "image", pa.array(images))
    pq.write_table(table, path)
    shard.sha256 = sha256_file(path)
    write_manifest(folder, m)
    return path, table["id"][row].as_py()


def test_bad_row_names_its_shard_or_is_skipped(tmp_path: Path) -> None:
    folder = ensure_sample_dataset("edges", TINY, root=tmp_path / "a")
    path, row_id = _forge_bad_row(folder, 5, b"\x89PNG broken")
    with pytest.raises(Exception, match=rf"{path}: row '{row_id}': image is not a readable image"):
        _arrays(_build(folder)["train"])
    x, _ = _arrays(_build(folder, on_bad_data="skip")["train"])
    assert len(x) == 39
    # the run summary counts the row the stream drops, with its reason and place
    report = data_report(folder, "skip")
    assert report["skipped_rows"] == 1
    assert report["reasons"] == {"unreadable image": 1}
    assert report["problems"][0]["path"] == f"{path} row '{row_id}'"
    assert data_report(folder, "error")["skipped_rows"] == 0  # error mode: the stream stops


def test_skip_report_counts_a_size_mismatch_only_when_nothing_resizes(tmp_path: Path) -> None:
    folder = ensure_sample_dataset("edges", TINY, root=tmp_path)
    _, _ = _forge_bad_row(folder, 2, cv2.imencode(".png", np.zeros((8, 8), np.uint8))[1].tobytes())
    assert data_report(folder, "skip")["reasons"] == {"size mismatch": 1}
    x, _ = _arrays(_build(folder, on_bad_data="skip")["train"])
    assert len(x) == 39  # the stream drops it too
    assert data_report(folder, "skip", image_size=16)["skipped_rows"] == 0  # both resized


def test_changed_shard_stops_before_streaming(tmp_path: Path) -> None:
    folder = ensure_sample_dataset("edges", TINY, root=tmp_path)
    shard = folder / read_manifest(folder).splits["val"].shards[0].path
    shard.write_bytes(shard.read_bytes()[:-64])
    with pytest.raises(RaytrainError, match=rf"{shard}: not a readable parquet file"):
        _build(folder)


# -- a dataset 4x the object store ----------------------------------------------------------------

BIG_SIZE = 512  # noise PNGs do not compress: ~260 KB per image on disk and decoded


def _big_dataset(root: Path, store_bytes: float) -> tuple[Path, int]:
    """Classification rows of incompressible noise, 4.2x the object store in total."""
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (BIG_SIZE, BIG_SIZE), dtype=np.uint8)
    n = int(4.2 * store_bytes / (BIG_SIZE * BIG_SIZE)) + 1

    def rows() -> Any:
        for i in range(n):
            img = np.roll(base, i * 7, axis=i % 2)  # every row different (no parquet dedup)
            img[0, :8] = np.frombuffer(i.to_bytes(8, "little"), np.uint8)
            ok, buf = cv2.imencode(".png", img, [cv2.IMWRITE_PNG_COMPRESSION, 0])
            assert ok
            yield {"id": f"r{i}", "image": buf.tobytes(), "target": i % 2}

    train = write_split(rows(), root, "train", image_schema("label"))
    val = write_split(list(rows())[:4], root, "val", image_schema("label"))
    info = {"in_channels": 1, "image_size": BIG_SIZE, "num_classes": 2}
    write_manifest(root, Manifest("classification", {"train": train, "val": val}, info, "test"))
    return root, n


@pytest.mark.slow
def test_dataset_four_times_the_object_store_streams_through_an_epoch(tmp_path: Path) -> None:
    import ray
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    store = ray.cluster_resources()["object_store_memory"]
    folder, n = _big_dataset(tmp_path / "big", store)
    on_disk = sum(f.stat().st_size for f in (folder / "train").iterdir())
    assert on_disk > 4 * store, (on_disk, store)
    p = Preprocess("image", "label", '"none"', 0)
    assert not should_cache("auto", read_manifest(folder), "train", p)  # streams, no cache
    datasets = build_datasets(folder, "image", "label", "basic", 0, splits=("train",))

    # Defined here, so Ray pickles it by value (workers cannot import test modules).
    def _count_rows_per_worker(config: dict[str, Any]) -> None:
        import ray.train
        import torch

        model = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3, stride=8), torch.nn.Flatten())
        head = torch.nn.LazyLinear(2)
        opt = torch.optim.SGD(list(model.parameters()), lr=0.01)
        rows = 0
        for batch in ray.train.get_dataset_shard("train").iter_torch_batches(batch_size=16):
            x = batch["x"].float() / 255.0
            loss = torch.nn.functional.cross_entropy(head(model(x)), batch["y"])
            opt.zero_grad()
            loss.backward()
            opt.step()
            rows += len(x)
        Path(config["out"]).write_text(str(rows))  # Train V2 keeps metrics with checkpoints only

    trainer = TorchTrainer(
        _count_rows_per_worker,
        scaling_config=ScalingConfig(num_workers=1, resources_per_worker={"CPU": 0.5}),
        train_loop_config={"out": str(tmp_path / "rows.txt")},
        run_config=RunConfig(name="big-epoch", storage_path=str(tmp_path / "runs")),
        datasets=datasets,
    )
    result = trainer.fit()
    assert result.error is None
    assert int((tmp_path / "rows.txt").read_text()) == n  # every row, once
    shutil.rmtree(folder)
