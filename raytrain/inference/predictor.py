"""Predictions from registered models, and the plugin surface (`AIModelPlugin`).

`Predictor.load("edge", "1.0.0")` loads a registered model and
`predict(arrays)` runs it on plain numpy input. The same object is an `AIModelPlugin`:
`metadata`, `initialize(config)`, `detect_edges(image)`, `get_performance_metrics()` and
`cleanup()`, so a model trained by raytrain drops into an application that expects a plugin.

Why input handling lives here and not in the caller: a model only ever saw what the training
pipeline fed it (grayscale uint8 images decoded like `raytrain.data.pipeline._decode`, resized
to the training size with INTER_AREA, divided by 255; or feature vectors of a fixed length).
Anything else is either converted the same way (with a note saying so) or refused with a
message that names the shape, never silently fed to the model.

What `predict` takes, by task (a list of arrays is always one sample per element):

- edges, classification: grayscale images (H, W) or (H, W, 1), uint8 0-255 or float in [0, 1];
  (H, W, 3) is read as RGB and converted to gray, with a note. Any size: images are resized to
  the model's input and edge maps resized back to each input's size. A bare array (N, H, W)
  is a batch.
- regression (coefficient optimizer): images as above (features by `feature_vector`, as in
  the training data) or feature vectors of the model's length; (N, D) float arrays are rows.
- anomaly: coefficient vectors of the model's length, one vector or an (N, D) array.

Two backends give the same numbers: `torch` rebuilds the model from the registry
(`ModelRegistry.load` + `export.with_activation`); `onnx` runs the registered `.onnx` file with
onnxruntime on the CPU. Both outputs already include the task's activation (sigmoid/softmax).
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import cv2
import numpy as np

from raytrain.artifacts.registry import INDEX, ModelRegistry, parse_ref
from raytrain.data.features import FEATURE_NAMES, feature_vector
from raytrain.errors import RaytrainError, did_you_mean
from raytrain.inference.runner import BACKENDS, Runner, checked_onnx, onnx_runner, torch_runner

Backend = Literal["torch", "onnx"]
DEFAULT_BATCH_SIZE = 32
DEFAULT_THRESHOLD = 0.5
#: Smaller arrays are not taken for images: a (1, 5) feature vector passed to an edge model
#: would otherwise be "resized" into a meaningless picture.
MIN_IMAGE_SIDE = 8

#: Task name -> the plugin `model_type`.
MODEL_TYPES: dict[str, str] = {
    "edges": "edge_detector",
    "regression": "coefficient_optimizer",
    "anomaly": "anomaly_detector",
    "classification": "classifier",
}
IMAGE_TASKS = ("edges", "classification")

#: The keys `initialize(config)` understands (the plugin keys, plus raytrain's own).
CONFIG_KEYS: tuple[str, ...] = (
    "model_path",
    "threshold",
    "input_size",
    "use_gpu",
    "confidence_threshold",
    "target_rmse",
    "backend",
    "device",
    "batch_size",
    "registry_root",
)
_BUNDLE_NAME = re.compile(r"^(?P<name>.+)_v(?P<version>\d+\.\d+\.\d+)\.(?:pth|onnx)$")


# -- plugin metadata and results ----------------------------------------------------------------


@dataclass(frozen=True)
class PluginMetadata:
    """A plugin's metadata, filled in from the registry entry."""

    name: str
    version: str
    author: str
    description: str
    plugin_type: str = "ai_model"
    model_type: str = ""
    dependencies: dict[str, str] = field(default_factory=dict)
    #: The registered model behind the plugin, as "name:version".
    model: str = ""


@dataclass
class EdgePrediction:
    """Edge maps, one per input, each at its input's size."""

    probabilities: list[np.ndarray]  # float32 (H, W) in [0, 1]
    edges: list[np.ndarray]  # uint8 (H, W), 0 or 255
    threshold: float
    notes: list[str] = field(default_factory=list)
    task: ClassVar[str] = "edges"

    def __len__(self) -> int:
        return len(self.edges)

    def rows(self) -> list[dict[str, Any]]:
        return [
            {
                "height": int(e.shape[0]),
                "width": int(e.shape[1]),
                "edge_fraction": float(np.count_nonzero(e) / e.size),
                "mean_probability": float(p.mean()),
            }
            for p, e in zip(self.probabilities, self.edges, strict=True)
        ]


