"""Export a trained model: a PyTorch bundle with its metadata, and ONNX.

The ONNX file is checked before it is accepted: `onnx.checker` with full checks, a symbolic
(dynamic) batch axis on input and output, and onnxruntime against PyTorch on random batches of
several sizes (max |difference| <= tolerance). A failed check deletes the file and raises: an
export that disagrees with its model is never left behind.

`load_bundle` is the way back from a `.pth` bundle to a model, without the registry.
"""

from __future__ import annotations

import platform
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from raytrain.artifacts.checkpoint import data_info_of
from raytrain.errors import RaytrainError
from raytrain.tasks import create_task

#: Batch sizes onnxruntime runs the exported graph at: 1, an odd size and a larger one, so a
#: batch axis frozen at the tracing size (2) cannot pass.
CHECK_BATCHES = (1, 3, 8)
#: Export format -> file suffix.
EXPORT_FORMATS = {"pytorch": ".pth", "onnx": ".onnx"}
BUNDLE_KEYS = ("model_state_dict", "metadata", "specifications", "data_info", "metrics")


class ExportError(RaytrainError):
    """The exported model failed its checks."""


def input_shape(meta: dict[str, Any]) -> tuple[int, ...]:
    """One example's shape (without the batch axis) from checkpoint metadata."""
    info = meta["data_info"]
    if info.get("feature_dim"):
        return (int(info["feature_dim"]),)
    size = info.get("image_size") or 64
    return (int(info.get("in_channels") or 1), int(size), int(size))


def with_activation(model: nn.Module, meta: dict[str, Any]) -> nn.Module:
    """The model as users call it: logits turned into probabilities for classifiers."""
    return nn.Sequential(model, output_activation(meta)).eval()


def output_activation(meta: dict[str, Any]) -> nn.Module:
    """What turns the model's raw outputs into what users get (sigmoid, softmax or identity)."""
    return create_task(meta["task"], data_info_of(meta)).output_activation()


def export_pytorch(
    model: nn.Module, meta: dict[str, Any], path: str | Path, name: str, version: str
) -> Path:
    """The export bundle: weights plus metadata, specifications, metrics, config,
    requirements. Only tensors and plain containers: it loads with `weights_only=True`."""
    import cv2

    shape = list(input_shape(meta))
    with torch.no_grad():
        out_shape = list(with_activation(model, meta)(torch.zeros(2, *shape)).shape[1:])
    bundle = {
        "model_state_dict": model.state_dict(),
        "metadata": {
            "name": name,
            "version": version,
            "architecture": meta["architecture"],
            "model_params": meta["model_params"],
            "task": meta["task"],
            "framework": "pytorch",
            "framework_version": str(torch.__version__),
            "training_date": datetime.now(timezone.utc).isoformat(),
            "description": f"{meta['architecture']} trained by raytrain ({meta['task']})",
        },
        "specifications": {
            "input_shape": shape,
            "output_shape": out_shape,
            "input_dtype": "float32",
            "output_dtype": "float32",
            "input_range": [0.0, 1.0] if len(shape) == 3 else None,
            "output": "probabilities" if meta["task"] != "regression" else "values",
        },
        "data_info": meta["data_info"],
        "metrics": {
            k: v
            for k, v in meta["metrics"].items()
            if isinstance(v, int | float) and not isinstance(v, bool)
        },
        "training_config": meta["config"],
        "requirements": {
            "torch": str(torch.__version__),
            "numpy": np.__version__,
            "opencv": cv2.__version__,
            "python": platform.python_version(),
        },
    }
    path = Path(path)
    torch.save(bundle, path)
    return path


def export_onnx(
    model: nn.Module,
    meta: dict[str, Any],
    path: str | Path,
    opset: int = 17,
    tolerance: float = 1e-4,
    check_batches: tuple[int, ...] = CHECK_BATCHES,
) -> float:
    """Write ONNX with a dynamic batch axis; return the max |onnx - torch| over the checks."""
    import onnx
    import onnxruntime as ort

    path = Path(path)
    wrapped = with_activation(model, meta)
    shape = input_shape(meta)
    # the model may sit on a GPU: trace and compare there (onnxruntime gets CPU arrays)
    device = next(iter(model.parameters()), torch.empty(0)).device
    example = torch.rand(2, *shape, device=device)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapped,
            (example,),
            str(path),
            dynamo=False,
            opset_version=opset,
            input_names=["input"],
            output_names=["output"],
            dynamic_axes={"input": {0: "batch_size"}, "output": {0: "batch_size"}},
        )
    try:
        graph = onnx.load(str(path))
        onnx.checker.check_model(graph, full_check=True)
        for value in (graph.graph.input[0], graph.graph.output[0]):
            batch_dim = value.type.tensor_type.shape.dim[0]
            if not batch_dim.dim_param:
                raise ExportError(
                    f"{path}: ONNX {value.name} has a fixed batch size "
                    f"({batch_dim.dim_value}), not a dynamic one; export rejected"
                )
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        worst = 0.0
        gen = torch.Generator().manual_seed(0)
        for b in check_batches:
            x = torch.rand(b, *shape, generator=gen)
            with torch.no_grad():
                ref = wrapped(x.to(device)).float().cpu().numpy()
            got = session.run(None, {"input": x.numpy()})[0]
            if got.shape != ref.shape:
                raise ExportError(
                    f"{path}: ONNX output shape {list(got.shape)} at batch {b} differs from "
                    f"PyTorch's {list(ref.shape)}; export rejected"
                )
            worst = max(worst, float(np.abs(ref - got).max()))
        if not worst <= tolerance:
            raise ExportError(
                f"{path}: ONNX output differs from PyTorch by {worst:.3g} "
                f"(> tolerance {tolerance:g}); export rejected"
            )
    except ExportError:
        path.unlink(missing_ok=True)
        raise
    except Exception as e:
        path.unlink(missing_ok=True)
        raise ExportError(f"{path}: ONNX check failed: {str(e).splitlines()[0]}") from None
    return worst


def load_bundle(path: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """(model in eval mode on the CPU, bundle) from a `.pth` bundle written by
    `export_pytorch`. Loads with `weights_only=True`: a file holding pickled code is refused."""
    from raytrain.artifacts.checkpoint import build_model_from_meta, load_state_dict

    bundle = load_state_dict(path)
    if not isinstance(bundle, dict) or any(k not in bundle for k in BUNDLE_KEYS):
        raise RaytrainError(
            f"{path}: not a raytrain model bundle (needs keys {', '.join(BUNDLE_KEYS)})"
        )
    md = bundle["metadata"]
    model = build_model_from_meta(
        {
            "architecture": md["architecture"],
            "model_params": md["model_params"],
            "data_info": bundle["data_info"],
        }
    )
    try:
        model.load_state_dict(bundle["model_state_dict"])
    except RuntimeError as e:
        raise RaytrainError(
            f"{path}: weights do not fit architecture '{md['architecture']}': "
            f"{str(e).splitlines()[0]}"
        ) from None
    return model.eval(), bundle
