"""The registry's index (`registry.json`): read as untrusted input, rebuilt when it is missing.

`registry.json` is a file anyone with the folder can edit, sync or lose, so it is checked before
any of it is used: every entry needs its keys with the right types, and its `path` must be
exactly `<name>/<version>` under the registry root (a path outside the root is refused, never
followed). Anything else is one `RaytrainError` naming the file and the entry.

The index can always be rebuilt from the version folders: each holds `entry.json` (the entry
as registered; versions registered before it existed are rebuilt from `meta.json` and their
files' sha256). A missing index is rebuilt in memory when read; a registration then writes the
rebuilt index with its new entry, so no registered version is ever dropped or overwritten.
Stages, aliases and the record of removed versions live in the index only: a rebuilt index
starts every version at stage `none`.

Writes here are durable: files and the folders that hold them are fsynced before and after a
rename, so a crash or power cut leaves the old or the new state, never a renamed empty file.
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from raytrain.data.manifest import atomic_write_text, fsync_path
from raytrain.errors import RaytrainError

INDEX = "registry.json"
ENTRY_FILE = "entry.json"
_SEMVER = re.compile(r"(\d+)\.(\d+)\.(\d+)")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_STAGES = ("none", "staging", "production", "archived")
#: key -> (type(s), what to say) for every key an entry must have.
_REQUIRED: dict[str, tuple[type | tuple[type, ...], str]] = {
    "name": (str, "a string"),
    "version": (str, "a string MAJOR.MINOR.PATCH"),
    "architecture": (str, "a string"),
    "task": (str, "a string"),
    "input_shape": (list, "a list of integers"),
    "metrics": (dict, "a mapping of metric to number"),
    "path": (str, "a string"),
    "files": (dict, "a mapping of file name to sha256"),
    "created": (str, "a string (ISO time)"),
}
_OPTIONAL: dict[str, tuple[type | tuple[type, ...], str]] = {
    "stage": (str, "a string"),
    "aliases": (list, "a list of strings"),
    "notes": (str, "a string"),
    "source": (dict, "a mapping"),
}


def empty_index() -> dict[str, Any]:
    return {"schema_version": 1, "models": {}}


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def check_entry(entry: Any, name: str, where: str) -> dict[str, Any]:
    """One entry of `models[name]`; raise naming `where` and the key when it is malformed."""
    if not isinstance(entry, dict):
        raise RaytrainError(f"{where}: entry is not a mapping")
    for key, (kind, what) in {**_REQUIRED, **_OPTIONAL}.items():
        if key not in entry:
            if key in _REQUIRED:
                raise RaytrainError(f"{where}: entry has no '{key}'")
            continue
        if not isinstance(entry[key], kind) or isinstance(entry[key], bool):
            raise RaytrainError(f"{where}: '{key}' must be {what}")
    version = entry["version"]
    if not _SEMVER.fullmatch(version):
        raise RaytrainError(f"{where}: version '{version}' is not MAJOR.MINOR.PATCH")
    if entry["name"] != name:
        raise RaytrainError(f"{where}: entry names model '{entry['name']}', filed under '{name}'")
    if entry["path"] != f"{name}/{version}":
        raise RaytrainError(
            f"{where}: path '{entry['path']}' is not '{name}/{version}' inside the registry; "
            f"refused (an index may not point outside its registry)"
        )
    if not all(isinstance(n, int) and not isinstance(n, bool) for n in entry["input_shape"]):
        raise RaytrainError(f"{where}: 'input_shape' must be a list of integers")
    if not all(isinstance(k, str) and _is_number(v) for k, v in entry["metrics"].items()):
        raise RaytrainError(f"{where}: 'metrics' must map names to finite numbers")
    if not all(
        isinstance(v, str) and "/" not in k and k not in ("", ".", "..")
        for k, v in entry["files"].items()
    ):
        raise RaytrainError(f"{where}: 'files' must map plain file names to sha256 strings")
    if entry.get("stage", "none") not in _STAGES:
        raise RaytrainError(f"{where}: stage '{entry['stage']}' is not one of {_STAGES}")
    if not all(isinstance(a, str) for a in entry.get("aliases", [])):
        raise RaytrainError(f"{where}: 'aliases' must be a list of strings")
    return entry


def check_index(data: Any, path: Path) -> dict[str, Any]:
    """A parsed `registry.json`, checked; raise a RaytrainError naming what is wrong."""
    if not isinstance(data, dict) or not isinstance(data.get("models"), dict):
        raise RaytrainError(f"{path}: not a raytrain registry index (no 'models' mapping)")
    for name, entries in data["models"].items():
        if not _NAME.match(name) or ".." in name:
            raise RaytrainError(f"{path}: model name '{name}' is not a valid registry name")
        if not isinstance(entries, list):
            raise RaytrainError(f"{path}: models.{name} must be a list of versions")
        seen: set[str] = set()
        for i, entry in enumerate(entries):
            check_entry(entry, name, f"{path}: models.{name}[{i}]")
            if entry["version"] in seen:
                raise RaytrainError(
                    f"{path}: models.{name}[{i}]: version {entry['version']} is listed twice"
                )
            seen.add(entry["version"])
    removed = data.get("removed", {})
    if not isinstance(removed, dict) or not all(
        isinstance(v, list)
        and all(isinstance(e, dict) and _SEMVER.fullmatch(str(e.get("version"))) for e in v)
        for v in removed.values()
    ):
        raise RaytrainError(f"{path}: 'removed' must map names to lists of {{version: ...}}")
    return data


def read_index(root: Path) -> dict[str, Any]:
    """The checked index of the registry at `root`; rebuilt from the folders when missing."""
    path = root / INDEX
    if not path.exists() and not path.is_symlink():
        return rebuild_index(root)
    if path.is_dir():
        raise RaytrainError(f"{path}: is a directory, expected the registry index file")
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text)
    except (OSError, UnicodeDecodeError) as e:
        raise RaytrainError(f"{path}: cannot read the registry index ({e})") from None
    except ValueError as e:
        raise RaytrainError(f"{path}: corrupt registry index ({e}); not touching it") from None
    return check_index(data, path)


def version_folders(root: Path) -> list[tuple[str, str, Path]]:
    """(name, version, folder) of every complete version folder under `root`."""
    out = []
    if not root.is_dir():
        return out
    for name_dir in sorted(root.iterdir()):
        if name_dir.name.startswith(".") or not name_dir.is_dir() or name_dir.is_symlink():
            continue
        for folder in sorted(name_dir.iterdir()):
            if (
                _SEMVER.fullmatch(folder.name)
                and folder.is_dir()
                and not folder.is_symlink()
                and (folder / "meta.json").is_file()
            ):
                out.append((name_dir.name, folder.name, folder))
    return out


def rebuild_index(root: Path) -> dict[str, Any]:
    """An index made from the version folders (their `entry.json`, else `meta.json`)."""
    from raytrain.artifacts.export import input_shape
    from raytrain.data.manifest import sha256_file

    index = empty_index()
    for name, version, folder in version_folders(root):
        if not _NAME.match(name) or ".." in name:
            continue
        entry = None
        try:
            saved = json.loads((folder / ENTRY_FILE).read_text())
            entry = check_entry(saved, name, str(folder / ENTRY_FILE))
            entry = {**entry, "stage": "none", "aliases": []}
        except (OSError, ValueError, RaytrainError):
            try:
                meta = json.loads((folder / "meta.json").read_text())
                entry = {
                    "name": name,
                    "version": version,
                    "architecture": str(meta["architecture"]),
                    "task": str(meta["task"]),
                    "input_shape": list(input_shape(meta)),
                    "metrics": {
                        k: v for k, v in (meta.get("metrics") or {}).items() if _is_number(v)
                    },
                    "monitor": meta.get("monitor"),
                    "epoch": meta.get("epoch"),
                    "created": datetime.fromtimestamp(
                        (folder / "meta.json").stat().st_mtime, timezone.utc
                    ).isoformat(),
                    "path": f"{name}/{version}",
                    "stage": "none",
                    "aliases": [],
                    "config": meta.get("config"),
                    "files": {
                        p.name: sha256_file(p)
                        for p in sorted(folder.iterdir())
                        if p.is_file() and p.name != ENTRY_FILE
                    },
                }
                check_entry(entry, name, str(folder))
            except (OSError, ValueError, KeyError, TypeError, AttributeError, RaytrainError):
                continue  # not a usable version folder: left alone, not indexed
        entry["path"] = f"{name}/{version}"
        index["models"].setdefault(name, []).append(entry)
    return index


def fsync_tree(folder: Path) -> None:
    """fsync every file in `folder` and the folder itself (before it is renamed into place)."""
    for p in folder.iterdir():
        if p.is_file():
            fsync_path(p)
    fsync_path(folder)


def write_index(root: Path, index: dict[str, Any]) -> None:
    """Temp file + fsync + rename + fsync of the folder."""
    atomic_write_text(root / INDEX, json.dumps(index, indent=2))
    fsync_path(root)
