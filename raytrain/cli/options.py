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


#: `raytrain train`'s switches from the vision framework's CLI -> (config key, value when given)
FRAMEWORK_SWITCHES: dict[str, tuple[str, bool]] = {
    "no_convergence_analysis": ("logging.convergence_analysis", False),
    "no_overfitting_analysis": ("logging.overfitting_analysis", False),
    "no_classification_viz": ("logging.classification_viz", False),
    "no_final_dashboard": ("logging.final_dashboard", False),
    "enable_gradient_tracking": ("logging.gradient_tracking", True),
}


def framework_switches(f: Any) -> Any:
    """`--dataset DIR` and the plot/analysis switches of the vision framework's CLI."""
    for name, (key, value) in reversed(FRAMEWORK_SWITCHES.items()):
        flag = "--" + name.replace("_", "-")
        f = click.option(flag, name, is_flag=True, help=f"{key}: {str(value).lower()}.")(f)
    return click.option(
        "--dataset",
        "dataset",
        default=None,
        type=click.Path(exists=True, path_type=Path),
        help="A prepared dataset (dataset.path) or a raw folder with train/ val/ [test/] "
        "(dataset.train_path, val_path, test_path).",
    )(f)


def framework_overrides(dataset: Path | None, **switches: bool) -> dict[str, Any]:
    """The config overrides `framework_switches` stand for."""
    out: dict[str, Any] = {
        FRAMEWORK_SWITCHES[name][0]: FRAMEWORK_SWITCHES[name][1]
        for name, on in switches.items()
        if on
    }
    if dataset is not None:
        if (dataset / "manifest.json").exists():
            out["dataset.path"] = str(dataset)
        elif (dataset / "train").exists():
            out["dataset.train_path"] = str(dataset / "train")
            out["dataset.val_path"] = str(
                dataset / ("val" if (dataset / "val").exists() else "train")
            )
            if (dataset / "test").exists():
                out["dataset.test_path"] = str(dataset / "test")
        else:
            raise RaytrainError(
                f"--dataset {dataset}: neither a prepared dataset (manifest.json) nor a folder "
                f"with train/ and val/"
            )
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
