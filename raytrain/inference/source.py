"""Finding a model to run: a registry reference, a version folder or a `.pth` bundle, and the
runner and device it runs on."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from raytrain.artifacts.registry import INDEX, ModelRegistry, parse_ref
from raytrain.errors import RaytrainError
from raytrain.inference.runner import Runner, checked_onnx, onnx_runner, torch_runner

_BUNDLE_NAME = re.compile(r"^(?P<name>.+)_v(?P<version>\d+\.\d+\.\d+)\.(?:pth|onnx)$")


@dataclass(frozen=True)
class ModelSource:
    """Where a model's weights and metadata come from: a registry version or a lone bundle."""

    name: str
    version: str
    entry: dict[str, Any]  # the registry entry (or its equivalent built from a bundle)
    meta: dict[str, Any]  # architecture, model_params, task, data_info, metrics, config
    registry: ModelRegistry | None = None
    bundle: Path | None = None  # a standalone `<name>_v<version>.pth` outside any registry

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.version}"

    def onnx_path(self) -> Path:
        if self.bundle is not None:
            return self.bundle.with_suffix(".onnx")
        assert self.registry is not None
        return self.registry.path_of(self.entry) / f"{self.name}_v{self.version}.onnx"


def looks_like_path(ref: str) -> bool:
    """Registry names never hold '/' and never end in .pth/.onnx; anything else is a ref.

    Deciding on spelling, not on existence, keeps `raytrain predict edges edges/` working when
    the current folder happens to hold a folder named like the model.
    """
    return "/" in ref or "\\" in ref or ref.endswith((".pth", ".onnx"))


def _registry_source(registry: ModelRegistry, name: str, version: str | None) -> ModelSource:
    from raytrain.artifacts.checkpoint import read_meta

    entry = registry.get(name, version)
    meta = read_meta(registry.path_of(entry))
    return ModelSource(entry["name"], entry["version"], entry, meta, registry=registry)


def _registered_folder(folder: Path) -> ModelSource | None:
    """The source for `<root>/<name>/<version>/` when that folder is a registered version."""
    root = folder.parent.parent
    if not (root / INDEX).exists():
        return None
    registry = ModelRegistry(root)
    try:
        entry = registry.get(folder.parent.name, folder.name)
    except RaytrainError:
        return None
    if registry.path_of(entry).resolve() != folder.resolve():
        return None
    return _registry_source(registry, entry["name"], entry["version"])


def _bundle_source(path: Path) -> ModelSource:
    """A `.pth` export bundle copied out of the registry: it carries everything needed."""
    from raytrain.artifacts.checkpoint import check_meta, load_state_dict

    bundle = load_state_dict(path)
    keys = ("model_state_dict", "metadata", "data_info", "metrics", "specifications")
    if not isinstance(bundle, dict) or any(k not in bundle for k in keys):
        raise RaytrainError(f"{path}: not a raytrain model bundle (needs keys {', '.join(keys)})")
    md, spec = bundle["metadata"], bundle["specifications"]
    if not (
        isinstance(md, dict)
        and all(isinstance(md.get(k), str) for k in ("name", "version", "architecture", "task"))
        and isinstance(md.get("model_params"), dict)
        and isinstance(spec, dict)
        and isinstance(spec.get("input_shape"), list | tuple)
        and isinstance(bundle["metrics"], dict)
    ):
        raise RaytrainError(
            f"{path}: the bundle's metadata is malformed (metadata needs name, version, "
            f"architecture, task as strings and model_params; specifications.input_shape)"
        )
    meta = {
        "architecture": md["architecture"],
        "model_params": md["model_params"],
        "task": md["task"],
        "data_info": bundle["data_info"],
        "metrics": bundle["metrics"],
        "config": bundle.get("training_config"),
    }
    entry = {
        "name": md["name"],
        "version": md["version"],
        "architecture": md["architecture"],
        "task": md["task"],
        "input_shape": list(bundle["specifications"]["input_shape"]),
        "metrics": dict(bundle["metrics"]),
        "config": bundle.get("training_config"),
        "source": {"bundle": str(path)},
        "files": {},
    }
    check_meta(meta, path)
    return ModelSource(md["name"], md["version"], entry, meta, bundle=path)


