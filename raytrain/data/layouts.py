"""Readers for the raw dataset layouts, one split folder at a time.

Layouts (edge maps, optimizer metadata, anomaly sets, feature files, class folders):

- `edges`: `images/*.png` + `edges/<same name>` (or `images/` alone with `generate_edges`)
- `metadata`: `images/` + `metadata.json` with `optimal_coefficients` per image (regression)
- `npz`: `<split>.npz` with `features`+`targets` (regression) or `coefficients`+`labels`
  (anomaly)
- `anomaly`: `normal/` + `anomalous/`, one coefficient set per `.npy` or `.json` file
- `classes`: one sub-folder of images per class (classification)

Readers yield parquet rows and report every problem to a `Problems` sink (see problems.py), so
`prepare` (stop or skip) and `validate` (list all) run the very same checks.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from raytrain.data.features import feature_vector, generate_ground_truth_edges
from raytrain.data.fourier import harmonics_to_vector
from raytrain.data.io import png
from raytrain.data.problems import Problems
from raytrain.errors import RaytrainError

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}
VECTOR_EXTS = {".npy", ".json"}
LAYOUT_TASK = {
    "edges": "edges",
    "metadata": "regression",
    "anomaly": "anomaly",
    "classes": "classification",
}
NPZ_KEYS = {"regression": ("features", "targets"), "anomaly": ("coefficients", "labels")}


@dataclass(frozen=True)
class Quality:
    """The quality bars; None turns a check off (prepare keeps any size)."""

    min_size: int | None = None
    min_edge_density: float | None = None


def images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTS)


def npz_of(split: Path) -> Path | None:
    """The split's .npz file (`train.npz` given as `train` or `train.npz`), if there is one."""
    for p in (split, split.with_suffix(".npz"), split.parent / f"{split.name}.npz"):
        if p.suffix == ".npz" and p.is_file():
            return p
    return None


def detect_layout(split: Path) -> str:
    """Which layout a split folder (or .npz) is in; an error names what was expected."""
    if npz_of(split) is not None:
        return "npz"
    if not split.is_dir():
        raise RaytrainError(f"{split}: does not exist")
    if (split / "images").is_dir():
        return "metadata" if (split / "metadata.json").is_file() else "edges"
    if (split / "normal").is_dir():
        return "anomaly"
    if any(d.is_dir() for d in split.iterdir()):
        return "classes"
    raise RaytrainError(
        f"{split}: no known layout (images/ + edges/, images/ + metadata.json, normal/ + "
        f"anomalous/, one folder per class, or an .npz file)"
    )


def npz_task(path: Path) -> str:
    try:
        with np.load(path, allow_pickle=False) as z:
            files = set(z.files)
    except (OSError, ValueError) as e:
        raise RaytrainError(f"{path}: not a readable .npz file ({e})") from None
    for task, keys in NPZ_KEYS.items():
        if set(keys) <= files:
            return task
    raise RaytrainError(
        f"{path}: needs arrays features+targets (regression) or coefficients+labels "
        f"(anomaly), has {', '.join(sorted(files)) or 'none'}"
    )


def layout_task(split: Path) -> str:
    layout = detect_layout(split)
    return npz_task(npz_of(split)) if layout == "npz" else LAYOUT_TASK[layout]  # type: ignore[arg-type]


def _read_gray(path: Path, sink: Problems, what: str = "image") -> np.ndarray | None:
    img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if img is None:
        sink.add(path, f"unreadable {what}", f"not a readable {what}")
    return img


def _big_enough(img: np.ndarray, path: Path, sink: Problems, q: Quality) -> bool:
    if q.min_size is not None and min(img.shape) < q.min_size:
        sink.add(
            path, "too small", f"image too small: {img.shape[1]}x{img.shape[0]} < {q.min_size}"
        )
        return False
    return True


# -- images ---------------------------------------------------------------------------------------


