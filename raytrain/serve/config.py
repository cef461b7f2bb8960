"""What `raytrain serve` serves and how: typed options, checked before anything starts.

A `ModelSpec` is one served model: the route name (`POST /v1/models/<name>:predict`) and the
plugin config its replicas give `Predictor.initialize` (`model_path` is the registry ref or
path; `backend`, `threshold`, ... as in a plugins.yaml entry). `ServeOptions` adds the replica
count or autoscaling range, dynamic batching, the HTTP address and the request limits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from raytrain.errors import RaytrainError

#: Route names: what a registry name may be (so `NAME:predict` and URLs stay unambiguous).
_ROUTE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_SEMVER = re.compile(r"^\d+\.\d+\.\d+$")
APP_NAME = "raytrain"
DEFAULT_PORT = 8000
DEFAULT_HOST = "127.0.0.1"
DEFAULT_MAX_BATCH_SIZE = 16
DEFAULT_BATCH_WAIT_MS = 2.0
DEFAULT_MAX_BODY_MB = 16.0
#: Instances one request may hold; a bigger job is a file job for `raytrain predict`.
DEFAULT_MAX_INSTANCES = 256
#: Pixels of one decoded image (checked from the PNG/JPEG header before decoding).
DEFAULT_MAX_IMAGE_PIXELS = 4096 * 4096


@dataclass(frozen=True)
class ModelSpec:
    """One served model: its route name and its plugin config (`model_path` required)."""

    name: str
    config: dict[str, Any]

    def __post_init__(self) -> None:
        if not _ROUTE.match(self.name) or ".." in self.name:
            raise RaytrainError(
                f"served model name '{self.name}': use letters, digits, '_', '-', '.' "
                f"(it is the URL's /v1/models/<name>:predict)"
            )
        if "model_path" not in self.config:
            raise RaytrainError(f"served model '{self.name}': its config needs model_path")

    @property
    def ref(self) -> str:
        return str(self.config["model_path"])

    @property
    def follows(self) -> str | None:
        """The label the replicas re-resolve (`production`, an alias, `latest` for a bare
        NAME), or None for a pinned version or a path."""
        ref = self.ref
        if "/" in ref or "\\" in ref or ref.endswith((".pth", ".onnx")):
            return None
        if "@" in ref:
            return ref.partition("@")[2] or "latest"
        version = ref.partition(":")[2]
        if not version:
            return "latest"
        return None if _SEMVER.match(version) else version


@dataclass(frozen=True)
class ServeOptions:
    models: tuple[ModelSpec, ...]
    registry_root: str = "models"
    replicas: int = 1
    #: (min, max) replicas per model; overrides `replicas` when set.
    autoscale: tuple[int, int] | None = None
    max_batch_size: int = DEFAULT_MAX_BATCH_SIZE
    batch_wait_ms: float = DEFAULT_BATCH_WAIT_MS
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    #: CPUs each model replica reserves (a fraction lets several share a core).
    num_cpus: float = 1.0
    #: GPUs each model replica reserves (the torch backend then runs on CUDA).
    num_gpus: float = 0.0
    max_body_bytes: int = int(DEFAULT_MAX_BODY_MB * 1024 * 1024)
    max_instances: int = DEFAULT_MAX_INSTANCES
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS
    #: How often (at most) a replica serving NAME@LABEL looks at the registry index again.
    label_poll_s: float = 1.0

    def __post_init__(self) -> None:
        if not self.models:
            raise RaytrainError("serve: name at least one model (NAME[:VERSION|@LABEL])")
        names = [m.name for m in self.models]
        dup = next((n for n in names if names.count(n) > 1), None)
        if dup:
            raise RaytrainError(
                f"serve: model '{dup}' is named twice; serve two versions of one model "
                f"under different names with a plugins.yaml"
            )
        _positive_int(self.replicas, "--replicas")
        if self.autoscale is not None:
            lo, hi = self.autoscale
            if isinstance(lo, bool) or not isinstance(lo, int) or lo < 0:
                raise RaytrainError(f"--autoscale {lo},{hi}: MIN must be an integer >= 0")
            _positive_int(hi, "--autoscale MAX")
            if hi < lo:
                raise RaytrainError(f"--autoscale {lo},{hi}: MAX must be >= MIN")
        _positive_int(self.max_batch_size, "--max-batch-size")
        if not 0 <= self.batch_wait_ms <= 10_000:
            raise RaytrainError(f"--batch-wait-ms {self.batch_wait_ms}: expected 0..10000")
        if not 1 <= self.port <= 65535:
            raise RaytrainError(f"--port {self.port}: expected 1..65535")
        if not self.num_cpus > 0:
            raise RaytrainError(f"--num-cpus {self.num_cpus}: expected a positive number")
        if not self.num_gpus >= 0:
            raise RaytrainError(f"--num-gpus {self.num_gpus}: expected a number >= 0")
        _positive_int(self.max_body_bytes, "max body size")
        _positive_int(self.max_instances, "--max-instances")
        _positive_int(self.max_image_pixels, "max image pixels")

    @property
    def limits(self) -> dict[str, int]:
        return {
            "max_body_bytes": self.max_body_bytes,
            "max_instances": self.max_instances,
            "max_image_pixels": self.max_image_pixels,
        }


def _positive_int(value: Any, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise RaytrainError(f"{what} {value!r}: expected a positive integer")


def parse_autoscale(text: str | None) -> tuple[int, int] | None:
    """'1,4' -> (1, 4)."""
    if text is None:
        return None
    lo, sep, hi = text.partition(",")
    if not sep or not lo.strip().isdigit() or not hi.strip().isdigit():
        raise RaytrainError(f"--autoscale {text}: expected MIN,MAX replicas, e.g. 1,4")
    return int(lo), int(hi)


def specs_from_refs(refs: tuple[str, ...], backend: str | None) -> list[ModelSpec]:
    """One spec per `NAME[:VERSION|@LABEL]`, served under NAME."""
    from raytrain.artifacts.registry import parse_ref

    out = []
    for ref in refs:
        name, _ = parse_ref(ref)  # checks the spelling
        config: dict[str, Any] = {"model_path": ref}
        if backend:
            config["backend"] = backend
        out.append(ModelSpec(name, config))
    return out


def specs_from_plugins(
    path: str | Path, registry_root: str | Path, backend: str | None
) -> list[ModelSpec]:
    """One spec per enabled plugins.yaml entry, served under the entry's name.

    The file is loaded whole first (`raytrain.inference.load_plugins`: every model is found
    and initialized once here), so a typo or a missing model stops `serve` with the file,
    line and entry before any replica starts."""
    from raytrain.config.yaml_io import load_file
    from raytrain.inference.plugins import _relative_to, load_plugins

    path = Path(path)
    loaded = load_plugins(path, registry_root)
    for plugins in loaded.values():
        for p in plugins:
            p.cleanup()
    data, _ = load_file(path)
    out = []
    for items in (data.get("plugins") or {}).values():
        for item in items or []:
            if not item.get("enabled", True):
                continue
            config = _absolute(_relative_to(dict(item["config"]), path.parent))
            if backend:
                config["backend"] = backend
            out.append(ModelSpec(str(item["name"]), config))
    return out


def _absolute(config: dict[str, Any]) -> dict[str, Any]:
    """A model path made absolute: replicas do not share the command's working folder."""
    ref = str(config["model_path"])
    p = Path(ref).expanduser()
    looks_like_path = "/" in ref or "\\" in ref or ref.endswith((".pth", ".onnx"))
    if looks_like_path and not p.is_absolute():
        config = {**config, "model_path": str(p.resolve())}
    return config