def _path_source(ref: str, base_dirs: Sequence[Path]) -> ModelSource:
    p = Path(ref).expanduser()
    candidates = [p] if p.is_absolute() else [Path(b) / p for b in base_dirs] or [p]
    existing = next((c for c in candidates if c.exists()), None)
    if existing is not None:
        if existing.is_dir():
            src = _registered_folder(existing)
            if src is None:
                raise RaytrainError(
                    f"{existing}: not a registered model version (expected "
                    f"<registry>/<name>/<version>/ next to a {INDEX})"
                )
            return src
        if existing.suffix == ".pth":
            return _registered_folder(existing.parent) or _bundle_source(existing)
        if existing.suffix == ".onnx":
            src = _registered_folder(existing.parent)
            if src is not None:
                return src
        raise RaytrainError(
            f"{existing}: expected a registry ref NAME[:VERSION], a registered "
            f"version folder or a .pth bundle written by the registry"
        )
    # plugins.yaml files spell models as `models/<name>_v<version>.pth`: a registry lookup.
    m = _BUNDLE_NAME.match(p.name)
    for c in candidates:
        if m and (c.parent / INDEX).exists():
            return _registry_source(ModelRegistry(c.parent), m["name"], m["version"])
    raise RaytrainError(f"{ref}: no such model file or folder")


def resolve_model(
    ref: str | Path, root: str | Path = "models", base_dirs: Sequence[str | Path] = (".",)
) -> ModelSource:
    """Find a model from `name[:version]` (in registry `root`), a registered version folder,
    a `.pth` bundle, or the `models/<name>_v<version>.pth` spelling."""
    ref = str(ref)
    if looks_like_path(ref):
        return _path_source(ref, [Path(b) for b in base_dirs])
    return _registry_source(ModelRegistry(root), *parse_ref(ref))  # version, stage or alias


def _load_model(src: ModelSource) -> Any:
    """The source's eager model: a registered version (its weights' sha256 checked) or a
    bundle's weights in the architecture its metadata names."""
    from raytrain.artifacts.checkpoint import build_model_from_meta, load_state_dict

    if src.registry is not None:
        model, _ = src.registry.load(src.name, src.version)
        return model
    assert src.bundle is not None
    model = build_model_from_meta(src.meta, src.bundle)
    try:
        model.load_state_dict(load_state_dict(src.bundle)["model_state_dict"])
    except RuntimeError as e:  # weights of another architecture or shape
        raise RaytrainError(
            f"{src.bundle}: weights do not fit architecture "
            f"'{src.meta['architecture']}': {str(e).splitlines()[0]}"
        ) from None
    return model


def runner_for(src: ModelSource, backend: str, device: str) -> Runner:
    if backend == "onnx":
        return onnx_runner(checked_onnx(src.onnx_path(), src.entry, src.ref), src.meta)
    return torch_runner(_load_model(src), src.meta, device)


def resolve_device(device: str | None, use_gpu: bool | None, backend: str, notes: list[str]) -> str:
    """'cpu' or 'cuda'. An explicit 'cuda' without a GPU is an error; `use_gpu: true` in a
    plugin config falls back to the CPU with a note, so one config serves both machines."""
    import torch

    if device not in (None, "cpu", "cuda"):
        raise RaytrainError(f"device '{device}': expected cpu or cuda")
    if device == "cuda" and not torch.cuda.is_available():
        raise RaytrainError("device 'cuda' asked for, but no CUDA device is available")
    want_gpu = device == "cuda" or (
        device is None and use_gpu is not False and torch.cuda.is_available()
    )
    if use_gpu and device is None and not torch.cuda.is_available():
        notes.append("use_gpu: no CUDA device available, running on the CPU")
    if want_gpu and backend == "onnx":
        notes.append("the onnx backend runs on the CPU (CPUExecutionProvider)")
        return "cpu"
    return "cuda" if want_gpu else "cpu"
