"""`raytrain data validate`: quality checks, listing every problem.

Works on a raw folder in any layout of `layouts.py` (a dataset root with train/ val/ test/, or
one split folder such as `images/` + `edges/`) and on a prepared dataset (checksums,
parquet files, every row decoded). Checks: missing pairs, unreadable images, images smaller
than `min_size`, edge maps sparser than `min_edge_density`, image/edge-map size mismatches,
empty splits, unreadable metadata or coefficient files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from raytrain.data.checks import check_rows
from raytrain.data.layouts import (
    Quality,
    anomaly_rows,
    class_names,
    class_rows,
    detect_layout,
    edge_rows,
    metadata_rows,
    npz_of,
    npz_rows,
    npz_task,
    split_folders,
)
from raytrain.data.manifest import MANIFEST
from raytrain.data.problems import Problem, Problems
from raytrain.errors import RaytrainError

SEED_MIN_SIZE = 256  # "Image too small" below 256x256
SEED_MIN_EDGE_DENSITY = 0.01  # "Edge map too sparse" below 1 % edge pixels


@dataclass
class ValidationResult:
    path: str
    kind: str  # "prepared" or the raw layout
    counts: dict[str, int] = field(default_factory=dict)  # good rows per split
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def validate_path(
    path: str | Path,
    min_size: int | None = SEED_MIN_SIZE,
    min_edge_density: float | None = SEED_MIN_EDGE_DENSITY,
) -> ValidationResult:
    """Every problem of the dataset at `path` (nothing is raised for bad data)."""
    root = Path(path).expanduser()
    if not root.exists():
        raise RaytrainError(f"{root}: does not exist")
    sink = Problems("collect")
    if (root / MANIFEST).exists():
        counts = check_rows(root, sink, min_size, min_edge_density)
        return ValidationResult(str(root), "prepared", counts, sink.items)
    splits = split_folders(root)
    q = Quality(min_size, min_edge_density)
    counts: dict[str, int] = {}
    train = splits.get("train", next(iter(splits.values())))
    layout = detect_layout(train)
    classes = class_names(train) if layout == "classes" else []
    for name, split in splits.items():
        sink.within(name)
        this = detect_layout(split)
        if this != layout:
            sink.add(split, "layout mismatch", f"{this} layout, the train split is {layout}", 0)
            continue
        if layout == "edges":
            n = sum(1 for _ in edge_rows(split, sink, q))
        elif layout == "classes":
            n = sum(1 for _ in class_rows(split, classes, sink, q))
        elif layout == "metadata":
            n = len(metadata_rows(split, sink, q))
        elif layout == "anomaly":
            n = len(anomaly_rows(split, sink))
        else:
            npz = npz_of(split)
            assert npz is not None
            try:
                n = len(npz_rows(npz, npz_task(npz), sink))
            except RaytrainError as e:
                sink.add(npz, "unreadable file", str(e).split(": ", 1)[-1], 0)
                n = 0
        if n == 0:
            sink.add(split, "empty split", "no usable samples in this split", 0)
        counts[name] = n
    return ValidationResult(str(root), layout, counts, sink.items)
