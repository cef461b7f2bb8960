"""The built-in sample datasets, materialized once as parquet shards and then reused.

When a YAML names no dataset, raytrain generates one for the task, deterministically from
`dataset.sample` (sizes and seed), and caches it under `RAYTRAIN_DATA_DIR` (default
`~/.cache/raytrain/datasets`). The folder name hashes the settings, so changing any of them makes
a new dataset and never overwrites an old one; it is built in a temp folder and renamed into
place, so a crash never leaves half a dataset behind.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from tqdm.auto import tqdm

from raytrain.config.schema import SampleDataSection
from raytrain.data import synth
from raytrain.data.features import FEATURE_NAMES
from raytrain.data.io import default_data_root, png
from raytrain.data.manifest import MANIFEST, Manifest, build_dataset_folder, write_manifest
from raytrain.data.shards import image_schema, vector_schema, write_split
from raytrain.data.stats import split_stats
from raytrain.errors import RaytrainError

GENERATOR_VERSION = 3  # bump when generated data or manifest info change
SPLIT_SEED_OFFSET = {"train": 0, "val": 10_000, "test": 20_000}


def _sizes(s: SampleDataSection) -> dict[str, int]:
    return {"train": s.num_train, "val": s.num_val, "test": s.num_test}


def _edge_rows(n: int, seed: int, s: SampleDataSection) -> Iterator[dict[str, Any]]:
    for i in range(n):
        img, edge = synth.edge_sample(i, seed, s.image_size)
        yield {"id": f"{seed}-{i:06d}", "image": png(img), "target": png(edge)}


def _classification_rows(n: int, seed: int, s: SampleDataSection) -> Iterator[dict[str, Any]]:
    for i in range(n):
        img, label = synth.classification_sample(i, seed, s.image_size, s.num_classes)
        yield {"id": f"{seed}-{i:06d}", "image": png(img), "target": int(label)}


def _coefficient_rows(n: int, seed: int, s: SampleDataSection) -> Iterator[dict[str, Any]]:
    for i in range(n):
        _, feats, target = synth.coefficient_sample(i, seed, s.image_size, s.target_rmse)
        yield {
            "id": f"{seed}-{i:06d}",
            "features": np.asarray(feats, np.float32).tolist(),
            "target": float(target),
            "kind": "image",
        }


def _anomaly_rows(n: int, seed: int, s: SampleDataSection) -> Iterator[dict[str, Any]]:
    x, y, kinds = synth.anomaly_samples(n, seed, s.num_coefficients)
    for i in range(n):
        yield {
            "id": f"{seed}-{i:06d}",
            "features": x[i].tolist(),
            "target": int(y[i]),
            "kind": kinds[i],
        }


RowFn = Callable[[int, int, SampleDataSection], Iterator[dict[str, Any]]]


def _plan(task: str, s: SampleDataSection) -> tuple[RowFn, pa.Schema, dict[str, Any]]:
    """Row generator, parquet schema and manifest info for one task's sample data."""
    if task == "edges":
        return _edge_rows, image_schema("image"), {"in_channels": 1, "image_size": s.image_size}
    if task == "classification":
        names = list(synth.CLASS_NAMES[: s.num_classes])
        return (
            _classification_rows,
            image_schema("label"),
            {
                "in_channels": 1,
                "image_size": s.image_size,
                "num_classes": s.num_classes,
                "class_names": names,
            },
        )
    if task == "regression":
        dim = len(FEATURE_NAMES)
        return (
            _coefficient_rows,
            vector_schema(dim, pa.float32()),
            # the features depend on the image size: record it so predict can resize to it
            {"feature_dim": dim, "target_rmse": s.target_rmse, "image_size": s.image_size},
        )
    if task == "anomaly":
        dim = 2 * s.num_coefficients
        return (
            _anomaly_rows,
            vector_schema(dim, pa.int64()),
            {
                "feature_dim": dim,
                "num_coefficients": s.num_coefficients,
                "class_names": ["normal", "tampered"],
            },
        )
    raise ValueError(f"no sample data for task '{task}'")


