"""`raytrain lr-find CONFIG`: the learning-rate range test, a plot and a suggested rate."""

from __future__ import annotations

from pathlib import Path

import click

from raytrain.cli import options
from raytrain.config import load_config
from raytrain.train.lr_find import find_learning_rate


@click.command("lr-find")
@click.argument("config", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--start-lr", type=float, default=1e-7, show_default=True)
@click.option("--end-lr", type=float, default=10.0, show_default=True)
@click.option("--num-iter", type=int, default=100, show_default=True, help="Steps to take.")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where lr_finder.png/.csv go (default: <training.output_dir>/<name>_lr_finder).",
)
@options.set_values
def lr_find_command(
    config: Path,
    start_lr: float,
    end_lr: float,
    num_iter: int,
    out_dir: Path | None,
    sets: tuple[str, ...],
) -> None:
    """Learning-rate range test (Smith, 2017) for CONFIG's model: plot and a suggested LR."""
    cfg = load_config(config, overrides=options.parse_set(sets))
    out = out_dir or Path(cfg.training.output_dir) / f"{cfg.training.name}_lr_finder"
    r = find_learning_rate(cfg, out, start_lr=start_lr, end_lr=end_lr, num_iter=num_iter)
    end = "stopped when the loss diverged" if r.stopped_early else "all steps"
    click.echo(f"{len(r.lrs)} steps from {r.lrs[0]:.1e} to {r.lrs[-1]:.1e} ({end})")
    click.echo(f"plot: {r.plot}\ntable: {r.table}")
    click.echo(f"Suggested learning rate: {r.suggested_lr:.2e}")