def edge_rows(
    split: Path, sink: Problems, q: Quality = Quality(), generate_edges: bool = False
) -> Iterator[dict[str, Any]]:
    """Image/edge-map pairs; with `generate_edges`, edge maps are the Canny+Sobel ensemble."""
    images_dir, edges_dir = split / "images", split / "edges"
    if not images_dir.is_dir():
        sink.add(images_dir, "missing folder", "missing; an edge dataset split needs images/", 0)
        return
    images = images_in(images_dir)
    edges: dict[str, Path] = {}
    if not generate_edges:
        if not edges_dir.is_dir():
            sink.add(
                edges_dir,
                "missing folder",
                "missing; an edge dataset split needs images/ and edges/ "
                "(or prepare with --generate-edges)",
                len(images),
            )
            return
        edges = {p.stem: p for p in images_in(edges_dir)}
        stems = {p.stem for p in images}
        for stem, e in edges.items():
            if stem not in stems:
                sink.add(e, "missing image", f"edge map without an image in {images_dir}", 0)
    for p in images:
        # Each check runs even when an earlier one failed, so `validate` lists every problem
        # of a pair (in error mode the first one raises, in skip mode the pair is left out).
        ok = True
        edge_path = edges.get(p.stem)
        if not generate_edges and edge_path is None:
            sink.add(p, "missing edge map", f"no edge map for it in {edges_dir}")
            ok = False
        img = _read_gray(p, sink)
        ok = ok and img is not None
        if img is not None and not _big_enough(img, p, sink, q):
            ok = False
        edge = None
        if edge_path is not None:
            edge = _read_gray(edge_path, sink, "edge map")
            if edge is None:
                ok = False
            elif img is not None and edge.shape != img.shape:
                sink.add(
                    edge_path,
                    "size mismatch",
                    f"size {edge.shape[1]}x{edge.shape[0]} differs from its image {p} "
                    f"({img.shape[1]}x{img.shape[0]})",
                )
                ok = False
            elif q.min_edge_density is not None:
                density = np.count_nonzero(edge) / edge.size
                if density < q.min_edge_density:
                    sink.add(
                        edge_path,
                        "edge map too sparse",
                        f"edge map too sparse: {density:.4f} < {q.min_edge_density} of pixels",
                    )
                    ok = False
        if not ok or img is None:
            continue
        if edge is None:
            edge = generate_ground_truth_edges(img)
        yield {"id": p.stem, "image": png(img), "target": png(edge)}


def class_names(split: Path) -> list[str]:
    return sorted(d.name for d in split.iterdir() if d.is_dir())


def class_rows(
    split: Path, classes: list[str], sink: Problems, q: Quality = Quality()
) -> Iterator[dict[str, Any]]:
    for label, name in enumerate(classes):
        folder = split / name
        if not folder.is_dir():
            sink.add(folder, "missing class folder", "class folder missing in this split", 0)
            continue
        files = images_in(folder)
        if not files:
            sink.add(folder, "empty class", "class folder holds no images", 0)
        for p in files:
            img = _read_gray(p, sink)
            if img is not None and _big_enough(img, p, sink, q):
                yield {"id": f"{name}/{p.stem}", "image": png(img), "target": label}
    extra = sorted(set(class_names(split)) - set(classes))
    for name in extra:
        sink.add(split / name, "unknown class", "class not in the train split", 0)


# -- vectors --------------------------------------------------------------------------------------


def _vector_row(i: int, name: str, x: np.ndarray, y: float | int, kind: str) -> dict[str, Any]:
    return {"id": f"{name}-{i}", "features": x.tolist(), "target": y, "kind": kind}


def npz_rows(path: Path, task: str, sink: Problems) -> list[dict[str, Any]]:
    x_key, y_key = NPZ_KEYS[task]
    try:
        with np.load(path, allow_pickle=False) as z:
            if x_key not in z or y_key not in z:
                sink.add(
                    path,
                    "missing arrays",
                    f"needs arrays '{x_key}' and '{y_key}', has {', '.join(z.files)}",
                    0,
                )
                return []
            x, y = np.asarray(z[x_key], np.float32), np.asarray(z[y_key])
    except (OSError, ValueError, EOFError) as e:
        sink.add(path, "unreadable file", f"not a readable .npz file ({e})", 0)
        return []
    if x.ndim != 2 or len(x) != len(y):
        sink.add(
            path,
            "bad shape",
            f"'{x_key}' must be 2-D with one row per '{y_key}' entry, got {x.shape} and {y.shape}",
            len(y),
        )
        return []
    rows = []
    for i in range(len(x)):
        if not np.isfinite(x[i]).all() or not np.isfinite(float(y[i])):
            sink.add(f"{path}[row {i}]", "not finite", f"row {i} of '{x_key}' is not finite")
            continue
        y_i = float(y[i]) if task == "regression" else int(y[i])
        rows.append(_vector_row(i, path.stem, x[i], y_i, ""))
    return rows


