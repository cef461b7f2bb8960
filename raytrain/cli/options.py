"""Options that several commands share, defined once, and the `--set` parser."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from raytrain.errors import RaytrainError

quick = click.option(
    "--quick", is_flag=True, help="Apply the file's `quick:` overrides: a run that ends in minutes."
)
set_values = click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a config value by dotted path (repeatable).",
)
verbose = click.option(
    "-v", "--verbose", is_flag=True, help="Stream Ray workers' logs to the terminal."
)
address = click.option(
    "--address",
    default=None,
    envvar="RAY_ADDRESS",
    help="Ray cluster to use (e.g. 'auto'); default: start a local Ray.",
)


def _registry_root(ctx: click.Context, param: click.Parameter, value: str) -> str | Path:
    from raytrain.artifacts.storage import as_root

    return as_root(value)


registry_root = click.option(
    "--root",
    default="models",
    show_default=True,
    callback=_registry_root,
    help="Registry folder, or s3://BUCKET/PREFIX, gs://BUCKET/PREFIX.",
)
as_json = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")


def backend(help_text: str) -> Any:
    """`--backend torch|onnx` (default torch); `help_text` says what each means for the command."""
    from raytrain.inference.runner import BACKENDS

    return click.option(
        "--backend",
        type=click.Choice(BACKENDS),
        default="torch",
        show_default=True,
        help=help_text,
    )


def plot_switches(f: Any) -> Any:
    """The plot switches of `tune` and `train`: plots are on by default; these turn families
    off or set how often curves are redrawn."""
    f = click.option(
        "--no-visualization",
        "no_visualization",
        is_flag=True,
        help="Write no plots (logging.visualizations: false).",
    )(f)
    f = click.option(
        "--no-analysis",
        "no_analysis",
        is_flag=True,
        help="Skip analysis/ (weights, calibration, dynamics).",
    )(f)
    return click.option(
        "--visualization-frequency",
        type=int,
        default=None,
        help="Redraw training curves every N epochs.",
    )(f)


def plot_overrides(
    no_visualization: bool, no_analysis: bool, frequency: int | None
) -> dict[str, Any]:
    """The config overrides the plot switches stand for."""
    out: dict[str, Any] = {}
    if no_visualization:
        out["logging.visualizations"] = False
    if no_analysis:
        out["logging.analysis"] = False
    if frequency is not None:
        out["logging.visualization_frequency"] = frequency
    return out


def parse_set(values: tuple[str, ...]) -> dict[str, Any]:
    """`--set optimizer.learning_rate=3e-4` -> {'optimizer.learning_rate': 0.0003}."""
    from raytrain.config.yaml_io import loads

    out: dict[str, Any] = {}
    for item in values:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise RaytrainError(f"--set {item}: expected KEY=VALUE, e.g. optimizer.type=AdamW")
        value, _ = loads(raw, source=f"--set {key}") if raw else (None, {})
        out[key.strip()] = value
    return out
