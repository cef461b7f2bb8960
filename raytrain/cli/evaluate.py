"""`raytrain evaluate NAME[:VERSION]`: score a registered model beside its classical baseline."""

from __future__ import annotations

from pathlib import Path

import click

from raytrain.artifacts.registry import ModelRegistry, parse_ref
from raytrain.cli import options
from raytrain.evaluation.evaluate import evaluate


@click.command("evaluate")
@click.argument("ref", metavar="NAME[:VERSION]")
@options.registry_root
@click.option("--split", default="test", show_default=True, help="Dataset split to score.")
@click.option(
    "--data",
    "data",
    default=None,
    type=click.Path(path_type=Path),
    help="A prepared dataset folder (default: the one the model was trained on).",
)
@click.option(
    "--out",
    default=None,
    type=click.Path(file_okay=False, path_type=Path),
    help="Results folder (default: evaluation_results/NAME_vVERSION_SPLIT).",
)
@options.backend("Run the PyTorch model or its ONNX export (onnxruntime, CPU).")
@click.option("--batch-size", type=int, default=64, show_default=True)
def evaluate_command(
    ref: str,
    root: Path,
    split: str,
    data: Path | None,
    out: Path | None,
    backend: str,
    batch_size: int,
) -> None:
    """Score registered model NAME[:VERSION] and its classical baseline on a dataset split."""
    name, version = parse_ref(ref)
    if out is None:
        resolved = version or ModelRegistry(root).get(name)["version"]
        out = Path("evaluation_results") / f"{name}_v{resolved}_{split}"
    report = evaluate(
        name,
        version,
        root=root,
        split=split,
        data=data,
        batch_size=batch_size,
        backend=backend,
        out=out,
    )
    click.echo(report.to_markdown())
    click.echo(f"results -> {out}")
