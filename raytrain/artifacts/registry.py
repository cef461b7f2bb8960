"""The model registry: versioned, trained models on disk, safe to share.

Layout under the registry root (default `models/`):

    registry.json                    index: name -> list of versions (metrics, files, sha256)
    <name>/<version>/model.pt        weights (state dict; loads with weights_only=True)
                    /meta.json       architecture, parameters, data info, task, config
                    /<name>_v<version>.pth   the export bundle
                    /<name>_v<version>.onnx  ONNX, checked against onnxruntime
                    /card.md         model card: metrics, config, how to load

Writes are crash-safe and serialized: a version's files are written to a temp folder, fsynced
and renamed into place, then the index is rewritten via temp file + fsync + rename, all under an
exclusive file lock, so concurrent registrations never lose an entry or reuse a version. The
index is read as untrusted input and rebuilt from the version folders when it is missing
(`registry_index`); a registration never deletes a folder it did not just create.

Version rule: the first version of a name is 1.0.0; a new registration bumps the major version
when the architecture, task or input shape changes (a breaking change for users of the model),
and the minor version otherwise (a retrained model); `bump=` forces major, minor or patch.

Stages and aliases: a version can be promoted to `staging` or `production` (one version of a
name holds each; the version that held `production` before becomes `archived`) and given
aliases (`champion`, ...; unique per name). A reference is `name` (highest version),
`name:1.2.0`, or `name@production` / `name@champion` / `name@latest`. Promotion and removal
are index rewrites under the same lock, so they never lose or corrupt an entry; the version in
production is not removed without `force=True`; a removed version's number is not reused
(the index keeps a short record of it under `removed`).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from raytrain.artifacts.checkpoint import MODEL_FILE, load_model, read_meta
from raytrain.artifacts.export import (
    CHECK_BATCHES,
    EXPORT_FORMATS,
    export_onnx,
    export_pytorch,
    input_shape,
)
from raytrain.artifacts.registry_index import (
    ENTRY_FILE,
    INDEX,
    fsync_tree,
    read_index,
    version_folders,
    write_index,
)
from raytrain.artifacts.storage import is_remote
from raytrain.artifacts.version_files import build_version
from raytrain.config.schema import ExperimentConfig
from raytrain.data.manifest import fsync_path, sha256_file
from raytrain.errors import RaytrainError, did_you_mean

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_LABEL = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")
_SEMVER = re.compile(r"(\d+)\.(\d+)\.(\d+)")
Bump = Literal["major", "minor", "patch"]
#: Stages a version can be in. Promoting a version to an exclusive stage moves the version
#: that held it to the stage named here (a production model replaced is kept, as archived).
STAGES = ("none", "staging", "production", "archived")
EXCLUSIVE_STAGES = {"staging": "none", "production": "archived"}
#: The label every name has: its highest version.
LATEST = "latest"
#: URI scheme -> the ModelRegistry subclass that keeps a registry there
REMOTE_BACKENDS: dict[str, type[ModelRegistry]] = {}


def check_name(name: str) -> str:
    if not _NAME.match(name) or ".." in name:
        raise RaytrainError(
            f"registry name '{name}': use letters, digits, '_', '-', '.' "
            f"(no '/', no '..', at most 100 characters)"
        )
    return name


def parse_version(v: str) -> tuple[int, int, int]:
    m = _SEMVER.fullmatch(v)
    if not m:
        raise RaytrainError(f"version '{v}': expected MAJOR.MINOR.PATCH, e.g. 1.0.0")
    return int(m[1]), int(m[2]), int(m[3])


def check_label(label: str) -> str:
    """An alias: starts with a letter (so it never reads as a version), no '/' or spaces."""
    if not _LABEL.match(label) or label in STAGES or label == LATEST:
        raise RaytrainError(
            f"alias '{label}': use a letter then letters, digits, '_', '-', '.' (at most 64), "
            f"and not a stage or '{LATEST}' ({', '.join(STAGES)})"
        )
    return label


def parse_ref(ref: str) -> tuple[str, str | None]:
    """'name', 'name:1.2.0' or 'name@production' (a stage or alias) -> (name, version or
    label or None). `ModelRegistry.get` accepts either kind of second part."""
    sep = "@" if "@" in ref else ":"
    name, _, version = ref.partition(sep)
    check_name(name)
    if not version:
        return name, None
    if not (_SEMVER.fullmatch(version) or _LABEL.match(version)):
        raise RaytrainError(
            f"model reference '{ref}': expected NAME, NAME:MAJOR.MINOR.PATCH or "
            f"NAME@STAGE_OR_ALIAS (e.g. edges:1.0.0, edges@production)"
        )
    return name, version


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


def pick_version(
    index: dict[str, Any],
    name: str,
    meta: dict[str, Any],
    bump: Bump | None,
    version: str | None,
    present: list[str],
    taken: Callable[[str], bool],
) -> str:
    """The version a registration of `name` gets: `version` when asked for, else the next.

    Removed versions count too: a version number is never handed out twice. So do version
    folders the index does not list, `present` (a crash after the files were written, a lost
    index): they are never deleted or overwritten. `taken(v)`: whether anything at all is at
    version v's place (a folder without meta.json, a dead writer's partial upload); the next
    patch version is taken then, and that place is left alone."""
    issued = index["models"].get(name, []) + index.get("removed", {}).get(name, [])
    previous = max(issued, key=lambda e: parse_version(e["version"]), default=None)
    if version is None:
        top = max([e["version"] for e in issued] + present, key=parse_version, default=None)
        if previous is not None and top != previous["version"]:
            previous = {**previous, "version": top}  # bumped as usual, from the highest
        elif previous is None and top is not None:
            previous = {"version": top}
            bump = bump or "minor"
        version = next_version(previous, meta, bump)
    else:  # asked for: never one issued before, nor one whose files are there
        _check_new_version(version, issued + [{"version": v} for v in present], name)
    while taken(version):
        version = next_version({**meta, "version": version}, meta, "patch")
    return version


class ModelRegistry:
    """A registry in a folder; `ModelRegistry("s3://bucket/models")` (or `gs://`) is the same
    registry on object storage (`raytrain.artifacts.remote_registry.RemoteRegistry`)."""

    def __new__(cls, root: str | Path = "models") -> ModelRegistry:
        if cls is ModelRegistry and is_remote(root):
            # registered by raytrain.artifacts.remote_registry (imported by the package)
            return super().__new__(REMOTE_BACKENDS[str(root).partition("://")[0]])
        return super().__new__(cls)

    def __init__(self, root: str | Path = "models") -> None:
        self.root = Path(root)

    # -- reading ---------------------------------------------------------------------------
    def _read_index(self) -> dict[str, Any]:
        return read_index(self.root)  # checked; rebuilt from the version folders if missing

    def list(self) -> dict[str, list[dict[str, Any]]]:
        return self._read_index()["models"]

    def get(self, name: str, version: str | None = None) -> dict[str, Any]:
        """One entry. `version` is MAJOR.MINOR.PATCH, a stage (`staging`, `production`), an
        alias, `latest`, or None for the highest version."""
        return _find(self.list(), name, version, self.root)

    def resolve(self, ref: str) -> dict[str, Any]:
        """The entry a reference names: `name`, `name:1.2.0`, `name@production`."""
        return self.get(*parse_ref(ref))

    def labels(self, name: str) -> dict[str, str]:
        """Stage or alias -> version, for one name (plus `latest`)."""
        entries = _entries(self.list(), name, self.root)
        out = {LATEST: _highest(entries)["version"]}
        for e in entries:
            if e.get("stage") in EXCLUSIVE_STAGES:
                out[e["stage"]] = e["version"]
            for alias in e.get("aliases", []):
                out[alias] = e["version"]
        return out

    def path_of(self, entry: dict[str, Any]) -> Path:
        folder = self.root / entry["path"]
        if not folder.resolve().is_relative_to(self.root.resolve()):
            raise RaytrainError(
                f"{self.root / INDEX}: entry path '{entry['path']}' leads outside the registry "
                f"(a symbolic link?); refused"
            )
        return folder

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

    def load_model(self, name: str, version: str | None = None) -> Any:
        """Like `repo.load_model("edge_detector", version="1.0.0")`: the model in
        eval mode on the CPU (checksum-checked); `version` may also be a stage or alias."""
        return self.load(name, version)[0]

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
        extra_metrics: dict[str, float] | None = None,
        data: dict[str, Any] | None = None,
        version: str | None = None,
    ) -> dict[str, Any]:
        """Copy a checkpoint in as the next version of `name` (or as `version`), export it, and
        index it. `extra_metrics` (say the test split's) join the checkpoint's own; `data`
        records what it was trained on (`raytrain.data.provenance`)."""
        check_name(name)
        checkpoint_dir = Path(checkpoint_dir)
        meta = read_meta(checkpoint_dir)
        model, _ = load_model(checkpoint_dir)  # also proves the checkpoint loads
        with self._locked():
            index = self._read_index()
            entries = index["models"].setdefault(name, [])
            on_disk = [v for n, v, _ in version_folders(self.root) if n == name]
            version = pick_version(
                index, name, meta, bump, version, on_disk, lambda v: (self.root / name / v).exists()
            )
            rel = f"{name}/{version}"
            final = self.root / rel
            if not final.parent.exists():
                final.parent.mkdir(parents=True)
                fsync_path(self.root)
            tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{version}."))
            try:
                entry = build_version(
                    tmp,
                    name,
                    version,
                    checkpoint_dir,
                    model,
                    meta,
                    source=source,
                    notes=notes,
                    onnx=onnx,
                    opset=opset,
                    tolerance=tolerance,
                    extra_metrics=extra_metrics,
                    data=data,
                )
                (tmp / ENTRY_FILE).write_text(json.dumps(entry, indent=2))  # for a rebuild
                fsync_tree(tmp)
                os.replace(tmp, final)
                fsync_path(final.parent)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            entries.append(entry)
            self._write_index(index)
        return entry

    def _write_index(self, index: dict[str, Any]) -> None:
        write_index(self.root, index)

    def promote(
        self, name: str, version: str, stage: str | None = None, alias: str | None = None
    ) -> dict[str, Any]:
        """Put version `version` (or the one a label names) in `stage` and/or give it `alias`.

        An exclusive stage (staging, production) or an alias moves: the version that held it
        loses it (a replaced production version becomes archived). Returns the updated entry.
        """
        if stage is None and alias is None:
            raise RaytrainError("promote: give a stage (staging, production, ...) or an alias")
        if stage is not None and stage not in STAGES:
            raise RaytrainError(
                f"stage '{stage}'{did_you_mean(stage, STAGES)}: expected one of {', '.join(STAGES)}"
            )
        if alias is not None:
            check_label(alias)
        check_name(name)
        with self._locked():
            index = self._read_index()
            target = _find(index["models"], name, version, self.root)
            when = datetime.now(timezone.utc).isoformat()
            for e in index["models"][name]:
                if e is target:
                    continue
                if stage in EXCLUSIVE_STAGES and e.get("stage") == stage:
                    _set_stage(e, EXCLUSIVE_STAGES[stage], when)
                if alias is not None and alias in e.get("aliases", []):
                    e["aliases"] = [a for a in e["aliases"] if a != alias]
            if stage is not None and target.get("stage") != stage:
                _set_stage(target, stage, when)
            if alias is not None and alias not in target.get("aliases", []):
                target["aliases"] = sorted([*target.get("aliases", []), alias])
            self._write_index(index)
        return target

    def remove(self, name: str, version: str, *, force: bool = False) -> dict[str, Any]:
        """Delete one version: its index entry first (atomically), then its folder.

        The production version is refused unless `force`: a serving application may load it
        by `name@production`. A crash between the two steps leaves an unindexed folder, which
        the next registration of that version replaces; never an entry without files.
        """
        if not version:
            raise RaytrainError(
                f"remove '{name}': name the version to remove (NAME:MAJOR.MINOR.PATCH)"
            )
        check_name(name)
        with self._locked():
            index = self._read_index()
            entry = _find(index["models"], name, version, self.root)
            if entry.get("stage") == "production" and not force:
                raise RaytrainError(
                    f"model '{name}' v{entry['version']} is in production; promote another "
                    f"version to production first, or force the removal (--force)"
                )
            self._check_entry_path(entry)
            remaining = [e for e in index["models"][name] if e is not entry]
            index.setdefault("removed", {}).setdefault(name, []).append(
                {
                    **{k: entry[k] for k in _REMOVED_KEYS if k in entry},
                    "removed": datetime.now(timezone.utc).isoformat(),
                }
            )
            if remaining:
                index["models"][name] = remaining
            else:
                del index["models"][name]
            self._write_index(index)
            self._delete_version_files(entry)
        return entry

    def _check_entry_path(self, entry: dict[str, Any]) -> None:
        folder = self.path_of(entry)
        if folder.resolve().parent.parent != self.root.resolve():
            raise RaytrainError(f"{self.root / INDEX}: entry path '{entry['path']}' is unsafe")

    def _delete_version_files(self, entry: dict[str, Any]) -> None:
        folder = self.path_of(entry)
        if folder.exists():
            trash = folder.with_name(f".{folder.name}.removed")
            shutil.rmtree(trash, ignore_errors=True)
            os.replace(folder, trash)
            shutil.rmtree(trash, ignore_errors=True)
        with contextlib.suppress(OSError):
            folder.parent.rmdir()  # only when no version is left

    def export(
        self,
        name: str,
        version: str | None,
        out_dir: str | Path,
        *,
        formats: tuple[str, ...] = ("pytorch", "onnx"),
        opset: int = 17,
        tolerance: float = 1e-4,
        check_batches: tuple[int, ...] = CHECK_BATCHES,
        overwrite: bool = False,
    ) -> dict[str, Path]:
        """Export a registered version to `out_dir` as `<name>_v<version>.pth` (the export
        bundle) and `.onnx` (dynamic batch, checked by onnxruntime at `check_batches`), plus
        its model card. Files appear only when complete; existing ones are kept unless
        `overwrite`. Returns format -> path."""
        unknown = [f for f in formats if f not in EXPORT_FORMATS]
        if unknown or not formats:
            raise RaytrainError(
                f"export format '{unknown[0] if unknown else ''}': expected "
                f"{' and/or '.join(EXPORT_FORMATS)}"
            )
        out = Path(out_dir)
        if out.resolve().is_relative_to(self.root.resolve()):
            raise RaytrainError(
                f"{out}: inside the model registry {self.root}; exporting there would replace "
                f"registered files (their recorded sha256 would go stale): choose another folder"
            )
        model, entry = self.load(name, version)  # checks the weights' checksum
        meta = read_meta(self.path_of(entry))
        stem = f"{entry['name']}_v{entry['version']}"
        targets = {f: out / f"{stem}{EXPORT_FORMATS[f]}" for f in formats}
        targets["card"] = out / f"{stem}.md"
        existing = [str(p) for p in targets.values() if p.exists()]
        if existing and not overwrite:
            raise RaytrainError(f"{existing[0]}: exists; choose another folder or overwrite")
        out.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=out, prefix=f".{stem}."))
        try:
            if "pytorch" in targets:
                export_pytorch(model, meta, tmp / targets["pytorch"].name, *_ref(entry))
            if "onnx" in targets:
                export_onnx(
                    model,
                    meta,
                    tmp / targets["onnx"].name,
                    opset=opset,
                    tolerance=tolerance,
                    check_batches=check_batches,
                )
            shutil.copy2(self.path_of(entry) / "card.md", tmp / targets["card"].name)
            for path in targets.values():
                os.replace(tmp / path.name, path)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return targets


#: What the index keeps of a removed version: enough for the version rule and an audit trail.
_REMOVED_KEYS = ("version", "architecture", "task", "input_shape", "created", "files", "stage")


def _entries(models: dict[str, Any], name: str, root: Path) -> list[dict[str, Any]]:
    check_name(name)
    if name not in models or not models[name]:
        known = ", ".join(sorted(models)) or "none"
        raise RaytrainError(
            f"no registered model '{name}'{did_you_mean(name, models)} "
            f"in {root}; registered: {known}"
        )
    return models[name]


def _highest(entries: list[dict[str, Any]]) -> dict[str, Any]:
    return max(entries, key=lambda e: parse_version(e["version"]))


def _find(models: dict[str, Any], name: str, version: str | None, root: Path) -> dict[str, Any]:
    """The entry of `name` a version, stage, alias or `latest` (None) names."""
    entries = _entries(models, name, root)
    if version is None or version == LATEST:
        return _highest(entries)
    if _SEMVER.fullmatch(version):
        for e in entries:
            if e["version"] == version:
                return e
        versions = ", ".join(e["version"] for e in entries)
        raise RaytrainError(f"model '{name}' has no version {version}; versions: {versions}")
    held = [
        e
        for e in entries
        if (version in EXCLUSIVE_STAGES and e.get("stage") == version)
        or version in e.get("aliases", [])
    ]
    if held:
        return held[0]
    labels = sorted(
        {e["stage"] for e in entries if e.get("stage") in EXCLUSIVE_STAGES}
        | {a for e in entries for a in e.get("aliases", [])}
    )
    raise RaytrainError(
        f"model '{name}' has no version in stage or alias '{version}'"
        f"{did_you_mean(version, labels)}; labels: {', '.join([LATEST, *labels])}"
    )


def _set_stage(entry: dict[str, Any], stage: str, when: str) -> None:
    entry["stage"] = stage
    entry.setdefault("stage_history", []).append({"stage": stage, "at": when})


def _ref(entry: dict[str, Any]) -> tuple[str, str]:
    return entry["name"], entry["version"]


def _check_new_version(version: str, issued: list[dict[str, Any]], name: str) -> None:
    parse_version(version)
    if any(e["version"] == version for e in issued):
        raise RaytrainError(f"{name}: version {version} was already issued; pick another")


def register_run(
    cfg: ExperimentConfig,
    checkpoint: str | Path,
    source: dict[str, Any],
    extra_metrics: dict[str, float] | None = None,
    data: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Register a run's checkpoint as its config's `export:` section says (registry folder,
    name, ONNX export and its check); `source` records where it came from. The one way a
    search's best trial and `raytrain train --register` enter the registry."""
    ex = cfg.export
    with tempfile.TemporaryDirectory(prefix="raytrain-checkpoint-") as work:
        if is_remote(checkpoint):  # a search on object storage: its checkpoint is in a bucket
            from raytrain.artifacts.storage import download_dir

            checkpoint = download_dir(str(checkpoint), Path(work) / "checkpoint")
        return ModelRegistry(ex.registry_dir).register(
            ex.registry_name or cfg.training.name,
            checkpoint,
            source=source,
            onnx=ex.onnx,
            opset=ex.opset,
            tolerance=ex.tolerance,
            extra_metrics=extra_metrics,
            data=data,
        )


def load_registered(ref: str, root: str | Path = "models") -> Any:
    """`raytrain.load_model("edges:1.0.0")`: a registered model (eval mode, CPU) by reference:
    `name`, `name:1.2.0`, `name@production`, `name@<alias>`."""
    name, version = parse_ref(ref)
    return ModelRegistry(root).load(name, version)[0]
