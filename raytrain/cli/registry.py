"""`raytrain registry list|show|add|promote|remove` and `raytrain export`: thin shells over
`raytrain.artifacts.registry.ModelRegistry`.

References are `NAME` (highest version), `NAME:1.2.0`, or `NAME@production` / `NAME@<alias>`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from raytrain.cli import options
from raytrain.config.schema import OPSET_RANGE
from raytrain.errors import RaytrainError


def _slim(entry: dict[str, Any]) -> dict[str, Any]:
    """An entry without its (long) training config."""
    return {k: v for k, v in entry.items() if k != "config"}


def _labels(entry: dict[str, Any]) -> str:
    parts = [entry["stage"]] if entry.get("stage", "none") != "none" else []
    parts += [f"@{a}" for a in entry.get("aliases", [])]
    return ", ".join(parts)


@click.group("registry")
def registry_group() -> None:
    """The registry of trained, versioned models."""


@registry_group.command("list")
@options.registry_root
@options.as_json
def registry_list(root: Path, as_json: bool) -> None:
    """List registered models and their versions."""
    from raytrain.artifacts.registry import ModelRegistry

    models = ModelRegistry(root).list()
    if as_json:
        slim = {n: [_slim(e) for e in entries] for n, entries in models.items()}
        click.echo(json.dumps(slim, indent=2))
        return
    if not models:
        click.echo(f"no models registered in {root}")
        return
    for name, entries in sorted(models.items()):
        click.echo(name)
        for e in entries:
            shown = ", ".join(
                f"{k}={v:.4g}" for k, v in e["metrics"].items() if k.startswith("val_")
            )
            labels = _labels(e)
            click.echo(
                f"  v{e['version']:<8} {e['architecture']:<22} {e['created'][:19]}  {shown}"
                + (f"  [{labels}]" if labels else "")
            )


@registry_group.command("show")
@click.argument("ref")
@options.registry_root
@options.as_json
def registry_show(ref: str, root: Path, as_json: bool) -> None:
    """Show one version (REF: NAME, NAME:VERSION or NAME@STAGE_OR_ALIAS): metrics, stage,
    files and where it came from."""
    from raytrain.artifacts.registry import ModelRegistry

    registry = ModelRegistry(root)
    entry = registry.resolve(ref)
    folder = registry.path_of(entry)
    if as_json:
        click.echo(json.dumps({**_slim(entry), "folder": str(folder)}, indent=2, default=str))
        return
    labels = registry.labels(entry["name"])
    versions = sorted(
        (e["version"] for e in registry.list()[entry["name"]]),
        key=lambda v: tuple(int(x) for x in v.split(".")),
    )
    rows = [
        ("model", f"{entry['name']} v{entry['version']}"),
        ("architecture", entry["architecture"]),
        ("task", entry["task"]),
        ("input shape", str(entry["input_shape"])),
        ("stage", entry.get("stage", "none")),
        ("aliases", ", ".join(entry.get("aliases", [])) or "-"),
        ("created", entry["created"]),
        ("best epoch", f"{entry.get('epoch')} by {entry.get('monitor')}"),
        ("source", json.dumps(entry.get("source", {}), default=str)),
        ("onnx max diff", str(entry.get("onnx_max_abs_diff"))),
        ("folder", str(folder)),
        ("versions", ", ".join(versions)),
        ("labels", ", ".join(f"{k}={v}" for k, v in sorted(labels.items()))),
    ]
    data = entry.get("data") or {}
    rows.append(("data", data.get("fingerprint") or "not recorded"))
    if data:
        counts = ", ".join(f"{k} {v}" for k, v in (data.get("counts") or {}).items())
        rows.append(("data from", f"{data.get('path')} ({data.get('source')}; {counts})"))
    if data.get("source_fingerprint"):
        rows.append(("raw data", data["source_fingerprint"]))
    if entry.get("notes"):
        rows.append(("notes", entry["notes"]))
    for key, value in rows:
        click.echo(f"{key:<14} {value}")
    click.echo("metrics")
    for k, v in sorted(entry["metrics"].items()):
        click.echo(f"  {k:<20} {v:.6g}")
    click.echo("files (sha256)")
    for name, digest in sorted(entry["files"].items()):
        click.echo(f"  {name:<28} {digest[:16]}")


@registry_group.command("add")
@click.argument("checkpoint", type=click.Path(path_type=Path))
@click.option("--name", required=True, help="Registry name (letters, digits, - and _).")
@click.option("--version", default=None, help="MAJOR.MINOR.PATCH (default: the next one).")
@click.option("--notes", default="", help="Free text kept with the version and on its card.")
@click.option(
    "--data",
    default=None,
    type=click.Path(file_okay=False, path_type=Path),
    help="The prepared dataset it was trained on: its fingerprint is recorded.",
)
@click.option("--no-onnx", is_flag=True, help="Skip the ONNX export.")
@options.registry_root
def registry_add(
    checkpoint: Path,
    name: str,
    version: str | None,
    notes: str,
    data: Path | None,
    no_onnx: bool,
    root: Path,
) -> None:
    """Register CHECKPOINT (a checkpoint folder such as a run's best_model/, a file in one, or
    a .pth export bundle) as a new version of --name, exported to PyTorch and ONNX."""
    from raytrain.artifacts.registry import ModelRegistry
    from raytrain.data.provenance import data_provenance
    from raytrain.evaluation.from_path import checkpoint_folder

    with checkpoint_folder(checkpoint) as folder:
        entry = ModelRegistry(root).register(
            name,
            folder,
            version=version,
            notes=notes,
            onnx=not no_onnx,
            source={"checkpoint": str(checkpoint.absolute())},
            data=data_provenance(data) if data is not None else None,
        )
    path = ModelRegistry(root).path_of(entry)
    click.echo(f"registered {entry['name']} v{entry['version']} -> {path}")


@registry_group.command("promote")
@click.argument("ref")
@click.argument("stage", required=False)
@click.option("--alias", default=None, help="Also (or only) give the version this alias.")
@options.registry_root
def registry_promote(ref: str, stage: str | None, alias: str | None, root: Path) -> None:
    """Put version REF (NAME:VERSION or NAME@LABEL) in STAGE (staging, production, archived,
    none) and/or give it --alias. The version that held the stage or alias loses it."""
    from raytrain.artifacts.registry import ModelRegistry, parse_ref

    name, version = parse_ref(ref)
    if version is None:
        raise RaytrainError(
            f"promote '{ref}': name the version (NAME:VERSION or NAME@LABEL), e.g. {name}:1.0.0"
        )
    registry = ModelRegistry(root)
    before = registry.labels(name)
    entry = registry.promote(name, version, stage=stage, alias=alias)
    for label in [s for s in (stage, alias) if s]:
        moved = before.get(label)
        note = f" (was v{moved})" if moved and moved != entry["version"] else ""
        click.echo(f"{name} v{entry['version']} -> {label}{note}")


@registry_group.command("remove")
@click.argument("ref")
@click.option("--force", is_flag=True, help="Also remove the version in production.")
@options.registry_root
def registry_remove(ref: str, force: bool, root: Path) -> None:
    """Delete version REF (NAME:VERSION) from the registry: index entry and files."""
    from raytrain.artifacts.registry import ModelRegistry, parse_ref

    name, version = parse_ref(ref)
    if version is None:
        raise RaytrainError(
            f"remove '{ref}': name the version to remove (NAME:VERSION), e.g. {name}:1.0.0"
        )
    entry = ModelRegistry(root).remove(name, version, force=force)
    click.echo(f"removed {name} v{entry['version']}")


@click.command("export")
@click.argument("ref")
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to write <name>_v<version>.pth/.onnx/.md to.",
)
@click.option(
    "--format",
    "formats",
    multiple=True,
    type=click.Choice(["pytorch", "onnx"]),
    help="What to write (repeatable; default: both).",
)
@click.option(
    "--opset",
    type=click.IntRange(*OPSET_RANGE),
    default=17,
    show_default=True,
    help="ONNX opset.",
)
@click.option(
    "--tolerance",
    type=click.FloatRange(min=0, min_open=True),
    default=1e-4,
    show_default=True,
    help="Max |onnx - torch| accepted.",
)
@click.option("--overwrite", is_flag=True, help="Replace files already in --out.")
@options.registry_root
def export_command(
    ref: str,
    out: Path,
    formats: tuple[str, ...],
    opset: int,
    tolerance: float,
    overwrite: bool,
    root: Path,
) -> None:
    """Export registered model REF (NAME[:VERSION] or NAME@LABEL): a PyTorch .pth bundle with
    the bundle's metadata and ONNX with a dynamic batch axis, checked by onnxruntime against
    PyTorch at batch sizes 1, 3 and 8."""
    from raytrain.artifacts.export import CHECK_BATCHES
    from raytrain.artifacts.registry import ModelRegistry, parse_ref

    name, version = parse_ref(ref)
    written = ModelRegistry(root).export(
        name,
        version,
        out,
        formats=formats or ("pytorch", "onnx"),
        opset=opset,
        tolerance=tolerance,
        check_batches=CHECK_BATCHES,
        overwrite=overwrite,
    )
    for kind, path in written.items():
        click.echo(f"{kind:<8} {path}")
    if "onnx" in written:
        batches = ", ".join(map(str, CHECK_BATCHES))
        click.echo(f"onnx checked against PyTorch at batch sizes {batches}")


COMMANDS = (registry_group, export_command)
