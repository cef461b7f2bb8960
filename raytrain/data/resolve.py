"""Which prepared dataset an experiment uses: a given one (a folder, or a bucket prefix
`s3://bucket/prefix` that Ray Data reads straight from the bucket), raw folders prepared once,
or the built-in sample data. Data is prepared once per experiment (here), never per trial."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from raytrain.config.schema import ExperimentConfig
from raytrain.data import fs
from raytrain.data.manifest import MANIFEST, Manifest, read_manifest
from raytrain.errors import RaytrainError
from raytrain.models.registry import DataInfo


def prepared_manifest(path: str | Path, key: str = "dataset.path") -> tuple[str | Path, Manifest]:
    """(root, manifest) of the prepared dataset `path` names: a folder, or a bucket prefix whose
    manifest is read from the bucket. A missing or unreadable manifest (an unreachable endpoint,
    rejected credentials, a missing bucket) is one line naming `key` and the path."""
    root = fs.as_root(path)
    if fs.is_remote(root):
        fs.check_readable(str(root), key)
        if not fs.exists(fs.join(root, MANIFEST)):
            raise RaytrainError(
                f"{key}: {root} is not a prepared dataset (no {MANIFEST} there); run "
                f"`raytrain data prepare SRC --out {root}` first"
            )
    else:
        root = Path(root).expanduser()
        if not (root / MANIFEST).exists():
            raise RaytrainError(
                f"{key}: {root} is not a prepared dataset "
                f"(no {MANIFEST}); run `raytrain data prepare` on it first"
            )
    if not fs.is_remote(root):
        return root, read_manifest(root)
    try:
        return root, read_manifest(root)
    except RaytrainError as e:  # names the manifest's URI, and what went wrong reading it
        raise RaytrainError(f"{key}: {e}") from None


def resolve_dataset(cfg: ExperimentConfig, task: str) -> str | Path:
    """The prepared dataset for `cfg`: a folder, or a bucket URI (generating sample data if
    none is named)."""
    ds = cfg.dataset
    if ds.path is not None:
        root, manifest = prepared_manifest(ds.path)
        if manifest.task != task:
            raise RaytrainError(
                f"dataset.path: {root} holds '{manifest.task}' data, the model "
                f"'{cfg.model.architecture}' needs '{task}' data"
            )
        for split in ("train", "val"):
            if split not in manifest.splits or manifest.splits[split].count == 0:
                raise RaytrainError(f"dataset.path: {root} has an empty or missing '{split}' split")
        return root
    if ds.train_path is not None:
        from raytrain.data.folders import prepare_folders

        return prepare_folders(task, ds.train_path, ds.val_path, ds.test_path)
    from raytrain.data.sample import ensure_sample_dataset

    return ensure_sample_dataset(task, ds.sample)


def data_info_for(cfg: ExperimentConfig, data_dir: str | Path) -> DataInfo:
    """What the model sees: the manifest's info, with `dataset.image_size` when it resizes."""
    info = read_manifest(data_dir).data_info()
    if cfg.dataset.image_size is not None:
        info = dataclasses.replace(info, image_size=cfg.dataset.image_size)
    return info


def expected_data_info(cfg: ExperimentConfig, task: str) -> DataInfo | None:
    """What the data will look like, known before it is prepared (for dry-run checks); None
    when only preparing the raw folders would tell."""
    ds = cfg.dataset
    if ds.path is not None:
        if fs.is_remote(ds.path):  # read from the bucket (checked by `check_places` first)
            return data_info_for(cfg, prepared_manifest(ds.path)[0])
        if not (Path(ds.path) / MANIFEST).exists():
            return None
        return data_info_for(cfg, ds.path)
    if ds.train_path is not None:
        return None
    s = ds.sample
    size = ds.image_size or s.image_size
    from raytrain.data.features import FEATURE_NAMES

    return {
        "edges": DataInfo(in_channels=1, image_size=size),
        "classification": DataInfo(in_channels=1, image_size=size, num_classes=s.num_classes),
        "regression": DataInfo(feature_dim=len(FEATURE_NAMES)),
        "anomaly": DataInfo(feature_dim=2 * s.num_coefficients),
    }.get(task)