def metadata_rows(split: Path, sink: Problems, q: Quality = Quality()) -> list[dict[str, Any]]:
    """Optimizer layout: the hand-crafted features computed from each image; the target is
    `optimal_coefficients`."""
    meta_path = split / "metadata.json"
    try:
        meta = json.loads(meta_path.read_text())
        if not isinstance(meta, dict):
            raise ValueError("expected an object keyed by image file name")
    except (OSError, ValueError) as e:
        sink.add(meta_path, "unreadable metadata", f"cannot read ({e})", 0)
        return []
    images_dir = split / "images"
    listed = set(meta)
    for p in images_in(images_dir):
        if p.name not in listed:
            sink.add(p, "missing metadata", f"not listed in {meta_path}")
    rows = []
    for i, (name, entry) in enumerate(sorted(meta.items())):
        target = entry.get("optimal_coefficients") if isinstance(entry, dict) else None
        if not isinstance(target, int | float) or not np.isfinite(target):
            sink.add(meta_path, "bad metadata", f"'{name}' has no numeric optimal_coefficients")
            continue
        path = images_dir / name
        if not path.is_file():
            sink.add(path, "missing image", f"listed in {meta_path} but missing")
            continue
        img = _read_gray(path, sink)
        if img is None or not _big_enough(img, path, sink, q):
            continue
        row = _vector_row(i, name, feature_vector(img), float(target), "image")
        row["id"] = Path(name).stem
        rows.append(row)
    return rows


def _read_vector(path: Path) -> np.ndarray:
    """One coefficient set: a real descriptor, complex harmonics, or an
    [{"amplitude", "phase"}, ...] list -> the anomaly detector's vector."""
    if path.suffix == ".npy":
        arr = np.load(path, allow_pickle=False)
    else:
        raw = json.loads(path.read_text())
        if isinstance(raw, dict):
            raw = raw.get("coefficients", raw)
        if isinstance(raw, list) and raw and isinstance(raw[0], dict):
            arr = np.array([c["amplitude"] * np.exp(1j * c["phase"]) for c in raw])
        else:
            arr = np.asarray(raw, dtype=np.float64)
    arr = np.asarray(arr).ravel()
    if np.iscomplexobj(arr):
        return harmonics_to_vector(arr)
    return arr.astype(np.float32)


def anomaly_rows(
    split: Path, sink: Problems, generate: bool = False, seed: int = 0
) -> list[dict[str, Any]]:
    """`normal/` (label 0) and `anomalous/` (label 1) files; with `generate`, each normal set
    also gets one tampered copy made by one of the four tamperings."""
    rows: list[dict[str, Any]] = []
    dim: int | None = None
    for label, sub in enumerate(("normal", "anomalous")):
        folder = split / sub
        if not folder.is_dir():
            if sub == "normal" or not generate:
                sink.add(
                    folder,
                    "missing folder",
                    "missing; an anomaly split needs normal/ and anomalous/",
                    0,
                )
            continue
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in VECTOR_EXTS)
        for p in files:
            try:
                x = _read_vector(p)
            except (OSError, ValueError, KeyError, TypeError) as e:
                sink.add(p, "unreadable file", f"not a readable coefficient set ({e})")
                continue
            dim = dim or len(x)
            if len(x) != dim or not np.isfinite(x).all():
                why = (
                    f"{len(x)} values, the first file had {dim}" if len(x) != dim else "not finite"
                )
                sink.add(p, "bad vector", why)
                continue
            row = _vector_row(0, sub, x, label, sub)
            row["id"] = f"{sub}/{p.stem}"
            rows.append(row)
    if generate:
        rows.extend(_tampered_copies(rows, seed))
    return rows


def _tampered_copies(rows: list[dict[str, Any]], seed: int) -> list[dict[str, Any]]:
    from raytrain.data.synth import TAMPERINGS

    rng = np.random.default_rng(seed)
    names = tuple(TAMPERINGS)
    out = []
    for row in rows:
        if row["target"] != 0:
            continue
        x = np.asarray(row["features"], np.float64)
        half = len(x) // 2
        h = x[:half] * np.exp(1j * x[half:])
        kind = names[int(rng.integers(len(names)))]
        tampered = harmonics_to_vector(TAMPERINGS[kind](h, rng))
        out.append(
            {"id": f"{row['id']}~{kind}", "features": tampered.tolist(), "target": 1, "kind": kind}
        )
    return out


def split_folders(root: Path) -> dict[str, Path]:
    """The split folders (or `.npz` files) under `root`; `root` itself when it holds no splits."""
    found = {}
    for name in ("train", "val", "test"):
        p = npz_of(root / name) or (root / name if (root / name).is_dir() else None)
        if p is not None:
            found[name] = p
    return found or {root.name: root}