def sample_dataset_key(task: str, s: SampleDataSection) -> str:
    blob = json.dumps({"task": task, "v": GENERATOR_VERSION, **s.model_dump()}, sort_keys=True)
    return f"sample-{task}-{hashlib.sha256(blob.encode()).hexdigest()[:12]}"


def ensure_sample_dataset(
    task: str, s: SampleDataSection, root: str | Path | None = None, out: str | Path | None = None
) -> Path:
    """The folder of the sample dataset for `task` and settings `s`, generated if missing.

    `out` = exactly this folder (`raytrain data synth --out`); an error if it holds other data.
    """
    key = sample_dataset_key(task, s)
    if out is not None:
        final = Path(out).expanduser()
        if (final / MANIFEST).exists():
            from raytrain.data.manifest import read_manifest

            if read_manifest(final).extra.get("key") == key:
                return final
            raise RaytrainError(f"{final}: already holds another dataset; choose another --out")
        if final.exists() and any(final.iterdir()):
            raise RaytrainError(f"{final}: exists and is not empty; choose another --out")
        if final.exists():
            final.rmdir()
    else:
        final = Path(root or default_data_root()) / key
    if (final / MANIFEST).exists():
        return final
    rows_fn, schema, info = _plan(task, s)
    with build_dataset_folder(final) as tmp:
        splits = {}
        for split, n in _sizes(s).items():
            seed = s.seed + SPLIT_SEED_OFFSET[split]
            rows = tqdm(
                rows_fn(n, seed, s),
                total=n,
                desc=f"sample {task} data: {split}",
                unit="row",
                disable=None,
                leave=False,
            )  # bar on a terminal only
            splits[split] = write_split(rows, tmp, split, schema)
        info.update(split_stats(tmp, splits["train"], task))
        write_manifest(
            tmp,
            Manifest(
                task=task,
                splits=splits,
                info=info,
                source=f"raytrain sample data ({task}, {s.model_dump()})",
                extra={"key": key},
            ),
        )
    return final


# -- the same samples as raw folders (`raytrain data synth --layout folders`)


def _write_png(path: Path, img: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png(img))


def _folder_split(task: str, split_dir: Path, n: int, seed: int, s: SampleDataSection) -> None:
    if task == "edges":
        for i in range(n):
            img, edge = synth.edge_sample(i, seed, s.image_size)
            _write_png(split_dir / "images" / f"img_{i:05d}.png", img)
            _write_png(split_dir / "edges" / f"img_{i:05d}.png", edge)
    elif task == "classification":
        for i in range(n):
            img, label = synth.classification_sample(i, seed, s.image_size, s.num_classes)
            _write_png(split_dir / synth.CLASS_NAMES[label] / f"img_{i:05d}.png", img)
    elif task == "regression":
        meta = {}
        for i in range(n):
            img, feats, target = synth.coefficient_sample(i, seed, s.image_size, s.target_rmse)
            name = f"img_{i:05d}.png"
            _write_png(split_dir / "images" / name, img)
            meta[name] = {
                "optimal_coefficients": int(target),
                "rmse": s.target_rmse,
                "image_features": dict(zip(FEATURE_NAMES, map(float, feats), strict=True)),
            }
        (split_dir / "metadata.json").write_text(json.dumps(meta, indent=2))
    elif task == "anomaly":
        x, y, _ = synth.anomaly_samples(n, seed, s.num_coefficients)
        for sub in ("normal", "anomalous"):
            (split_dir / sub).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            sub = "anomalous" if y[i] else "normal"
            np.save(split_dir / sub / f"set_{i:05d}.npy", x[i])
    else:
        raise ValueError(f"no sample data for task '{task}'")


def write_sample_folders(task: str, s: SampleDataSection, out: str | Path) -> Path:
    """The sample data as raw train/ val/ test/ folders in the folder layout for `task`."""
    final = Path(out).expanduser()
    if final.exists() and any(final.iterdir()):
        raise RaytrainError(f"{final}: exists and is not empty; choose another --out")
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}."))
    try:
        for split, n in _sizes(s).items():
            _folder_split(task, tmp / split, n, s.seed + SPLIT_SEED_OFFSET[split], s)
        if final.exists():
            final.rmdir()
        tmp.rename(final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final