@dataclass
class CountPrediction:
    """Coefficient counts: the model's real-valued output and the count to use."""

    counts: np.ndarray  # float32 (N,)
    rounded: np.ndarray  # int64 (N,), at least 1: a contour needs one coefficient
    notes: list[str] = field(default_factory=list)
    task: ClassVar[str] = "regression"

    def __len__(self) -> int:
        return len(self.counts)

    def rows(self) -> list[dict[str, Any]]:
        return [
            {"count": float(c), "count_rounded": int(r)}
            for c, r in zip(self.counts, self.rounded, strict=True)
        ]


@dataclass
class AnomalyPrediction:
    """Tamper scores (probability of "tampered") and labels (1 = tampered)."""

    scores: np.ndarray  # float32 (N,)
    labels: np.ndarray  # int64 (N,)
    threshold: float
    label_names: tuple[str, str] = ("normal", "tampered")
    notes: list[str] = field(default_factory=list)
    task: ClassVar[str] = "anomaly"

    def __len__(self) -> int:
        return len(self.scores)

    def rows(self) -> list[dict[str, Any]]:
        return [
            {"score": float(s), "label": int(k), "label_name": self.label_names[int(k)]}
            for s, k in zip(self.scores, self.labels, strict=True)
        ]


@dataclass
class ClassPrediction:
    """Class labels, their names and every class's probability."""

    probabilities: np.ndarray  # float32 (N, K)
    labels: np.ndarray  # int64 (N,)
    class_names: list[str]
    #: max probability >= the plugin's confidence_threshold (all True without one).
    confident: np.ndarray
    notes: list[str] = field(default_factory=list)
    task: ClassVar[str] = "classification"

    def __len__(self) -> int:
        return len(self.labels)

    def rows(self) -> list[dict[str, Any]]:
        out = []
        for p, k, ok in zip(self.probabilities, self.labels, self.confident, strict=True):
            row: dict[str, Any] = {
                "label": int(k),
                "class_name": self.class_names[int(k)],
                "probability": float(p[int(k)]),
                "confident": bool(ok),
            }
            row.update({f"p_{name}": float(v) for name, v in zip(self.class_names, p, strict=True)})
            out.append(row)
        return out


Prediction = EdgePrediction | CountPrediction | AnomalyPrediction | ClassPrediction


# -- finding the model --------------------------------------------------------------------------


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
    from raytrain.artifacts.checkpoint import load_state_dict

    bundle = load_state_dict(path)
    keys = ("model_state_dict", "metadata", "data_info", "metrics", "specifications")
    if not isinstance(bundle, dict) or any(k not in bundle for k in keys):
        raise RaytrainError(f"{path}: not a raytrain model bundle (needs keys {', '.join(keys)})")
    md = bundle["metadata"]
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


# -- runners: numpy batch in, numpy batch out -----------------------------------------------------


def _load_model(src: ModelSource) -> Any:
    """The source's eager model: a registered version (its weights' sha256 checked) or a
    bundle's weights in the architecture its metadata names."""
    from raytrain.artifacts.checkpoint import build_model_from_meta, load_state_dict

    if src.registry is not None:
        model, _ = src.registry.load(src.name, src.version)
        return model
    assert src.bundle is not None
    model = build_model_from_meta(src.meta)
    try:
        model.load_state_dict(load_state_dict(src.bundle)["model_state_dict"])
    except RuntimeError as e:  # weights of another architecture or shape
        raise RaytrainError(
            f"{src.bundle}: weights do not fit architecture "
            f"'{src.meta['architecture']}': {str(e).splitlines()[0]}"
        ) from None
    return model


def _runner_for(src: ModelSource, backend: str, device: str) -> Runner:
    if backend == "onnx":
        return onnx_runner(checked_onnx(src.onnx_path(), src.entry, src.ref), src.meta)
    return torch_runner(_load_model(src), src.meta, device)


def _resolve_device(
    device: str | None, use_gpu: bool | None, backend: str, notes: list[str]
) -> str:
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


# -- input preparation --------------------------------------------------------------------------


def _shape(a: np.ndarray) -> str:
    return "(" + ", ".join(str(s) for s in a.shape) + ")"


