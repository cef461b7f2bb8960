"""Raw dataset folders in the seed's layouts -> a prepared (parquet + manifest) dataset.

Layouts (seed 000 §1.1, §2.1, §3.1, and a folder-per-class image set):
- edges:          <split>/images/*.png|jpg  +  <split>/edges/<same name>
- classification: <split>/<class name>/*.png|jpg
- regression:     <split>.npz with `features` and `targets` (seed 000 §11.2), or
                  <split>/images/ + <split>/metadata.json with `optimal_coefficients` (§2.1)
- anomaly:        <split>.npz with `coefficients` and `labels` (seed 000 §11.3)

The prepared copy lives in the data cache under a key made of the folders' paths, file names,
sizes and modification times: preparing again is free until the data changes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pyarrow as pa

from raytrain.data.features import FEATURE_NAMES, feature_vector
from raytrain.data.manifest import MANIFEST, Manifest, build_dataset_folder, write_manifest
from raytrain.data.sample import default_data_root, png
from raytrain.data.shards import image_schema, vector_schema, write_split
from raytrain.data.stats import split_stats
from raytrain.errors import RaytrainError

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTS)


def _read_gray(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if img is None:
        raise RaytrainError(f"{path}: not a readable image")
    return img


def _fingerprint(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for root in paths:
        h.update(str(root.resolve()).encode())
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for f in files:
            st = f.stat()
            h.update(f"{f.relative_to(root.parent)}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:12]


def _edge_rows(split_dir: Path) -> Iterator[dict[str, Any]]:
    images_dir, edges_dir = split_dir / "images", split_dir / "edges"
    for d in (images_dir, edges_dir):
        if not d.is_dir():
            raise RaytrainError(f"{d}: missing; an edge dataset split needs images/ and edges/")
    edges = {p.stem: p for p in _images(edges_dir)}
    images = _images(images_dir)
    missing = [p.name for p in images if p.stem not in edges]
    if missing:
        raise RaytrainError(
            f"{edges_dir}: no edge map for {len(missing)} image(s): "
            f"{', '.join(missing[:5])}{' …' if len(missing) > 5 else ''}"
        )
    for p in images:
        img, edge = _read_gray(p), _read_gray(edges[p.stem])
        if img.shape != edge.shape:
            raise RaytrainError(
                f"{edges[p.stem]}: size {edge.shape} differs from its image {p} {img.shape}"
            )
        yield {"id": p.stem, "image": png(img), "target": png(edge)}


def _class_rows(split_dir: Path, classes: list[str]) -> Iterator[dict[str, Any]]:
    for label, name in enumerate(classes):
        folder = split_dir / name
        if not folder.is_dir():
            raise RaytrainError(f"{folder}: class folder missing in this split")
        for p in _images(folder):
            yield {"id": f"{name}/{p.stem}", "image": png(_read_gray(p)), "target": label}


def _npz_rows(path: Path, x_key: str, y_key: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as z:
            if x_key not in z or y_key not in z:
                raise RaytrainError(
                    f"{path}: needs arrays '{x_key}' and '{y_key}', has {', '.join(z.files)}"
                )
            x, y = np.asarray(z[x_key], np.float32), np.asarray(z[y_key])
    except (OSError, ValueError) as e:
        raise RaytrainError(f"{path}: not a readable .npz file ({e})") from None
    if x.ndim != 2 or len(x) != len(y):
        raise RaytrainError(
            f"{path}: '{x_key}' must be 2-D with one row per '{y_key}' entry, "
            f"got {x.shape} and {y.shape}"
        )
    if not np.isfinite(x).all():
        bad = int(np.argwhere(~np.isfinite(x))[0][0])
        raise RaytrainError(f"{path}: row {bad} of '{x_key}' is not finite")
    return x, y


def _metadata_rows(split_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    meta_path = split_dir / "metadata.json"
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError) as e:
        raise RaytrainError(f"{meta_path}: cannot read ({e})") from None
    xs, ys = [], []
    for name, entry in meta.items():
        if "optimal_coefficients" not in entry:
            raise RaytrainError(f"{meta_path}: '{name}' has no optimal_coefficients")
        xs.append(feature_vector(_read_gray(split_dir / "images" / name)))
        ys.append(float(entry["optimal_coefficients"]))
    return np.stack(xs), np.asarray(ys, np.float32)


def _vector_source(task: str, split_path: Path) -> tuple[np.ndarray, np.ndarray]:
    npz = split_path if split_path.suffix == ".npz" else split_path.with_suffix(".npz")
    if npz.exists():
        keys = ("features", "targets") if task == "regression" else ("coefficients", "labels")
        return _npz_rows(npz, *keys)
    if task == "regression" and (split_path / "metadata.json").exists():
        return _metadata_rows(split_path)
    raise RaytrainError(
        f"{split_path}: expected an .npz file"
        f"{' or images/ + metadata.json' if task == 'regression' else ''}"
    )


def prepare_folders(
    task: str, train: str, val: str | None, test: str | None = None, root: str | Path | None = None
) -> Path:
    """Prepare the raw split folders once; return the prepared dataset folder."""
    splits = {"train": Path(train).expanduser(), "val": Path(val or train).expanduser()}
    if test:
        splits["test"] = Path(test).expanduser()
    for name, p in splits.items():
        if not p.exists() and not p.with_suffix(".npz").exists():
            raise RaytrainError(f"dataset.{name}_path: {p} does not exist")
    root = Path(root) if root else default_data_root()
    final = root / f"prepared-{task}-{_fingerprint(list(splits.values()))}"
    if (final / MANIFEST).exists():
        return final
    with build_dataset_folder(final) as tmp:
        info: dict[str, Any] = {"in_channels": 1}
        written = {}
        if task == "edges":
            for name, p in splits.items():
                written[name] = write_split(_edge_rows(p), tmp, name, image_schema("image"))
        elif task == "classification":
            classes = sorted(d.name for d in splits["train"].iterdir() if d.is_dir())
            if len(classes) < 2:
                raise RaytrainError(f"{splits['train']}: needs one folder per class (≥ 2)")
            info.update(num_classes=len(classes), class_names=classes)
            for name, p in splits.items():
                written[name] = write_split(
                    _class_rows(p, classes), tmp, name, image_schema("label")
                )
        elif task in ("regression", "anomaly"):
            for name, p in splits.items():
                x, y = _vector_source(task, p)
                target_type = pa.float32() if task == "regression" else pa.int64()
                rows = (
                    {
                        "id": f"{name}-{i}",
                        "features": x[i].tolist(),
                        "target": float(y[i]) if task == "regression" else int(y[i]),
                        "kind": "",
                    }
                    for i in range(len(x))
                )
                written[name] = write_split(rows, tmp, name, vector_schema(x.shape[1], target_type))
                if name == "train":
                    info["feature_dim"] = int(x.shape[1])
                    if task == "regression" and x.shape[1] == len(FEATURE_NAMES):
                        info["feature_names"] = list(FEATURE_NAMES)
        else:
            raise RaytrainError(f"no folder layout known for task '{task}'")
        for name, split in written.items():
            if split.count == 0:
                raise RaytrainError(f"dataset.{name}_path: {splits[name]} holds no samples")
        if task in ("edges", "classification"):
            first = written["train"].shards[0]
            import pyarrow.parquet as pq

            img0 = pq.read_table(tmp / first.path, columns=["image"])["image"][0].as_py()
            h, w = cv2.imdecode(np.frombuffer(img0, np.uint8), cv2.IMREAD_GRAYSCALE).shape
            info["image_size"] = h if h == w else None
        info.update(split_stats(tmp, written["train"], task))
        write_manifest(
            tmp,
            Manifest(
                task=task,
                splits=written,
                info=info,
                source=", ".join(f"{k}={v}" for k, v in splits.items()),
            ),
        )
    return final
