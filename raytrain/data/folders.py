"""Raw dataset folders in the supported layouts -> a prepared (parquet + manifest) dataset.

The layouts and their readers are in `layouts.py`. The prepared copy goes where the caller says
(`raytrain data prepare --out`), or into the data cache under a key made of the folders' paths,
file names, sizes and modification times and the options: preparing again is free until the
data changes.

Bad data stops preparation with a message naming the file (`on_bad_data="error"`); with
`on_bad_data="skip"` the bad rows are left out and listed in the manifest (`extra.skipped`) and
in `data_report.json` beside it, for the run summary. An empty split is an error either way.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pyarrow as pa

from raytrain.data.features import FEATURE_NAMES
from raytrain.data.io import default_data_root
from raytrain.data.layouts import (
    anomaly_rows,
    class_names,
    class_rows,
    detect_layout,
    edge_rows,
    layout_task,
    metadata_rows,
    npz_of,
    npz_rows,
)
from raytrain.data.manifest import (
    MANIFEST,
    Manifest,
    Split,
    build_dataset_folder,
    read_manifest,
    write_manifest,
)
from raytrain.data.problems import Problems, write_report
from raytrain.data.shards import image_schema, vector_schema, write_split
from raytrain.data.stats import split_stats
from raytrain.errors import RaytrainError

SPLITS = ("train", "val", "test")


def _fingerprint(paths: list[Path], options: str) -> str:
    h = hashlib.sha256(options.encode())
    for root in paths:
        h.update(str(root.resolve()).encode())
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for f in files:
            st = f.stat()
            h.update(f"{f.relative_to(root.parent)}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:12]


def split_paths(source: str | Path) -> dict[str, Path]:
    """`SRC/train`, `SRC/val`, `SRC/test` (folders or .npz files) of a dataset root."""
    src = Path(source).expanduser()
    found = {}
    for name in SPLITS:
        for p in (src / name, src / f"{name}.npz"):
            if p.exists():
                found[name] = p
                break
    if "train" not in found:
        raise RaytrainError(
            f"{src}: no train/ split (expected train/ and val/ [and test/] folders or .npz "
            f"files; split a flat folder with `raytrain data split` first)"
        )
    return found


def _image_splits(
    task: str,
    splits: dict[str, Path],
    tmp: Path,
    sink: Problems,
    generate_edges: bool,
    info: dict[str, Any],
) -> dict[str, Split]:
    written = {}
    if task == "edges":
        for name, p in splits.items():
            rows = edge_rows(p, sink.within(name), generate_edges=generate_edges)
            written[name] = write_split(rows, tmp, name, image_schema("image"))
        info["edges"] = "generated (Canny+Sobel ensemble)" if generate_edges else "given"
        return written
    classes = class_names(splits["train"])
    if len(classes) < 2:
        raise RaytrainError(f"{splits['train']}: needs one folder per class (≥ 2)")
    info.update(num_classes=len(classes), class_names=classes)
    for name, p in splits.items():
        rows = class_rows(p, classes, sink.within(name))
        written[name] = write_split(rows, tmp, name, image_schema("label"))
    return written


def _vector_splits(
    task: str,
    splits: dict[str, Path],
    tmp: Path,
    sink: Problems,
    generate_anomalies: bool,
    seed: int,
    info: dict[str, Any],
) -> dict[str, Split]:
    written = {}
    dim = None
    for name, p in splits.items():
        npz = npz_of(p)
        if npz is not None:
            rows = npz_rows(npz, task, sink.within(name))
        elif task == "regression":
            rows = metadata_rows(p, sink.within(name))
        else:
            rows = anomaly_rows(p, sink.within(name), generate_anomalies, seed)
        if rows:
            n = len(rows[0]["features"])
            if dim is not None and n != dim:
                raise RaytrainError(f"{p}: rows have {n} features, the train split has {dim}")
            dim = n
        target_type = pa.float32() if task == "regression" else pa.int64()
        written[name] = write_split(rows, tmp, name, vector_schema(dim or 0, target_type))
    info["feature_dim"] = dim
    if task == "regression" and dim == len(FEATURE_NAMES):
        info["feature_names"] = list(FEATURE_NAMES)
    if task == "anomaly":
        info["class_names"] = ["normal", "tampered"]
    return written


def prepare_folders(
    task: str | None,
    train: str | Path,
    val: str | Path | None,
    test: str | Path | None = None,
    root: str | Path | None = None,
    *,
    out: str | Path | None = None,
    generate_edges: bool = False,
    generate_anomalies: bool = False,
    on_bad_data: str = "error",
    seed: int = 0,
) -> Path:
    """Prepare the raw split folders once; return the prepared dataset folder.

    `task` None = the train split's layout decides. `out` = write exactly there (an error if it
    already holds another dataset); otherwise the data cache under `root`.
    """
    splits = {"train": Path(train).expanduser(), "val": Path(val or train).expanduser()}
    if test:
        splits["test"] = Path(test).expanduser()
    for name, p in splits.items():
        if not p.exists() and npz_of(p) is None:
            raise RaytrainError(f"dataset.{name}_path: {p} does not exist")
    task = task or layout_task(splits["train"])
    layout = detect_layout(splits["train"])
    if task == "edges" and layout not in ("edges",):
        raise RaytrainError(f"{splits['train']}: an edge dataset needs images/ + edges/")
    sink = Problems("skip" if on_bad_data == "skip" else "error")
    options = f"{task}:{generate_edges}:{generate_anomalies}:{sink.mode}:{seed}"
    key = _fingerprint(list(splits.values()), options)
    if out is not None:
        final = Path(out).expanduser()
        if (final / MANIFEST).exists():
            if read_manifest(final).extra.get("fingerprint") == key:
                return final
            raise RaytrainError(
                f"{final}: already holds a prepared dataset of other data; choose another --out"
            )
        if final.exists() and any(final.iterdir()):
            raise RaytrainError(f"{final}: exists and is not empty; choose another --out")
        if final.exists():
            final.rmdir()
    else:
        final = Path(root or default_data_root()) / f"prepared-{task}-{key}"
        if (final / MANIFEST).exists():
            return final
    with build_dataset_folder(final) as tmp:
        info: dict[str, Any] = {"in_channels": 1}
        if task in ("edges", "classification"):
            written = _image_splits(task, splits, tmp, sink, generate_edges, info)
        elif task in ("regression", "anomaly"):
            info.pop("in_channels")
            written = _vector_splits(task, splits, tmp, sink, generate_anomalies, seed, info)
        else:
            raise RaytrainError(f"no folder layout known for task '{task}'")
        for name, split in written.items():
            if split.count == 0:
                why = f" ({len(sink)} problem(s) skipped)" if sink else ""
                raise RaytrainError(
                    f"{splits[name]}: the {name} split holds no usable samples{why}"
                )
        if task in ("edges", "classification"):
            info["image_size"] = _square_size(tmp, written["train"])
        info.update(split_stats(tmp, written["train"], task))
        report = sink.report()
        write_manifest(
            tmp,
            Manifest(
                task=task,
                splits=written,
                info=info,
                source=", ".join(f"{k}={v}" for k, v in splits.items()),
                extra={"fingerprint": key, "skipped": report},
            ),
        )
        write_report(tmp, report)
    return final


def _square_size(root: Path, split: Split) -> int | None:
    import pyarrow.parquet as pq

    img0 = pq.read_table(root / split.shards[0].path, columns=["image"])["image"][0].as_py()
    h, w = cv2.imdecode(np.frombuffer(img0, np.uint8), cv2.IMREAD_GRAYSCALE).shape
    return h if h == w else None
