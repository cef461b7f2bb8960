"""Checkpoint files: weights that load with `weights_only=True`, and JSON for everything else.

A checkpoint folder holds `model.pt` (the state dict only: tensors, never pickled code),
`train_state.pt` (optimizer and schedule state for resuming, also tensors and plain containers)
and `meta.json` (architecture, parameters, data info, task, epoch, metrics, the full config).
`meta.json` is what lets a model be rebuilt without the YAML that trained it.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from raytrain.data.manifest import fsync_path
from raytrain.errors import RaytrainError
from raytrain.models import DataInfo, create_model

MODEL_FILE = "model.pt"
STATE_FILE = "train_state.pt"
META_FILE = "meta.json"


def unwrap(model: nn.Module) -> nn.Module:
    """The plain module inside DDP (or any wrapper with `.module`)."""
    return model.module if hasattr(model, "module") else model


def save_checkpoint(
    folder: str | Path,
    model: nn.Module,
    meta: dict[str, Any],
    train_state: dict[str, Any] | None = None,
) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(unwrap(model).state_dict(), folder / MODEL_FILE)
    if train_state is not None:
        torch.save(train_state, folder / STATE_FILE)
    (folder / META_FILE).write_text(json.dumps(meta, indent=2, default=str))
    return folder


def read_meta_json(folder: str | Path) -> dict[str, Any]:
    """A checkpoint's `meta.json` as a JSON object, without checking the model's fields: what
    checkpoint bookkeeping (epoch, metrics) needs. `read_meta` checks the rest."""
    path = Path(folder) / META_FILE
    try:
        meta = json.loads(path.read_text())
    except FileNotFoundError:
        raise RaytrainError(f"{path}: not a raytrain checkpoint (no {META_FILE})") from None
    except (OSError, ValueError) as e:
        raise RaytrainError(f"{path}: unreadable checkpoint metadata ({e})") from None
    if not isinstance(meta, dict):
        raise RaytrainError(f"{path}: checkpoint metadata is not a mapping")
    return meta


def read_meta(folder: str | Path) -> dict[str, Any]:
    """A checkpoint's metadata, checked: architecture, parameters, data info and task."""
    path = Path(folder) / META_FILE
    meta = read_meta_json(folder)
    check_meta(meta, path)
    if not isinstance(meta.get("task"), str):
        raise RaytrainError(f"{path}: checkpoint metadata 'task' is missing or not a str")
    return meta


#: key -> type every checkpoint's metadata holds.
_META_KEYS: dict[str, type] = {
    "architecture": str,
    "model_params": dict,
    "data_info": dict,
}
_DATA_INFO_KEYS = ("in_channels", "image_size", "feature_dim", "num_classes")


def check_meta(meta: Any, source: str | Path) -> dict[str, Any]:
    """Checkpoint metadata (`meta.json`, or a bundle's): what building the model needs,
    checked before any of it is used (`read_meta` also needs the task)."""
    if not isinstance(meta, dict):
        raise RaytrainError(f"{source}: checkpoint metadata is not a mapping")
    for key, kind in _META_KEYS.items():
        if not isinstance(meta.get(key), kind):
            raise RaytrainError(
                f"{source}: checkpoint metadata '{key}' is missing or not a {kind.__name__}"
            )
    info = meta["data_info"]
    for key in _DATA_INFO_KEYS:
        v = info.get(key)
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 0):
            raise RaytrainError(f"{source}: data_info.{key} must be a whole number (got {v!r})")
    unknown = set(info) - {*_DATA_INFO_KEYS, "extra"}
    if unknown or not isinstance(info.get("extra", {}), dict):
        raise RaytrainError(f"{source}: data_info has unknown keys {sorted(unknown)}")
    if not isinstance(meta.get("metrics", {}), dict):
        raise RaytrainError(f"{source}: checkpoint metadata 'metrics' is not a mapping")
    return meta


def load_state_dict(path: str | Path) -> dict[str, Any]:
    """Load tensors only. A file that needs pickled code to load is refused, never executed."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise RaytrainError(f"{path}: no such checkpoint file") from None
    except Exception as e:  # pickle.UnpicklingError and friends: refuse, do not fall back
        first = (str(e).splitlines() or [type(e).__name__])[0]  # EOFError has no message
        raise RaytrainError(
            f"{path}: refused to load (not a plain weights file: {first})"
        ) from None


def data_info_of(meta: dict[str, Any]) -> DataInfo:
    """The `DataInfo` a checkpoint's metadata records (what the model was built for)."""
    info = meta["data_info"]
    return DataInfo(**{k: v for k, v in info.items() if k != "extra"}, extra=info.get("extra", {}))


def build_model_from_meta(meta: dict[str, Any], source: str | Path = "metadata") -> nn.Module:
    check_meta(meta, source)
    try:
        return create_model(meta["architecture"], meta["model_params"], data_info_of(meta))
    except RaytrainError as e:
        raise RaytrainError(f"{source}: {e}") from None
    except (TypeError, ValueError, KeyError, AttributeError, RuntimeError) as e:
        raise RaytrainError(
            f"{source}: cannot build '{meta['architecture']}' from the recorded parameters "
            f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})"
        ) from None


def load_model(folder: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the architecture from `meta.json` and load the weights; eval mode, CPU."""
    meta = read_meta(folder)
    model = build_model_from_meta(meta, Path(folder) / META_FILE)
    state = load_state_dict(Path(folder) / MODEL_FILE)
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise RaytrainError(
            f"{Path(folder) / MODEL_FILE}: weights do not fit architecture "
            f"'{meta['architecture']}': {str(e).splitlines()[0]}"
        ) from None
    return model.eval(), meta


def replace_folder(source: str | Path, dest: str | Path) -> Path:
    """Copy checkpoint folder `source` to `dest`, replacing what is there as one step.

    The copy is written beside `dest` under a temp name and fsynced, then renamed into place;
    an earlier `dest` is renamed aside first and deleted last. Readers see the old folder or
    the new one, whole; a crash in between leaves the old copy under `.<name>.old.*`."""
    source, dest = Path(source), Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.new."))
    old: Path | None = None
    try:
        shutil.copytree(source, tmp, dirs_exist_ok=True)
        for p in sorted(tmp.rglob("*"), reverse=True):
            fsync_path(p)
        fsync_path(tmp)
        if dest.exists():
            old = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.old."))
            os.replace(dest, old)
        os.replace(tmp, dest)
        fsync_path(dest.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and not dest.exists():
            os.replace(old, dest)  # put the earlier copy back
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return dest