def _split_images(inputs: Any) -> list[np.ndarray]:
    """One array per image. A bare array is one image when it is (H, W) or (H, W, C<=4),
    a batch when (N, H, W) or (N, H, W, C); pass a list to leave no doubt."""
    if isinstance(inputs, np.ndarray):
        a = inputs
        if a.ndim == 2 or (a.ndim == 3 and a.shape[-1] <= 4):
            return [a]
        if a.ndim in (3, 4):
            return list(a)
        return [a]  # refused with its shape by _unit_image
    if isinstance(inputs, (list, tuple)):
        return [np.asarray(x) for x in inputs]
    raise RaytrainError(
        f"predict: expected a numpy array or a list of arrays, got {type(inputs).__name__}"
    )


def _unit_image(img: np.ndarray, i: int, channels: int, counts: dict[str, int]) -> np.ndarray:
    """(H, W) or (H, W, channels) float32 in [0, 1], as the training pipeline made images."""
    what = (
        f"input {i}: shape {_shape(img)} is not an image; image models take (H, W), "
        f"(H, W, 1) or (H, W, 3) arrays of at least {MIN_IMAGE_SIDE}x{MIN_IMAGE_SIDE}"
    )
    if img.ndim not in (2, 3) or min(img.shape[:2]) < MIN_IMAGE_SIDE:
        raise RaytrainError(what)
    if img.ndim == 3 and img.shape[2] not in (1, 3):
        raise RaytrainError(
            f"input {i}: shape {_shape(img)} has {img.shape[2]} channels; "
            f"expected 1 (gray) or 3 (RGB)"
        )
    x = _to_unit_float(img, i)
    if x.ndim == 3 and x.shape[2] == 1:
        x = x[:, :, 0]
    if channels == 1 and x.ndim == 3:
        counts["gray"] += 1
        x = cv2.cvtColor(x, cv2.COLOR_RGB2GRAY)
    elif channels == 3 and x.ndim == 2:
        counts["rgb"] += 1
        x = np.repeat(x[:, :, None], 3, axis=2)
    return x


def _to_unit_float(img: np.ndarray, i: int) -> np.ndarray:
    """uint8 (and small integers) are divided by 255; floats must already be in [0, 1]."""
    if img.dtype == np.bool_:
        return img.astype(np.float32)
    if np.issubdtype(img.dtype, np.integer):
        lo, hi = int(img.min()), int(img.max())
        if lo < 0 or hi > 255:
            raise RaytrainError(
                f"input {i}: integer pixel values must be 0-255 "
                f"(got {lo}..{hi}); convert 16-bit images to 8-bit first"
            )
        return img.astype(np.float32) / 255.0
    if not np.issubdtype(img.dtype, np.floating):
        raise RaytrainError(f"input {i}: unsupported pixel type {img.dtype}")
    x = img.astype(np.float32)
    if not np.isfinite(x).all():
        raise RaytrainError(f"input {i}: the image holds NaN or infinite values")
    if x.size and (x.min() < -1e-6 or x.max() > 1 + 1e-6):
        raise RaytrainError(
            f"input {i}: float pixel values must be in [0, 1] (got "
            f"{x.min():.4g}..{x.max():.4g}); pass uint8 or divide by 255"
        )
    return np.clip(x, 0.0, 1.0)


def _to_model_size(x: np.ndarray, size: int) -> np.ndarray:
    """Resized like the training pipeline's `_decode` (INTER_AREA), channels first."""
    if x.shape[:2] != (size, size):
        x = cv2.resize(np.ascontiguousarray(x), (size, size), interpolation=cv2.INTER_AREA)
    return x[None] if x.ndim == 2 else np.transpose(x, (2, 0, 1))


def _split_vectors(inputs: Any, dim: int) -> np.ndarray:
    """(N, dim) float32 from one vector, an (N, dim) array or a list of vectors."""
    if isinstance(inputs, np.ndarray) and inputs.ndim == 2:
        rows = list(inputs)
    elif isinstance(inputs, np.ndarray):
        rows = [inputs]
    elif isinstance(inputs, (list, tuple)):
        rows = [np.asarray(r) for r in inputs]
    else:
        raise RaytrainError(
            f"predict: expected a numpy array or a list of arrays, got {type(inputs).__name__}"
        )
    return (
        np.stack([_vector(r, i, dim) for i, r in enumerate(rows)])
        if rows
        else np.zeros((0, dim), np.float32)
    )


