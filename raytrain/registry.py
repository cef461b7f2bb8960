"""The model registry: versioned, trained models on disk (seed 000 §7.2–7.3), safe to share.

Layout under the registry root (default `models/`):

    registry.json                    index: name -> list of versions (metrics, files, sha256)
    <name>/<version>/model.pt        weights (state dict; loads with weights_only=True)
                    /meta.json       architecture, parameters, data info, task, config
                    /<name>_v<version>.pth   the seed §7.1 export bundle
                    /<name>_v<version>.onnx  ONNX, checked against onnxruntime
                    /card.md         model card: metrics, config, how to load

Writes are crash-safe and serialized: a version's files are written to a temp folder and renamed
into place, then the index is rewritten via temp file + fsync + rename, all under an exclusive
file lock, so concurrent registrations never lose an entry or reuse a version.

Version rule: the first version of a name is 1.0.0; a new registration bumps the major version
when the architecture, task or input shape changes (a breaking change for users of the model),
and the minor version otherwise (a retrained model); `bump=` forces major, minor or patch.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from raytrain.data.manifest import atomic_write_text, sha256_file
from raytrain.errors import RaytrainError, did_you_mean
from raytrain.export import export_onnx, export_pytorch, input_shape
from raytrain.train.checkpoint import META_FILE, MODEL_FILE, load_model, read_meta

INDEX = "registry.json"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
Bump = Literal["major", "minor", "patch"]


def check_name(name: str) -> str:
    if not _NAME.match(name) or ".." in name:
        raise RaytrainError(
            f"registry name '{name}': use letters, digits, '_', '-', '.' "
            f"(no '/', no '..', at most 100 characters)"
        )
    return name


def parse_version(v: str) -> tuple[int, int, int]:
    m = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)", v)
    if not m:
        raise RaytrainError(f"version '{v}': expected MAJOR.MINOR.PATCH, e.g. 1.0.0")
    return int(m[1]), int(m[2]), int(m[3])


def parse_ref(ref: str) -> tuple[str, str | None]:
    """'name' or 'name:version' -> (name, version or None)."""
    name, _, version = ref.partition(":")
    return check_name(name), (version or None)


def next_version(
    previous: dict[str, Any] | None, meta: dict[str, Any], bump: Bump | None = None
) -> str:
    if previous is None:
        return "1.0.0"
    major, minor, patch = parse_version(previous["version"])
    if bump is None:
        breaking = (
            previous["architecture"] != meta["architecture"]
            or previous["task"] != meta["task"]
            or list(previous["input_shape"]) != list(input_shape(meta))
        )
        bump = "major" if breaking else "minor"
    if bump == "major":
        return f"{major + 1}.0.0"
    if bump == "minor":
        return f"{major}.{minor + 1}.0"
    return f"{major}.{minor}.{patch + 1}"


class ModelRegistry:
    def __init__(self, root: str | Path = "models") -> None:
        self.root = Path(root)

    # -- reading ---------------------------------------------------------------------------
    def _read_index(self) -> dict[str, Any]:
        path = self.root / INDEX
        if not path.exists():
            return {"schema_version": 1, "models": {}}
        try:
            data = json.loads(path.read_text())
        except ValueError as e:
            raise RaytrainError(f"{path}: corrupt registry index ({e}); not touching it") from None
        if not isinstance(data, dict) or not isinstance(data.get("models"), dict):
            raise RaytrainError(f"{path}: not a raytrain registry index")
        return data

    def list(self) -> dict[str, list[dict[str, Any]]]:
        return self._read_index()["models"]

    def get(self, name: str, version: str | None = None) -> dict[str, Any]:
        """One entry; the highest version when `version` is None."""
        models = self.list()
        check_name(name)
        if name not in models or not models[name]:
            known = ", ".join(sorted(models)) or "none"
            raise RaytrainError(
                f"no registered model '{name}'{did_you_mean(name, models)} "
                f"in {self.root}; registered: {known}"
            )
        entries = models[name]
        if version is None:
            return max(entries, key=lambda e: parse_version(e["version"]))
        for e in entries:
            if e["version"] == version:
                return e
        versions = ", ".join(e["version"] for e in entries)
        raise RaytrainError(f"model '{name}' has no version {version}; versions: {versions}")

    def path_of(self, entry: dict[str, Any]) -> Path:
        return self.root / entry["path"]

    def load(self, name: str, version: str | None = None) -> tuple[Any, dict[str, Any]]:
        """(model in eval mode, entry), after checking the weights' recorded sha256."""
        entry = self.get(name, version)
        folder = self.path_of(entry)
        recorded = entry["files"].get(MODEL_FILE)
        if recorded and sha256_file(folder / MODEL_FILE) != recorded:
            raise RaytrainError(
                f"{folder / MODEL_FILE}: checksum differs from the registry's; "
                f"the file was changed after registration"
            )
        model, _ = load_model(folder)
        return model, entry

    # -- writing ---------------------------------------------------------------------------
    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".registry.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def register(
        self,
        name: str,
        checkpoint_dir: str | Path,
        *,
        bump: Bump | None = None,
        source: dict[str, Any] | None = None,
        notes: str = "",
        onnx: bool = True,
        opset: int = 17,
        tolerance: float = 1e-4,
    ) -> dict[str, Any]:
        """Copy a checkpoint in as the next version of `name`, export it, and index it."""
        check_name(name)
        checkpoint_dir = Path(checkpoint_dir)
        meta = read_meta(checkpoint_dir)
        model, _ = load_model(checkpoint_dir)  # also proves the checkpoint loads
        with self._locked():
            index = self._read_index()
            entries = index["models"].setdefault(name, [])
            previous = max(entries, key=lambda e: parse_version(e["version"]), default=None)
            version = next_version(previous, meta, bump)
            rel = f"{name}/{version}"
            final = self.root / rel
            if final.exists():  # left by a crash between the rename and the index write
                shutil.rmtree(final)
            final.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{version}."))
            try:
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
                    },
                    "monitor": meta.get("monitor"),
                    "epoch": meta.get("epoch"),
                    "created": datetime.now(timezone.utc).isoformat(),
                    "path": rel,
                    "stage": "none",
                    "notes": notes,
                    "source": source or {},
                    "onnx_max_abs_diff": onnx_diff,
                    "config": meta.get("config"),
                }
                (tmp / "card.md").write_text(model_card(entry))
                entry["files"] = {p.name: sha256_file(p) for p in sorted(tmp.iterdir())}
                os.replace(tmp, final)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            entries.append(entry)
            atomic_write_text(self.root / INDEX, json.dumps(index, indent=2))
        return entry


def model_card(entry: dict[str, Any]) -> str:
    metrics = "\n".join(f"| {k} | {v:.4g} |" for k, v in sorted(entry["metrics"].items()))
    return f"""# {entry["name"]} v{entry["version"]}

- architecture: `{entry["architecture"]}` — task: `{entry["task"]}`
- input shape (without batch): {entry["input_shape"]}, float32 in [0, 1] for images
- best epoch: {entry.get("epoch")} by `{entry.get("monitor")}`
- registered: {entry["created"]}
- source: {json.dumps(entry.get("source", {}))}
- ONNX max |onnx - torch| on random batches: {entry.get("onnx_max_abs_diff")}

| metric | value |
| --- | --- |
{metrics}

Load it:

```python
from raytrain.registry import ModelRegistry
model, entry = ModelRegistry("models").load("{entry["name"]}", "{entry["version"]}")
```

The full training config is in `meta.json`; retraining with it and the same seed reproduces
this model.
"""
