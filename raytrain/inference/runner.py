"""The one way raytrain runs a trained model: PyTorch or its ONNX export, on numpy batches.

`raytrain predict`, `raytrain evaluate` and the plugin surface all run models through here. A
runner takes a float32 batch and returns float32 outputs as users see them (probabilities for
classifiers); `logits=True` returns the raw outputs instead, which a task's loss and metrics
take (the ONNX file holds the activation, so its outputs are mapped back).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from raytrain.errors import RaytrainError

BACKENDS: tuple[str, ...] = ("torch", "onnx")

Runner = Callable[[np.ndarray], np.ndarray]


def checked_onnx(path: Path, entry: dict[str, Any], ref: str) -> Path:
    """`path`, after checking it exists and is the file that was registered (its sha256)."""
    from raytrain.data.manifest import sha256_file

    if not path.exists():
        raise RaytrainError(
            f"{path}: no ONNX export for model '{ref}' (registered without ONNX, "
            f"onnx=False?); use --backend torch"
        )
    recorded = entry.get("files", {}).get(path.name)
    if recorded and sha256_file(path) != recorded:
        raise RaytrainError(
            f"{path}: checksum differs from the registry's; the file was changed after registration"
        )
    return path


def torch_runner(
    model: Any, meta: dict[str, Any], device: str = "cpu", *, logits: bool = False
) -> Runner:
    """The eager model (no autograd) on `device`, with its output activation unless `logits`."""
    import torch

    from raytrain.artifacts.export import with_activation

    wrapped = (model.eval() if logits else with_activation(model, meta)).to(device)

    def run(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            out = wrapped(torch.from_numpy(x).to(device))
        return out.float().cpu().numpy()

    return run


def onnx_runner(
    path: Path, meta: dict[str, Any], *, logits: bool = False, threads: int | None = None
) -> Runner:
    """ONNX Runtime (CPU) on the exported file; `threads`: intra-op threads (default: its own)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3  # warnings about unused initializers are not the user's
    if threads:
        options.intra_op_num_threads = threads
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own classes for a file that is not ONNX
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise RaytrainError(f"{path}: not a loadable ONNX model ({first[:200]})") from None
    inverse = activation_inverse(meta) if logits else None

    def run(x: np.ndarray) -> np.ndarray:
        out = np.asarray(session.run(None, {"input": x})[0], dtype=np.float32)
        return inverse(out) if inverse is not None else out

    return run


def activation_inverse(meta: dict[str, Any]) -> Callable[[np.ndarray], np.ndarray]:
    """Undo the export's output activation, so the task's stats (which take logits) apply.

    sigmoid -> logit (decisions are unchanged: logit is monotonic); softmax -> log
    probabilities (logits up to a per-row constant, which argmax and cross-entropy ignore).
    """
    from torch import nn

    from raytrain.artifacts.export import output_activation

    act = output_activation(meta)
    if isinstance(act, nn.Sigmoid):

        def logit(p: np.ndarray) -> np.ndarray:
            p = np.clip(p.astype(np.float64), 1e-12, 1 - 1e-12)
            return np.log(p) - np.log1p(-p)

        return logit
    if isinstance(act, nn.Softmax):
        return lambda p: np.log(np.clip(p.astype(np.float64), 1e-30, None))
    return lambda v: v