def _vector(v: np.ndarray, i: int, dim: int) -> np.ndarray:
    v = np.asarray(v)
    if v.ndim != 1 or v.shape[0] != dim:
        got = f"{v.shape[0]} values" if v.ndim == 1 else f"shape {_shape(v)}"
        raise RaytrainError(
            f"input {i}: expected a vector of {dim} values (the model's feature_dim), got {got}"
        )
    if np.iscomplexobj(v) or not (np.issubdtype(v.dtype, np.number) or v.dtype == np.bool_):
        raise RaytrainError(f"input {i}: expected real numbers, got dtype {v.dtype}")
    out = v.astype(np.float32)
    if not np.isfinite(out).all():
        raise RaytrainError(f"input {i}: the vector holds NaN or infinite values")
    return out


def _count_notes(counts: dict[str, int], size: int | None) -> list[str]:
    notes = []
    if counts.get("gray"):
        notes.append(f"{counts['gray']} color image(s) converted to gray (RGB order)")
    if counts.get("rgb"):
        notes.append(f"{counts['rgb']} gray image(s) repeated to 3 channels")
    if counts.get("resized"):
        notes.append(
            f"{counts['resized']} image(s) resized to the model's {size}x{size} input"
            f" (outputs are at each input's size)"
        )
    return notes


def _default_threshold(entry: dict[str, Any]) -> float:
    """The threshold the model was evaluated with (its config's evaluation.threshold)."""
    evaluation = (entry.get("config") or {}).get("evaluation") or {}
    t = evaluation.get("threshold")
    return float(t) if isinstance(t, int | float) else DEFAULT_THRESHOLD


