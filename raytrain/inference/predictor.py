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
import time
import warnings
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np

from raytrain.artifacts.storage import as_root
from raytrain.data.features import FEATURE_NAMES, feature_vector
from raytrain.errors import PluginError, RaytrainError, did_you_mean
from raytrain.inference.inputs import (
    check_vector,
    count_notes,
    is_vector_batch,
    shape_of,
    split_images,
    split_vectors,
    to_model_size,
    unit_image,
)
from raytrain.inference.outputs import (
    AnomalyPrediction,
    ClassPrediction,
    CountPrediction,
    EdgePrediction,
    PluginMetadata,
    Prediction,
)
from raytrain.inference.runner import BACKENDS, Runner
from raytrain.inference.source import ModelSource, resolve_device, resolve_model, runner_for

Backend = Literal["torch", "onnx"]
DEFAULT_BATCH_SIZE = 32
DEFAULT_THRESHOLD = 0.5

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


def _default_threshold(entry: dict[str, Any]) -> float:
    """The threshold the model was evaluated with (its config's evaluation.threshold)."""
    evaluation = (entry.get("config") or {}).get("evaluation") or {}
    t = evaluation.get("threshold")
    return float(t) if isinstance(t, int | float) else DEFAULT_THRESHOLD


def _check_unit(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1:
        raise PluginError(f"{key}: expected a number between 0 and 1 (exclusive), got {value!r}")
    return float(value)


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
        self.registry_root: Path | str = Path("models")
        self.notes: list[str] = []
        #: (milliseconds, examples) of the forward passes so far: `get_performance_metrics`
        self._timed: tuple[float, int] = (0.0, 0)

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
        p.registry_root = as_root(root)
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
            raise PluginError(
                f"unknown plugin config key '{k}'{did_you_mean(k, CONFIG_KEYS)};"
                f" known: {', '.join(CONFIG_KEYS)}"
            )
        cfg = {k: v for k, v in config.items() if v is not None}
        if "registry_root" in cfg:
            self.registry_root = as_root(cfg["registry_root"])
        backend = cfg.get("backend", self.backend)
        if backend not in BACKENDS:
            raise PluginError(f"backend '{backend}': expected one of {', '.join(BACKENDS)}")
        batch_size = cfg.get("batch_size", self.batch_size)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise PluginError(f"batch_size: expected a positive integer, got {batch_size!r}")
        self.batch_size = batch_size
        source = self._source
        if "model_path" in cfg:
            try:
                source = resolve_model(cfg["model_path"], self.registry_root)
            except PluginError:
                raise
            except RaytrainError as e:  # the registry's or the file's error, as a plugin's
                raise PluginError(str(e)) from None
        elif source is None:
            raise PluginError(
                "initialize: the config needs model_path (a registry ref "
                "NAME[:VERSION], a registered version folder or a .pth bundle)"
            )
        notes: list[str] = []
        self._check_settings(source, cfg)
        if "device" in cfg or "use_gpu" in cfg or self._runner is None:
            device = resolve_device(cfg.get("device"), cfg.get("use_gpu"), backend, notes)
        else:  # a settings-only update keeps the device the model was loaded on
            device = self.device if backend == "torch" else "cpu"
        if (
            source is not self._source
            or backend != self.backend
            or device != self.device
            or self._runner is None
        ):
            self._runner = runner_for(source, backend, device)
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
                raise PluginError(f"input_size: model '{src.ref}' takes vectors, not images")
            if pair != list(shape[1:]):
                raise PluginError(
                    f"input_size {size!r}: model '{src.ref}' was trained on "
                    f"{shape[1]}x{shape[2]} images; set [{shape[1]}, "
                    f"{shape[2]}] or leave it out (inputs are resized to it)"
                )
        if "confidence_threshold" in cfg and task not in ("anomaly", "classification"):
            raise PluginError(
                f"confidence_threshold: applies to anomaly detectors and "
                f"classifiers; '{src.ref}' is a {MODEL_TYPES[task]}"
            )
        if "target_rmse" in cfg:
            if task != "regression":
                raise PluginError(
                    f"target_rmse: applies to coefficient optimizers; "
                    f"'{src.ref}' is a {MODEL_TYPES[task]}"
                )
            trained = (src.meta["data_info"].get("extra") or {}).get("target_rmse")
            want = cfg["target_rmse"]
            if isinstance(want, bool) or not isinstance(want, int | float) or want <= 0:
                raise PluginError(f"target_rmse: expected a positive number, got {want!r}")
            if trained is not None and not math.isclose(float(want), float(trained)):
                raise PluginError(
                    f"target_rmse {want}: model '{src.ref}' predicts counts "
                    f"for target_rmse {trained}; retrain for {want} or use "
                    f"{trained}"
                )

    # -- what the model is --------------------------------------------------------------------
    @property
    def source(self) -> ModelSource:
        if self._source is None or self._runner is None:
            raise PluginError(
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
        them (not re-measured: they describe the data it was chosen and tested on), plus
        `inference_time_ms`: measured here, per example, on this backend and device — the
        mean over the predictions made so far, or over a few batch-1 runs of a blank input
        when there were none yet."""
        out = dict(self.source.entry["metrics"])
        total_ms, n = self._timed
        if n == 0:
            total_ms, n = self._time_blank_runs()
        out["inference_time_ms"] = total_ms / n
        return out

    def _time_blank_runs(self, repeats: int = 5) -> tuple[float, int]:
        x = np.zeros((1, *self.input_shape), np.float32)
        runner = self._runner
        assert runner is not None
        runner(x)  # warm-up: first-call allocations are not inference time
        t0 = time.perf_counter()
        for _ in range(repeats):
            runner(x)
        return (time.perf_counter() - t0) * 1e3, repeats

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
        raise PluginError(f"model '{self.source.ref}': no prediction for task '{task}'")

    def detect_edges(self, image: np.ndarray) -> np.ndarray:
        """A uint8 edge map (0 or 255) at the image's size."""
        if self.task != "edges":
            raise PluginError(
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
        t0 = time.perf_counter()
        parts = [
            runner(np.ascontiguousarray(x[i : i + batch], np.float32))
            for i in range(0, len(x), batch)
        ]
        total_ms, n = self._timed
        self._timed = (total_ms + (time.perf_counter() - t0) * 1e3, n + len(x))
        return np.concatenate(parts)

    def _images(self, inputs: Any) -> tuple[np.ndarray, list[tuple[int, int]], list[str]]:
        """Model-ready (N, C, S, S) float32, each input's (H, W), and notes."""
        channels, size = self.input_shape[0], self.input_shape[1]
        counts = {"gray": 0, "rgb": 0, "resized": 0}
        xs, sizes = [], []
        for i, img in enumerate(split_images(inputs)):
            x = unit_image(img, i, channels, counts)
            sizes.append((int(x.shape[0]), int(x.shape[1])))
            counts["resized"] += x.shape[:2] != (size, size)
            xs.append(to_model_size(x, size))
        batch = np.stack(xs) if xs else np.zeros((0, channels, size, size), np.float32)
        return batch.astype(np.float32), sizes, count_notes(counts, size)

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
        scores = self._run(split_vectors(inputs, dim), batch).reshape(-1)
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
        if isinstance(inputs, np.ndarray) and is_vector_batch(inputs, dim):
            return split_vectors(inputs, dim), []
        items = (
            [np.asarray(a) for a in inputs]
            if isinstance(inputs, (list, tuple))
            else split_images(inputs)
        )
        counts = {"gray": 0, "rgb": 0, "resized": 0}
        rows = []
        for i, a in enumerate(items):
            if a.ndim == 1:
                rows.append(check_vector(a, i, dim))
                continue
            if not self._takes_images():
                raise PluginError(
                    f"input {i}: model '{self.source.ref}' takes feature "
                    f"vectors of {dim} values (custom features), not images;"
                    f" got shape {shape_of(a)}"
                )
            gray = unit_image(a, i, 1, counts)
            rows.append(feature_vector(np.rint(gray * 255.0).astype(np.uint8)))
        x = np.stack(rows) if rows else np.zeros((0, dim), np.float32)
        return x.astype(np.float32), count_notes(counts, None)

    def _predict_counts(self, inputs: Any, batch: int) -> CountPrediction:
        x, notes = self._regression_rows(inputs)
        counts = self._run(x, batch).reshape(-1).astype(np.float32)
        rounded = np.maximum(np.rint(counts), 1).astype(np.int64)
        return CountPrediction(counts, rounded, notes)


#: The name plugin hosts load the class by.
RegisteredModelPlugin = Predictor
