"""`raytrain report EXPERIMENT`: one self-contained HTML report of a finished search."""

from __future__ import annotations

from pathlib import Path

import click

from raytrain.errors import RaytrainError
from raytrain.viz.report import write_report


@click.command("report")
@click.argument("experiment", type=click.Path(path_type=Path))
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=True),
    default=None,
    help="Where to write the HTML (default: EXPERIMENT/report.html).",
)
def report_command(experiment: Path, out: Path | None) -> None:
    """Write one self-contained HTML report of a finished search and print its path.

    EXPERIMENT is the folder `raytrain tune` printed (it holds summary.json). The search plots
    are drawn into EXPERIMENT/search_plots/ first if they are missing.
    """
    if not experiment.is_dir():
        raise RaytrainError(f"{experiment}: no such experiment folder")
    click.echo(str(write_report(experiment, out)))