def _check_unit(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1:
        raise RaytrainError(f"{key}: expected a number between 0 and 1 (exclusive), got {value!r}")
    return float(value)


def _is_vector_batch(a: np.ndarray, dim: int) -> bool:
    """One vector, or (N, dim) non-integer rows: feature vectors are floats, images uint8."""
    if a.ndim == 1:
        return True
    return a.ndim == 2 and a.shape[1] == dim and not np.issubdtype(a.dtype, np.integer)


# -- the predictor / plugin ---------------------------------------------------------------------


class Predictor:
    """A registered model ready to predict; also an `AIModelPlugin`.

    Build it with `Predictor.load(name, version)`, or `Predictor(name=...)` then
    `initialize(config)` the way a plugin host does.
    """

    def __init__(self, name: str | None = None) -> None:
        self._plugin_name = name
        self._source: ModelSource | None = None
        self._runner: Runner | None = None
        self.backend: str = "torch"
        self.device: str = "cpu"
        self.batch_size: int = DEFAULT_BATCH_SIZE
        self.threshold: float | None = None
        self.confidence_threshold: float | None = None
        self.registry_root: Path = Path("models")
        self.notes: list[str] = []

    # -- loading ----------------------------------------------------------------------------
    @classmethod
    def load(
        cls,
        name: str,
        version: str | None = None,
        root: str | Path = "models",
        backend: Backend = "torch",
        device: str | None = None,
        threshold: float | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> Predictor:
        """Load `name` (`name:version` works too) from the registry at `root`."""
        ref = name if version is None else f"{name}:{version}"
        p = cls()
        p.registry_root = Path(root)
        p.initialize(
            {
                "model_path": ref,
                "backend": backend,
                "device": device,
                "threshold": threshold,
                "batch_size": batch_size,
            }
        )
        return p

    def initialize(self, config: dict[str, Any]) -> None:
        """Apply a plugin config (the plugin keys); (re)load when it names a model."""
        unknown = [k for k in config if k not in CONFIG_KEYS]
        if unknown:
            k = unknown[0]
            raise RaytrainError(
                f"unknown plugin config key '{k}'{did_you_mean(k, CONFIG_KEYS)};"
                f" known: {', '.join(CONFIG_KEYS)}"
            )
        cfg = {k: v for k, v in config.items() if v is not None}
        if "registry_root" in cfg:
            self.registry_root = Path(cfg["registry_root"])
        backend = cfg.get("backend", self.backend)
        if backend not in BACKENDS:
            raise RaytrainError(f"backend '{backend}': expected one of {', '.join(BACKENDS)}")
        batch_size = cfg.get("batch_size", self.batch_size)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise RaytrainError(f"batch_size: expected a positive integer, got {batch_size!r}")
        self.batch_size = batch_size
        source = self._source
        if "model_path" in cfg:
            source = resolve_model(cfg["model_path"], self.registry_root)
        elif source is None:
            raise RaytrainError(
                "initialize: the config needs model_path (a registry ref "
                "NAME[:VERSION], a registered version folder or a .pth bundle)"
            )
        notes: list[str] = []
        self._check_settings(source, cfg)
        if "device" in cfg or "use_gpu" in cfg or self._runner is None:
            device = _resolve_device(cfg.get("device"), cfg.get("use_gpu"), backend, notes)
        else:  # a settings-only update keeps the device the model was loaded on
            device = self.device if backend == "torch" else "cpu"
        if (
            source is not self._source
            or backend != self.backend
            or device != self.device
            or self._runner is None
        ):
            self._runner = _runner_for(source, backend, device)
        self._source, self.backend, self.device = source, backend, device
        if "threshold" in cfg:
            self.threshold = _check_unit(cfg["threshold"], "threshold")
        if "confidence_threshold" in cfg:
            self.confidence_threshold = _check_unit(
                cfg["confidence_threshold"], "confidence_threshold"
            )
        self.notes = notes
        for note in notes:
            warnings.warn(f"{self.metadata.name}: {note}", stacklevel=2)

    @staticmethod
    def _check_settings(src: ModelSource, cfg: dict[str, Any]) -> None:
        """Refuse settings the model cannot honour, rather than ignore them."""
        task = src.meta["task"]
        shape = src.entry["input_shape"]
        if "input_size" in cfg:
            size = cfg["input_size"]
            pair = (
                [size, size]
                if isinstance(size, int)
                else list(size)
                if isinstance(size, (list, tuple))
                else None
            )
            if task not in IMAGE_TASKS:
                raise RaytrainError(f"input_size: model '{src.ref}' takes vectors, not images")
            if pair != list(shape[1:]):
                raise RaytrainError(
                    f"input_size {size!r}: model '{src.ref}' was trained on "
                    f"{shape[1]}x{shape[2]} images; set [{shape[1]}, "
                    f"{shape[2]}] or leave it out (inputs are resized to it)"
                )
        if "confidence_threshold" in cfg and task not in ("anomaly", "classification"):
            raise RaytrainError(
                f"confidence_threshold: applies to anomaly detectors and "
                f"classifiers; '{src.ref}' is a {MODEL_TYPES[task]}"
            )
        if "target_rmse" in cfg:
            if task != "regression":
                raise RaytrainError(
                    f"target_rmse: applies to coefficient optimizers; "
                    f"'{src.ref}' is a {MODEL_TYPES[task]}"
                )
            trained = (src.meta["data_info"].get("extra") or {}).get("target_rmse")
            want = cfg["target_rmse"]
            if isinstance(want, bool) or not isinstance(want, int | float) or want <= 0:
                raise RaytrainError(f"target_rmse: expected a positive number, got {want!r}")
            if trained is not None and not math.isclose(float(want), float(trained)):
                raise RaytrainError(
                    f"target_rmse {want}: model '{src.ref}' predicts counts "
                    f"for target_rmse {trained}; retrain for {want} or use "
                    f"{trained}"
                )

    # -- what the model is --------------------------------------------------------------------
    @property
    def source(self) -> ModelSource:
        if self._source is None or self._runner is None:
            raise RaytrainError(
                "the plugin is not initialized (or was cleaned up); call "
                "initialize(config) or Predictor.load(name, version)"
            )
        return self._source

    @property
    def entry(self) -> dict[str, Any]:
        return self.source.entry

    @property
    def task(self) -> str:
        return str(self.source.meta["task"])

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(s) for s in self.source.entry["input_shape"])

    @property
    def class_names(self) -> list[str]:
        info = self.source.meta["data_info"]
        names = (info.get("extra") or {}).get("class_names")
        k = int(info.get("num_classes") or 0)
        if isinstance(names, list) and len(names) == k:
            return [str(n) for n in names]
        return [str(i) for i in range(k)]

    @property
    def metadata(self) -> PluginMetadata:
        src = self.source
        import numpy
        import torch

        deps = {
            "raytrain": ">=0.1",
            "numpy": f">={numpy.__version__}",
            "opencv-python-headless": f">={cv2.__version__}",
        }
        if self.backend == "onnx":
            import onnxruntime

            deps["onnxruntime"] = f">={onnxruntime.__version__}"
        else:
            deps["torch"] = f">={torch.__version__.split('+')[0]}"
        metrics = ", ".join(
            f"{k}={v:.4g}" for k, v in sorted(src.entry["metrics"].items()) if k.startswith("val_")
        )
        return PluginMetadata(
            name=self._plugin_name or src.name,
            version=src.version,
            author=str((src.entry.get("source") or {}).get("author", "raytrain")),
            description=f"{src.meta['architecture']} {MODEL_TYPES[self.task]} trained by "
            f"raytrain" + (f" ({metrics})" if metrics else ""),
            model_type=MODEL_TYPES[self.task],
            dependencies=deps,
            model=src.ref,
        )

    def get_performance_metrics(self) -> dict[str, float]:
        """The metrics recorded when the model was registered, exactly as the registry has
        them (not re-measured: they describe the validation data it was chosen on)."""
        return dict(self.source.entry["metrics"])

    # -- prediction ---------------------------------------------------------------------------
    def predict(
        self, inputs: Any, threshold: float | None = None, batch_size: int | None = None
    ) -> Prediction:
        """Predict for a numpy array or a list of arrays (input forms: the module doc).

        Returns `EdgePrediction`, `ClassPrediction`, `AnomalyPrediction` or `CountPrediction`
        by task; `threshold` overrides the plugin's and the model's evaluation threshold."""
        task = self.task
        batch = batch_size or self.batch_size
        if task == "edges":
            return self._predict_edges(inputs, self._threshold(threshold), batch)
        if task == "classification":
            return self._predict_classes(inputs, batch)
        if task == "anomaly":
            t = threshold if threshold is not None else self.confidence_threshold
            return self._predict_anomaly(inputs, self._threshold(t), batch)
        if task == "regression":
            return self._predict_counts(inputs, batch)
        raise RaytrainError(f"model '{self.source.ref}': no prediction for task '{task}'")

    def detect_edges(self, image: np.ndarray) -> np.ndarray:
        """A uint8 edge map (0 or 255) at the image's size."""
        if self.task != "edges":
            raise RaytrainError(
                f"detect_edges: model '{self.source.ref}' is a "
                f"{MODEL_TYPES[self.task]}, not an edge_detector"
            )
        result = self.predict([np.asarray(image)])
        assert isinstance(result, EdgePrediction)
        return result.edges[0]

    def cleanup(self) -> None:
        """Free the model (and cached GPU memory); initialize() brings it back."""
        self._runner = None
        if self.device == "cuda":
            import torch

            torch.cuda.empty_cache()

    def __enter__(self) -> Predictor:
        return self

    def __exit__(self, *_: object) -> None:
        self.cleanup()

    def __repr__(self) -> str:
        what = self._source.ref if self._source else "not initialized"
        return f"Predictor({what}, backend={self.backend}, device={self.device})"

    # -- per task -----------------------------------------------------------------------------
    def _threshold(self, given: float | None) -> float:
        if given is not None:
            return _check_unit(given, "threshold")
        if self.threshold is not None:
            return self.threshold
        return _default_threshold(self.source.entry)

    def _run(self, x: np.ndarray, batch: int) -> np.ndarray:
        self.source  # noqa: B018  (raises when not initialized)
        runner = self._runner
        assert runner is not None
        if len(x) == 0:
            with_batch = runner(np.zeros((1, *x.shape[1:]), np.float32))
            return with_batch[:0]
        parts = [
            runner(np.ascontiguousarray(x[i : i + batch], np.float32))
            for i in range(0, len(x), batch)
        ]
        return np.concatenate(parts)

    def _images(self, inputs: Any) -> tuple[np.ndarray, list[tuple[int, int]], list[str]]:
        """Model-ready (N, C, S, S) float32, each input's (H, W), and notes."""
        channels, size = self.input_shape[0], self.input_shape[1]
        counts = {"gray": 0, "rgb": 0, "resized": 0}
        xs, sizes = [], []
        for i, img in enumerate(_split_images(inputs)):
            x = _unit_image(img, i, channels, counts)
            sizes.append((int(x.shape[0]), int(x.shape[1])))
            counts["resized"] += x.shape[:2] != (size, size)
            xs.append(_to_model_size(x, size))
        batch = np.stack(xs) if xs else np.zeros((0, channels, size, size), np.float32)
        return batch.astype(np.float32), sizes, _count_notes(counts, size)

    def _predict_edges(self, inputs: Any, threshold: float, batch: int) -> EdgePrediction:
        x, sizes, notes = self._images(inputs)
        out = self._run(x, batch)[:, 0]
        probs, edges = [], []
        for p, (h, w) in zip(out, sizes, strict=True):
            if p.shape != (h, w):
                p = np.clip(cv2.resize(p, (w, h), interpolation=cv2.INTER_LINEAR), 0.0, 1.0)
            probs.append(p.astype(np.float32))
            edges.append(((p > threshold) * 255).astype(np.uint8))
        return EdgePrediction(probs, edges, threshold, notes)

    def _predict_classes(self, inputs: Any, batch: int) -> ClassPrediction:
        x, _, notes = self._images(inputs)
        probs = self._run(x, batch)
        labels = probs.argmax(axis=1).astype(np.int64)
        conf = self.confidence_threshold
        confident = (
            probs.max(axis=1) >= conf
            if conf is not None and len(probs)
            else np.ones(len(probs), bool)
        )
        return ClassPrediction(probs, labels, self.class_names, confident, notes)

    def _predict_anomaly(self, inputs: Any, threshold: float, batch: int) -> AnomalyPrediction:
        dim = self.input_shape[0]
        scores = self._run(_split_vectors(inputs, dim), batch).reshape(-1)
        names = (self.source.meta["data_info"].get("extra") or {}).get("class_names")
        label_names = (
            tuple(names) if isinstance(names, list) and len(names) == 2 else ("normal", "tampered")
        )
        return AnomalyPrediction(
            scores, (scores > threshold).astype(np.int64), threshold, label_names
        )

    def _takes_images(self) -> bool:
        """Whether the regressor's features are `feature_vector`'s (so images can be given)."""
        names = (self.source.meta["data_info"].get("extra") or {}).get("feature_names")
        return self.input_shape == (len(FEATURE_NAMES),) and names in (None, list(FEATURE_NAMES))

    def _regression_rows(self, inputs: Any) -> tuple[np.ndarray, list[str]]:
        """Feature vectors; images become `feature_vector(img)` as in the training data."""
        dim = self.input_shape[0]
        if isinstance(inputs, np.ndarray) and _is_vector_batch(inputs, dim):
            return _split_vectors(inputs, dim), []
        items = (
            [np.asarray(a) for a in inputs]
            if isinstance(inputs, (list, tuple))
            else _split_images(inputs)
        )
        counts = {"gray": 0, "rgb": 0, "resized": 0}
        rows = []
        for i, a in enumerate(items):
            if a.ndim == 1:
                rows.append(_vector(a, i, dim))
                continue
            if not self._takes_images():
                raise RaytrainError(
                    f"input {i}: model '{self.source.ref}' takes feature "
                    f"vectors of {dim} values (custom features), not images;"
                    f" got shape {_shape(a)}"
                )
            gray = _unit_image(a, i, 1, counts)
            rows.append(feature_vector(np.rint(gray * 255.0).astype(np.uint8)))
        x = np.stack(rows) if rows else np.zeros((0, dim), np.float32)
        return x.astype(np.float32), _count_notes(counts, None)

    def _predict_counts(self, inputs: Any, batch: int) -> CountPrediction:
        x, notes = self._regression_rows(inputs)
        counts = self._run(x, batch).reshape(-1).astype(np.float32)
        rounded = np.maximum(np.rint(counts), 1).astype(np.int64)
        return CountPrediction(counts, rounded, notes)


#: The name plugin hosts load the class by.
RegisteredModelPlugin = Predictor
