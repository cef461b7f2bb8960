"""The manifest of a prepared dataset: what it holds, where the shards are, their checksums.

A prepared dataset is a folder: `manifest.json` plus `<split>/part-NNNNN.parquet`; or the same
under a bucket prefix (`s3://bucket/prefix`, read through `raytrain.data.fs`). Everything a
model builder needs to know about the data (channels, image size, feature count, classes, target
scale) is in `info`, so trials never have to scan the data to build their model.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from raytrain.data import fs
from raytrain.errors import RaytrainError

if TYPE_CHECKING:  # the model zoo imports torch; Ray Data's task workers read manifests without
    from raytrain.models.registry import DataInfo

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"


@dataclass
class Shard:
    path: str  # relative to the dataset folder
    rows: int
    sha256: str


@dataclass
class Split:
    count: int
    shards: list[Shard]


@dataclass
class Manifest:
    task: str
    splits: dict[str, Split]
    info: dict[str, Any]
    source: str
    schema_version: int = SCHEMA_VERSION
    extra: dict[str, Any] = field(default_factory=dict)

    def data_info(self) -> DataInfo:
        from raytrain.models.registry import DataInfo

        i = self.info
        extra = {
            k: v
            for k, v in i.items()
            if k not in ("in_channels", "image_size", "feature_dim", "num_classes")
        }
        return DataInfo(
            in_channels=i.get("in_channels", 1),
            image_size=i.get("image_size"),
            feature_dim=i.get("feature_dim"),
            num_classes=i.get("num_classes"),
            extra=extra,
        )

    def shard_paths(self, root: str | Path, split: str) -> list[str]:
        if split not in self.splits:
            raise RaytrainError(
                f"{fs.join(root, MANIFEST)}: the dataset has no '{split}' split "
                f"(it has: {', '.join(self.splits)})"
            )
        return [str(fs.join(root, s.path)) for s in self.splits[split].shards]


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fsync_path(path: str | Path) -> None:
    """fsync a file or a folder (a folder: so a rename inside it is durable)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write via a temp file in the same folder, fsync, rename: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def build_dataset_folder(final: Path) -> Iterator[Path]:
    """Yield a temp folder beside `final`; when the block succeeds, rename it into place.

    A crash leaves no half-written dataset under the final name, and when two processes build
    the same dataset at once the loser discards its copy (the winner's is identical: the folder
    name is a hash of everything that went into it).
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}."))
    try:
        yield tmp
        try:
            os.rename(tmp, final)
        except OSError:
            if not (final / MANIFEST).exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_manifest(root: str | Path, manifest: Manifest) -> None:
    atomic_write_text(Path(root) / MANIFEST, json.dumps(asdict(manifest), indent=2))


def read_manifest(root: str | Path) -> Manifest:
    """The manifest of the prepared dataset at `root` (a folder, or a bucket prefix)."""
    path = fs.join(root, MANIFEST)
    if fs.is_remote(path):
        try:
            text = fs.read_text(path)
        except FileNotFoundError:
            raise RaytrainError(f"{path}: no manifest; prepare the dataset first") from None
        except OSError as e:
            raise RaytrainError(f"{path}: cannot read it: {fs.describe_error(e)}") from None
    elif not Path(path).exists():
        raise RaytrainError(f"{path}: no manifest; prepare the dataset first")
    else:
        try:  # a folder in its place, no permission, not text: one line, as for its content
            text = Path(path).read_text()
        except (OSError, UnicodeDecodeError) as e:
            raise RaytrainError(f"{path}: not a valid raytrain manifest ({e})") from None
    try:
        raw = json.loads(text)
        splits = {
            k: Split(v["count"], [Shard(**s) for s in v["shards"]])
            for k, v in raw["splits"].items()
        }
        manifest = Manifest(
            task=raw["task"],
            splits=splits,
            info=raw["info"],
            source=raw["source"],
            schema_version=raw["schema_version"],
            extra=raw.get("extra", {}),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise RaytrainError(f"{path}: not a valid raytrain manifest ({e})") from None
    _check_types(manifest, path)
    return manifest


def _check_types(m: Manifest, path: str | Path) -> None:
    """Every field of a read manifest has the type the code using it expects."""

    def whole(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and v >= 0

    problems = [
        what
        for what, ok in (
            ("task must be a string", isinstance(m.task, str)),
            ("info must be a mapping", isinstance(m.info, dict)),
            ("source must be a string", isinstance(m.source, str)),
            ("extra must be a mapping", isinstance(m.extra, dict)),
            ("schema_version must be a number", whole(m.schema_version)),
        )
        if not ok
    ]
    for name, split in m.splits.items():
        if not whole(split.count) or not isinstance(split.shards, list):
            problems.append(f"splits.{name}: count must be a whole number, shards a list")
        for shard in split.shards:
            if not (
                isinstance(shard.path, str)
                and not Path(shard.path).is_absolute()
                and ".." not in Path(shard.path).parts
                and whole(shard.rows)
                and isinstance(shard.sha256, str)
            ):
                problems.append(f"splits.{name}: shard {shard.path!r} is malformed")
    if problems:
        raise RaytrainError(f"{path}: not a valid raytrain manifest ({problems[0]})")
