"""Augmented-image throughput: raytrain's Ray Data pipeline vs the seed's torch DataLoader.

One run, the same images, the same augmentation (flips, rotation, brightness/contrast, blur),
the same batch size and the same cores. The two pipelines run interleaved (A B A B ...) so
that load from other processes hits both alike.

A  raytrain: `build_datasets` on a prepared dataset (parquet shards, decoded once into the
   object store when it fits, augmented by Ray Data tasks every epoch), consumed with
   `iter_torch_batches` and converted to float on the consumer, as the train loop does.
B  the seed's way: a torch `Dataset` over the PNG files, albumentations
   in `__getitem__`, `DataLoader(num_workers=2, shuffle=True)`, floats made in the workers.

Printed per round and pipeline: first-batch seconds (from building the pipeline), steady-state
images/s (epochs after the first) and the ratio A/B. Usage:
    python bench/data_pipeline.py [--images 4096] [--size 256] [--epochs 3] [--rounds 2]
    python bench/data_pipeline.py --quick     # a smoke run (256 images, 64x64)
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

BATCH = 32
AUGMENTATION = [
    {"name": "HorizontalFlip", "p": 0.5},
    {"name": "VerticalFlip", "p": 0.3},
    {"name": "Rotate", "limit": 30, "p": 0.5},
    {"name": "RandomBrightnessContrast", "p": 0.5},
    {"name": "GaussianBlur", "blur_limit": [3, 7], "p": 0.3},
]


def make_images(root: Path, n: int, size: int) -> Path:
    """The anchor's images: random discs plus noise; Canny edge maps. Seed layout train/ val/."""
    rng = np.random.default_rng(0)
    for split, count in (("train", n), ("val", max(8, n // 16))):
        for sub in ("images", "edges"):
            (root / split / sub).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            img = np.zeros((size, size), np.uint8)
            for _ in range(6):
                c = tuple(int(v) for v in rng.integers(0, size, 2))
                r = int(rng.integers(size // 25, size // 4))
                cv2.circle(img, c, r, int(rng.integers(50, 255)), -1)
            img = cv2.add(img, rng.integers(0, 30, img.shape, dtype=np.uint8))
            cv2.imwrite(str(root / split / "images" / f"{i:05d}.png"), img)
            cv2.imwrite(str(root / split / "edges" / f"{i:05d}.png"), cv2.Canny(img, 50, 150))
    return root


def run_raytrain(data_dir: Path, epochs: int, cache: bool | str) -> tuple[float, float]:
    """(first-batch seconds from building the pipeline, steady images/s)."""
    from raytrain.data.pipeline import build_datasets

    t0 = time.perf_counter()
    ds = build_datasets(
        data_dir, "image", "image", AUGMENTATION, seed=0, splits=("train",), cache=cache
    )
    train = ds["train"]
    first, rates = None, []
    for epoch in range(epochs):
        t, n = time.perf_counter(), 0
        for batch in train.iter_torch_batches(batch_size=BATCH, drop_last=True):
            x = batch["x"].float() / 255.0  # what the train loop does on the worker
            y = batch["y"].float() / 255.0
            n += len(x) + 0 * len(y)
            if first is None:
                first = time.perf_counter() - t0
        if epoch > 0:
            rates.append(n / (time.perf_counter() - t))
    return float(first or 0.0), statistics.mean(rates)


def run_dataloader(folder: Path, epochs: int) -> tuple[float, float]:
    import torch
    from torch.utils.data import DataLoader, Dataset

    from raytrain.data.augment import build_augmentation

    aug = build_augmentation(AUGMENTATION, seed=0)

    class EdgeDataset(Dataset):  # the seed's EdgeDetectionDataset
        def __init__(self) -> None:
            self.files = sorted((folder / "images").glob("*.png"))

        def __len__(self) -> int:
            return len(self.files)

        def __getitem__(self, i: int) -> tuple[Any, Any]:
            f = self.files[i]
            img = cv2.imread(str(f), cv2.IMREAD_GRAYSCALE)
            edge = cv2.imread(str(folder / "edges" / f.name), cv2.IMREAD_GRAYSCALE)
            out = aug(image=img, mask=edge)
            x = torch.from_numpy(out["image"]).float().div(255)[None]
            return x, torch.from_numpy(out["mask"]).float().div(255)[None]

    t0 = time.perf_counter()
    loader = DataLoader(
        EdgeDataset(), batch_size=BATCH, num_workers=2, shuffle=True, drop_last=True
    )
    first, rates = None, []
    for epoch in range(epochs):
        t, n = time.perf_counter(), 0
        for x, _ in loader:
            n += len(x)
            if first is None:
                first = time.perf_counter() - t0
        if epoch > 0:
            rates.append(n / (time.perf_counter() - t))
    return float(first or 0.0), statistics.mean(rates)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=int, default=4096)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--epochs", type=int, default=3, help="per round; the first is warm-up")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument(
        "--cache",
        choices=["auto", "false"],
        default="auto",
        help="raytrain's dataset.cache_dataset (false: stream and decode every epoch)",
    )
    args = ap.parse_args()
    if args.quick:
        args.images, args.size, args.epochs, args.rounds = 256, 64, 2, 1

    import ray
    import torch

    from raytrain.data.folders import prepare_folders

    torch.set_num_threads(1)
    work = Path(tempfile.mkdtemp(prefix="raytrain-bench-data-"))
    os.environ.setdefault("RAYTRAIN_DATA_DIR", str(work / "cache"))
    t = time.perf_counter()
    raw = make_images(work / "raw", args.images, args.size)
    data_dir = prepare_folders("edges", raw / "train", raw / "val", out=work / "prepared")
    print(
        f"{args.images} images {args.size}x{args.size}, batch {BATCH}, {os.cpu_count()} cores, "
        f"load average {os.getloadavg()[0]:.1f}; prepared in {time.perf_counter() - t:.0f} s",
        flush=True,
    )
    ray.init(address="local", num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    # Warm the worker pool, as a running experiment has it: a one-image pipeline, untimed.
    ray.data.range(2).map_batches(lambda b: b, num_cpus=0.25).materialize()
    cache: bool | str = False if args.cache == "false" else "auto"
    results: dict[str, list[tuple[float, float]]] = {"raytrain": [], "dataloader": []}
    for r in range(args.rounds):
        for name in ("raytrain", "dataloader"):
            res = (
                run_raytrain(data_dir, args.epochs, cache)
                if name == "raytrain"
                else run_dataloader(raw / "train", args.epochs)
            )
            results[name].append(res)
            print(
                f"round {r + 1} {name:10s} first batch {res[0]:5.2f} s  steady {res[1]:6.0f} img/s"
                f"  (load {os.getloadavg()[0]:.1f})",
                flush=True,
            )
    ray.shutdown()
    a = statistics.median(v[1] for v in results["raytrain"])
    b = statistics.median(v[1] for v in results["dataloader"])
    print(f"raytrain_img_per_s {a:.0f}")
    print(f"dataloader_img_per_s {b:.0f}")
    print(f"ratio {a / b:.2f}")
    print(f"raytrain_first_batch_s {statistics.median(v[0] for v in results['raytrain']):.2f}")
    print(f"dataloader_first_batch_s {statistics.median(v[0] for v in results['dataloader']):.2f}")


if __name__ == "__main__":
    main()
