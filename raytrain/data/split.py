"""`raytrain data split`: one flat folder -> train/ val/ test/, deterministic.

The same source, ratios and seed always give the same split (items are sorted, then permuted
by a seeded generator). Class and anomaly folders are split per class, so every split keeps
the class balance. Files are copied; the output is written to a temp folder and renamed into
place, so a failed split leaves nothing behind.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
from pathlib import Path

import numpy as np

from raytrain.data.layouts import NPZ_KEYS, VECTOR_EXTS, detect_layout, images_in, npz_of, npz_task
from raytrain.errors import RaytrainError

NAMES = ("train", "val", "test")


def check_ratios(ratios: tuple[float, float, float]) -> None:
    if len(ratios) != 3 or any(not math.isfinite(r) or r < 0 for r in ratios):
        raise RaytrainError(f"split ratios {ratios}: need three numbers >= 0 (train, val, test)")
    if abs(sum(ratios) - 1.0) > 1e-6:
        raise RaytrainError(f"split ratios {ratios}: must sum to 1 (they sum to {sum(ratios):g})")
    if ratios[0] <= 0 or ratios[1] <= 0:
        raise RaytrainError(f"split ratios {ratios}: train and val ratios must be > 0")


def _counts(n: int, ratios: tuple[float, float, float], what: str) -> list[int]:
    n_train = int(round(n * ratios[0]))
    n_val = int(round(n * ratios[1]))
    n_test = n - n_train - n_val if ratios[2] > 0 else 0
    n_train = n - n_val - n_test
    counts = [n_train, n_val, n_test]
    for name, c, r in zip(NAMES, counts, ratios, strict=True):
        if r > 0 and c <= 0:
            raise RaytrainError(f"{what}: {n} item(s) are too few for a non-empty {name} split")
    return counts


def _assign(
    items: list[str], ratios: tuple[float, float, float], seed: int, what: str
) -> dict[str, list[str]]:
    items = sorted(items)
    order = np.random.default_rng(seed).permutation(len(items))
    counts = _counts(len(items), ratios, what)
    out, start = {}, 0
    for name, c in zip(NAMES, counts, strict=True):
        out[name] = [items[i] for i in order[start : start + c]]
        start += c
    return out


def split_folder(
    source: str | Path,
    out: str | Path,
    ratios: tuple[float, float, float] = (0.7, 0.15, 0.15),
    seed: int = 42,
) -> dict[str, int]:
    """Split the dataset in `source` (any layout) into `out`/train|val|test; return counts."""
    check_ratios(ratios)
    src, dst = Path(source).expanduser(), Path(out).expanduser()
    if dst.exists() and any(dst.iterdir()):
        raise RaytrainError(f"{dst}: exists and is not empty; choose another output folder")
    layout = detect_layout(src)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dst.parent, prefix=f".{dst.name}."))
    try:
        counts = _SPLITTERS[layout](src, tmp, ratios, seed)
        if dst.exists():
            dst.rmdir()
        tmp.rename(dst)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return counts


def _copy(files: list[Path], to: Path) -> None:
    to.mkdir(parents=True, exist_ok=True)
    for f in files:
        shutil.copy2(f, to / f.name)


def _split_edges(
    src: Path, dst: Path, ratios: tuple[float, float, float], seed: int
) -> dict[str, int]:
    images = {p.name: p for p in images_in(src / "images")}
    edges = {p.stem: p for p in images_in(src / "edges")} if (src / "edges").is_dir() else {}
    missing = [n for n, p in images.items() if edges and p.stem not in edges]
    if missing:
        raise RaytrainError(
            f"{src / 'edges'}: no edge map for {missing[0]} (and {len(missing) - 1} more); "
            f"run `raytrain data validate {src}`"
        )
    parts = _assign(list(images), ratios, seed, str(src / "images"))
    for name, files in parts.items():
        if not files:
            continue
        _copy([images[f] for f in files], dst / name / "images")
        if edges:
            _copy([edges[images[f].stem] for f in files], dst / name / "edges")
    return {k: len(v) for k, v in parts.items()}


def _split_metadata(
    src: Path, dst: Path, ratios: tuple[float, float, float], seed: int
) -> dict[str, int]:
    meta_path = src / "metadata.json"
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError) as e:
        raise RaytrainError(f"{meta_path}: cannot read ({e})") from None
    parts = _assign(list(meta), ratios, seed, str(meta_path))
    for name, keys in parts.items():
        if not keys:
            continue
        _copy([src / "images" / k for k in keys], dst / name / "images")
        (dst / name / "metadata.json").write_text(json.dumps({k: meta[k] for k in keys}, indent=2))
    return {k: len(v) for k, v in parts.items()}


def _split_groups(
    groups: dict[str, list[Path]], dst: Path, ratios: tuple[float, float, float], seed: int
) -> dict[str, int]:
    """Per-group (class) split: each split keeps the class balance."""
    totals = dict.fromkeys(NAMES, 0)
    for g, (group, files) in enumerate(sorted(groups.items())):
        by_name = {f.name: f for f in files}
        parts = _assign(list(by_name), ratios, seed + g, str(files[0].parent) if files else group)
        for name, keys in parts.items():
            if keys:
                _copy([by_name[k] for k in keys], dst / name / group)
            totals[name] += len(keys)
    return totals


def _split_classes(
    src: Path, dst: Path, ratios: tuple[float, float, float], seed: int
) -> dict[str, int]:
    groups = {d.name: images_in(d) for d in sorted(src.iterdir()) if d.is_dir()}
    return _split_groups(groups, dst, ratios, seed)


def _split_anomaly(
    src: Path, dst: Path, ratios: tuple[float, float, float], seed: int
) -> dict[str, int]:
    groups = {
        d: sorted(p for p in (src / d).iterdir() if p.suffix.lower() in VECTOR_EXTS)
        for d in ("normal", "anomalous")
        if (src / d).is_dir()
    }
    return _split_groups(groups, dst, ratios, seed)


def _split_npz(
    src: Path, dst: Path, ratios: tuple[float, float, float], seed: int
) -> dict[str, int]:
    path = npz_of(src)
    assert path is not None
    x_key, y_key = NPZ_KEYS[npz_task(path)]
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    n = len(arrays[y_key])
    parts = _assign([f"{i:012d}" for i in range(n)], ratios, seed, str(path))
    dst.mkdir(parents=True, exist_ok=True)
    for name, keys in parts.items():
        if keys:
            idx = np.array([int(k) for k in keys])
            np.savez(
                dst / f"{name}.npz", **{k: v[idx] if len(v) == n else v for k, v in arrays.items()}
            )
    del x_key
    return {k: len(v) for k, v in parts.items()}


_SPLITTERS = {
    "edges": _split_edges,
    "metadata": _split_metadata,
    "classes": _split_classes,
    "anomaly": _split_anomaly,
    "npz": _split_npz,
}
