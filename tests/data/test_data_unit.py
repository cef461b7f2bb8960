"""Data without Ray: batch decoding and augmentation, sample data, raw folders, resource plans."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest
from unit_helpers import png_bytes, random_edges, random_gray

from raytrain.config.schema import ResourcesSection, SampleDataSection
from raytrain.data.folders import prepare_folders
from raytrain.data.manifest import MANIFEST, read_manifest, sha256_file
from raytrain.data.pipeline import DATA_TASK_CPUS
from raytrain.data.preprocess import Preprocess, preprocess_batch
from raytrain.data.sample import ensure_sample_dataset, sample_dataset_key
from raytrain.errors import RaytrainError
from raytrain.runtime.resources import TRIAL_DRIVER_CPUS, plan_resources

H, W = 16, 24  # not square, so a transposition or a wrong flip axis shows


def _edge_batch(
    n: int = 3, seed: int = 0
) -> tuple[dict[str, np.ndarray], list[np.ndarray], list[np.ndarray]]:
    images = [random_gray(H, W, seed + i) for i in range(n)]
    edges = [random_edges(H, W, seed + 100 + i) for i in range(n)]
    batch = {
        "id": np.array([f"row-{i}" for i in range(n)], dtype=object),
        "image": np.array([png_bytes(im) for im in images], dtype=object),
        "target": np.array([png_bytes(e) for e in edges], dtype=object),
    }
    return batch, images, edges


def _pre(
    augmentation: Any, target: str = "image", seed: int = 0, image_size: int | None = None
) -> Preprocess:
    return Preprocess(
        inputs="image",
        target=target,
        augmentation=json.dumps(augmentation),
        seed=seed,
        image_size=image_size,
    )


# -- preprocess_batch -------------------------------------------------------------------------


def test_validation_batch_is_decoded_unchanged() -> None:
    batch, images, edges = _edge_batch()
    out = preprocess_batch(batch, _pre("none"))
    assert out["x"].dtype == np.uint8 and out["x"].shape == (3, 1, H, W)
    assert out["y"].dtype == np.uint8 and out["y"].shape == (3, 1, H, W)
    for i in range(3):
        np.testing.assert_array_equal(out["x"][i, 0], images[i])
        np.testing.assert_array_equal(out["y"][i, 0], edges[i])


@pytest.mark.parametrize(
    ("name", "move"),
    [
        ("HorizontalFlip", np.fliplr),
        ("VerticalFlip", np.flipud),
        ("Transpose", np.transpose),
    ],
)
def test_geometric_augmentation_moves_edges_with_image(name: str, move: Any) -> None:
    batch, images, edges = _edge_batch()
    out = preprocess_batch(batch, _pre([{"name": name, "p": 1.0}]))
    for i in range(3):
        np.testing.assert_array_equal(out["x"][i, 0], move(images[i]))
        np.testing.assert_array_equal(out["y"][i, 0], move(edges[i]))


def test_rotation_keeps_edge_map_binary_and_aligned() -> None:
    batch, images, edges = _edge_batch()
    # Rotating a constant image with a 255 border would show interpolation; use the maps.
    batch["image"] = batch["target"].copy()
    out = preprocess_batch(batch, _pre([{"name": "Rotate", "limit": [30, 30], "p": 1.0}]))
    y = out["y"]
    assert set(np.unique(y)) <= {0, 255}  # nearest-neighbour for the mask
    assert not np.array_equal(y[0, 0], edges[0])  # it did rotate
    # Same geometry on both: where the mask is set, the (linear-interpolated) image is bright.
    assert out["x"][y == 255].mean() > 127


def test_photometric_augmentation_leaves_edges_alone() -> None:
    batch, images, edges = _edge_batch()
    spec = [
        {
            "name": "RandomBrightnessContrast",
            "brightness_limit": [0.3, 0.3],
            "contrast_limit": [0.0, 0.0],
            "p": 1.0,
        }
    ]
    out = preprocess_batch(batch, _pre(spec))
    assert not np.array_equal(out["x"][0, 0], images[0])
    for i in range(3):
        np.testing.assert_array_equal(out["y"][i, 0], edges[i])


def test_augmentation_is_reproducible_per_batch() -> None:
    batch, _, _ = _edge_batch(4)
    a = preprocess_batch(batch, _pre("advanced", seed=3))
    b = preprocess_batch(batch, _pre("advanced", seed=3))
    np.testing.assert_array_equal(a["x"], b["x"])
    np.testing.assert_array_equal(a["y"], b["y"])


def test_resize_to_image_size() -> None:
    batch, _, _ = _edge_batch()
    out = preprocess_batch(batch, _pre("none", image_size=32))
    assert out["x"].shape == (3, 1, 32, 32) and out["y"].shape == (3, 1, 32, 32)
    assert set(np.unique(out["y"])) <= {0, 255}  # nearest for the target


def test_label_targets() -> None:
    batch, images, _ = _edge_batch()
    batch["target"] = np.array([2, 0, 1], dtype=np.int64)
    out = preprocess_batch(batch, _pre("none", target="label"))
    assert out["y"].dtype == np.int64 and out["y"].tolist() == [2, 0, 1]
    np.testing.assert_array_equal(out["x"][1, 0], images[1])


def test_vector_rows() -> None:
    batch = {
        "id": np.array(["a", "b"], dtype=object),
        "features": np.array([np.arange(4.0), np.ones(4)], dtype=object),
        "target": np.array([1.5, 2.5]),
    }
    p = Preprocess(inputs="vector", target="value", augmentation='"none"', seed=0)
    out = preprocess_batch(batch, p)
    assert out["x"].dtype == np.float32 and out["x"].shape == (2, 4)
    assert out["y"].dtype == np.float32 and out["y"].tolist() == [1.5, 2.5]


def test_unreadable_png_names_the_row() -> None:
    batch, _, _ = _edge_batch()
    batch["image"][1] = b"\x89PNG not really"
    with pytest.raises(ValueError, match="row 'row-1': image is not a readable image"):
        preprocess_batch(batch, _pre("none"))


def test_unreadable_target_names_the_row() -> None:
    batch, _, _ = _edge_batch()
    batch["target"][2] = b"garbage"
    with pytest.raises(ValueError, match="row 'row-2': target"):
        preprocess_batch(batch, _pre("none"))


def test_empty_png_names_the_row() -> None:
    batch, _, _ = _edge_batch()
    batch["image"][0] = b""
    with pytest.raises(ValueError, match="row 'row-0'"):
        preprocess_batch(batch, _pre("none"))


def test_size_mismatch_names_the_row() -> None:
    batch, _, _ = _edge_batch()
    batch["target"][1] = png_bytes(random_edges(H + 2, W, 9))
    with pytest.raises(ValueError, match="row 'row-1': image .* and target .* differ"):
        preprocess_batch(batch, _pre("none"))


# -- sample data --------------------------------------------------------------------------------

TINY = SampleDataSection(
    num_train=8, num_val=4, num_test=4, image_size=16, num_classes=3, num_coefficients=4
)


def _check_manifest(folder: Path, task: str, sizes: SampleDataSection) -> None:
    m = read_manifest(folder)
    assert m.task == task
    want = {"train": sizes.num_train, "val": sizes.num_val, "test": sizes.num_test}
    assert {k: s.count for k, s in m.splits.items()} == want
    for split in m.splits.values():
        assert sum(sh.rows for sh in split.shards) == split.count
        for sh in split.shards:
            assert sha256_file(folder / sh.path) == sh.sha256
            assert pq.read_metadata(folder / sh.path).num_rows == sh.rows


@pytest.mark.parametrize("task", ["edges", "classification", "regression", "anomaly"])
def test_sample_dataset(task: str, tmp_path: Path) -> None:
    folder = ensure_sample_dataset(task, TINY, root=tmp_path)
    assert folder == tmp_path / sample_dataset_key(task, TINY)
    _check_manifest(folder, task, TINY)
    info = read_manifest(folder).data_info()
    if task in ("edges", "classification"):
        assert info.image_size == 16 and info.in_channels == 1
        table = pq.read_table(folder / read_manifest(folder).splits["train"].shards[0].path)
        img = cv2.imdecode(np.frombuffer(table["image"][0].as_py(), np.uint8), cv2.IMREAD_GRAYSCALE)
        assert img.shape == (16, 16)
    if task == "classification":
        assert info.num_classes == 3
    if task == "regression":
        assert info.feature_dim == 5 and info.extra["target_std"] > 0
    if task == "anomaly":
        assert info.feature_dim == 8
    # Nothing but the dataset folder is left in the root (no temp folders).
    assert [p.name for p in tmp_path.iterdir()] == [folder.name]


def test_sample_dataset_is_reused_and_deterministic(tmp_path: Path) -> None:
    first = ensure_sample_dataset("edges", TINY, root=tmp_path / "a")
    stamp = (first / MANIFEST).stat().st_mtime_ns
    again = ensure_sample_dataset("edges", TINY, root=tmp_path / "a")
    assert again == first and (first / MANIFEST).stat().st_mtime_ns == stamp
    # Built again elsewhere from the same settings: the very same bytes.
    other = ensure_sample_dataset("edges", TINY, root=tmp_path / "b")
    assert other.name == first.name

    def shards(folder: Path) -> dict[str, str]:
        return {s.path: s.sha256 for sp in read_manifest(folder).splits.values() for s in sp.shards}

    assert shards(other) == shards(first)


def test_sample_dataset_key_depends_on_settings() -> None:
    changed = TINY.model_copy(update={"seed": 1})
    assert sample_dataset_key("edges", TINY) == sample_dataset_key("edges", TINY.model_copy())
    assert sample_dataset_key("edges", TINY) != sample_dataset_key("edges", changed)
    assert sample_dataset_key("edges", TINY) != sample_dataset_key("anomaly", TINY)


# -- raw folders --------------------------------------------------------------------------------


def _edge_folder(root: Path, names: list[str], size: int = 16, seed: int = 0) -> Path:
    for sub in ("images", "edges"):
        (root / sub).mkdir(parents=True)
    for i, name in enumerate(names):
        assert cv2.imwrite(str(root / "images" / f"{name}.png"), random_gray(size, size, seed + i))
        assert cv2.imwrite(
            str(root / "edges" / f"{name}.png"), random_edges(size, size, seed + 50 + i)
        )
    return root


def test_prepare_edge_folders(tmp_path: Path) -> None:
    train = _edge_folder(tmp_path / "raw" / "train", ["a", "b", "c"])
    val = _edge_folder(tmp_path / "raw" / "val", ["d", "e"], seed=10)
    folder = prepare_folders("edges", str(train), str(val), root=tmp_path / "cache")
    m = read_manifest(folder)
    assert m.task == "edges"
    assert {k: s.count for k, s in m.splits.items()} == {"train": 3, "val": 2}
    assert m.info["image_size"] == 16
    table = pq.read_table(folder / m.splits["train"].shards[0].path)
    assert table["id"].to_pylist() == ["a", "b", "c"]
    edge = cv2.imdecode(np.frombuffer(table["target"][1].as_py(), np.uint8), cv2.IMREAD_GRAYSCALE)
    np.testing.assert_array_equal(edge, random_edges(16, 16, 51))
    # Prepared once: the same folders give the same prepared copy.
    assert prepare_folders("edges", str(train), str(val), root=tmp_path / "cache") == folder


def test_missing_edge_map_names_the_file(tmp_path: Path) -> None:
    train = _edge_folder(tmp_path / "train", ["a", "b"])
    (train / "edges" / "b.png").unlink()
    with pytest.raises(RaytrainError, match=r"images/b\.png: no edge map for it in .*edges"):
        prepare_folders("edges", str(train), None, root=tmp_path / "cache")


def test_edge_map_of_other_size_names_the_file(tmp_path: Path) -> None:
    train = _edge_folder(tmp_path / "train", ["a"])
    cv2.imwrite(str(train / "edges" / "a.png"), random_edges(8, 8, 0))
    with pytest.raises(RaytrainError, match=r"a\.png: size .* differs"):
        prepare_folders("edges", str(train), None, root=tmp_path / "cache")


def test_missing_split_folder(tmp_path: Path) -> None:
    with pytest.raises(RaytrainError, match=r"dataset\.train_path: .*does not exist"):
        prepare_folders("edges", str(tmp_path / "nope"), None, root=tmp_path / "cache")


# -- resource arithmetic ------------------------------------------------------------------------


def test_plan_one_worker_on_two_cpus() -> None:
    plan = plan_resources(ResourcesSection(num_workers=1), 2, 0, num_trials=4)
    data_cpus = 0.5  # a quarter of the cluster, at least one data task, at most 1 CPU
    assert plan.data_cpus == pytest.approx(data_cpus)
    assert plan.cpus_per_worker == pytest.approx(1.0)  # capped at one CPU
    assert plan.cpus_per_trial == pytest.approx(1.0)  # the trial is the worker: no driver
    assert plan.max_concurrent_trials == 1
    assert plan.cpus_per_trial + plan.data_cpus <= 2
    assert not plan.use_gpu and plan.gpus_per_worker == 0.0


def test_plan_two_workers_on_two_cpus() -> None:
    plan = plan_resources(ResourcesSection(num_workers=2), 2, 0, num_trials=4)
    usable = 2 - 0.5 - TRIAL_DRIVER_CPUS
    assert plan.cpus_per_worker == pytest.approx(np.floor(usable / 2 * 100) / 100)  # 0.74
    assert plan.cpus_per_trial == pytest.approx(2 * 0.74 + TRIAL_DRIVER_CPUS)
    assert plan.max_concurrent_trials == 1
    assert plan.cpus_per_trial + plan.data_cpus <= 2 + 1e-9


def test_plan_small_workers_run_trials_side_by_side() -> None:
    res = ResourcesSection(num_workers=2, cpus_per_worker=0.25)
    # (2 - 0.5) // (2 * 0.25 + 0.01) = 2 trials fit
    assert plan_resources(res, 2, 0, num_trials=8).max_concurrent_trials == 2
    assert plan_resources(res, 2, 0, num_trials=1).max_concurrent_trials == 1
    capped = ResourcesSection(num_workers=1, cpus_per_worker=0.25, max_concurrent_trials=3)
    assert plan_resources(capped, 2, 0, num_trials=8).max_concurrent_trials == 3


def test_plan_gpus() -> None:
    res = ResourcesSection(num_workers=2, use_gpu=True, gpus_per_worker=0.5)
    plan = plan_resources(res, 16, 2, num_trials=8)
    assert plan.gpus_per_worker == 0.5 and plan.max_concurrent_trials == 2


@pytest.mark.parametrize(
    ("res", "cpus", "gpus"),
    [
        (ResourcesSection(num_workers=4, cpus_per_worker=1.0), 2, 0),
        (ResourcesSection(num_workers=1, use_gpu=True), 2, 0),
        (ResourcesSection(num_workers=1), DATA_TASK_CPUS, 0),
    ],
)
def test_impossible_plan_is_an_error(res: ResourcesSection, cpus: float, gpus: float) -> None:
    with pytest.raises(RaytrainError, match=r"^resources: "):
        plan_resources(res, cpus, gpus)


def test_too_many_workers_is_an_error() -> None:
    with pytest.raises(RaytrainError, match="resources"):
        plan_resources(ResourcesSection(num_workers=150), 2, 0)
