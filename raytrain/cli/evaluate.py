"""`raytrain evaluate NAME[:VERSION]`: score a registered model beside its classical baseline;
`raytrain evaluate --model PATH --test-data DIR`: a checkpoint or bundle on a data folder."""

from __future__ import annotations

from pathlib import Path

import click

from raytrain.artifacts.registry import ModelRegistry, parse_ref
from raytrain.cli import options
from raytrain.errors import RaytrainError
from raytrain.evaluation.evaluate import evaluate


@click.command("evaluate")
@click.argument("ref", metavar="NAME[:VERSION]", required=False)
@click.option(
    "--model",
    "model_path",
    default=None,
    type=click.Path(path_type=Path),
    help="Instead of a registered NAME: a checkpoint folder (best_model/), a file in one, or "
    "a .pth export bundle.",
)
@click.option(
    "--test-data",
    default=None,
    type=click.Path(path_type=Path),
    help="With --model: a prepared dataset, a raw train/val/test folder, or one raw split "
    "folder in any supported layout (prepared once into the data cache).",
)
@options.registry_root
@click.option("--split", default="test", show_default=True, help="Dataset split to score.")
@click.option(
    "--data",
    "data",
    default=None,
    type=click.Path(),
    help="A prepared dataset: a folder or s3://, gs:// (default: the one the model was "
    "trained on).",
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
    ref: str | None,
    model_path: Path | None,
    test_data: Path | None,
    root: Path,
    split: str,
    data: str | None,
    out: Path | None,
    backend: str,
    batch_size: int,
) -> None:
    """Score registered model NAME[:VERSION] and its classical baseline on a dataset split,
    or a model file (--model) on a data folder (--test-data)."""
    if model_path is not None or test_data is not None:
        local = Path(data) if data is not None else None
        _evaluate_path(ref, model_path, test_data, local, split, out, batch_size)
        return
    if ref is None:
        raise RaytrainError(
            "give a registered model NAME[:VERSION], or --model PATH --test-data DIR"
        )
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


def _evaluate_path(
    ref: str | None,
    model_path: Path | None,
    test_data: Path | None,
    data: Path | None,
    split: str,
    out: Path | None,
    batch_size: int,
) -> None:
    from raytrain.evaluation.from_path import evaluate_path, format_path_report

    if ref is not None:
        raise RaytrainError(f"give a registered model ({ref}) or --model, not both")
    if model_path is None or (test_data or data) is None:
        raise RaytrainError("--model and --test-data go together: --model PATH --test-data DIR")
    report = evaluate_path(model_path, test_data or data, split, batch_size, out)
    click.echo(format_path_report(report))
    if out is not None:
        click.echo(f"results -> {out}")
