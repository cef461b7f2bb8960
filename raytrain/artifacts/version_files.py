"""What goes into one registered version's folder: the weights and metadata, the `.pth`
bundle, ONNX, the model card, and the index entry that lists them with their sha256."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from raytrain.artifacts.checkpoint import META_FILE, MODEL_FILE
from raytrain.artifacts.export import (
    export_onnx,
    export_pytorch,
    input_shape,
)
from raytrain.data.manifest import sha256_file


def build_version(
    tmp: Path,
    name: str,
    version: str,
    checkpoint_dir: Path,
    model: Any,
    meta: dict[str, Any],
    *,
    source: dict[str, Any] | None,
    notes: str,
    onnx: bool,
    opset: int,
    tolerance: float,
    extra_metrics: dict[str, float] | None = None,
    data: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write version `version` of `name` into the empty folder `tmp` (weights, meta, the
    `.pth` bundle, ONNX, the card) and return its index entry, sha256 of every file included.
    `extra_metrics` (say the test split's) join the checkpoint's own; `data` records what it
    was trained on (`raytrain.data.provenance`)."""
    shutil.copy2(checkpoint_dir / MODEL_FILE, tmp / MODEL_FILE)
    shutil.copy2(checkpoint_dir / META_FILE, tmp / META_FILE)
    export_pytorch(model, meta, tmp / f"{name}_v{version}.pth", name, version)
    onnx_diff = None
    if onnx:
        onnx_diff = export_onnx(
            model,
            meta,
            tmp / f"{name}_v{version}.onnx",
            opset=opset,
            tolerance=tolerance,
        )
    entry = {
        "name": name,
        "version": version,
        "architecture": meta["architecture"],
        "task": meta["task"],
        "input_shape": list(input_shape(meta)),
        "metrics": {
            k: v
            for k, v in meta["metrics"].items()
            if isinstance(v, int | float) and not isinstance(v, bool)
        }
        | dict(extra_metrics or {}),
        "monitor": meta.get("monitor"),
        "epoch": meta.get("epoch"),
        "created": datetime.now(timezone.utc).isoformat(),
        "path": f"{name}/{version}",
        "stage": "none",
        "aliases": [],
        "notes": notes,
        "source": source or {},
        "onnx_max_abs_diff": onnx_diff,
        "config": meta.get("config"),
    }
    if data:
        entry["data"] = data
    (tmp / "card.md").write_text(model_card(entry))
    entry["files"] = {p.name: sha256_file(p) for p in sorted(tmp.iterdir())}
    return entry


def _data_line(data: dict[str, Any] | None) -> str:
    if not data:
        return "not recorded"
    counts = ", ".join(f"{k} {v}" for k, v in (data.get("counts") or {}).items())
    return f"fingerprint `{data.get('fingerprint')}` ({data.get('source', '?')}; {counts})"


def model_card(entry: dict[str, Any]) -> str:
    metrics = "\n".join(f"| {k} | {v:.4g} |" for k, v in sorted(entry["metrics"].items()))
    return f"""# {entry["name"]} v{entry["version"]}

- architecture: `{entry["architecture"]}` — task: `{entry["task"]}`
- input shape (without batch): {entry["input_shape"]}, float32 in [0, 1] for images
- best epoch: {entry.get("epoch")} by `{entry.get("monitor")}`
- registered: {entry["created"]}
- source: {json.dumps(entry.get("source", {}))}
- ONNX max |onnx - torch| on random batches: {entry.get("onnx_max_abs_diff")}
- data: {_data_line(entry.get("data"))}

| metric | value |
| --- | --- |
{metrics}

Load it:

```python
import raytrain
model = raytrain.load_model("{entry["name"]}:{entry["version"]}")  # or "{entry["name"]}@production"
```

or `raytrain export {entry["name"]}:{entry["version"]} --out DIR` for the `.pth` bundle and ONNX.

The full training config is in `meta.json`; retraining with it and the same seed reproduces
this model.
"""
